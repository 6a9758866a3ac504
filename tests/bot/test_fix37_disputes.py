"""fix37: the dispute round's work and memory do not grow with the disagreements a project
settled long ago, and what it draws stays as it was (tests/bot/test_audit37_long_life.py has
the findings). Counted in SQL statements and Slack calls, through the real services and the
local Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot import disputes
from engine import consensus, labeling, projects
from engine import disputes as engine_disputes
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot
from tests.bot.test_audit37_long_life import ADMIN, _disagreements, _quiet_round


def _root(bot: Bot, ts: str) -> str:
    return next(str(m) for m in bot.api.messages(CHANNEL) if m["ts"] == ts)


def test_a_quiet_round_does_not_grow_with_open_disagreements_that_have_their_thread(
    bot: Bot, bank: Any
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    seen: dict[Any, object] = {}
    _disagreements(bot, 2, first=0, settle=False)
    early = _quiet_round(bot, seen)
    _disagreements(bot, 4, first=2, settle=False)  # each with its thread, nobody settles them
    later = _quiet_round(bot, seen)
    assert later == early, f"{early} statements with 2 open threads, {later} with 6"


def test_the_rounds_memory_keeps_no_thread_settled_for_good(bot: Bot, bank: Any) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    seen: dict[Any, object] = {}
    settled = _disagreements(bot, 3, first=0)
    still_open = _disagreements(bot, 1, first=3, settle=False)
    _quiet_round(bot, seen)  # the verdicts drawn
    assert set(seen) == set(still_open), seen  # only the thread whose votes may still change
    for example_id in settled:
        assert "Settled" in _root(bot, _thread(bot, example_id)), example_id


def test_a_verdict_given_after_the_round_forgot_its_thread_is_drawn_once(
    bot: Bot, bank: Any
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    seen: dict[Any, object] = {}
    (example_id,) = _disagreements(bot, 1, first=0, settle=False)
    _quiet_round(bot, seen)
    assert example_id in seen
    consensus.adjudicate(bot.ws, project=PROJECT, example_id=example_id, label=LABELS[1],
                         actor=ADMIN)  # fmt: skip
    ts = _thread(bot, example_id)
    before = len(bot.api.calls("chat.update"))
    disputes.post_all_disputes(bot.services, seen=seen)  # drawn settled, then forgotten
    assert LABELS[1] in _root(bot, ts) and "Settled" in _root(bot, ts)
    assert example_id not in seen
    drawn = len(bot.api.calls("chat.update"))
    assert drawn > before
    for _ in range(3):  # and never drawn again, by this process or a fresh one
        disputes.post_all_disputes(bot.services, seen=seen)
        disputes.post_all_disputes(bot.services, seen={})
    assert len(bot.api.calls("chat.update")) == drawn


def test_a_vote_outside_slack_on_an_open_thread_is_still_redrawn(bot: Bot, bank: Any) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, multi_label_k=3,
                             audit_share=0.0)  # fmt: skip
    seen: dict[Any, object] = {}
    (example_id,) = _disagreements(bot, 1, first=0, settle=False)
    _disagreements(bot, 2, first=1)  # settled ones beside it
    _quiet_round(bot, seen)
    ts = _thread(bot, example_id)
    before = len(bot.api.calls("chat.update"))
    task = labeling.next_task(bot.ws, project=PROJECT, annotator="U0CAROL")
    assert task is not None and task.example_id == example_id  # a third expert's, from the CLI
    labeling.submit_label(bot.ws, project=PROJECT, example_id=example_id, label=LABELS[2],
                          annotator="U0CAROL", source="cli", key="c0")  # fmt: skip
    disputes.post_all_disputes(bot.services, seen=seen)
    updates = [c for c in bot.api.calls("chat.update")[before:] if c.params.get("ts") == ts]
    assert len(updates) == 1
    assert LABELS[2] in _root(bot, ts) and "U0CAROL" in _root(bot, ts)


def _thread(bot: Bot, example_id: int) -> str:
    thread = engine_disputes.dispute_thread(bot.ws, example_id=example_id)
    assert thread is not None
    return thread.thread_ts


def test_a_merge_of_other_labels_leaves_the_agreed_threads_and_an_undo_redraws_them(
    bot: Bot, bank: Any
) -> None:
    from bot import flow
    from engine import taxonomy

    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    made = _disagreements(bot, 2, first=0, settle=False)
    roots = {_thread(bot, e) for e in made}
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=LABELS[:2], into="card_or_age",
                          actor="ops")  # fmt: skip
    flow.redraw_on_screen(bot.services, project=PROJECT)
    assert all("no longer disagree" in _root(bot, ts) for ts in roots)
    before = len(bot.api.calls("chat.update"))
    # two labels none of them shows are merged: their note stands
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=LABELS[3:5], into="pin_or_rate",
                          actor="ops")  # fmt: skip
    flow.redraw_on_screen(bot.services, project=PROJECT)
    assert [c for c in bot.api.calls("chat.update")[before:] if c.params.get("ts") in roots] == []
    # both merges undone: the experts disagree again, and each thread says so
    taxonomy.undo_last(bot.ws, project=PROJECT, actor="ops")
    flow.redraw_on_screen(bot.services, project=PROJECT)
    taxonomy.undo_last(bot.ws, project=PROJECT, actor="ops")
    flow.redraw_on_screen(bot.services, project=PROJECT)
    for ts in roots:
        assert "no longer disagree" not in _root(bot, ts)
        assert LABELS[0] in _root(bot, ts) and LABELS[1] in _root(bot, ts)
