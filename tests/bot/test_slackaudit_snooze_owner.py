"""Snooze, on the labeling DM beside Skip, Discuss and Flag, answers only the expert the
message was sent to (README, "Set up in Slack": "anyone else's click (a copied or made-up one)
changes nothing and is told so"). Bob's Snooze naming Alice's message, or a message of the
project channel, wrote "<@Bob> snoozed labelbot …" over it for good, Alice's buttons gone.
Over real signed Bolt requests with the fake Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot import ids
from engine import rhythm
from tests.bot.conftest import CHANNEL, Bot
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import button

ALICE, BOB = "U0ALICE", "U0BOB"


def _snooze(bot: Bot, user: str, message: dict[str, Any], *, channel: str | None = None) -> None:
    block_id, menu = button(message, ids.SNOOZE)
    option = next(o for o in menu["options"] if o["value"].endswith("|1h"))
    payload = bot.slack.action_payload(
        user, message, ids.SNOOZE, None, block_id=block_id, selected_option=option,
        channel=channel,
    )  # fmt: skip
    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()


def test_a_snooze_by_someone_else_changes_nothing_and_says_so(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.slack.command(ALICE)
    bot.settle()
    (message,) = bot.slack.open_examples(ALICE)
    _snooze(bot, BOB, message, channel=bot.api.dm_channel(ALICE))
    assert [m["ts"] for m in bot.slack.open_examples(ALICE)] == [message["ts"]]
    assert rhythm.rhythm_of(bot.ws, user=BOB).snoozed_until is None
    (said,) = bot.slack.ephemerals(BOB)
    assert "another expert's" in said and "Nothing was changed." in said, said

    # the same click made up on a message of the project channel (the discussion's root)
    bot.slack.click(ALICE, message, ids.DISCUSS)
    bot.settle()
    (root,) = bot.api.messages(CHANNEL)
    _snooze(bot, ALICE, {**root, "blocks": message["blocks"]}, channel=CHANNEL)
    assert bot.api.messages(CHANNEL) == [root]
    assert rhythm.rhythm_of(bot.ws, user=ALICE).snoozed_until is None
    assert "Nothing was changed." in bot.slack.ephemerals(ALICE)[-1]

    _snooze(bot, ALICE, message)  # her own click on her own message still snoozes
    assert not bot.slack.open_examples(ALICE)
    assert rhythm.rhythm_of(bot.ws, user=ALICE).snoozed_until is not None
