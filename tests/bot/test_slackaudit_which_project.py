"""`/label` asks which project rather than guess (README, "Set up in Slack", step 4): it names
up to 20 projects and how many more there are, also when they share the channel it was typed
in (or the `#channel` it names). Over real signed Bolt
requests, on SQLite and PostgreSQL."""

from __future__ import annotations

from engine import projects
from tests.bot.conftest import CHANNEL, Bot

EXPERT = "U0EXPERT"


def _said(bot: Bot, text: str, *, channel: str | None = None) -> str:
    bot.slack.command(EXPERT, text, channel=channel)
    bot.settle()
    (said,) = bot.slack.ephemerals(EXPERT)[-1:]
    return said


def test_a_channel_shared_by_21_projects_names_20_and_counts_the_rest(bot: Bot) -> None:
    for i in range(21):
        projects.create_project(bot.ws, name=f"p{i:02d}", labels=["a", "b"], channel_id=CHANNEL)
    for typed, channel in (("", CHANNEL), (f"<#{CHANNEL}|labeling>", None)):
        said = _said(bot, typed, channel=channel)
        assert f"Which project? <#{CHANNEL}> is the channel of 21 projects: try " in said, said
        assert "`/label p19`, … and 1 more project." in said, said
        assert "p20" not in said, said
    said = _said(bot, "models", channel=CHANNEL)  # a subcommand's question, as before
    assert "`/label models p19`, … and 1 more project." in said and "p20" not in said, said
    assert not bot.slack.dm(EXPERT)
