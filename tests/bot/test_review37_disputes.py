"""review37: the dispute round's and the taxonomy redraw's reworked decisions (c22f88b), through
the real services and the local Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from bot import disputes
from bot.scheduling import screen_redrawer
from engine import disputes as engine_disputes
from engine import projects, taxonomy
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot
from tests.bot.test_audit37_long_life import _disagreements


def _root(bot: Bot, ts: str) -> str:
    return next(str(m) for m in bot.api.messages(CHANNEL) if m["ts"] == ts)


def _thread(bot: Bot, example_id: int) -> str:
    thread = engine_disputes.dispute_thread(bot.ws, example_id=example_id)
    assert thread is not None
    return thread.thread_ts


@pytest.mark.parametrize("then", ["rename", "add"])
def test_a_merge_then_another_change_between_rounds_still_says_the_experts_agree(
    bot: Bot, bank: Any, then: str
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    made = _disagreements(bot, 2, first=0, settle=False)  # ANA LABELS[0], BOB LABELS[1]
    roots = [_thread(bot, e) for e in made]
    assert all("no longer disagree" not in _root(bot, ts) for ts in roots)
    redraw = screen_redrawer(bot.services)
    redraw()  # a round of the screen redrawer before the changes
    # two changes from the terminal between two of its rounds
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=LABELS[:2], into="card_or_age",
                          actor="ops")  # fmt: skip
    if then == "rename":
        taxonomy.rename_label(bot.ws, project=PROJECT, label=LABELS[4], new_name="fx_rate",
                              actor="ops")  # fmt: skip
    else:
        taxonomy.add_labels(bot.ws, project=PROJECT, names=["fees"], actor="ops")
    # the next rounds: the screen redrawer's pass for the project's change, and the dispute
    # round (a fresh process: its memory of the votes starts empty)
    redraw()
    disputes.post_all_disputes(bot.services, seen={})
    disputes.post_all_disputes(bot.services, seen={})
    for ts in roots:
        assert "no longer disagree" in _root(bot, ts), _root(bot, ts)
