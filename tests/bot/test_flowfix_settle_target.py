"""Settle writes only to the example's own disagreement thread: a click made up to name another
message (an expert's labeled message in their DM, another thread's root) drew the verdict over
that message for good and posted "settled" in its thread. Now it changes nothing and the
clicker is told, as Resolve on a flag thread is. Over real signed Bolt requests with the fake
Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from typing import Any

from bot import ids
from engine import consensus, projects
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot
from tests.bot.test_dispute_redraw import _root, _vote
from tests.fakes.slack_client import example_id

ANA, BOB = "U0ANA", "U0BOB"


def _settled(bot: Bot) -> Any:
    (found,) = consensus.disagreements(bot.ws, PROJECT, include_settled=True)
    return found.adjudicated


def test_a_settle_click_naming_another_message_changes_nothing(bot: Bot, bank: Any) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    example = example_id(_vote(bot, ANA, LABELS[0]))
    bobs = _vote(bot, BOB, LABELS[2], example)
    root = copy.deepcopy(_root(bot))
    dm_before = copy.deepcopy(bot.slack.dm(BOB))
    channel_before = copy.deepcopy(bot.api.messages(CHANNEL))

    # Ana took part, so she may settle it; her click names Bob's labeled message in his DM
    forged = {**bobs, "blocks": root["blocks"]}
    bot.slack.click(ANA, forged, f"{ids.SETTLE}:0", channel=bot.api.dm_channel(BOB))
    bot.settle()
    assert "Nothing was changed." in bot.slack.ephemerals(ANA)[-1]
    assert bot.slack.dm(BOB) == dm_before  # his message as it was, no reply under it
    assert bot.api.messages(CHANNEL) == channel_before
    assert _settled(bot) is None or _settled(bot).source != "adjudication"

    bot.slack.click(ANA, root, f"{ids.SETTLE}:0", channel=CHANNEL)  # on the thread: settled
    bot.settle()
    assert _settled(bot).source == "adjudication" and _settled(bot).label == LABELS[0]
    assert _root(bot)["text"].startswith(f"Settled as {LABELS[0]}")
