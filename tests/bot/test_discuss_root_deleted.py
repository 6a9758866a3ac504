"""Discuss on an example whose channel thread was deleted in Slack (someone tidied the channel):
chat.getPermalink answers message_not_found, and every later Discuss on that example failed for
good. Now the gone thread is set aside and a new one is posted, linked from the DM. Over real
signed Bolt requests with the fake Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

from bot import ids
from engine import discussions
from tests.bot.conftest import CHANNEL, Bot
from tests.fakes.slack_client import example_id

EXPERT = "U0EXPERT"


def test_discuss_after_the_thread_was_deleted_opens_a_new_one(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.slack.command(EXPERT)
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    example = example_id(message) or 0
    bot.slack.click(EXPERT, message, ids.DISCUSS)
    bot.settle()
    first = discussions.team_thread(bot.ws, example_id=example)
    assert first is not None and first.channel == CHANNEL
    bot.api.delete_message(CHANNEL, first.thread_ts)

    bot.slack.click(EXPERT, message, ids.DISCUSS)
    bot.settle()

    assert bot.slack.ephemerals(EXPERT) == []  # no failure said
    second = discussions.team_thread(bot.ws, example_id=example)
    assert second is not None and second.thread_ts != first.thread_ts
    roots = [m for m in bot.api.messages(CHANNEL) if m["ts"] == second.thread_ts]
    assert len(roots) == 1
    # the DM's thread links the new one (its first note pointed at the deleted thread)
    in_dm = bot.api.messages(bot.api.dm_channel(EXPERT))
    notes = [m["text"] for m in in_dm if m.get("thread_ts") == message["ts"]]
    notes = [n for n in notes if "open the thread" in n]
    assert len(notes) == 2 and second.thread_ts.replace(".", "") in notes[-1], notes
    # replies in the new thread are the example's comments
    assert discussions.thread_project(bot.ws, channel=CHANNEL, thread_ts=second.thread_ts)
