"""The digest and `/label leaderboard off`, over real HTTP on SQLite and PostgreSQL: who turned
the leaderboard off is counted in the digest's "new labels" line, never named (nor mentioned,
which would notify them)."""

from __future__ import annotations

import json

from engine import labeling, projects
from tests.bot.conftest import CHANNEL, PROJECT, Bot

ADMIN, SHY, KEEN = "U0ADMIN", "U0ALICE", "U0BOB"


def _label(bot: Bot, truth: dict[str, str], who: str, n: int) -> None:
    for _ in range(n):
        task = labeling.next_task(bot.ws, project=PROJECT, annotator=who)
        assert task is not None
        labeling.submit_label(
            bot.ws, project=PROJECT, example_id=task.example_id, label=truth[task.text],
            annotator=who, source="slack", key=f"{who}:{task.example_id}",
        )  # fmt: skip


def _digest_text(bot: Bot) -> str:
    bot.slack.command(ADMIN, "digest", channel=CHANNEL)
    bot.settle()
    assert f"posted in <#{CHANNEL}>" in bot.slack.ephemerals(ADMIN)[-1]
    posted = bot.api.calls("chat.postMessage")[-1]
    return json.dumps(posted.params["blocks"]) + str(posted.params["text"])


def test_people_off_the_leaderboard_are_counted_not_named(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    bot.slack.command(SHY, "leaderboard off")
    bot.settle()
    assert "off the weekly leaderboard" in bot.slack.ephemerals(SHY)[-1]
    _label(bot, bank, SHY, 2)
    only_shy = _digest_text(bot)
    said = "*2 new labels* (2 in all; 2 examples labeled) \\u2014 2 by people off the leaderboard"
    assert said in only_shy
    assert SHY not in only_shy

    _label(bot, bank, SHY, 2)
    _label(bot, bank, KEEN, 3)
    both = _digest_text(bot)
    assert f"<@{KEEN}> 3, 2 by others off the leaderboard" in both
    assert SHY not in both and f"<@{KEEN}>" in both
