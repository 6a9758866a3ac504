"""Mislabel reviews: what the model doubts, who is reviewing it, and what they decided.

A review is delivered like an example, as an assignment with purpose ``review``, so the partial
unique index keeps one delivery of an example out at a time and expiry returns an unanswered
review to the pool. A reviewer is never the annotator whose label is reviewed, nor anyone who
labeled the example themselves.

Deciding is a conditional update of an open review: of two verdicts at once (a double click, a
reviewer in Slack and another in the CLI), one is recorded and the other learns it came second.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import exists, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.db import rowcount
from storage.errors import NotFoundError
from storage.models import Annotation, Assignment, Review, utcnow
from storage.repositories.assignments import (
    expire_assignments,
    get_open_assignment,
    hold_annotator,
)

REVIEW = "review"  # the assignment purpose of a delivered review
_CLAIM_ATTEMPTS = 5


def add_review(
    *,
    session: Session,
    project_id: int,
    example_id: int,
    annotation_id: int,
    annotator: str,
    given_label_id: int,
    suggested_label_id: int,
    confidence: float,
    margin: float,
    model_version: int | None = None,
) -> Review | None:
    """Open a review; None when this (annotation, suggestion) was reviewed or queued before."""
    existing = session.exec(
        select(Review).where(
            Review.annotation_id == annotation_id,
            Review.suggested_label_id == suggested_label_id,
        )
    ).first()
    if existing is not None:
        return None
    review = Review(
        project_id=project_id,
        example_id=example_id,
        annotation_id=annotation_id,
        annotator=annotator,
        given_label_id=given_label_id,
        suggested_label_id=suggested_label_id,
        confidence=confidence,
        margin=margin,
        model_version=model_version,
    )
    try:
        with session.begin_nested():  # a concurrent scan storing the same one wins, quietly
            session.add(review)
    except IntegrityError:
        return None
    return review


def get_review(*, session: Session, review_id: int) -> Review:
    review = session.get(Review, review_id)
    if review is None:
        raise NotFoundError(f"no review with id {review_id}")
    return review


def review_by_key(*, session: Session, key: str) -> Review | None:
    return session.exec(select(Review).where(Review.decision_key == key)).first()


def list_reviews(*, session: Session, project_id: int, status: str | None = None) -> list[Review]:
    """The project's reviews, most doubtful first (optionally of one status)."""
    query = select(Review).where(Review.project_id == project_id)
    if status is not None:
        query = query.where(Review.status == status)
    return list(session.exec(query.order_by(col(Review.margin).desc(), col(Review.id))).all())


def count_reviews(*, session: Session, project_id: int) -> dict[str, int]:
    """Reviews per status (open, kept, changed, dismissed)."""
    rows = session.exec(
        select(Review.status, func.count())
        .where(Review.project_id == project_id)
        .group_by(Review.status)
    ).all()
    counts: Counter[str] = Counter({"open": 0, "kept": 0, "changed": 0, "dismissed": 0})
    counts.update({str(status): int(n) for status, n in rows})
    return dict(counts)


def held_review(
    *, session: Session, project_id: int, reviewer: str, now: datetime | None = None
) -> tuple[Review, Assignment] | None:
    """The open review delivered to ``reviewer`` and not answered yet, if any."""
    held = get_open_assignment(
        session=session, project_id=project_id, annotator=reviewer, now=now, purposes=(REVIEW,)
    )
    if held is None:
        return None
    review = session.exec(
        select(Review).where(Review.assignment_id == held.id, Review.status == "open")
    ).first()
    return (review, held) if review is not None else None


def claim_next_review(
    *,
    session: Session,
    project_id: int,
    reviewer: str,
    ttl: timedelta,
    now: datetime | None = None,
) -> tuple[Review, Assignment] | None:
    """Deliver the most doubtful open review ``reviewer`` may answer (or the one they hold).

    Eligible: open, not of ``reviewer``'s own label, on an example ``reviewer`` never labeled,
    not out with anyone, and not skipped by ``reviewer`` before.
    """
    now = now or utcnow()
    hold_annotator(session=session, project_id=project_id, annotator=reviewer)
    expire_assignments(session=session, project_id=project_id, now=now)
    held = held_review(session=session, project_id=project_id, reviewer=reviewer, now=now)
    if held is not None:
        return held
    for _ in range(_CLAIM_ATTEMPTS):
        review = _next_review(session, project_id, reviewer)
        if review is None:
            return None
        assignment = Assignment(
            project_id=project_id,
            example_id=review.example_id,
            annotator=reviewer,
            created_at=now,
            expires_at=now + ttl,
            purpose=REVIEW,
        )
        try:
            with session.begin_nested():
                session.add(assignment)
                session.flush()
                review.assignment_id = assignment.id
                session.add(review)
                session.flush()
        except IntegrityError:
            continue  # the example is out with someone else: take the next review
        return review, assignment
    return None


def _next_review(session: Session, project_id: int, reviewer: str) -> Review | None:
    labeled_it = exists().where(
        col(Annotation.example_id) == Review.example_id,
        col(Annotation.annotator) == reviewer,
        col(Annotation.retracted_at).is_(None),
    )
    taken = exists().where(
        col(Assignment.example_id) == Review.example_id, col(Assignment.status) == "open"
    )
    skipped = exists().where(
        col(Assignment.example_id) == Review.example_id,
        col(Assignment.annotator) == reviewer,
        col(Assignment.purpose) == REVIEW,
        col(Assignment.status) == "skipped",
    )
    query = (
        select(Review)
        .where(
            Review.project_id == project_id,
            Review.status == "open",
            Review.annotator != reviewer,
            ~labeled_it,
            ~taken,
            ~skipped,
        )
        .order_by(col(Review.margin).desc(), col(Review.id))
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Review)
    return session.exec(query).first()


def decide_review(
    *,
    session: Session,
    review_id: int,
    status: str,
    reviewer: str | None,
    outcome_label_id: int | None,
    outcome_annotation_id: int | None = None,
    key: str | None = None,
    now: datetime | None = None,
) -> Review | None:
    """Record an open review's outcome (kept, changed or dismissed); returns the review, or None
    when it was decided already and is left as it was. Either way the session's copy of the
    review is refreshed: after a None it says who decided it, and with which key."""
    decided = session.execute(
        update(Review)
        .where(col(Review.id) == review_id, col(Review.status) == "open")
        .values(
            status=status,
            reviewer=reviewer,
            outcome_label_id=outcome_label_id,
            outcome_annotation_id=outcome_annotation_id,
            decision_key=key,
            decided_at=now or utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    review = session.get(Review, review_id, populate_existing=True)
    if review is None:
        raise NotFoundError(f"no review with id {review_id}")
    return review if rowcount(decided) else None
