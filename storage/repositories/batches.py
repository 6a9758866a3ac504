"""Labeling batches ("Label 5 now"): started, counted answer by answer, ended, across replicas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from storage.db import rowcount
from storage.models import LabelingBatch, utcnow


@dataclass(frozen=True)
class BatchCount:
    """After one answer: answers ``remaining`` in the batch (0: it just ended) and its tally.
    ``counted`` False: the batch had ended before this answer (its summary was sent), which
    counted nothing: the relabel of an answer undone after the summary, say."""

    remaining: int
    done: int
    compared: int
    agreed: int
    counted: bool = True


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


# A batch not finished within this is dropped: "/label 5" abandoned in the morning does not
# cut the evening's labeling short with a summary of answers that belonged to another session.
BATCH_TTL = timedelta(hours=12)


def end_batch(*, session: Session, project_id: int, user_id: str) -> None:
    """Drop ``user_id``'s batch in the project, if any, running or ended (a plain `/label` goes
    on without end: an answer undone after it gives no place back)."""
    key = (col(LabelingBatch.project_id) == project_id, col(LabelingBatch.user_id) == user_id)
    session.execute(delete(LabelingBatch).where(*key))


def give_back(
    *, session: Session, project_id: int, user_id: str, agreed: bool | None, given_at: datetime
) -> bool:
    """An answer taken back (an undo; ``agreed``: it agreed with the model's view, None when
    the model had none; ``given_at``: when it was given): its place in the running batch, if
    any, is open again, and it leaves the tally (the relabel counts in its stead). Only an
    answer given in the running batch (at or after its start): one given before it (the
    previous batch's, or under a plain `/label`, still within its undo window) was never
    counted in it, and taking it out would take one of this batch's answers out of its tally.
    A batch that ended (its summary sent) gives nothing back: the relabel counts nothing
    (count_answer) and the one summary stands. True when a place was given back."""
    key = (
        col(LabelingBatch.project_id) == project_id,
        col(LabelingBatch.user_id) == user_id,
        col(LabelingBatch.started_at) <= given_at,
    )
    compared = int(agreed is not None)
    agreed_ = int(bool(agreed))
    result = session.execute(
        update(LabelingBatch)
        .where(*key, col(LabelingBatch.remaining) > 0, col(LabelingBatch.done) > 0)
        .values(
            remaining=LabelingBatch.remaining + 1,
            done=LabelingBatch.done - 1,
            # never below 0: an answer counted before a restart (the tally was reset)
            compared=case(
                (col(LabelingBatch.compared) >= compared, LabelingBatch.compared - compared),
                else_=0,
            ),
            agreed=case(
                (col(LabelingBatch.agreed) >= agreed_, LabelingBatch.agreed - agreed_), else_=0
            ),
        )  # fmt: skip
    )
    return rowcount(result) == 1


def count_answer(
    *, session: Session, project_id: int, user_id: str, agreed: bool | None
) -> BatchCount | None:
    """Count one answer in ``user_id``'s running batch; None when none is running (one started
    over BATCH_TTL ago is dropped).

    One conditional UPDATE takes the row (a row lock on PostgreSQL, the write lock on SQLite)
    until the transaction ends, so two answers on two replicas are counted one after the other
    and exactly one of them sees the batch end. The ended batch's row stays (``remaining`` 0,
    counting nothing more: ``counted`` False) until a plain `/label` ends it, a new batch
    restarts it or BATCH_TTL passes: the relabel of an answer undone after the summary is no
    new batch's, nor an answer that asks for another example.
    """
    key = (col(LabelingBatch.project_id) == project_id, col(LabelingBatch.user_id) == user_id)
    session.execute(
        delete(LabelingBatch).where(*key, col(LabelingBatch.started_at) < utcnow() - BATCH_TTL)
    )
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
    counted = rowcount(result) == 1
    row = session.get(LabelingBatch, (project_id, user_id), populate_existing=True)
    if row is None:
        return None
    compared = min(row.compared, row.done)
    return BatchCount(remaining=row.remaining, done=row.done, compared=compared,
                      agreed=min(row.agreed, compared), counted=counted)  # fmt: skip
