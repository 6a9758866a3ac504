"""An ended batch (its summary sent) is kept until its TTL: an answer undone after the summary
gives its place back and the relabel ends it again; a plain `/label` (end_batch) drops it, and
so does its TTL. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from storage.db import session_scope
from storage.models import LabelingBatch, utcnow
from storage.repositories import batches
from tests.storage.test_batches_repo import _project


def _answer(db, pid: int) -> batches.BatchCount | None:  # type: ignore[no-untyped-def]
    with session_scope(db) as s:
        return batches.count_answer(session=s, project_id=pid, user_id="U1", agreed=True)


def test_an_undo_after_the_end_reopens_the_batch_for_its_relabel(db) -> None:  # type: ignore[no-untyped-def]
    pid = _project(db)
    with session_scope(db) as s:
        batches.start_batch(session=s, project_id=pid, user_id="U1", size=2)
    assert [c.remaining for c in (_answer(db, pid), _answer(db, pid)) if c] == [1, 0]
    assert _answer(db, pid) is None  # ended: counts nothing more
    with session_scope(db) as s:
        batches.give_back(session=s, project_id=pid, user_id="U1")  # the last one undone
    relabel = _answer(db, pid)
    assert relabel is not None and (relabel.remaining, relabel.done, relabel.agreed) == (0, 2, 2)
    assert _answer(db, pid) is None

    with session_scope(db) as s:  # a plain /label: the batch is gone, an undo gives nothing back
        batches.end_batch(session=s, project_id=pid, user_id="U1")
        batches.give_back(session=s, project_id=pid, user_id="U1")
        assert s.get(LabelingBatch, (pid, "U1")) is None
    assert _answer(db, pid) is None


def test_an_ended_batch_goes_with_its_ttl(db) -> None:  # type: ignore[no-untyped-def]
    pid = _project(db)
    with session_scope(db) as s:
        batches.start_batch(session=s, project_id=pid, user_id="U1", size=1)
    assert _answer(db, pid) is not None
    with session_scope(db) as s:
        row = s.get(LabelingBatch, (pid, "U1"))
        assert row is not None
        row.started_at = utcnow() - batches.BATCH_TTL - timedelta(minutes=1)
        s.add(row)
    with session_scope(db) as s:
        batches.give_back(session=s, project_id=pid, user_id="U1")
    assert _answer(db, pid) is None  # lapsed: the relabel is no batch's
    with session_scope(db) as s:
        assert s.get(LabelingBatch, (pid, "U1")) is None
