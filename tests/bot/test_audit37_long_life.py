"""audit37: what a project's long life makes slower on the Slack side (strict xfail findings).

The scheduler's rounds run every LABELBOT_SCHEDULER_POLL_SECONDS (15 s by default) for as long
as the bot runs: their work must not grow with every disagreement a project ever had. Counted
in SQL statements, through the real services and the local Slack Web API, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from bot import disputes, flag_threads, flow
from engine import consensus, labeling, projects, taxonomy
from engine import disputes as engine_disputes
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot

ANA, BOB, ADMIN = "U0ANA", "U0BOB", "U0ADMIN"


@contextmanager
def _statements(bot: Bot) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(bot.ws.db, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(bot.ws.db, "before_cursor_execute", count)


def _label(bot: Bot, example_id: int, label: str, annotator: str, key: str) -> None:
    labeling.submit_label(bot.ws, project=PROJECT, example_id=example_id, label=label,
                          annotator=annotator, source="cli", key=key)  # fmt: skip


def _disagreements(bot: Bot, n: int, *, first: int, settle: bool = True) -> list[int]:
    """``n`` more examples that ANA and BOB labeled apart (LABELS[0], LABELS[1]), each given a
    thread by the dispute round and then, with ``settle``, adjudicated (its thread drawn
    settled by the next round)."""
    made = []
    for i in range(first, first + n):
        task = labeling.next_task(bot.ws, project=PROJECT, annotator=ANA)
        assert task is not None
        _label(bot, task.example_id, LABELS[0], ANA, f"a{i}")
        other = labeling.next_task(bot.ws, project=PROJECT, annotator=BOB)
        assert other is not None and other.example_id == task.example_id  # a second opinion
        _label(bot, task.example_id, LABELS[1], BOB, f"b{i}")
        disputes.post_all_disputes(bot.services, seen={})  # its thread
        made.append(task.example_id)
        if settle:
            consensus.adjudicate(bot.ws, project=PROJECT, example_id=task.example_id,
                                 label=LABELS[0], actor=ADMIN)  # fmt: skip
    return made


def _quiet_round(bot: Bot, seen: dict[Any, object]) -> int:
    """SQL statements of a dispute round in which nothing changed."""
    disputes.post_all_disputes(bot.services, seen=seen)  # the verdicts drawn, noted
    with _statements(bot) as statements:
        assert disputes.post_all_disputes(bot.services, seen=seen) == 0
    return len(statements)


def test_a_quiet_dispute_round_does_not_grow_with_settled_disagreements(
    bot: Bot, bank: Any
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    seen: dict[Any, object] = {}
    _disagreements(bot, 2, first=0)
    early = _quiet_round(bot, seen)
    _disagreements(bot, 8, first=2)  # the months go by: more, settled long ago
    later = _quiet_round(bot, seen)
    assert later == early, f"{early} statements with 2 settled disagreements, {later} with 10"


def test_a_rename_does_not_rewrite_every_thread_whose_experts_came_to_agree(
    bot: Bot, bank: Any
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    _disagreements(bot, 4, first=0, settle=False)
    roots = {t.thread_ts for t in engine_disputes.dispute_threads(bot.ws, project=PROJECT)}
    assert len(roots) == 4
    # the two labels they chose are merged: the experts agree, and each root says so (once)
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=LABELS[:2], into="card_or_age",
                          actor="ops")  # fmt: skip
    flow.redraw_on_screen(bot.services, project=PROJECT)  # as after a change
    assert all(
        "no longer disagree" in str(m) for m in bot.api.messages(CHANNEL) if m["ts"] in roots
    )
    before = len(bot.api.calls("chat.update"))
    # months later: a label none of them shows is renamed
    taxonomy.rename_label(bot.ws, project=PROJECT, label=LABELS[3], new_name="pin_change",
                          actor="ops")  # fmt: skip
    flow.redraw_on_screen(bot.services, project=PROJECT)
    rewritten = [c for c in bot.api.calls("chat.update")[before:] if c.params.get("ts") in roots]
    assert rewritten == [], f"{len(rewritten)} of the {len(roots)} agreed threads rewritten"


def test_a_refused_channel_is_not_logged_again_at_every_round(
    bot: Bot, bank: Any, caplog: pytest.LogCaptureFixture
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    task = labeling.next_task(bot.ws, project=PROJECT, annotator=ANA)
    assert task is not None
    labeling.flag(bot.ws, project=PROJECT, example_id=task.example_id, annotator=ANA,
                  reason="not a bank question")  # fmt: skip
    with caplog.at_level(logging.INFO):
        for _ in range(6):  # a minute and a half of rounds: the bot was removed from the channel
            bot.api.fail_next("chat.postMessage", error="not_in_channel")  # the thread's post
            flag_threads.post_all_flags(bot.services, seen={})
    said = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.INFO and "not_in_channel" in r.getMessage()
    ]
    assert len(said) == 1, said  # told once (the admins were DMed), not once a round
