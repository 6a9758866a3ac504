"""Session 37: the reads of a whole-project report that are not its one read of the annotations
(tests/engine/test_audit36_reports_scale.py) do work of their own rows, not of the project's.

The projects are tests/engine/test_audit36_scale.py's (``build``: ``SMALL`` and ``LARGE``
examples, half of them labeled by 20 experts, each label with its done delivery), the work of
one call counted as there (``Work``). Here each project also has what the audit test's projects
lack: the same few discussion threads, and the same few audit picks that were answered. Their
reads (``feedback.count_open_discussions``, ``assignments.audit_labeled_ids``) must not grow
with the project. No timings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.db import session_scope
from storage.models import Assignment, Example
from storage.repositories import assignments, feedback, slack
from tests.engine.test_audit36_scale import EXPERTS, LARGE, SMALL, Work, _grows, build

PICKS = 10  # audit picks per project
THREADS = 3  # discussion threads on labeled examples, and as many on unlabeled ones


def _ids(ws: Any, pid: int) -> list[int]:
    with session_scope(ws.db) as s:
        return [int(i) for i in s.exec(select(Example.id).where(Example.project_id == pid))]


def _measured(
    ws: Any, setup: Callable[[int, list[int]], Any], read: Callable[[Session, int], Any]
) -> tuple[int, int]:
    """The work of ``read`` in the small and the large project, each project given ``setup``
    and ``read`` called once before counting; ``read`` must find what ``setup`` says it will."""
    work = []
    for name, n in (("small", SMALL), ("large", LARGE)):
        pid = build(ws, name, n)
        expected = setup(pid, sorted(_ids(ws, pid)))
        counter = Work(ws.db)
        for counting in (False, True):
            with session_scope(ws.db, read_only=True) as s:
                if counting:
                    with counter.count() as log:
                        found = read(s, pid)
                else:
                    found = read(s, pid)
            assert found == expected, (name, found, expected)
        work.append(sum(w for w, _ in log))
    return work[0], work[1]


def test_open_discussions_read_by_thread(ws) -> None:  # type: ignore[no-untyped-def]
    """The digest's open discussions: a label looked up for each thread's example. SQLite read
    every live label of the project for them (``NOT IN``), PostgreSQL too (a hashed subplan)."""

    def setup(pid: int, ids: list[int]) -> int:
        labeled, unlabeled = ids[:THREADS], ids[-THREADS:]  # build labels the first half
        with session_scope(ws.db) as s:
            for e in labeled + unlabeled:
                slack.add_thread(session=s, example_id=e, channel="C1", thread_ts=f"{pid}.{e}",
                                 kind="team", opened_by=EXPERTS[0])  # fmt: skip
        with session_scope(ws.db) as s:  # the examples themselves (the proposals job's query)
            found = {int(i) for i in s.exec(feedback.open_discussions(pid)).all()}
        assert found == set(unlabeled)
        return len(unlabeled)

    def read(s: Session, pid: int) -> int:
        return feedback.count_open_discussions(session=s, project_id=pid)

    small, large = _measured(ws, setup, read)
    assert not _grows(small, large), f"open discussions: {small} at {SMALL}, {large} at {LARGE}"


def test_audit_set_read_from_the_audit_picks(ws) -> None:  # type: ignore[no-untyped-def]
    """The audit set (status, App Home, training, evaluation): the project's audit picks by
    their index, each with its example's annotations. It read every delivery of the project
    (SQLite: with, for each, the expert's labels since it)."""

    def setup(pid: int, ids: list[int]) -> set[int]:
        # the first voter of every 20th labeled example is EXPERTS[0]: those deliveries were
        # audit picks (a tenth of them has a second opinion, given at the same time: not before)
        picks = [ids[j] for j in range(0, 20 * PICKS, 20)]
        with session_scope(ws.db) as s:
            s.execute(
                update(Assignment)
                .where(col(Assignment.example_id).in_(picks), Assignment.annotator == EXPERTS[0])
                .values(purpose="audit")
            )
        return set(picks)

    def read(s: Session, pid: int) -> set[int]:
        return assignments.audit_labeled_ids(session=s, project_id=pid)

    small, large = _measured(ws, setup, read)
    assert not _grows(small, large), f"audit set: {small} at {SMALL}, {large} at {LARGE}"
