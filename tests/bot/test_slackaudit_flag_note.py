"""The DM note after a flag shows the reason in italics on one line, as the flag thread does:
the Flag form takes several lines, and Slack's _italics_ end at a line break, so a reason of two
lines showed its underscores as typed. Over real signed Bolt requests, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json

from tests.bot.conftest import Bot
from tests.bot.test_flag_threads import _flag_in_slack

EXPERT = "U0EXPERT"


def test_a_reason_of_several_lines_is_one_line_in_the_flagged_note(
    bot: Bot, bank: dict[str, str]
) -> None:
    eid = _flag_in_slack(bot, EXPERT, "a card number\n\n  and a name ")
    (note,) = [m for m in bot.slack.dm(EXPERT) if "Flagged by" in json.dumps(m)]
    said = json.dumps(note["blocks"])
    assert "_a card number and a name_. It left the queue" in said, said
    assert eid
