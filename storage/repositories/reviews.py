"""Mislabel reviews: what the model doubts, who is reviewing it, and what they decided.

A review is delivered like an example, as an assignment with purpose ``review``, so the partial
unique index keeps one delivery of an example out at a time and expiry returns an unanswered
review to the pool. A reviewer is never the annotator whose label is reviewed, nor anyone who
labeled the example themselves.

Deciding is a conditional update of an open review: of two verdicts at once (a double click, a
reviewer in Slack and another in the CLI), one is recorded and the other learns it came second.

A review can turn moot while it waits (:func:`moot_reason`): its label taken back or outvoted,
or a taxonomy change that leaves its label or the suggestion counting as nothing, or both as one
label. A moot review is dismissed wherever it is met: by the taxonomy change itself
(:func:`dismiss_moot`), and by delivery, which passes over it (existing data heals), so a
reviewer is never handed a question no answer can settle. A review the latest mislabel scan no
longer doubts is dismissed too (:func:`withdraw_undoubted`), until a scan doubts it again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.db import advisory_xact_lock, rowcount
from storage.errors import NotFoundError
from storage.models import Annotation, Assignment, Flag, Review, utcnow
from storage.repositories import feedback, flags
from storage.repositories.assignments import (
    audit_labeled_ids,
    close_assignment,
    expire_assignments,
    get_open_assignment,
    hold_annotator,
    release_example,
)
from storage.repositories.taxonomy import label_targets

REVIEW = "review"  # the assignment purpose of a delivered review
_CLAIM_ATTEMPTS = 5

# Why an open review is moot (:func:`moot_reason`)
UNDONE = "undone"  # the reviewed annotation was taken back
GIVEN_GONE = "given_gone"  # the reviewed label was split, or retired without a mapping
SUGGESTION_GONE = "suggestion_gone"  # the suggested label was split, or retired unmapped
SAME_LABEL = "same_label"  # a merge (or a retire mapped) made both count as one label
RELABELED = "relabeled"  # the example's agreed label is no longer the reviewed one

# Why a mislabel scan withdrew an open review (:func:`withdrawal_reason`; None: a change did)
UNDOUBTED = "scan"  # the scan doubts the label no more
RESUGGESTED = "resuggested"  # the scan doubts it still, suggesting another label
# A withdrawn review's ``decision_key``, which no verdict sets: the scan's reason until the
# reviewer is told (:func:`mark_withdrawn_told`), then TOLD and the reason.
TOLD = "withdrawn"


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
    counted: dict[int, str | None] | None = None,
    now: datetime | None = None,
) -> Review | None:
    """Open a review; None when the example's question is asked already: a review of the same
    example whose label and suggestion count as this one's today (``taxonomy.label_targets``;
    ``counted`` spares the read) is open, or a person decided it. Whichever of its votes is
    under review, and whatever the labels were called then: a merge of the suggestion, or a
    second expert's vote for the label, asks the same question again, and a label a reviewer
    kept is not asked about again. One a change withdrew (dismissed as moot, by no one: a
    merge of its two labels since undone, a vote since taken back) is reopened when its
    question stands again, with this scan's figures: otherwise the mislabel would be counted
    by every scan and never asked about. An open one that asks nothing any more (moot: its
    vote taken back, say, and given again) is dismissed here, where it is met, and asks nothing.

    The example's reviews take turns (PostgreSQL; SQLite's writers take turns already): two
    scans at once (the scheduler's and `labelbot review --scan`) would each read no open review
    of the question and both open one, on two votes behind the same label."""
    advisory_xact_lock(session, "review", str(example_id))
    if counted is None:
        counted = label_targets(session=session, project_id=project_id)
    question = (counted.get(given_label_id), counted.get(suggested_label_id))

    def exact(review: Review) -> bool:
        return review.annotation_id == annotation_id and (
            review.suggested_label_id == suggested_label_id
        )

    asked = [
        r
        for r in session.exec(
            select(Review).where(Review.example_id == example_id).order_by(col(Review.id))
        ).all()
        if exact(r)
        or (None not in question
            and (counted.get(r.given_label_id), counted.get(r.suggested_label_id)) == question)
    ]  # fmt: skip
    for r in asked:  # a moot open one is dismissed where it is met (its delivery let go of)
        if (
            r.status == "open"
            and moot_reason(session=session, review=r, counted=counted) is not None
        ):
            dismiss_review(session=session, review=r, now=now)
    if any(r.status != "dismissed" or r.reviewer is not None for r in asked):
        return None  # open, or decided by a person (kept, changed, settled over)
    # the one of this vote first, then the example's others (their votes still live)
    for existing in sorted(asked, key=lambda r: not exact(r)):
        if moot_reason(session=session, review=existing, counted=counted) is not None:
            continue  # still moot
        # one withdrawn while on a reviewer's screen, and they not told yet, is still theirs
        # to answer there: its delivery stays with it (a claim since moves it to the new one)
        delivery = None if _told(existing.decision_key) else existing.assignment_id
        reopened = session.execute(
            update(Review)
            .where(col(Review.id) == existing.id, col(Review.status) == "dismissed",
                   col(Review.reviewer).is_(None))
            .values(status="open", decided_at=None, decision_key=None, assignment_id=delivery,
                    outcome_label_id=None, outcome_annotation_id=None, confidence=confidence,
                    margin=margin, model_version=model_version)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        session.refresh(existing)
        return existing if rowcount(reopened) else None
    if any(exact(r) for r in asked):
        return None  # this vote's own is still moot (one row per vote and suggestion)
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


def is_audit_example(*, session: Session, project_id: int, example_id: int) -> bool:
    """The example's label came through an audit pick (``assignments.audit_labeled_ids``): it
    scores models, and no model trains on it. The project-wide read only for an example that
    was ever drawn for the audit stream."""
    drawn = session.exec(
        select(Assignment.id)
        .where(Assignment.example_id == example_id, Assignment.purpose == "audit")
        .limit(1)
    ).first()
    return drawn is not None and example_id in audit_labeled_ids(
        session=session, project_id=project_id
    )


def get_review(*, session: Session, review_id: int, fresh: bool = False) -> Review:
    """A review by id; ``fresh``: as stored now, not as this session read it before."""
    review = session.get(Review, review_id, populate_existing=fresh)
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


def moot_reason(
    *,
    session: Session,
    review: Review,
    rows: Sequence[feedback.AnnotationRow] | None = None,
    counted: dict[int, str | None] | None = None,
) -> str | None:
    """Why ``review`` asks nothing any more (one of UNDONE, GIVEN_GONE, SUGGESTION_GONE,
    SAME_LABEL, RELABELED), or None while its question stands. A label merged or retired into
    another still counts, as that label (a verdict is stored as it): the review stands while its
    two labels count as two. ``rows`` (the example's live annotations) and ``counted``
    (``taxonomy.label_targets``) spare a caller checking many reviews the reads."""
    if rows is None:
        rows = feedback.example_annotations(session=session, example_id=review.example_id)
    if counted is None:
        counted = label_targets(session=session, project_id=review.project_id)
    given = counted.get(review.given_label_id)
    suggested = counted.get(review.suggested_label_id)
    if not any(r.id == review.annotation_id for r in rows):
        return UNDONE
    if given is None:
        return GIVEN_GONE
    if suggested is None:
        return SUGGESTION_GONE
    if given == suggested:  # active names are unique: one label
        return SAME_LABEL
    if feedback.agreed_label(rows) != given:
        return RELABELED
    return None


def dismiss_moot(*, session: Session, project_id: int, now: datetime | None = None) -> list[Review]:
    """Dismiss the project's open reviews that are moot (:func:`moot_reason`); those dismissed.
    A delivery of one is let go of, so its example is free for whoever it waits for (its
    message still answers a click, see engine.reviews.submit_review)."""
    open_ = list_reviews(session=session, project_id=project_id, status="open")
    if not open_:
        return []
    by_example: dict[int, list[feedback.AnnotationRow]] = {r.example_id: [] for r in open_}
    for row in feedback.annotations_of_examples(
        session=session,
        example_ids=select(Review.example_id).where(
            Review.project_id == project_id, Review.status == "open"
        ),
    ):
        by_example[row.example_id].append(row)
    counted = label_targets(session=session, project_id=project_id)
    dismissed = []
    for review in open_:
        rows = by_example[review.example_id]
        if moot_reason(session=session, review=review, rows=rows, counted=counted) is None:
            continue
        if dismiss_review(session=session, review=review, now=now) is not None:
            dismissed.append(review)
    return dismissed


def withdraw_undoubted(
    *,
    session: Session,
    project_id: int,
    doubted: Collection[tuple[int, str]],
    version: int | None,
    now: datetime | None = None,
) -> list[Review]:
    """Dismiss the project's open reviews that a mislabel scan no longer doubts: those opened
    by a scan of model ``version`` or before (None: a scan before the first model) whose
    (example id, suggested label as it counts now) is not in ``doubted``; those dismissed.
    Decided reviews stay as they are; a delivery of one is let go of (its message says it was
    withdrawn), and a later scan that doubts the label again reopens it (:func:`add_review`)."""
    counted = label_targets(session=session, project_id=project_id)
    still = {example_id for example_id, _ in doubted}
    withdrawn = []
    for review in list_reviews(session=session, project_id=project_id, status="open"):
        if version is not None and (review.model_version or 0) > version:
            continue  # opened by a newer model's scan meanwhile
        if (review.example_id, counted.get(review.suggested_label_id)) in doubted:
            continue
        why = RESUGGESTED if review.example_id in still else UNDOUBTED
        key = f"{why}:{review.id}"
        if dismiss_review(session=session, review=review, now=now, key=key) is not None:
            withdrawn.append(review)
    return withdrawn


def withdrawal_reason(review: Review) -> str | None:
    """Why a mislabel scan withdrew the dismissed ``review`` (UNDOUBTED, RESUGGESTED), told or
    not; None when a scan did not (a change made it moot, an adjudication settled it, or it was
    withdrawn before scans noted why)."""
    parts = (review.decision_key or "").split(":")
    if parts and parts[0] == TOLD:
        parts = parts[1:]
    return parts[0] if len(parts) == 2 and parts[0] in (UNDOUBTED, RESUGGESTED) else None


def _told(key: str | None) -> bool:
    """A withdrawn review's ``decision_key`` says its reviewer was told."""
    return key is not None and key.startswith(f"{TOLD}:")


def dismiss_review(
    *, session: Session, review: Review, now: datetime | None = None, key: str | None = None
) -> Review | None:
    """Dismiss an open review that is moot (None: decided meanwhile) and let go of its delivery.
    ``key``: a scan's reason (see :func:`withdraw_undoubted`)."""
    decided = decide_review(
        session=session,
        review_id=int(review.id or 0),
        status="dismissed",
        reviewer=None,
        outcome_label_id=None,
        key=key,
        now=now,
    )
    if decided is not None and decided.assignment_id is not None:
        close_assignment(
            session=session, assignment_id=decided.assignment_id, status="released", now=now
        )
    return decided


def held_review(
    *, session: Session, project_id: int, reviewer: str, now: datetime | None = None
) -> tuple[Review, Assignment] | None:
    """The open review delivered to ``reviewer`` and not answered yet, if any.

    A held review that is moot now is dismissed, and a delivery whose review was dismissed
    meanwhile (an adjudication) let go of: neither is handed out again, and the reviewer's
    next task is another one. So is one whose example was flagged since (a flag takes it out of
    everyone's queue; the review waits, open, until the flag is resolved)."""
    held = get_open_assignment(
        session=session, project_id=project_id, annotator=reviewer, now=now, purposes=(REVIEW,)
    )
    if held is None:
        return None
    review = session.exec(select(Review).where(Review.assignment_id == held.id)).first()
    flagged = flags.open_flags_of(session=session, example_id=held.example_id)
    if review is not None and review.status == "open" and not flagged:
        if moot_reason(session=session, review=review) is None:
            return review, held
        dismiss_review(session=session, review=review, now=now)
    close_assignment(session=session, assignment_id=int(held.id or 0), status="released", now=now)
    return None


def release_reviews_of(
    *, session: Session, example_id: int, now: datetime | None = None
) -> list[Assignment]:
    """Let go of every open delivery of a review of the example, whoever holds it (a flag took
    it out of everyone's queue, the review queue too): the released ones, so their messages can
    say so. The reviews stay open, for when the flag is resolved; a click on such a message is
    refused while the flag is open (engine.reviews.submit_review)."""
    return release_example(session=session, example_id=example_id, now=now, purposes=(REVIEW,))


def delivered_open_reviews(
    *, session: Session, project_id: int, now: datetime | None = None
) -> list[tuple[Review, Assignment]]:
    """The project's open reviews whose message is on a reviewer's screen (delivered, not
    answered, the delivery unexpired), oldest delivery first: what a taxonomy change redraws."""
    return _delivered(
        session, project_id, now, Review.status == "open", Assignment.status == "open"
    )


def _delivered(
    session: Session, project_id: int, now: datetime | None, *where: Any
) -> list[tuple[Review, Assignment]]:
    """The project's reviews delivered to a reviewer's screen (a message posted, the delivery
    unexpired) that meet ``where`` too, with their delivery; oldest delivery first."""
    rows = session.exec(
        select(Review, Assignment)
        .join(Assignment, col(Review.assignment_id) == col(Assignment.id))
        .where(
            Review.project_id == project_id,
            Assignment.purpose == REVIEW,
            col(Assignment.expires_at) > (now or utcnow()),
            col(Assignment.message_ts).isnot(None),
            *where,
        )
        .order_by(col(Assignment.id))
    ).all()
    return [(review, held) for review, held in rows]


def withdrawn_on_screen(
    *, session: Session, project_id: int, now: datetime | None = None
) -> list[tuple[Review, Assignment]]:
    """The project's reviews dismissed while out with their reviewer (a change made them moot,
    an adjudication settled the example) whose message still offers its buttons: delivered,
    the delivery unexpired and not answered nor let go of before the dismissal, and nobody told
    yet (:func:`mark_withdrawn_told`). Oldest delivery first."""
    return _delivered(
        session,
        project_id,
        now,
        Review.status == "dismissed",
        or_(col(Review.decision_key).is_(None), ~col(Review.decision_key).startswith(f"{TOLD}:")),
        or_(
            col(Assignment.status) == "open",  # an adjudication leaves the delivery out
            # let go of with the dismissal (dismiss_review), or by a delivery since
            and_(
                col(Assignment.status) == "released",
                col(Assignment.closed_at) >= col(Review.decided_at),
            ),
        ),
    )


def mark_withdrawn_told(*, session: Session, review_id: int) -> bool:
    """Note that the reviewer was told review ``review_id`` was withdrawn (its message redrawn,
    or their click on it answered); False when it was already (another process, a click).
    The note is the dismissed review's ``decision_key``, which no verdict sets (TOLD, and the
    scan's reason where a scan withdrew it): a reopened review clears it."""
    review = get_review(session=session, review_id=review_id, fresh=True)
    was = review.decision_key
    if review.status != "dismissed" or _told(was):
        return False
    told = session.execute(
        update(Review)
        .where(
            col(Review.id) == review_id,
            col(Review.status) == "dismissed",
            col(Review.decision_key).is_(None) if was is None else col(Review.decision_key) == was,
        )
        .values(decision_key=f"{TOLD}:{was or review_id}")
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(told))


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
    not out with anyone, not flagged (an open flag), and not skipped by ``reviewer`` before. A
    moot one met on the way is dismissed (:func:`moot_reason`), and the next one taken.
    """
    now = now or utcnow()
    hold_annotator(session=session, project_id=project_id, annotator=reviewer)
    expire_assignments(session=session, project_id=project_id, now=now)
    held = held_review(session=session, project_id=project_id, reviewer=reviewer, now=now)
    if held is not None:
        return held
    attempts = 0
    while attempts < _CLAIM_ATTEMPTS:
        review = _next_review(session, project_id, reviewer)
        if review is None:
            return None
        if moot_reason(session=session, review=review) is not None:
            dismiss_review(
                session=session, review=review, now=now
            )  # passed over for good: each one once
            continue
        attempts += 1
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
    # a flag takes the example out of everyone's queue until it is resolved: the review waits
    flagged = exists().where(
        col(Flag.example_id) == Review.example_id, col(Flag.resolved_at).is_(None)
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
            ~flagged,
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
