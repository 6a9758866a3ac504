"""Discuss when Slack refuses the project channel: `channel_not_found` (a channel deleted, or
private without labelbot in it) was answered "invite it with `/invite @labelbot`", which cannot
help a deleted channel; the answer now names both causes and both fixes. Over real signed Bolt
requests with the fake Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

from bot import ids
from engine import discussions
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.fakes.slack_client import example_id

EXPERT = "U0EXPERT"


def test_discuss_in_a_channel_slack_does_not_know_says_both_fixes(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.slack.command(EXPERT)
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    bot.api.fail_next("chat.postMessage", error="channel_not_found")
    bot.slack.click(EXPERT, message, ids.DISCUSS)
    bot.settle()
    (answer,) = bot.slack.ephemerals(EXPERT)
    assert answer == (
        f":warning: Slack does not know <#{CHANNEL}>, the channel of *{PROJECT}* (deleted, or "
        "private without labelbot in it): invite labelbot there with `/invite @labelbot`, or a "
        f"project admin sets another with `labelbot project set {PROJECT} --channel C0123`."
    ), answer
    assert discussions.team_thread(bot.ws, example_id=example_id(message) or 0) is None
    assert bot.slack.open_examples(EXPERT) == [message]  # still to label
