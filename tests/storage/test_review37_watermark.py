"""Review of c281cff: the "proposals due?" check (``proposals.refresh_watermark``) keeps its
remembered counts while the project has no row above the remembered ids, and moves the ids on.

No finding: these tests guard what the review checked. A row committed out of id order (two
transactions at once on PostgreSQL: a lower id committed after a higher one was seen) is below
the ids once they moved on, and is counted by the recount every ``_WATERMARK_RECOUNT_S``
seconds (the ids moving on keep the time of the last count): late, never lost. And along a
random run of labels, skips, late Skips (``skip_lapsed``), deliveries, flags, flag resolutions,
threads and undos in two projects, each project's check says what an exact count (another
process, its own remembered counts) says."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from engine import labeling
from storage.db import session_scope
from storage.models import Annotation, Example, Flag, Label, utcnow
from storage.repositories import assignments, feedback, flags, slack
from storage.repositories import proposals as repo
from tests.engine.test_audit36_scale import build
from tests.engine.test_fix37_watermark import _example


def _label(ws: Any, pid: int) -> int:
    with session_scope(ws.db, read_only=True) as s:
        return int(s.exec(select(Label.id).where(Label.project_id == pid)).first() or 0)


def _poll(ws: Any, pid: int, exact: bool = False) -> dict[str, int]:
    with session_scope(ws.db, read_only=True) as s:
        return repo.refresh_watermark(session=s, project_id=pid, exact=exact)


def test_a_row_committed_out_of_id_order_is_counted_by_the_recount(  # type: ignore[no-untyped-def]
    ws, replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    if ws.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: ids commit in order")
    a, b = build(ws, "alpha", 20), build(ws, "beta", 20)
    la, lb = _label(ws, a), _label(ws, b)
    start = repo.time.monotonic()
    clock = [start]
    monkeypatch.setattr(repo.time, "monotonic", lambda: clock[0])
    _poll(ws, a)  # counted at start
    clock[0] = start + repo._WATERMARK_RECOUNT_S * 2 / 3  # the ids move on later
    with session_scope(ws.db) as late:
        feedback.add_annotation(session=late, example_id=_example(ws, a, 3), label_id=la,
                                annotator="x", source="slack", key="late-a")  # fmt: skip
        late.flush()  # its id taken, not committed
        with session_scope(ws.db) as s:
            feedback.add_annotation(session=s, example_id=_example(ws, b, 3), label_id=lb,
                                    annotator="y", source="slack", key="b-1")  # fmt: skip
        _poll(ws, a)  # sees b-1's higher id: the ids move on past the late row's
    for n in range(2):  # more work elsewhere: the ids move on again
        with session_scope(ws.db) as s:
            feedback.add_annotation(session=s, example_id=_example(ws, b, 4 + n), label_id=lb,
                                    annotator="y", source="slack", key=f"b-{2 + n}")  # fmt: skip
        _poll(ws, a)
    exact = _poll(replica, a, exact=True)
    # the recount is due from the last count, not from the ids' last move
    clock[0] = start + repo._WATERMARK_RECOUNT_S + 1
    assert _poll(ws, a) == exact


def test_each_check_says_what_an_exact_count_says(ws, replica) -> None:  # type: ignore[no-untyped-def]
    pids = {"alpha": build(ws, "alpha", 30), "beta": build(ws, "beta", 30)}
    rng = random.Random(37)
    for pid in pids.values():
        _poll(ws, pid)
    late_skips = 0
    for step in range(80):
        name = rng.choice(list(pids))
        pid = pids[name]
        op = rng.choice(["label", "skip", "late", "deliver", "undo", "flag", "resolve", "thread"])
        who = f"U{rng.randrange(4)}"
        if op in ("label", "skip", "late", "deliver", "undo"):
            task = labeling.next_task(ws, project=name, annotator=who)
            if task is None:
                continue
            if op == "label":
                labeling.submit_label(ws, project=name, example_id=task.example_id,
                                      label="intent_0", annotator=who, source="slack",
                                      key=f"rv37-{name}-{step}")  # fmt: skip
            elif op == "skip":
                assert labeling.skip(ws, project=name, example_id=task.example_id, annotator=who)
            elif op == "late":
                with session_scope(ws.db) as s:
                    assignments.expire_assignments(session=s, project_id=pid,
                                                   now=utcnow() + timedelta(days=30))  # fmt: skip
                for other in pids.values():  # the lapse seen: open deliveries went
                    assert _poll(ws, other) == _poll(replica, other, exact=True), (step, op)
                late_skips += labeling.skip(
                    ws, project=name, example_id=task.example_id, annotator=who
                )
            elif op == "undo":
                with session_scope(ws.db, read_only=True) as s:
                    live = s.exec(
                        select(Annotation)
                        .join(Example, col(Example.id) == Annotation.example_id)
                        .where(
                            Example.project_id == pid,
                            col(Annotation.retracted_at).is_(None),
                            col(Annotation.idempotency_key).startswith(f"rv37-{name}-"),
                        )
                        .order_by(col(Annotation.id).desc())
                    ).first()
                if live is not None and live.id is not None:
                    labeling.undo(ws, annotation_id=live.id, annotator=live.annotator)
        elif op == "flag":
            with session_scope(ws.db) as s:
                flags.add_flag(session=s, example_id=_example(ws, pid, rng.randrange(30)),
                               annotator=who, reason="fits no label")  # fmt: skip
        elif op == "resolve":
            with session_scope(ws.db) as s:
                found = s.exec(select(Flag).where(col(Flag.resolved_at).is_(None))).first()
                if found is not None and found.id is not None:
                    flags.resolve_flag(session=s, flag_id=found.id, resolved_by="z")
        else:
            with session_scope(ws.db) as s:
                slack.add_thread(session=s, example_id=_example(ws, pid, rng.randrange(30)),
                                 channel="C1", thread_ts=f"9.{step}", kind="team",
                                 opened_by=who)  # fmt: skip
        for other in pids.values():
            assert _poll(ws, other) == _poll(replica, other, exact=True), (step, op)
    assert late_skips > 0
