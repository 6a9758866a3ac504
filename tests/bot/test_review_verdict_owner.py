"""A review's verdict comes from the expert it was sent to, on the review's own example
(security audit, finding 5): forged clicks -- correctly signed, so Bolt takes them -- by
someone else, for a review that was never sent, or carrying another example's id, change
nothing the review does not say. Real HTTP, Bolt and the local Slack Web API."""

from __future__ import annotations

import pytest

from bot import ids
from bot.views.review import parse_review_value
from engine import projects, reviews
from tests.bot.conftest import LABELS, PROJECT, Bot
from tests.bot.test_reviews_slack import ANA, BOB, CY, _doubt, _label, _reviews
from tests.fakes.slack_client import button, example_id

# Who may answer is decided in the engine, the same on either database.
pytestmark = pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)


def _setup(bot: Bot) -> tuple[dict, int, int, list[int]]:
    """ANA labels 3 examples, each doubted; BOB is sent one review. (BOB's message, its
    review, its example, the examples.)"""
    projects.update_settings(bot.ws, project=PROJECT, review_share=1.0, multi_label_share=0.0)
    examples = [_label(bot, ANA, LABELS[0]) for _ in range(3)]
    for example in examples:
        _doubt(bot, example, LABELS[1])
    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = _reviews(bot, BOB)
    _, keep = button(message, ids.REVIEW_KEEP)
    review_id, shown, _ = parse_review_value(keep["value"])
    assert shown == example_id(message)
    return message, review_id, shown, examples


def _status(bot: Bot) -> dict[int, tuple[str, str | None]]:
    return {r.id: (r.status, r.reviewer) for r in reviews.list_reviews(bot.ws, project=PROJECT)}


def test_only_the_expert_a_review_was_sent_to_decides_it(bot: Bot, bank: dict[str, str]) -> None:
    message, review_id, _, _ = _setup(bot)
    before = _status(bot)

    # CY replays BOB's click as CY (a forged payload: correctly signed)
    assert bot.slack.click(CY, message, ids.REVIEW_CHANGE).status_code == 200
    bot.settle()
    assert _status(bot) == before
    assert any("not yours to answer" in t for t in bot.slack.ephemerals(CY))

    # BOB edits the button to answer a review that was never sent to anyone
    other = next(r for r, (status, _) in before.items() if status == "open" and r != review_id)
    _, keep = button(message, ids.REVIEW_KEEP)
    _, shown, label = parse_review_value(keep["value"])
    forged = keep["value"].replace(f"{review_id}", f"{other}", 1)
    assert parse_review_value(forged) == (other, shown, label)
    bot.slack.click(BOB, message, ids.REVIEW_KEEP, value=forged)
    bot.settle()
    assert _status(bot) == before
    assert any("not yours to answer" in t for t in bot.slack.ephemerals(BOB))

    # BOB's own click still counts
    bot.slack.click(BOB, message, ids.REVIEW_KEEP)
    bot.settle()
    assert _status(bot)[review_id] == ("kept", BOB)
    assert not bot.api.warnings


def test_the_verdict_is_on_the_reviews_own_example(bot: Bot, bank: dict[str, str]) -> None:
    """A button whose example id was changed: the verdict, and the message it leaves, are
    about the review's example."""
    message, review_id, own, examples = _setup(bot)
    elsewhere = next(e for e in examples if e != own)
    _, change = button(message, ids.REVIEW_CHANGE)
    forged = change["value"].replace(f"{review_id}/{own}/", f"{review_id}/{elsewhere}/", 1)
    forged = forged.replace(f"{review_id}|{own}|", f"{review_id}|{elsewhere}|", 1)
    assert parse_review_value(forged)[:2] == (review_id, elsewhere)

    bot.slack.click(BOB, message, ids.REVIEW_CHANGE, value=forged)
    bot.settle()
    (decided,) = [r for r in reviews.list_reviews(bot.ws, project=PROJECT) if r.id == review_id]
    assert (decided.status, decided.reviewer, decided.example_id) == ("changed", BOB, own)
    updated = next(m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"])
    assert updated["text"] == f"Changed to {LABELS[1]} by <@{BOB}>"
    assert example_id(updated) == own  # not the forged one
