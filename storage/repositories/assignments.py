"""Assignments: which example is out with which expert, so two experts never get the same one.

Claiming is safe across processes: on PostgreSQL the candidate row is taken with
``FOR UPDATE SKIP LOCKED`` so concurrent claimers pass over each other's rows instead of waiting;
on SQLite the claim runs under ``BEGIN IMMEDIATE`` (storage.db), which serialises writers. On both,
a partial unique index allows one *open* assignment per example, the final guarantee.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, exists, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import Annotation, Assignment, Example, Flag, Prediction, utcnow
from storage.repositories.taxonomy import counting_label_ids

_CLAIM_ATTEMPTS = 5


def expire_assignments(*, session: Session, project_id: int, now: datetime | None = None) -> int:
    """Return unanswered examples whose time ran out to the pool; the number returned."""
    result = session.execute(
        update(Assignment)
        .where(
            col(Assignment.project_id) == project_id,
            col(Assignment.status) == "open",
            col(Assignment.expires_at) < (now or utcnow()),
        )
        .values(status="expired", closed_at=now or utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def get_open_assignment(
    *, session: Session, project_id: int, annotator: str, now: datetime | None = None
) -> Assignment | None:
    return session.exec(
        select(Assignment).where(
            Assignment.project_id == project_id,
            Assignment.annotator == annotator,
            Assignment.status == "open",
            col(Assignment.expires_at) >= (now or utcnow()),
        )
    ).first()


def get_assignment(
    *, session: Session, project_id: int, example_id: int, annotator: str
) -> Assignment | None:
    """The latest assignment of ``example_id`` to ``annotator``, whatever its status."""
    return session.exec(
        select(Assignment)
        .where(
            Assignment.project_id == project_id,
            Assignment.example_id == example_id,
            Assignment.annotator == annotator,
        )
        .order_by(col(Assignment.id).desc())
    ).first()


def claim_next_example(
    *,
    session: Session,
    project_id: int,
    annotator: str,
    ttl: timedelta,
    now: datetime | None = None,
    audit: bool = False,
) -> tuple[Example, Assignment] | None:
    """Give ``annotator`` the highest-priority free example, or their open one; None when empty.

    Free means: no live annotation that counts (see ``_labeled``), no unresolved flag, not out
    with anyone, and not skipped by this annotator; examples waiting for a relabel come first.
    With ``audit`` the example is drawn uniformly at random instead, and marked as an audit
    example (its label will evaluate models, not train them).
    """
    now = now or utcnow()
    expire_assignments(session=session, project_id=project_id, now=now)
    open_one = get_open_assignment(
        session=session, project_id=project_id, annotator=annotator, now=now
    )
    if open_one is not None:
        example = session.get(Example, open_one.example_id)
        if example is not None:
            return example, open_one
    for _ in range(_CLAIM_ATTEMPTS):
        example = _next_free_example(session, project_id, annotator, uniform=audit)
        if example is None:
            return None
        assert example.id is not None
        assignment = Assignment(
            project_id=project_id,
            example_id=example.id,
            annotator=annotator,
            created_at=now,
            expires_at=now + ttl,
            purpose="audit" if audit else "queue",
        )
        try:
            with session.begin_nested():
                session.add(assignment)
                if audit:
                    example.audit = True
                    session.add(example)
                session.flush()
                if _labeled_meanwhile(session, project_id, example.id):
                    raise _Taken
        except (IntegrityError, _Taken):
            continue  # another expert claimed (or even labeled) it meanwhile: take the next
        return example, assignment
    return None


class _Taken(Exception):
    """The candidate was labeled by someone else after our read: roll back the claim."""


def _labeled_meanwhile(session: Session, project_id: int, example_id: int) -> bool:
    """Re-check a just-claimed example in a fresh statement.

    On PostgreSQL (READ COMMITTED) the candidate query's snapshot can predate another expert's
    claim *and* label of the same example: SKIP LOCKED passes over locked rows only, and their
    claim locked none of ours. By the time our insert succeeds their assignment is closed, so
    the unique index cannot object; a new statement sees their committed label.
    """
    query = select(Example.id).where(Example.id == example_id, _labeled(project_id))
    return session.exec(query).first() is not None


def _next_free_example(
    session: Session, project_id: int, annotator: str, *, uniform: bool = False
) -> Example | None:
    labeled = _labeled(project_id)
    # Examples whose label was split (or retired unmapped) go first: they wait to be relabeled.
    relabel = exists().where(
        col(Annotation.example_id) == Example.id, col(Annotation.retracted_at).is_(None)
    )
    flagged = exists().where(col(Flag.example_id) == Example.id, col(Flag.resolved_at).is_(None))
    taken = exists().where(
        col(Assignment.example_id) == Example.id, col(Assignment.status) == "open"
    )
    skipped = exists().where(
        col(Assignment.example_id) == Example.id,
        col(Assignment.annotator) == annotator,
        col(Assignment.status) == "skipped",
    )
    ordering: list[Any] = (
        [func.random()]
        if uniform
        else [
            case((relabel, 1), else_=0).desc(),
            col(Prediction.priority).desc().nulls_last(),
            col(Example.id),
        ]
    )
    query = (
        select(Example)
        .outerjoin(Prediction, col(Prediction.example_id) == Example.id)
        .where(Example.project_id == project_id, ~labeled, ~flagged, ~taken, ~skipped)
        .order_by(*ordering)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Example)
    return session.exec(query).first()


def _labeled(project_id: int) -> Any:
    """An example has a label that counts: a live annotation of an active label or of one
    mapped to an active label (a split or unmapped retired label's annotation does not count)."""
    return exists().where(
        col(Annotation.example_id) == Example.id,
        col(Annotation.retracted_at).is_(None),
        col(Annotation.label_id).in_(counting_label_ids(project_id)),
    )


def close_assignment(
    *, session: Session, assignment_id: int, status: str, now: datetime | None = None
) -> Assignment | None:
    """Mark an assignment done / skipped / released; returns it (None if unknown)."""
    assignment = session.get(Assignment, assignment_id)
    if assignment is None:
        return None
    assignment.status = status
    assignment.closed_at = now or utcnow()
    session.add(assignment)
    return assignment


def set_assignment_message(
    *, session: Session, assignment_id: int, channel: str, message_ts: str
) -> None:
    assignment = session.get(Assignment, assignment_id)
    if assignment is not None:
        assignment.channel = channel
        assignment.message_ts = message_ts
        session.add(assignment)


def count_free_examples(*, session: Session, project_id: int) -> int:
    """How many examples still wait for a label (not labeled, not flagged)."""
    labeled = _labeled(project_id)
    flagged = exists().where(col(Flag.example_id) == Example.id, col(Flag.resolved_at).is_(None))
    return int(
        session.exec(
            select(func.count())
            .select_from(Example)
            .where(Example.project_id == project_id, ~labeled, ~flagged)
        ).one()
    )


def count_assignments(*, session: Session, project_id: int, purpose: str | None = None) -> int:
    """Deliveries so far in the project (every status), optionally of one purpose."""
    query = select(func.count()).select_from(Assignment).where(Assignment.project_id == project_id)
    if purpose is not None:
        query = query.where(Assignment.purpose == purpose)
    return int(session.exec(query).one())
