"""Labeling batches ("Label 5 now"): started, counted answer by answer, ended, across replicas."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from storage.db import rowcount
from storage.models import LabelingBatch, utcnow


@dataclass(frozen=True)
class BatchCount:
    """After one answer: answers ``remaining`` in the batch (0: it just ended) and its tally."""

    remaining: int
    done: int
    compared: int
    agreed: int


def start_batch(*, session: Session, project_id: int, user_id: str, size: int) -> None:
    """Start (or restart) ``user_id``'s batch of ``size`` answers in the project."""
    row = session.get(LabelingBatch, (project_id, user_id))
    if row is None:
        try:
            # two "Label 5 now" clicks at once on two replicas: the second insert loses the race
            # and restarts the batch the first one created
            with session.begin_nested():
                session.add(LabelingBatch(project_id=project_id, user_id=user_id, size=size,
                                          remaining=size))  # fmt: skip
            return
        except IntegrityError:
            row = session.get(LabelingBatch, (project_id, user_id), populate_existing=True)
            assert row is not None
    row.size, row.remaining = size, size
    row.done = row.compared = row.agreed = 0
    row.started_at = utcnow()
    session.add(row)
    session.flush()


def count_answer(
    *, session: Session, project_id: int, user_id: str, agreed: bool | None
) -> BatchCount | None:
    """Count one answer in ``user_id``'s running batch; None when none is running.

    One conditional UPDATE takes the row (a row lock on PostgreSQL, the write lock on SQLite)
    until the transaction ends, so two answers on two replicas are counted one after the other
    and exactly one of them sees the batch end; the ended batch's row is deleted with it.
    """
    key = (col(LabelingBatch.project_id) == project_id, col(LabelingBatch.user_id) == user_id)
    result = session.execute(
        update(LabelingBatch)
        .where(*key, col(LabelingBatch.remaining) > 0)
        .values(
            remaining=LabelingBatch.remaining - 1,
            done=LabelingBatch.done + 1,
            compared=LabelingBatch.compared + int(agreed is not None),
            agreed=LabelingBatch.agreed + int(bool(agreed)),
        )
    )
    if rowcount(result) != 1:
        return None
    row = session.get(LabelingBatch, (project_id, user_id), populate_existing=True)
    assert row is not None
    count = BatchCount(remaining=row.remaining, done=row.done, compared=row.compared,
                       agreed=row.agreed)  # fmt: skip
    if row.remaining <= 0:
        session.execute(delete(LabelingBatch).where(*key))
        session.expire_all()
    return count
