"""App Home keeps each project's figures up to a minute (engine.progress.home_summary: they read
the whole project) and says so under them: "Project figures as of <time>", in the reader's own
time zone (Slack's date formatting), from when they were worked out. Through the real Bolt app
and the fake Slack server."""

from __future__ import annotations

import json
import re
from typing import Any

from engine import labeling, progress
from tests.bot.conftest import PROJECT, Bot
from tests.fakes import payloads

EXPERT = "U0EXPERT"


def _open(bot: Bot) -> tuple[str, str]:
    """(the labeled count line of the bank project, the last block's text) of EXPERT's tab."""
    bot.slack.event(payloads.app_home_opened(EXPERT))
    bot.settle()
    blocks: list[dict[str, Any]] = bot.api.calls("views.publish")[-1].params["view"]["blocks"]
    text = json.dumps(blocks)
    labeled = re.search(r"\*Labeled\*\\n([\d,]+ of [\d,]+)", text)
    assert labeled is not None, text
    return labeled.group(1), json.dumps(blocks[-1])


def _label(bot: Bot, bank: dict[str, str], who: str) -> None:
    task = labeling.next_task(bot.ws, project=PROJECT, annotator=who)
    assert task is not None
    labeling.submit_label(bot.ws, project=PROJECT, example_id=task.example_id,
                          label=bank[task.text], annotator=who, source="slack",
                          key=f"{who}:{task.example_id}")  # fmt: skip


def test_home_says_as_of_when_the_figures_were_worked_out(bot: Bot, bank: dict[str, str]) -> None:
    _label(bot, bank, "U0SEED")
    before, said = _open(bot)
    (kept,) = [v for k, v in bot.ws.notes.items() if k == ("home_summary", PROJECT)]
    as_of = kept.summary.as_of
    assert f"Project figures as of <!date^{int(as_of.timestamp())}^{{time}}|" in said, said
    _label(bot, bank, "U0OTHER")  # another expert's label: counted within the minute
    again, said_again = _open(bot)
    assert (again, said_again) == (before, said)
    _label(bot, bank, EXPERT)  # the viewer's own: counted at once, and a new "as of"
    after, said_after = _open(bot)
    assert after != before
    assert progress.user_progress(bot.ws, annotator=EXPERT).labeled_total == 1
