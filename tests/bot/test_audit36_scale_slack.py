"""Audit 36 at the Slack level: a click on a label button in a large project, through the real
Bolt app over signed HTTP (the fake Slack Web API), does database work that grows with the
project. The projects and the work counter are the engine audit's
(tests/engine/test_audit36_scale.py): ``SMALL`` and ``LARGE`` examples with a long label history;
a click's work is every statement the bot runs from the click's request until its listeners
are done (the answered message and the next example). No timings."""

from __future__ import annotations

from typing import Any

from tests.bot.conftest import Bot
from tests.engine import test_audit36_scale as scale

EXPERTS = {"small": "U0AUDIT36S", "large": "U0AUDIT36L"}  # one DM each


def _click_work(bot: Bot, counter: Any, project: str) -> list[tuple[int, str]]:
    """One click's statements in ``project``, after a few clicks (an expert's usual state)."""
    expert = EXPERTS[project]
    assert bot.slack.command(expert, project).status_code == 200
    bot.settle()
    for i in range(4):
        (message,) = bot.slack.open_examples(expert)
        with counter.count() as log:
            response = bot.slack.choose(expert, message, scale.LABELS[i])
            assert response.status_code == 200
            bot.settle()
    return list(log)


def test_label_click_work_does_not_grow_with_the_project(bot: Bot) -> None:
    """The same click (the fifth of an expert's session) in a project 8 times the size: its
    work may not double. It grew about 7-fold on SQLite and 5-fold on PostgreSQL, all of it in
    the next example's queue queries (tests/engine/test_audit36_scale.py)."""
    scale.build(bot.ws, "small", scale.SMALL)
    scale.build(bot.ws, "large", scale.LARGE)
    counter = scale.Work(bot.ws.db)
    small = sum(w for w, _ in _click_work(bot, counter, "small"))
    large = sum(w for w, _ in _click_work(bot, counter, "large"))
    assert not scale._grows(small, large), (
        f"a click's work: {small} at {scale.SMALL} examples, {large} at {scale.LARGE}"
    )
