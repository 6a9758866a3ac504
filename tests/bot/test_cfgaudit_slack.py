"""`/label settings` edges found by an audit of the README's Digests and admin
commands section, over real HTTP with the fake Slack (SQLite and PostgreSQL)."""

from __future__ import annotations

from engine import projects
from tests.bot.conftest import PROJECT, Bot

ADMIN = "U0ADMIN"


def _ask(bot: Bot, text: str) -> str:
    bot.slack.command(ADMIN, text)
    bot.settle()
    return bot.slack.ephemerals(ADMIN)[-1]


def test_a_setting_given_twice_is_refused_and_nothing_changes(
    bot: Bot, bank: dict[str, str]
) -> None:
    """`retrain_every=30 retrain_every=40` stored 40 without a word (a typo in one of two
    values, or a pasted line that already held the key, went unseen)."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    answer = _ask(bot, f"settings {PROJECT} batch_size=7 retrain_every=30 retrain_every=40")
    assert "Setting retrain_every is given twice (30 and 40)" in answer, answer
    assert "Nothing was changed" in answer
    settings = projects.get_project(bot.ws, PROJECT).settings
    assert "retrain_every" not in settings and "batch_size" not in settings
    # the same value twice is no contradiction
    answer = _ask(bot, f"settings {PROJECT} retrain_every=30 retrain_every=30")
    assert "Updated `retrain_every`" in answer, answer
    assert projects.get_project(bot.ws, PROJECT).settings["retrain_every"] == 30
