"""Clicks that come late or at once: an expert back after their hold lapsed, and the example
went to someone else, is shown so and gets the next example (no dead end); a Skip and a label
on one message give one answer, never both."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from engine import projects
from storage.db import session_scope
from storage.models import Assignment, utcnow
from tests.bot.conftest import PROJECT, Bot
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import button, example_id

ALICE, BOB = "U0ALICE", "U0BOB"


def _lapse(bot: Bot, user: str) -> None:
    """``user`` went away: their holds ran out."""
    with session_scope(bot.ws.db) as session:
        held = select(Assignment).where(Assignment.annotator == user, Assignment.status == "open")
        for row in session.exec(held):
            row.expires_at = utcnow() - timedelta(minutes=1)
            session.add(row)


def _text(bot: Bot, message: dict) -> str:  # type: ignore[type-arg]
    from engine import messaging

    return messaging.example_ref(bot.ws, example_id=example_id(message)).text


def _taken_by_bob(bot: Bot, bank: dict[str, str], *, bob_labels: bool) -> dict:  # type: ignore[type-arg]
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    bot.slack.command(ALICE, "5")
    bot.settle()
    (alices,) = bot.slack.open_examples(ALICE)
    _lapse(bot, ALICE)
    bot.slack.command(BOB)
    bot.settle()
    (bobs,) = bot.slack.open_examples(BOB)
    assert example_id(bobs) == example_id(alices)  # her lapsed example went on to Bob
    if bob_labels:
        bot.slack.choose(BOB, bobs, bank[_text(bot, bobs)])
        bot.settle()
    return alices


def _went_on(bot: Bot, alices: dict) -> None:  # type: ignore[type-arg]
    """Her old message says where the example went, without buttons; her next one follows."""
    old = next(m for m in bot.slack.dm(ALICE) if m["ts"] == alices["ts"])
    assert f"This example went to <@{BOB}> while it waited for you" in str(old["blocks"])
    (following,) = bot.slack.open_examples(ALICE)
    assert example_id(following) != example_id(alices)


def test_a_late_label_on_an_example_bob_labeled_moves_alice_on(bot: Bot, bank: dict) -> None:  # type: ignore[type-arg]
    alices = _taken_by_bob(bot, bank, bob_labels=True)
    bot.slack.choose(ALICE, alices, bank[_text(bot, alices)])
    bot.settle()
    _went_on(bot, alices)
    said = bot.slack.ephemerals(ALICE)[-1]
    assert f"already labeled *{bank[_text(bot, alices)]}* by <@{BOB}>" in said
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1  # Bob's only


def test_a_late_skip_on_an_example_bob_holds_moves_alice_on(bot: Bot, bank: dict) -> None:  # type: ignore[type-arg]
    alices = _taken_by_bob(bot, bank, bob_labels=False)
    bot.slack.click(ALICE, alices, "label_skip")
    bot.settle()
    _went_on(bot, alices)
    assert "no longer assigned to you" in bot.slack.ephemerals(ALICE)[-1]


def test_a_label_after_a_skip_of_the_same_message_is_refused(bot: Bot, bank: dict) -> None:  # type: ignore[type-arg]
    """Both clicks sent from one message (the second before its update showed): the Skip
    stands and the label is not stored."""
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    bot.slack.command(ALICE, "5")
    bot.settle()
    (message,) = bot.slack.open_examples(ALICE)
    label = bot.slack.choice_payload(ALICE, message, bank[_text(bot, message)])
    block_id, element = button(message, "label_skip")
    skip = bot.slack.action_payload(ALICE, message, "label_skip", element["value"],
                                    block_id=block_id)  # fmt: skip
    for payload in (skip, label):
        assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
        bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 0
    assert "You skipped this example: it went back to the pool" in bot.slack.ephemerals(ALICE)[-1]
    old = next(m for m in bot.slack.dm(ALICE) if m["ts"] == message["ts"])
    assert "Skipped by" in str(old["blocks"])
    assert len(bot.slack.open_examples(ALICE)) == 1  # one next example, not two
