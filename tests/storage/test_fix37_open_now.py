"""Session 37: the open deliveries the "proposals due?" check counts (``open_now`` in
``proposals.refresh_watermark``, asked of every project at every scheduler poll) are the
project's own, read by a partial index on the open assignments by project: the open deliveries
of another project are not read. The counts are what an exact count says. Work is counted as
tests/engine/test_audit36_scale.py does (``Work``: SQLite's steps, PostgreSQL's rows); no
timings. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert
from sqlmodel import select

from engine import projects
from storage.db import refresh_statistics, session_scope
from storage.models import Assignment, Example, utcnow
from storage.repositories import examples
from storage.repositories import projects as projects_repo
from storage.repositories import proposals as repo
from storage.repositories.examples import NewExample
from tests.engine.test_audit36_scale import Work, _grows, of

OPEN_COUNT = r"FROM assignments WHERE assignments\.project_id = .* AND assignments\.status = 'open'"


def _project(ws: Any, name: str, n: int) -> tuple[int, list[int]]:
    projects.create_project(ws, name=name, labels=["a", "b"])
    with session_scope(ws.db) as s:
        pid = projects_repo.get_project(session=s, name=name).id
        assert pid is not None
        rows = [NewExample(f"{name} text {i}") for i in range(n)]
        return int(pid), list(examples.add_examples(session=s, project_id=pid, rows=rows).ids)


def _deliver(ws: Any, pid: int, ids: list[int], status: str = "open") -> None:
    """A delivery of each example (in turn, ``ids`` may repeat one), open (or closed with
    ``status``)."""
    if not ids:
        return
    now = utcnow()
    closed = None if status == "open" else now
    rows = [
        dict(project_id=pid, example_id=e, annotator=f"U{i % 20}", status=status,
             purpose="queue", created_at=now, expires_at=now + timedelta(minutes=i),
             closed_at=closed)
        for i, e in enumerate(ids)
    ]  # fmt: skip
    with session_scope(ws.db) as s:
        s.execute(insert(Assignment), rows)
    refresh_statistics(ws.db)


def _exact(ws: Any, pid: int) -> int:
    with session_scope(ws.db, read_only=True) as s:
        return int(
            s.exec(
                select(func.count())
                .select_from(Assignment)
                .where(Assignment.project_id == pid, Assignment.status == "open")
            ).one()
        )


def _check_work(ws: Any, pid: int, counter: Work) -> tuple[int, dict[str, int]]:
    """The work of the open-count statement of one exact check of ``pid``."""
    with session_scope(ws.db, read_only=True) as s, counter.count() as log:
        marks = repo.refresh_watermark(session=s, project_id=pid, exact=True)
    return of(list(log), OPEN_COUNT), marks


def test_open_count_reads_the_projects_own_open_deliveries(ws) -> None:  # type: ignore[no-untyped-def]
    """The project's open deliveries only: neither every open delivery of the database (another
    project's 500, then 4,500) nor every delivery the project had (200, then 2,000 done)."""
    bank, bank_ids = _project(ws, "bank", 40)
    other, other_ids = _project(ws, "other", 4500)
    _deliver(ws, bank, bank_ids[:10])
    _deliver(ws, bank, bank_ids[10:20], status="skipped")
    _deliver(ws, bank, bank_ids[20:40] * 10, status="done")
    _deliver(ws, other, other_ids[:500])
    counter = Work(ws.db)
    small, marks = _check_work(ws, bank, counter)
    assert _exact(ws, bank) == 10 and marks["skips"] == 10
    assert repo._watermarks[ws.db.pool][bank].signal[-1] == 10
    _deliver(ws, other, other_ids[500:4500])  # 9 times the open deliveries elsewhere
    middle, _ = _check_work(ws, bank, counter)
    _deliver(ws, bank, bank_ids[20:40] * 90, status="done")  # 10 times the project's history
    _deliver(ws, bank, bank_ids[20:25])
    large, marks = _check_work(ws, bank, counter)
    assert _exact(ws, bank) == 15 and marks["skips"] == 10
    assert repo._watermarks[ws.db.pool][bank].signal[-1] == 15
    assert not _grows(small, large), f"open count: {small}, then {large} (see the docstring)"
    # PostgreSQL's rows: the project's open ones and a few (the statement's other terms)
    for work in (small, middle, large):
        assert work < 150, f"{work}: more than the project's open deliveries were read"


def test_open_count_is_the_exact_count(ws) -> None:  # type: ignore[no-untyped-def]
    """What the check remembers moves with the project's open deliveries alone: one opened in
    another project leaves an idle project's counts as they were, one of its own is seen."""
    bank, bank_ids = _project(ws, "bank", 30)
    other, other_ids = _project(ws, "other", 30)
    _deliver(ws, bank, bank_ids[:3])
    _deliver(ws, other, other_ids[:7])
    with session_scope(ws.db, read_only=True) as s:
        first = repo.refresh_watermark(session=s, project_id=bank)
    memo = repo._watermarks[ws.db.pool][bank]
    assert memo.signal[-1] == _exact(ws, bank) == 3
    assert repo._watermarks[ws.db.pool].get(other) is None
    with session_scope(ws.db, read_only=True) as s:
        repo.refresh_watermark(session=s, project_id=other)
    assert repo._watermarks[ws.db.pool][other].signal[-1] == _exact(ws, other) == 7
    _deliver(ws, other, other_ids[7:9])
    with session_scope(ws.db, read_only=True) as s:
        assert repo.refresh_watermark(session=s, project_id=bank) == first
    assert repo._watermarks[ws.db.pool][bank].signal[-1] == 3
    _deliver(ws, bank, bank_ids[3:5], status="skipped")
    with session_scope(ws.db, read_only=True) as s:
        assert repo.refresh_watermark(session=s, project_id=bank)["skips"] == 2
    assert repo._watermarks[ws.db.pool][bank].signal[-1] == 3
    with session_scope(ws.db, read_only=True) as s:
        n = s.exec(select(func.count()).select_from(Example)).one()
    assert n == 60
