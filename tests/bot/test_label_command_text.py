"""What `/label` makes of the text Slack sends, over real HTTP on SQLite and PostgreSQL: numbers
(decimal digits only, within bounds), words split at any whitespace, and a channel mention as
the project bound to that channel."""

from __future__ import annotations

import logging

import pytest

from bot.app import UNEXPECTED
from engine import projects
from tests.bot.conftest import CHANNEL, PROJECT, Bot

ADMIN, EXPERT = "U0ADMIN", "U0EXPERT"


def _answer(bot: Bot, user: str, text: str, channel: str | None = None) -> str:
    bot.slack.command(user, text, channel=channel)
    bot.settle()
    answer = bot.slack.ephemerals(user)[-1]
    assert answer != UNEXPECTED, text
    return answer


def test_numbers_are_decimal_and_bounded(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    assert "No project named '²'" in _answer(bot, EXPERT, "²")  # a digit, but no number
    for text in ("99999999999999999999", "101", "1" * 5000, "0"):
        assert "A batch is 1 to 100 examples" in _answer(bot, EXPERT, text), text
    assert not bot.slack.open_examples(EXPERT)
    for text in (f"promote {PROJECT} ²", f"pin {PROJECT} v99999999999999999999"):
        assert "is not a model version" in _answer(bot, ADMIN, text), text
    assert "No project named '²'" in _answer(bot, ADMIN, "rollback ²")

    bot.slack.command(EXPERT, "５")  # full-width digits are decimal: a batch of 5
    bot.settle()
    assert len(bot.slack.open_examples(EXPERT)) == 1
    assert projects.get_project(bot.ws, PROJECT).name == PROJECT


def test_words_are_split_at_any_whitespace(bot: Bot, bank: dict[str, str]) -> None:
    for gap in ("\n", "\u00a0", "\t", " \n "):
        answer = _answer(bot, EXPERT, f"predict{gap}my card has not arrived")
        assert answer == f"No model yet for {PROJECT}", repr(gap)
    answer = _answer(bot, EXPERT, f"predict\u00a0{PROJECT}\nwhere is my card")
    assert answer == f"No model yet for {PROJECT}"
    bot.slack.command(EXPERT, f"{PROJECT}\u00a0")
    bot.settle()
    assert len(bot.slack.open_examples(EXPERT)) == 1


def test_a_channel_mention_names_its_project(bot: Bot, bank: dict[str, str]) -> None:
    projects.create_project(bot.ws, name="other", labels=["a", "b"], channel_id="C0OTHER")
    answer = _answer(bot, EXPERT, "<#C0OTHER|other>")  # from a DM: no channel to go by
    assert "No examples to label in *other* yet" in answer
    bot.slack.command(EXPERT, f"<#{CHANNEL}|bank>", channel="C0OTHER")
    bot.settle()
    assert len(bot.slack.open_examples(EXPERT)) == 1  # bank's, though asked in other's channel
    assert "*other* has no models yet" in _answer(bot, EXPERT, "models <#C0OTHER>")
    answer = _answer(bot, EXPERT, f"predict <#{CHANNEL}|bank> where is my card")
    assert answer == f"No model yet for {PROJECT}"

    answer = _answer(bot, EXPERT, "<#C0RANDOM|random>")
    assert "No project has <#C0RANDOM> as its channel" in answer
    assert "--channel C0RANDOM" in answer


def test_an_answer_slack_refuses_is_logged_not_lost_without_a_trace(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Bolt's respond() does not raise when a response_url answers 400 (invalid_blocks) or 404
    (expired): labelbot logs it, so an answer that never reached the user shows in the log."""
    bot.api.fail_next("response_url", status=400, retry_after=None)
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        bot.slack.command(EXPERT, "help")
        bot.settle()
    refused = [r for r in caplog.records if "Slack refused an answer" in r.getMessage()]
    assert len(refused) == 1 and "HTTP 400" in refused[0].getMessage()
    assert _answer(bot, EXPERT, "help")  # the next answer goes through: nothing else broke
    assert len([r for r in caplog.records if "Slack refused" in r.getMessage()]) == 1
