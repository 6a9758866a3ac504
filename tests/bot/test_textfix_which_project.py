"""`/label 5` with several projects and none named: the "Which project?" answer offers each
project with the batch size asked for (`/label bank 5`), not `/label bank`, which sends one
example; and it reads as a sentence outside a shared channel ("Which project? Try …").

Over real signed Bolt requests on SQLite and PostgreSQL (tests.bot.conftest)."""

from __future__ import annotations

from engine import projects
from tests.bot.conftest import CHANNEL, PROJECT, Bot

MEMBER = "U0MEMBER"


def _said(bot: Bot, text: str, channel: str | None = None) -> str:
    before = len(bot.slack.ephemerals(MEMBER))
    bot.slack.command(MEMBER, text, channel=channel)
    bot.settle()
    return "\n".join(bot.slack.ephemerals(MEMBER)[before:])


def test_a_batch_asked_of_several_projects_is_offered_with_its_size(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.create_project(bot.ws, name="legal", labels=["nda", "lease"])
    # typed in a DM: two projects, neither the DM's
    for typed in ("5", "5 "):
        said = _said(bot, typed)
        assert said.startswith(":warning: Which project? Try "), said
        assert f"`/label {PROJECT} 5` or `/label legal 5`" in said, said
    # a channel both share, named in a DM, the batch size before or after it
    projects.set_channel(bot.ws, project="legal", channel_id=CHANNEL)
    for typed in (f"<#{CHANNEL}|labeling> 3", f"3 <#{CHANNEL}|labeling>"):
        said = _said(bot, typed)
        assert f"Which project? <#{CHANNEL}> is the channel of 2 projects: try " in said, said
        assert f"`/label {PROJECT} 3` or `/label legal 3`" in said, said
    assert not bot.slack.dm(MEMBER)  # nothing was sent meanwhile
    # the suggestion does what it says: a batch of 3 of bank
    assert _said(bot, f"{PROJECT} 3") == "" and bot.slack.open_examples(MEMBER)


def test_which_project_without_a_batch_is_unchanged(bot: Bot, bank: dict[str, str]) -> None:
    projects.create_project(bot.ws, name="legal", labels=["nda", "lease"])
    said = _said(bot, "")
    assert said.startswith(":warning: Which project? Try "), said
    assert f"`/label {PROJECT}`" in said and "`/label legal`" in said, said
