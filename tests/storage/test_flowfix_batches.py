"""An ended batch (its summary sent) is kept until its TTL: an answer undone after the summary
gives nothing back and its relabel counts nothing (told apart from no batch at all, so no
next example follows it either); a plain `/label` (end_batch) drops it, and so does its TTL.
An answer undone within the batch gives its place back and leaves the tally. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from storage.db import session_scope
from storage.models import LabelingBatch, utcnow
from storage.repositories import batches
from tests.storage.test_batches_repo import _project


def _answer(db, pid: int) -> batches.BatchCount | None:  # type: ignore[no-untyped-def]
    with session_scope(db) as s:
        return batches.count_answer(session=s, project_id=pid, user_id="U1", agreed=True)


def _give_back(db, pid: int, *, agreed: bool | None = True) -> bool:  # type: ignore[no-untyped-def]
    with session_scope(db) as s:  # an answer given now, in the batch
        return batches.give_back(
            session=s, project_id=pid, user_id="U1", agreed=agreed, given_at=utcnow()
        )


def test_an_undo_after_the_end_gives_nothing_back(db) -> None:  # type: ignore[no-untyped-def]
    pid = _project(db)
    with session_scope(db) as s:
        batches.start_batch(session=s, project_id=pid, user_id="U1", size=2)
    counts = [_answer(db, pid), _answer(db, pid)]
    assert [(c.remaining, c.counted) for c in counts if c] == [(1, True), (0, True)]
    ended = _answer(db, pid)  # ended: counts nothing more
    assert ended is not None and (ended.counted, ended.done, ended.agreed) == (False, 2, 2)
    assert _give_back(db, pid) is False  # the last one undone
    relabel = _answer(db, pid)
    assert relabel is not None and not relabel.counted and relabel.done == 2

    with session_scope(db) as s:  # a plain /label: the batch is gone, an undo gives nothing back
        batches.end_batch(session=s, project_id=pid, user_id="U1")
    assert _give_back(db, pid) is False
    with session_scope(db) as s:
        assert s.get(LabelingBatch, (pid, "U1")) is None
    assert _answer(db, pid) is None


def test_an_undo_within_the_batch_leaves_the_tally(db) -> None:  # type: ignore[no-untyped-def]
    pid = _project(db)
    with session_scope(db) as s:
        batches.start_batch(session=s, project_id=pid, user_id="U1", size=3)
    _answer(db, pid)  # agreed
    assert _give_back(db, pid, agreed=True) is True
    with session_scope(db) as s:  # relabeled against the model's guess
        c = batches.count_answer(session=s, project_id=pid, user_id="U1", agreed=False)
    assert c is not None and (c.remaining, c.done, c.compared, c.agreed) == (2, 1, 1, 0)
    assert _give_back(db, pid, agreed=None) is True  # no guess: the tally stays
    with session_scope(db) as s:
        row = s.get(LabelingBatch, (pid, "U1"))
        assert row is not None and (row.remaining, row.done, row.compared, row.agreed) == (
            3, 0, 1, 0,
        )  # fmt: skip
        # a restart reset the tally: an answer counted before it never goes below 0
        batches.start_batch(session=s, project_id=pid, user_id="U1", size=3)
    _answer(db, pid)
    with session_scope(db) as s:
        batches.count_answer(session=s, project_id=pid, user_id="U1", agreed=None)
    assert _give_back(db, pid, agreed=True) is True
    with session_scope(db) as s:
        row = s.get(LabelingBatch, (pid, "U1"))
        assert row is not None and (row.done, row.compared, row.agreed) == (1, 0, 0)


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
    assert _give_back(db, pid) is False
    assert _answer(db, pid) is None  # lapsed: the relabel is no batch's
    with session_scope(db) as s:
        assert s.get(LabelingBatch, (pid, "U1")) is None
