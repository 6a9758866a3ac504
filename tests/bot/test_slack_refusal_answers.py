"""What an expert is told when Slack refuses the next example after their click, over real HTTP
against the fake Web API, on SQLite and PostgreSQL: the label is kept, and the answer says why
and whether trying again helps. Every refusal but the bot token's used to read "something went
wrong on labelbot's side ... Please try again", a bug in labelbot or not, retry or not. (A
refusal that passes, rate limits and Slack's own errors, queues the message in the outbox.)"""

from __future__ import annotations

import logging

import pytest

from bot import ids
from engine import projects
from tests.bot.conftest import PROJECT, Bot, true_label

U1 = "U0ALICE"


@pytest.mark.parametrize(
    ("code", "said", "again", "traceback"),
    [
        ("not_in_channel", "invite it with `/invite @labelbot`, then try again", True, False),
        ("is_archived", "that channel is archived", False, False),
        ("channel_not_found", "a project admin can set another", False, False),
        ("msg_too_long", "a message labelbot built (`msg_too_long`). That is a bug", False, True),
        # the app's setup, not labelbot's code: no "try again", no traceback (was both)
        ("missing_scope", "labelbot's Slack app lacks a permission", False, False),
        (
            "restricted_action",
            "Slack refused a request of labelbot's (`restricted_action`)",
            True,
            True,
        ),  # fmt: skip
    ],
)
def test_a_refused_next_example_is_told_as_what_it_is(
    bot: Bot,
    bank: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    code: str,
    said: str,
    again: bool,
    traceback: bool,
) -> None:
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    bot.api.fail_next("chat.postMessage", error=code)
    with caplog.at_level(logging.WARNING):
        bot.slack.choose(U1, message, true_label(bot, bank, message))
        bot.settle()
    assert int(projects.project_status(bot.ws, PROJECT)["annotations"]) == 1  # the label stays
    (told,) = bot.slack.ephemerals(U1)
    assert f"(`{code}`)" in told and said in told, told
    assert "went wrong on labelbot's side" not in told
    assert ("try again" in told) is again, told
    (ended,) = [r for r in caplog.records if r.name == "bot.app"]
    assert code in ended.getMessage() and "block_actions" in ended.getMessage()
    # a traceback (and an ERROR) only where labelbot has something to fix
    assert (ended.exc_info is not None) is traceback
    assert (ended.levelno == logging.ERROR) is traceback


def test_a_rate_limited_modal_says_to_try_again_in_a_minute(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Flag opens a modal (views.open): refused for the rate once the client's retries are
    spent, the expert is told to wait a minute, and the log has a warning, not a traceback."""
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    bot.api.fail_next("views.open", error="ratelimited")
    with caplog.at_level(logging.WARNING):
        bot.slack.click(U1, message, ids.FLAG)
        bot.settle()
    (told,) = bot.slack.ephemerals(U1)
    assert "Slack is limiting how fast labelbot may write just now (`ratelimited`)" in told
    assert "try again in a minute" in told and "went wrong" not in told
    (ended,) = [r for r in caplog.records if r.name == "bot.app"]
    assert ended.levelno == logging.WARNING and ended.exc_info is None
