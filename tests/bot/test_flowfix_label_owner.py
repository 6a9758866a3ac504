"""A label click and a Skip answer only the expert the message was sent to (README, "Set up in
Slack": "anyone else's click (a copied or made-up one) changes nothing and is told so"), also
once the expert's hold on the example lapsed and nobody else took it: Bob's click naming
Alice's message stored his label, wrote "Labeled … by Bob" over her message and started him
labeling. Nor does a click by someone who once held the example (his hold lapsed, and it went
on to Alice) write "went to Alice" over her message. Her own late click is still taken, and a
click landing before the message's channel is recorded still counts. Over real signed Bolt
requests, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from bot import ids
from engine import exporting, labeling, messaging, projects
from tests.bot.conftest import PROJECT, Bot, true_label
from tests.bot.test_late_clicks import _lapse
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import button, example_id

ALICE, BOB = "U0ALICE", "U0BOB"


def _labels(bot: Bot) -> list[tuple[str, str]]:
    return [
        (a["annotator"], a["label"])
        for r in exporting.export_records(bot.ws, PROJECT)
        for a in r.get("annotations") or []
    ]


def _on(bot: Bot, payload: dict[str, Any], owner: str) -> None:
    """Send ``payload`` as a click on ``owner``'s DM (made up: its clicker is someone else)."""
    payload["container"]["channel_id"] = payload["channel"]["id"] = bot.api.dm_channel(owner)
    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()


def _refused(bot: Bot, user: str) -> None:
    said = bot.slack.ephemerals(user)[-1]
    assert "another expert's" in said and "Nothing was changed." in said, said


def test_a_label_click_by_someone_else_on_a_lapsed_message_changes_nothing(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    bot.slack.command(ALICE)
    bot.settle()
    (message,) = bot.slack.open_examples(ALICE)
    _lapse(bot, ALICE)  # she went away; nobody else has the example yet
    label = true_label(bot, bank, message)
    _on(bot, bot.slack.choice_payload(BOB, message, label), ALICE)

    assert _labels(bot) == []
    assert bot.slack.open_examples(ALICE) == [message]  # her message as it was
    assert bot.slack.dm(BOB) == []  # and Bob was not started labeling
    _refused(bot, BOB)

    bot.slack.choose(ALICE, message, label)  # her own late click is taken
    bot.settle()
    assert _labels(bot) == [(ALICE, label)]
    (following,) = bot.slack.open_examples(ALICE)
    assert example_id(following) != example_id(message)


def _went_from_bob_to_alice(bot: Bot) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bob's example lapsed and went on to Alice: (Bob's old message, Alice's message)."""
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    bot.slack.command(BOB)
    bot.settle()
    (bobs,) = bot.slack.open_examples(BOB)
    _lapse(bot, BOB)
    bot.slack.command(ALICE)
    bot.settle()
    (alices,) = bot.slack.open_examples(ALICE)
    assert example_id(alices) == example_id(bobs)
    return bobs, alices


def test_a_made_up_label_by_its_earlier_holder_leaves_the_new_holders_message(
    bot: Bot, bank: dict[str, str]
) -> None:
    bobs, alices = _went_from_bob_to_alice(bot)
    _on(bot, bot.slack.choice_payload(BOB, alices, true_label(bot, bank, alices)), ALICE)
    assert _labels(bot) == []
    assert bot.slack.open_examples(ALICE) == [alices]  # not "went to Alice" over her message
    assert bot.slack.open_examples(BOB) == [bobs]  # and Bob was sent nothing
    _refused(bot, BOB)


def test_a_made_up_skip_by_its_earlier_holder_leaves_the_new_holders_message(
    bot: Bot, bank: dict[str, str]
) -> None:
    bobs, alices = _went_from_bob_to_alice(bot)
    block_id, skip = button(alices, ids.SKIP)
    payload = bot.slack.action_payload(BOB, alices, ids.SKIP, skip["value"], block_id=block_id)
    _on(bot, payload, ALICE)
    assert bot.slack.open_examples(ALICE) == [alices]
    assert bot.slack.open_examples(BOB) == [bobs]
    _refused(bot, BOB)

    bot.slack.click(BOB, bobs, ids.SKIP)  # on his own old message: it went to Alice, he goes on
    bot.settle()
    assert "went to" in next(m for m in bot.slack.dm(BOB) if m["ts"] == bobs["ts"])["text"]
    (following,) = bot.slack.open_examples(BOB)
    assert example_id(following) != example_id(bobs)


def test_a_click_before_the_delivery_is_recorded_is_taken(bot: Bot, bank: dict[str, str]) -> None:
    """The click can land before record_delivery saves the message's channel (or after it failed):
    the expert's own click counts, as before."""
    task = labeling.next_task(bot.ws, project=PROJECT, annotator=ALICE)
    assert (
        task is not None
        and messaging.delivered_in(bot.ws, assignment_id=task.assignment_id) is None
    )
    ref, stored = messaging.prepare_label(
        bot.ws, example_id=task.example_id, annotator=ALICE, key="k",
        channel=bot.api.dm_channel(ALICE),
    )  # fmt: skip
    assert ref.example_id == task.example_id and stored is None
    with pytest.raises(labeling.NotSentToYou):
        messaging.prepare_label(
            bot.ws, example_id=task.example_id, annotator=BOB, key="k2",
            channel=bot.api.dm_channel(ALICE),
        )  # fmt: skip
