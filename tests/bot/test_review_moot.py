"""A mislabel review that a taxonomy change made moot (its label or the suggestion split or
retired, or both merged into one): dismissed with the change, never delivered, and a click on
one still on screen answered as withdrawn with the next task following -- through real HTTP and
the local Slack Web API, on SQLite and PostgreSQL. Reviews left open by a change made before
this was so (the data of an older version) are passed over and dismissed by delivery."""

from __future__ import annotations

from typing import Any

from bot import ids
from engine import projects, reviews, taxonomy
from storage.db import session_scope
from storage.repositories import feedback
from storage.repositories import projects as projects_repo
from storage.repositories import taxonomy as taxonomy_repo
from tests.bot.conftest import LABELS, PROJECT, Bot
from tests.bot.test_reviews_slack import ANA, BOB, _doubt, _label, _reviews


def _setup(bot: Bot) -> tuple[int, int]:
    """Ana labels an example LABELS[0]; the model doubts it (LABELS[1]). (example, review)"""
    projects.update_settings(bot.ws, project=PROJECT, review_share=1.0, multi_label_share=0.0)
    example = _label(bot, ANA, LABELS[0])
    return example, _doubt(bot, example, LABELS[1])


def _status(bot: Bot, review_id: int) -> str:
    return next(
        r.status for r in reviews.list_reviews(bot.ws, project=PROJECT) if r.id == review_id
    )


def _retire_as_before(bot: Bot, label: str) -> None:
    """Retire ``label`` the way an older version left it: its reviews still open."""
    with session_scope(bot.ws.db) as s:
        project = projects_repo.get_project(session=s, name=PROJECT)
        assert project.id is not None
        found = next(
            lb for lb in projects_repo.list_labels(session=s, project_id=project.id)
            if lb.name == label
        )  # fmt: skip
        taxonomy_repo.map_label(session=s, label=found, to_label_id=None)


def _example_messages(bot: Bot, user: str) -> list[dict[str, Any]]:
    """Labeling messages (not reviews) in ``user``'s DM still waiting for an answer."""
    return [m for m in bot.slack.open_examples(user) if m not in _reviews(bot, user)]


def test_a_retired_label_dismisses_its_reviews_and_none_is_sent(bot: Bot, bank: Any) -> None:
    _, review = _setup(bot)
    taxonomy.retire_label(bot.ws, project=PROJECT, label=LABELS[0], actor="admin")
    assert _status(bot, review) == "dismissed"
    assert reviews.review_counts(bot.ws, project=PROJECT)["open"] == 0  # what status shows

    bot.slack.command(BOB, "")
    bot.settle()
    assert not _reviews(bot, BOB)
    assert len(_example_messages(bot, BOB)) == 1  # labeling work instead


def test_a_split_suggestion_and_a_merge_into_one_dismiss_reviews(bot: Bot, bank: Any) -> None:
    _, split = _setup(bot)
    second = _label(bot, ANA, LABELS[2])
    merged = _doubt(bot, second, LABELS[3])
    taxonomy.split_label(
        bot.ws, project=PROJECT, label=LABELS[1], into=["card_new", "card_lost"], actor="admin"
    )
    assert _status(bot, split) == "dismissed" and _status(bot, merged) == "open"
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=[LABELS[2], LABELS[3]], actor="admin")
    assert _status(bot, merged) == "dismissed"  # "keep" and "change" would be the same label


def test_a_review_whose_label_was_merged_into_another_stands(bot: Bot, bank: Any) -> None:
    """Merged, its label still counts (as the target): the review is asked under today's name."""
    _, review = _setup(bot)
    taxonomy.merge_labels(
        bot.ws, project=PROJECT, labels=[LABELS[4], LABELS[0]], into=LABELS[4], actor="admin"
    )
    assert _status(bot, review) == "open"
    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = _reviews(bot, BOB)
    assert f"Keep {LABELS[4]}" in str(message["blocks"])
    bot.slack.click(BOB, message, ids.REVIEW_KEEP)
    bot.settle()
    (row,) = [r for r in reviews.list_reviews(bot.ws, project=PROJECT) if r.id == review]
    assert (row.status, row.outcome) == ("kept", LABELS[4])


def test_a_click_on_a_review_retired_while_on_screen_is_answered_and_work_goes_on(
    bot: Bot, bank: Any
) -> None:
    example, review = _setup(bot)
    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = _reviews(bot, BOB)
    taxonomy.retire_label(bot.ws, project=PROJECT, label=LABELS[0], actor="admin")
    assert _status(bot, review) == "dismissed"

    for _ in range(2):  # a double click: answered alike, one next example
        bot.slack.click(BOB, message, ids.REVIEW_KEEP)
        bot.settle()
    answered = next(m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"])
    assert answered["text"] == (
        f"This review was withdrawn: the label '{LABELS[0]}' was split or retired since. "
        "Nothing was changed."
    )
    assert not _reviews(bot, BOB) and len(_example_messages(bot, BOB)) == 1
    assert not bot.slack.ephemerals(BOB)  # no error: the message itself says why
    with session_scope(bot.ws.db) as s:  # Bob's click stored nothing
        assert [
            r.annotator for r in feedback.example_annotations(session=s, example_id=example)
        ] == [ANA]


def test_reviews_left_open_by_an_older_version_are_passed_over(bot: Bot, bank: Any) -> None:
    """A moot review held by the expert, and one in the queue: delivery dismisses both, and the
    expert gets labeling work instead of the dead review (and the click on it goes on too)."""
    _, held = _setup(bot)
    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = _reviews(bot, BOB)
    queued = _doubt(bot, _label(bot, ANA, LABELS[0]), LABELS[1])
    _retire_as_before(bot, LABELS[0])
    assert _status(bot, held) == "open" and _status(bot, queued) == "open"

    bot.slack.command(BOB, "")  # the dead review is not sent again, nor the queued one
    bot.settle()
    assert _status(bot, held) == "dismissed" and _status(bot, queued) == "dismissed"
    assert len(_example_messages(bot, BOB)) == 1
    assert reviews.review_counts(bot.ws, project=PROJECT)["open"] == 0

    bot.slack.click(BOB, message, ids.REVIEW_CHANGE)  # the old message answers too
    bot.settle()
    answered = next(m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"])
    assert answered["text"].startswith("This review was withdrawn: ")
    assert len(_example_messages(bot, BOB)) == 1  # still one to label, not two


def test_a_held_review_retired_by_an_older_version_is_answered_on_click(
    bot: Bot, bank: Any
) -> None:
    _, review = _setup(bot)
    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = _reviews(bot, BOB)
    _retire_as_before(bot, LABELS[0])
    bot.slack.click(BOB, message, ids.REVIEW_KEEP)
    bot.settle()
    assert _status(bot, review) == "dismissed"
    answered = next(m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"])
    assert "withdrawn" in answered["text"] and not bot.slack.ephemerals(BOB)
    assert len(_example_messages(bot, BOB)) == 1
