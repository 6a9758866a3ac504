"""Assignments: which example is out with which expert, so two experts never get the same one.

Claiming is safe across processes: on PostgreSQL the candidate row is taken with
``FOR UPDATE SKIP LOCKED`` so concurrent claimers pass over each other's rows instead of waiting;
on SQLite the claim runs under ``BEGIN IMMEDIATE`` (storage.db), which serialises writers. On both,
a partial unique index allows one *open* assignment per example, the final guarantee.

Second opinions: an example with a ``MultiLabelRequest`` stays in the queue after its first label,
for experts who have not labeled it, until ``k`` different experts have (``_wanted_by``). Mislabel
reviews are delivered as assignments with purpose ``review`` (storage.repositories.reviews); they
hold their example like any other assignment but are never handed out here as a labeling task.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event, exists, func, literal, or_, union, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.db import advisory_xact_lock, rowcount
from storage.models import (
    NEW_LABEL_REQUEST,
    Annotation,
    Assignment,
    Example,
    Flag,
    Label,
    MultiLabelRequest,
    Prediction,
    utcnow,
)
from storage.repositories.projects import share_project_row
from storage.repositories.taxonomy import counting_label_ids, relabel_despite_votes

_CLAIM_ATTEMPTS = 5
LABELING = ("queue", "audit")  # the purposes of assignments that ask for a label
# Annotations that are not an independent opinion: a reviewer saw the label and the model's
# suggestion; an adjudicator settles a disagreement; an imported label (engine.evaluation's
# IMPORTED) is a file's, given by no expert of the queue. They never count towards a second
# opinion, nor towards agreement (engine.consensus).
NOT_BLIND = ("review", "adjudication", "import")


def expire_assignments(*, session: Session, project_id: int, now: datetime | None = None) -> int:
    """Return unanswered examples whose time ran out to the pool; the number returned.

    One UPDATE ... RETURNING: the audit picks given up are the ones this statement expired. A
    read ahead of it could list a pick whose late answer committed between the two (the update
    then passes it by), and take the answered pick's audit mark away."""
    now = now or utcnow()
    expired = session.execute(
        update(Assignment)
        .where(
            col(Assignment.project_id) == project_id,
            col(Assignment.status) == "open",
            col(Assignment.expires_at) < now,
        )
        .values(status="expired", closed_at=now)
        .returning(col(Assignment.example_id), col(Assignment.purpose))
    ).all()
    _give_up_audit_picks(
        session, [example_id for example_id, purpose in expired if purpose == "audit"]
    )
    return len(expired)


def _give_up_audit_picks(session: Session, example_ids: Sequence[int]) -> None:
    """Audit picks skipped, released or left to expire go back to the ranked queue: they are
    no longer marked as drawn for the audit stream (a late answer from the expert the pick was
    sent to still counts as audit, unless another expert labeled it first:
    ``audit_labeled_ids``)."""
    if example_ids:
        session.execute(update(Example).where(col(Example.id).in_(example_ids)).values(audit=False))


def get_open_assignment(
    *,
    session: Session,
    project_id: int,
    annotator: str,
    now: datetime | None = None,
    purposes: Sequence[str] = LABELING,
) -> Assignment | None:
    """The annotator's unexpired open assignment of one of ``purposes`` (labeling by default);
    the oldest when they hold two (the example an undo gives back to them, and the next one)."""
    return session.exec(
        select(Assignment)
        .where(
            Assignment.project_id == project_id,
            Assignment.annotator == annotator,
            Assignment.status == "open",
            col(Assignment.purpose).in_(purposes),
            col(Assignment.expires_at) >= (now or utcnow()),
        )
        .order_by(col(Assignment.created_at), col(Assignment.id))
    ).first()


def delivered_open_assignments(
    *, session: Session, project_id: int, now: datetime | None = None
) -> list[Assignment]:
    """The project's unexpired open labeling assignments whose example is on someone's screen
    (a message was delivered), oldest first."""
    return list(
        session.exec(
            select(Assignment)
            .where(
                Assignment.project_id == project_id,
                Assignment.status == "open",
                col(Assignment.purpose).in_(LABELING),
                col(Assignment.expires_at) > (now or utcnow()),
                col(Assignment.message_ts).isnot(None),
            )
            .order_by(col(Assignment.id))
        ).all()
    )


def shown_open(
    *, session: Session, assignment_id: int, channel: str, ts: str, now: datetime | None = None
) -> bool:
    """Whether assignment ``assignment_id`` is still open, unexpired and shown in the message
    (``channel``, ``ts``): not answered, skipped, released or moved to another message since."""
    return (
        session.exec(
            select(Assignment.id).where(
                Assignment.id == assignment_id,
                Assignment.status == "open",
                col(Assignment.expires_at) > (now or utcnow()),
                Assignment.channel == channel,
                Assignment.message_ts == ts,
            )
        ).first()
        is not None
    )


def release_settled(
    *, session: Session, project_id: int, now: datetime | None = None
) -> list[Assignment]:
    """Let go of every delivered labeling assignment of the project whose example no longer
    waits for its holder's label (``_still_asked``: an undone split or retire made its old label
    count again, say); the released ones, oldest first, so their messages can say so."""
    now = now or utcnow()
    released = []
    for held in delivered_open_assignments(session=session, project_id=project_id, now=now):
        if _still_asked(session, project_id, held):
            continue
        assert held.id is not None
        closed = close_assignment(session=session, assignment_id=held.id, status="released",
                                  now=now)  # fmt: skip
        if closed is not None:  # None: a click closed it meanwhile
            released.append(closed)
    return released


def get_assignment(
    *, session: Session, project_id: int, example_id: int, annotator: str
) -> Assignment | None:
    """The latest assignment of ``example_id`` to ``annotator``, whatever its status (as stored
    now: a row this session loaded before is refreshed)."""
    return session.exec(
        select(Assignment)
        .where(
            Assignment.project_id == project_id,
            Assignment.example_id == example_id,
            Assignment.annotator == annotator,
        )
        .order_by(col(Assignment.id).desc())
        .execution_options(populate_existing=True)
    ).first()


def hold_again(
    *,
    session: Session,
    project_id: int,
    example_id: int,
    annotator: str,
    ttl: timedelta,
    now: datetime | None = None,
) -> Assignment | None:
    """Hold ``example_id`` for ``annotator`` again: a new open assignment, so that nobody else
    is sent it while it is offered to them again (after they undid their label on it). None
    when it is out with another expert (the partial unique index on open assignments says so);
    their own open assignment of it, if they hold one already. An audit pick stays one."""
    now = now or utcnow()
    earlier = get_assignment(
        session=session, project_id=project_id, example_id=example_id, annotator=annotator
    )
    if earlier is not None and earlier.status == "open":
        return earlier
    purpose = earlier.purpose if earlier is not None and earlier.purpose in LABELING else "queue"
    held = Assignment(
        project_id=project_id,
        example_id=example_id,
        annotator=annotator,
        created_at=now,
        expires_at=now + ttl,
        purpose=purpose,
    )
    try:
        with session.begin_nested():
            session.add(held)
            session.flush()
    except IntegrityError:
        return None  # out with someone else: their copy is live
    return held


def hold_annotator(*, session: Session, project_id: int, annotator: str) -> None:
    """Make deliveries to ``annotator`` in the project take turns until this transaction ends.

    "Does the expert hold an example already?" is a plain read: two deliveries at once (a Skip
    delivered twice, ``/label`` on two replicas) would both find none and claim one each, with
    SKIP LOCKED handing them different examples. A PostgreSQL advisory lock per (project,
    expert) makes the second wait, then find the first one's claim. SQLite's BEGIN IMMEDIATE
    serialises writers already.
    """
    advisory_xact_lock(session, "deliver", f"{project_id}:{annotator}")


def claim_next_example(
    *,
    session: Session,
    project_id: int,
    annotator: str,
    ttl: timedelta,
    now: datetime | None = None,
    audit: bool = False,
    rng: random.Random | None = None,
) -> tuple[Example, Assignment] | None:
    """Give ``annotator`` the highest-priority free example, or their open one; None when empty.
    An open one that no longer waits for their label (``_still_asked``) is released first.

    Free means: no live annotation that counts (see ``_labeled``) or still wanted by more experts
    and not labeled by this one (``_wanted_by``), no unresolved flag, not out with anyone, and not
    skipped by this annotator; examples waiting for a relabel or a second opinion come first.
    With ``audit`` the example is drawn uniformly at random instead, and marked as drawn for the
    audit stream until the pick is answered, skipped, released or expires (its label, if this
    expert gives it, evaluates models: ``audit_labeled_ids``); when no unlabeled example is left
    to draw, the queue's next one comes instead, as an ordinary delivery. ``rng`` draws the
    audit picks: a seeded one repeats them (the demo); by default a process-wide unseeded one.
    """
    now = now or utcnow()
    hold_annotator(session=session, project_id=project_id, annotator=annotator)
    expire_assignments(session=session, project_id=project_id, now=now)
    open_one = get_open_assignment(
        session=session, project_id=project_id, annotator=annotator, now=now
    )
    if open_one is not None:
        example = session.get(Example, open_one.example_id)
        if example is not None and _still_asked(session, project_id, open_one):
            return example, open_one
        # no longer theirs to label (an undone split or retire made its label count again, a
        # label came from elsewhere): let go of it, or every click on it would be refused
        assert open_one.id is not None
        close_assignment(session=session, assignment_id=open_one.id, status="released", now=now)
    settle_requests(session=session, project_id=project_id)
    for _ in range(_CLAIM_ATTEMPTS):
        example = _next_free_example(session, project_id, annotator, uniform=audit, rng=rng)
        if example is None and audit:
            # no unlabeled example left to draw (second opinions and relabels may still wait):
            # the queue's next one. Returning None here stopped everyone for good: no delivery,
            # so the count that made this an audit slot never moved past it.
            audit = False
            example = _next_free_example(session, project_id, annotator)
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
                if _labeled_meanwhile(session, project_id, example.id, annotator):
                    raise _Taken
        except (IntegrityError, _Taken):
            continue  # another expert claimed (or even labeled) it meanwhile: take the next
        return example, assignment
    return None


def _still_asked(session: Session, project_id: int, held: Assignment) -> bool:
    """Whether the example ``held`` is out for still waits for its holder's label, as
    ``_next_free_example`` would choose it now (being out with them aside). A taxonomy change
    can settle it meanwhile: an undo makes its old label count again. A query or two, and only
    when an expert asks for a task while holding one (a click closes its assignment first)."""
    query = select(Example.id).where(
        Example.id == held.example_id, _asked_of(session, project_id, held.annotator, held.purpose)
    )
    return session.exec(query).first() is not None


def _asked_of(session: Session, project_id: int, annotator: str, purpose: str = "queue") -> Any:
    """The example waits for ``annotator``'s label, as the queue reads it (being out with
    anyone, and skipped by them, aside): no label that counts yet and none of theirs, or another
    opinion wanted of them; and no open flag (a flag takes it out of everyone's queue, the
    expert who holds it included)."""
    wanted = ~_labeled(session, project_id) & ~_counted_by(project_id, annotator)
    if purpose != "audit":  # an audit pick is never a second opinion
        wanted = wanted | _wanted_by(project_id, annotator)
    return wanted & ~_flagged()


def skip_lapsed(
    *,
    session: Session,
    project_id: int,
    example_id: int,
    annotator: str,
    now: datetime | None = None,
) -> Assignment | None:
    """Record ``annotator``'s Skip of an example whose hold on it lapsed (their latest
    assignment of it expired) while it is out with nobody and still waits for their label: that
    assignment becomes ``skipped``, so the queue never hands the example to them again (a Skip
    is for good, whenever it is clicked). None when their latest assignment did not expire (or
    a Skip delivered twice recorded it a moment ago), or the example went on meanwhile
    (another expert holds it, it has the labels it needed, a flag)."""
    now = now or utcnow()
    latest = get_assignment(
        session=session, project_id=project_id, example_id=example_id, annotator=annotator
    )
    if latest is None or latest.id is None or latest.status != "expired":
        return None
    held = exists().where(
        col(Assignment.example_id) == Example.id,
        col(Assignment.status) == "open",
        col(Assignment.expires_at) >= now,
    )
    # as the queue asks it of them now: a lapsed audit pick the example went on from (another
    # expert labeled it) may wait for their second opinion, which a Skip declines as well
    waits = select(Example.id).where(
        Example.id == example_id, ~held, _asked_of(session, project_id, annotator)
    )
    if session.exec(waits).first() is None:
        return None
    # on condition: of the same Skip delivered twice, only one records it
    skipped = session.execute(
        update(Assignment)
        .where(col(Assignment.id) == latest.id, col(Assignment.status) == "expired")
        .values(status="skipped")
        .execution_options(synchronize_session=False)
    )
    if not rowcount(skipped):
        return None
    return session.get(Assignment, latest.id, populate_existing=True)


def release_example(
    *,
    session: Session,
    example_id: int,
    now: datetime | None = None,
    purposes: Sequence[str] = LABELING,
) -> list[Assignment]:
    """Let go of every open assignment of the example for ``purposes`` (labeling by default),
    whoever holds it (a flag took it out of everyone's queue); the released ones, so their
    messages can say so. One UPDATE ... RETURNING."""
    now = now or utcnow()
    ids = (
        session.execute(
            update(Assignment)
            .where(
                col(Assignment.example_id) == example_id,
                col(Assignment.status) == "open",
                col(Assignment.purpose).in_(purposes),
            )
            .values(status="released", closed_at=now)
            .returning(col(Assignment.id))
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    if not ids:
        return []
    released = list(
        session.exec(
            select(Assignment)
            .where(col(Assignment.id).in_(ids))
            .order_by(col(Assignment.id))
            .execution_options(populate_existing=True)
        ).all()
    )
    _give_up_audit_picks(session, [a.example_id for a in released if a.purpose == "audit"])
    return released


class _Taken(Exception):
    """The candidate was labeled by someone else after our read: roll back the claim."""


def _labeled_meanwhile(session: Session, project_id: int, example_id: int, annotator: str) -> bool:
    """Re-check a just-claimed example in a fresh statement (for a second opinion: whether
    enough other experts labeled it meanwhile).

    On PostgreSQL (READ COMMITTED) the candidate query's snapshot can predate another expert's
    claim *and* label of the same example: SKIP LOCKED passes over locked rows only, and their
    claim locked none of ours. By the time our insert succeeds their assignment is closed, so
    the unique index cannot object; a new statement sees their committed label.
    """
    query = select(Example.id).where(
        Example.id == example_id, _labeled(session, project_id), ~_wanted_by(project_id, annotator)
    )
    return session.exec(query).first() is not None


def _next_free_example(
    session: Session,
    project_id: int,
    annotator: str,
    *,
    uniform: bool = False,
    rng: random.Random | None = None,
) -> Example | None:
    """The queue's next example for ``annotator`` (see :func:`claim_next_example`), in three
    small queries rather than one that sorts the whole project on every click: examples back
    for a relabel or another opinion first, then the rest by priority (walking the predictions'
    priority index, so the first free one ends the search), then examples imported since the
    last scoring, oldest first. With ``uniform``, any free example at random (an audit pick,
    drawn with ``rng`` when given)."""
    rest = (~_flagged(), ~_taken(), ~_skipped_by(annotator))
    free = ~_labeled(session, project_id) & ~_counted_by(project_id, annotator)
    if uniform:
        # An audit pick comes from the unlabeled pool only (not a second opinion), or the audit
        # set would stop being a uniform sample of it.
        return _random_free(session, project_id, (free, *rest), rng=rng)
    # Examples whose label was split (or retired unmapped) go first: they wait to be relabeled;
    # so do those waiting for another expert's opinion. An example back for a relabel is not
    # asked of an expert whose vote of it still counts.
    back = (
        select(Example)
        .outerjoin(Prediction, col(Prediction.example_id) == Example.id)
        .where(
            Example.project_id == project_id,
            col(Example.id).in_(_maybe_back(session, project_id)),
            free | _wanted_by(project_id, annotator),
            *rest,
        )
        .order_by(col(Prediction.priority).desc().nulls_last(), col(Example.id))
    )
    found = _first_free(session, back)
    if found is not None:
        return found
    ranked = (
        select(Example)
        .join(Prediction, col(Prediction.example_id) == Example.id)
        .where(col(Prediction.project_id) == project_id, ~_live(), *rest)
        .order_by(col(Prediction.priority).desc(), col(Prediction.example_id))
    )
    found = _first_free(session, ranked)
    if found is not None:
        return found
    unscored = ~exists().where(col(Prediction.example_id) == Example.id)
    newest = (
        select(Example)
        .where(Example.project_id == project_id, unscored, ~_live(), *rest)
        .order_by(col(Example.id))
    )
    return _first_free(session, newest)


# Draws of a random example before an audit pick sorts the free ones at random instead.
_AUDIT_DRAWS = 16
_audit_rng = random.Random()


def _random_free(
    session: Session,
    project_id: int,
    conditions: tuple[Any, ...],
    *,
    rng: random.Random | None = None,
) -> Example | None:
    """A free example drawn uniformly at random, without sorting the project on each pick.

    Rejection sampling: draw any example of the project uniformly (a random number up to the
    project's highest ``Example.seq``, an index lookup) and keep it if it is free; each kept
    draw is uniform over the free examples (a number no example has, an import's text stored
    meanwhile by another, is a miss like a labeled one). Where few are free, after
    ``_AUDIT_DRAWS`` misses, every free one is sorted at random, which is uniform too, so the
    pick stays a uniform sample whichever way it is made (the audit's accuracy estimate rests
    on that; a walk to the next free id after a random one would favour examples that follow
    runs of labeled ones). A given ``rng`` makes every draw from it, so a seeded one repeats
    the picks (the numbers follow the ids: the same picks as the random offsets in id order
    drawn before migration 0023). Examples a labelbot before 0023 stored have no number until
    the next import: until then, a random offset in id order (counting the project)."""
    draw = _audit_rng if rng is None else rng
    unnumbered = exists().where(col(Example.project_id) == project_id, col(Example.seq).is_(None))
    highest, legacy = session.execute(
        sa_select(
            select(func.max(Example.seq)).where(Example.project_id == project_id).scalar_subquery(),
            unnumbered,
        )
    ).one()
    if legacy:
        total = int(
            session.exec(
                select(func.count()).select_from(Example).where(Example.project_id == project_id)
            ).one()
        )
        in_order = (
            select(Example.id).where(Example.project_id == project_id).order_by(col(Example.id))
        )
        for _ in range(_AUDIT_DRAWS if total else 0):
            drawn = session.exec(in_order.offset(draw.randrange(total)).limit(1)).first()
            if drawn is None:
                break  # examples removed meanwhile: sort instead
            found = _first_free(session, select(Example).where(Example.id == drawn, *conditions))
            if found is not None:
                return found
    else:
        total = int(highest or 0)
        for _ in range(_AUDIT_DRAWS if total else 0):
            number = draw.randrange(total) + 1
            drawn_free = select(Example).where(
                Example.project_id == project_id, Example.seq == number, *conditions
            )
            found = _first_free(session, drawn_free)
            if found is not None:
                return found
    query = select(Example).where(Example.project_id == project_id, *conditions)
    if rng is not None:
        # SQL's random() cannot be seeded: a seeded pick is a random offset among the free
        # ones in id order instead (as uniform). Locked rows skipped on PostgreSQL can leave
        # the offset past the end: then the unseeded sort below.
        free = int(session.exec(select(func.count()).select_from(query.subquery())).one())
        if not free:
            return None
        found = _first_free(session, query.order_by(col(Example.id)).offset(rng.randrange(free)))
        if found is not None:
            return found
    return _first_free(session, query.order_by(func.random()))


def _first_free(session: Session, query: Any) -> Example | None:
    """The query's first example; on PostgreSQL locked for this claim, passing over examples
    another transaction is claiming right now."""
    query = query.limit(1)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Example)
    found: Example | None = session.exec(query).first()
    return found


def _live() -> Any:
    """The example has a live (not retracted) annotation, counting or not."""
    return exists().where(
        col(Annotation.example_id) == Example.id, col(Annotation.retracted_at).is_(None)
    )


def _taken() -> Any:
    """The example is out with an expert (an open assignment)."""
    return exists().where(
        col(Assignment.example_id) == Example.id, col(Assignment.status) == "open"
    )


def _maybe_back(session: Session, project_id: int) -> Any:
    """Ids of the few examples that go first: those with a live vote of a label that no longer
    counts (split, retired unmapped), those asked of several experts that have a first opinion
    (a live vote: one whose only vote was undone is a new example again, not a second opinion,
    and does not pass a relabel), and those set aside as fitting no label until an approved
    "add" gave them one (``NEW_LABEL_REQUEST``). A superset: the caller's conditions decide."""
    voted = exists().where(
        col(Annotation.example_id) == MultiLabelRequest.example_id,
        col(Annotation.retracted_at).is_(None),
    )
    requested = select(MultiLabelRequest.example_id).where(
        MultiLabelRequest.project_id == project_id,
        col(MultiLabelRequest.pending),  # the others have their opinions (settle_requests)
        or_(col(MultiLabelRequest.reason) == NEW_LABEL_REQUEST, voted),
    )
    stale = select(Label.id).where(
        Label.project_id == project_id,
        col(Label.active).is_(False),
        col(Label.mapped_to_id).is_(None),
    )
    stale_votes = select(Annotation.example_id).where(
        col(Annotation.retracted_at).is_(None), col(Annotation.label_id).in_(stale)
    )
    return union(requested, stale_votes)


def _labeled(session: Session, project_id: int) -> Any:
    """An example has a label that counts: a live annotation of an active label or of one
    mapped to an active label (a split or unmapped retired label's annotation does not count),
    unless the label its votes agreed on was split or retired unmapped and only an outvoted or
    overruled vote is left (``relabel_despite_votes``): it waits to be labeled again."""
    waiting = relabel_despite_votes(session=session, project_id=project_id)
    return exists().where(
        col(Annotation.example_id) == Example.id,
        col(Annotation.retracted_at).is_(None),
        col(Annotation.label_id).in_(counting_label_ids(project_id)),
    ) & col(Example.id).not_in(waiting)


def _counted_by(project_id: int, annotator: str) -> Any:
    """``annotator`` gave the example a live label that still counts."""
    return exists().where(
        col(Annotation.example_id) == Example.id,
        col(Annotation.retracted_at).is_(None),
        col(Annotation.annotator) == annotator,
        col(Annotation.label_id).in_(counting_label_ids(project_id)),
    )


def _flagged() -> Any:
    """An example has an open (unresolved) flag: it is out of everyone's queue."""
    return exists().where(col(Flag.example_id) == Example.id, col(Flag.resolved_at).is_(None))


def _skipped_by(annotator: str) -> Any:
    """``annotator`` skipped the example: the queue never hands it to them again."""
    return exists().where(
        col(Assignment.example_id) == Example.id,
        col(Assignment.annotator) == annotator,
        col(Assignment.status) == "skipped",
    )


def _wanted_by(project_id: int, annotator: str) -> Any:
    """The example asks for more opinions and ``annotator`` has not given one: it has a
    multi-label request, fewer than ``k`` experts gave it a blind label that counts, and
    ``annotator`` gave it no label that counts. (Retracted labels count for nothing, as
    everywhere; nor does a vote for a label split or retired unmapped since: its expert is asked
    again, or the request, counting only labels that count, waited for ever once every expert
    had voted.)"""
    requested = exists().where(
        col(MultiLabelRequest.example_id) == Example.id,
        col(MultiLabelRequest.k) > _experts(project_id),
    )
    return requested & ~_counted_by(project_id, annotator)


def _experts(project_id: int, request: Any = MultiLabelRequest) -> Any:
    """How many experts gave a request's example a blind label that counts (correlated to
    ``request``: ``MultiLabelRequest``, or an alias of it, of the enclosing query)."""
    return (
        select(func.count(func.distinct(Annotation.annotator)))
        .where(
            col(Annotation.example_id) == request.example_id,
            col(Annotation.retracted_at).is_(None),
            col(Annotation.label_id).in_(counting_label_ids(project_id)),
            col(Annotation.source).not_in(NOT_BLIND),
        )
        .scalar_subquery()
    )


# An audit pick answered, or left to expire and answered late: a skipped or released one went
# back to the ranked queue, and whoever labels it there labels the strategy's pick.
_AUDIT_ANSWERED = ("open", "done", "expired")


def audit_labeled_ids(*, session: Session, project_id: int) -> set[int]:
    """The examples whose label came through an audit pick: the expert it was drawn for gave it a
    live label after it was drawn. Their labels evaluate models and never train them.

    ``Example.audit`` marks an example once it is *drawn*; that is not enough: an expert can skip
    or release an audit pick (or let it expire), and the example then returns through the ranked
    queue, where the strategy chooses it -- a hard or ambiguous one more often than not. Only
    the draws that were answered make the audit set a uniform sample. A label the expert gave
    after the example came back to them from the queue (an audit pick left to expire, drawn
    again by the strategy) answers the queue's delivery, not the draw: a one-expert team got
    the strategy's hardest picks in its audit set, kept out of training. A label given to the
    draw and relabeled later from the queue (its label split) still answered the draw.

    The answer must also come before any other expert's live label of the example. A pick left
    to expire can be labeled by another expert from the queue (one that asks for a second
    opinion), a model trained on that label, and the late answer come after: counted, it put an
    example that model trained on into the audit set it is scored on (``audit_active``: the
    promotion gate, the digest's change). Some such labels trained no model yet; telling them
    apart would need each run's training set, and "labeled first" is the simple, conservative
    line. The example trains, with both votes."""
    again = aliased(Assignment)
    redelivered = exists().where(
        col(again.example_id) == col(Assignment.example_id),
        col(again.annotator) == col(Assignment.annotator),
        col(again.purpose) != "audit",
        col(again.created_at) > col(Assignment.created_at),
        col(again.created_at) <= col(Annotation.created_at),
    )
    earlier = aliased(Annotation)
    labeled_before = exists().where(
        col(earlier.example_id) == col(Assignment.example_id),
        col(earlier.annotator) != col(Assignment.annotator),
        col(earlier.retracted_at).is_(None),
        col(earlier.created_at) < col(Annotation.created_at),
    )
    # The project's audit picks (their index: migration 0024, not its every delivery), each
    # with its example's annotations (by example; `annotator || ''` keeps SQLite off the
    # experts' index, which would walk all of the expert's labels since the pick)
    query = (
        select(Assignment.example_id)
        .distinct()
        .join(
            Annotation,
            (col(Annotation.example_id) == Assignment.example_id)
            & (col(Annotation.annotator) + "" == Assignment.annotator),
        )
        .where(
            Assignment.project_id == project_id,
            Assignment.purpose == "audit",
            col(Assignment.status).in_(_AUDIT_ANSWERED),
            col(Annotation.retracted_at).is_(None),
            col(Annotation.created_at) >= col(Assignment.created_at),
            ~redelivered,
            ~labeled_before,
        )
    )
    return {int(i) for i in session.exec(query).all()}


def request_more_labels(
    *, session: Session, project_id: int, example_id: int, k: int, reason: str = "sample"
) -> bool:
    """Ask ``k`` different experts to label the example; False if it was asked already."""
    if session.get(MultiLabelRequest, example_id) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                MultiLabelRequest(example_id=example_id, project_id=project_id, k=k, reason=reason)
            )
    except IntegrityError:  # the same first label, racing: one request is enough
        return False
    return True


def multi_label_request(*, session: Session, example_id: int) -> MultiLabelRequest | None:
    return session.get(MultiLabelRequest, example_id)


def settle_requests(*, session: Session, project_id: int) -> int:
    """Mark the project's pending requests that have their ``k`` opinions as settled, so the
    queue no longer looks at them (``_maybe_back``); how many. Reads the pending ones only:
    each click settles the requests answered since the last one. A vote retracted or changed,
    or a label that stops counting (split, retired), makes a request pending again (the
    triggers of migration 0023, in the database: whichever labelbot writes).

    On PostgreSQL the candidates are first taken FOR UPDATE SKIP LOCKED: two clicks settling
    at once do not wait for each other (one settles them), nor for a retraction reopening one
    of them (its trigger updates the request, pending or not: it holds the row, which stays
    pending). Their votes are then counted again by a second statement, whose snapshot (READ
    COMMITTED) is taken once the rows are held: a retraction committed after the first
    statement began, its vote still live in that statement's snapshot, no longer counts; one
    still in flight waits for this click's locks, then makes the request pending again.
    The project's row is held FOR KEY SHARE first (the lock the click's delivery takes
    anyway): a split or retire in flight (the row FOR UPDATE) ends before the votes are
    counted, and one starting meanwhile waits for the click; its trigger waiting for requests
    this click holds while the click waited for the row deadlocked them."""
    request = aliased(MultiLabelRequest)
    answered = select(request.example_id).where(
        request.project_id == project_id,
        col(request.pending),
        col(request.k) <= _experts(project_id, request),
    )
    if session.get_bind().dialect.name != "postgresql":  # writers take turns: one statement
        return rowcount(session.execute(_settle(col(MultiLabelRequest.example_id).in_(answered))))
    share_project_row(session=session, project_id=project_id)
    held = list(session.exec(answered.with_for_update(skip_locked=True, of=request)).all())
    settled = 0
    for i in range(0, len(held), _SETTLE_CHUNK):
        settled += rowcount(
            session.execute(
                _settle(
                    col(MultiLabelRequest.example_id).in_(held[i : i + _SETTLE_CHUNK]),
                    col(MultiLabelRequest.pending),
                    col(MultiLabelRequest.k) <= _experts(project_id),
                )
            )
        )
    return settled


_SETTLE_CHUNK = 1000  # ids per UPDATE (the first click after 0023 settles every answered one)


def _settle(*where: Any) -> Any:
    return (
        update(MultiLabelRequest)
        .where(*where)
        .values(pending=False)
        .execution_options(synchronize_session=False)
    )


def requested_examples(*, session: Session, project_id: int) -> set[int]:
    """The project's examples that were asked of several experts (one query, for reports)."""
    query = select(MultiLabelRequest.example_id).where(
        MultiLabelRequest.project_id == project_id, col(MultiLabelRequest.k) >= 2
    )
    return set(session.exec(query).all())


def count_waiting_for_opinions(*, session: Session, project_id: int) -> int:
    """Examples that were asked of several experts and have not got all their labels yet."""
    return int(
        session.exec(
            select(func.count())
            .select_from(MultiLabelRequest)
            .where(
                MultiLabelRequest.project_id == project_id,
                col(MultiLabelRequest.pending),  # the others have their opinions
                col(MultiLabelRequest.k) >= 2,  # k=1: a set-aside example, not a 2nd opinion
                col(MultiLabelRequest.k) > _experts(project_id),
            )
        ).one()
    )


def close_assignment(
    *, session: Session, assignment_id: int, status: str, now: datetime | None = None
) -> Assignment | None:
    """Mark an open assignment done / skipped / released; returns it, or None when it is
    unknown or no longer open.

    A conditional update: of two transactions closing one assignment at once (the same Skip
    delivered twice), the second waits for the first and then updates nothing, so only one
    goes on to deliver the next example.
    """
    closed = session.execute(
        update(Assignment)
        .where(col(Assignment.id) == assignment_id, col(Assignment.status) == "open")
        .values(status=status, closed_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    if not rowcount(closed):
        return None
    assignment = session.get(Assignment, assignment_id, populate_existing=True)
    assert assignment is not None
    if assignment.purpose == "audit" and status in ("skipped", "released"):
        _give_up_audit_picks(session, [assignment.example_id])
    return assignment


def set_assignment_message(
    *, session: Session, assignment_id: int, channel: str, message_ts: str
) -> None:
    assignment = session.get(Assignment, assignment_id)
    if assignment is not None:
        assignment.channel = channel
        assignment.message_ts = message_ts
        session.add(assignment)


def assignment_message(*, session: Session, assignment_id: int) -> tuple[str, str] | None:
    """Where the assignment's example was delivered (channel, message ts), None if not yet."""
    assignment = session.get(Assignment, assignment_id, populate_existing=True)
    if assignment is None or not assignment.channel or not assignment.message_ts:
        return None
    return assignment.channel, assignment.message_ts


def count_free_examples(*, session: Session, project_id: int) -> int:
    """How many examples still wait for a label: the project's examples less those with a
    live annotation of a label that counts (save those waiting for a relabel despite their
    votes, ``relabel_despite_votes``) and those with an open flag. Exact.

    Every labeling message shows it, so it is not counted over the whole project each time
    (100-240 ms at 100,000 examples): the two large counts, the project's examples and its
    labeled examples, are remembered per database and project (:class:`_QueueCount`), and each
    call adds what was stored since, read by id (examples and annotations only ever get higher
    ids; imports into a project take turns, so theirs commit in id order). Whatever a higher id
    does not show starts a full count again: a retracted label (the project's retracted count),
    a taxonomy change (its labels' states). So do a label committed after one with a higher id
    (two clicks at once), which the count by id passes over, and anything else unforeseen: a
    full count every ``_RECOUNT_AFTER_S`` seconds. The flags and the relabels are read afresh
    every time (a few rows). Several replicas share the database: each reads the others' writes
    like its own. A count is remembered only once its transaction commits (one rolled back could
    have counted its own rows)."""
    labels = tuple(
        (int(i or 0), bool(active), to)
        for i, active, to in session.exec(
            select(Label.id, Label.active, Label.mapped_to_id)
            .where(Label.project_id == project_id)
            .order_by(col(Label.id))
        ).all()
    )
    counting = [i for i, active, to in labels if active or to is not None]
    # the few labeled examples that wait for a relabel all the same (each has a vote that
    # counts: among the labeled); none unless a label was split or retired unmapped
    stale = any(not active and to is None for _, active, to in labels)
    waiting = relabel_despite_votes(session=session, project_id=project_id) if stale else []
    memo = _queue_count(session, project_id)
    now = time.monotonic()
    fresh = memo is not None and memo.labels == labels and now - memo.counted_at < _RECOUNT_AFTER_S
    last_example = memo.last_example if memo is not None else 0
    since = memo.last_annotation if memo is not None and fresh else 0
    # one statement, one snapshot: what was stored since, the highest annotation id it counts
    # up to, the project's retracted labels, and its flagged examples not counted as labeled
    upto = select(func.max(Annotation.id)).scalar_subquery()
    earlier = aliased(Annotation)
    newly_labeled = (
        # the annotations added since, walked by id: `label_id + 0` keeps the planners off the
        # labels' index, which would read every live label of the project instead
        select(func.count(func.distinct(Annotation.example_id)))
        .where(
            col(Annotation.retracted_at).is_(None),
            (col(Annotation.label_id) + 0).in_(counting),
            col(Annotation.id) > since,
            col(Annotation.id) <= upto,
            ~exists().where(
                col(earlier.example_id) == Annotation.example_id,
                col(earlier.id) <= since,
                col(earlier.retracted_at).is_(None),
                col(earlier.label_id).in_(counting),
            ),
        )
        .scalar_subquery()
        if fresh
        else literal(0)
    )
    labeled_now = exists().where(
        col(Annotation.example_id) == Flag.example_id,
        *_counts(counting),
        col(Annotation.id) <= upto,
    )
    new_examples, highest_example, last_annotation, retracted, newly, flagged = session.execute(
        sa_select(
            select(func.count())
            .select_from(Example)
            .where(Example.project_id == project_id, col(Example.id) > last_example)
            .scalar_subquery(),
            select(func.max(Example.id))
            .where(Example.project_id == project_id, col(Example.id) > last_example)
            .scalar_subquery(),
            upto,
            select(func.count())
            .select_from(Annotation)
            .where(
                col(Annotation.label_id).in_([i for i, _, _ in labels]),
                col(Annotation.retracted_at).isnot(None),
            )
            .scalar_subquery(),
            newly_labeled,
            select(func.count(func.distinct(Flag.example_id)))
            .where(
                col(Flag.resolved_at).is_(None),
                exists().where(
                    col(Example.id) == Flag.example_id, col(Example.project_id) == project_id
                ),
                ~labeled_now | col(Flag.example_id).in_(waiting),
            )
            .scalar_subquery(),
        )
    ).one()
    last_annotation = int(last_annotation or 0)
    if memo is None or not fresh or memo.retracted != retracted:
        examples, highest = session.exec(
            select(func.count(), func.max(Example.id)).where(Example.project_id == project_id)
        ).one()
        labeled = session.exec(
            select(func.count(func.distinct(Annotation.example_id))).where(
                *_counts(counting), col(Annotation.id) <= last_annotation
            )
        ).one()
        memo = _QueueCount(
            examples=int(examples),
            last_example=int(highest or 0),
            labeled=int(labeled),
            last_annotation=last_annotation,
            retracted=int(retracted),
            labels=labels,
            counted_at=now,
        )
    else:
        memo = replace(
            memo,
            examples=memo.examples + int(new_examples),
            last_example=max(memo.last_example, int(highest_example or 0)),
            labeled=memo.labeled + int(newly),
            last_annotation=max(memo.last_annotation, last_annotation),
        )
    _remember_queue_count(session, project_id, memo)
    return memo.examples - (memo.labeled - len(waiting) + int(flagged))


# A full count of the queue left at least this often (see count_free_examples)
_RECOUNT_AFTER_S = 5.0


@dataclass(frozen=True)
class _QueueCount:
    """A project's two large counts behind the queue left, and what they were counted up to."""

    examples: int  # the project's examples
    last_example: int  # the highest id among them
    labeled: int  # its examples with a live annotation of a label that counts
    last_annotation: int  # the highest annotation id (of any project) counted
    retracted: int  # the project's retracted annotations then
    labels: tuple[tuple[int, bool, int | None], ...]  # its labels' (id, active, mapped_to_id)
    counted_at: float  # time.monotonic() of the full count


# per database (its connection pool, shared by an engine's option copies) and project
_queue_counts: WeakKeyDictionary[Any, dict[int, _QueueCount]] = WeakKeyDictionary()
_PENDING = "labelbot_queue_counts"  # session.info: counts to remember once it commits


def _queue_count(session: Session, project_id: int) -> _QueueCount | None:
    pending = session.info.get(_PENDING, {})
    if project_id in pending:
        return pending[project_id]  # type: ignore[no-any-return]
    return _queue_counts.get(session.get_bind().engine.pool, {}).get(project_id)


def _remember_queue_count(session: Session, project_id: int, memo: _QueueCount) -> None:
    """Keep ``memo`` for the session's transaction; remembered for all once it commits."""
    if _PENDING not in session.info:
        pool = session.get_bind().engine.pool
        session.info[_PENDING] = {}

        def committed(session: Session) -> None:
            _queue_counts.setdefault(pool, {}).update(session.info.pop(_PENDING, {}))

        def rolled_back(session: Session) -> None:
            session.info.pop(_PENDING, None)

        event.listen(session, "after_commit", committed, once=True)
        event.listen(session, "after_rollback", rolled_back, once=True)
    session.info[_PENDING][project_id] = memo


def _counts(counting: Sequence[int]) -> tuple[Any, ...]:
    """An annotation is live and of a label that counts (one of ``counting``)."""
    return (col(Annotation.retracted_at).is_(None), col(Annotation.label_id).in_(counting))


def count_skipped(*, session: Session, project_id: int, annotator: str) -> int:
    """Examples ``annotator`` skipped that still wait for a label (no live annotation that
    counts, no open flag): the queue never hands them to ``annotator`` again, only to others."""
    query = (
        select(func.count())
        .select_from(Example)
        .where(
            Example.project_id == project_id,
            _skipped_by(annotator),
            ~_labeled(session, project_id),
            ~_flagged(),
        )
    )
    return int(session.exec(query).one())


def count_waiting_for(
    *, session: Session, project_id: int, annotator: str, now: datetime | None = None
) -> int:
    """How many examples the queue would hand ``annotator`` now, in one count: the conditions
    of ``_next_free_example`` (unlabeled, or back for a relabel or another opinion wanted of
    them; no open flag; not skipped by them), less those out with another expert (an unexpired
    open assignment; one that lapsed goes back to the pool at the next request). The example
    they hold themselves counts: it waits for them."""
    now = now or utcnow()
    free = ~_labeled(session, project_id) & ~_counted_by(project_id, annotator)
    back = col(Example.id).in_(_maybe_back(session, project_id)) & (
        free | _wanted_by(project_id, annotator)
    )
    elsewhere = exists().where(
        col(Assignment.example_id) == Example.id,
        col(Assignment.status) == "open",
        col(Assignment.expires_at) >= now,
        col(Assignment.annotator) != annotator,
    )
    query = (
        select(func.count())
        .select_from(Example)
        .where(
            Example.project_id == project_id,
            back | ~_live(),
            ~_flagged(),
            ~elsewhere,
            ~_skipped_by(annotator),
        )
    )
    return int(session.exec(query).one())


def has_label(*, session: Session, project_id: int, example_id: int) -> bool:
    """Whether the example has a live annotation that counts (the queue then passes it by)."""
    query = select(Example.id).where(col(Example.id) == example_id, _labeled(session, project_id))
    return session.exec(query).first() is not None


def labeling_deliveries(*, session: Session, project_id: int) -> int:
    """The project's labeling deliveries so far (every status, queue and audit picks): the
    highest number one was given (``Assignment.labeling_number``), an index lookup where
    counting them grew with the project. Deliveries a labelbot before migration 0023 made
    after the upgrade have none and are not counted; two claims at once (PostgreSQL) can take
    one number, as two counts at once read one count."""
    highest = session.exec(
        select(func.max(Assignment.labeling_number)).where(Assignment.project_id == project_id)
    ).one()
    return int(highest or 0)


def deliveries_to(*, session: Session, project_id: int, annotator: str) -> int:
    """Every delivery to ``annotator`` in the project so far (every purpose and status), as
    numbered (``Assignment.annotator_number``, see :func:`labeling_deliveries`)."""
    highest = session.exec(
        select(func.max(Assignment.annotator_number)).where(
            Assignment.project_id == project_id, Assignment.annotator == annotator
        )
    ).one()
    return int(highest or 0)


@event.listens_for(Assignment, "before_insert")
def _number_delivery(_mapper: Any, connection: Any, assignment: Assignment) -> None:
    """Number every delivery as it is stored (whichever repository stores it: a review's too),
    from the highest numbers so far (two index lookups, one statement): see
    :func:`labeling_deliveries`. Two stored in one flush take the same numbers."""
    if assignment.annotator_number is not None:
        return
    project_id, annotator = assignment.project_id, assignment.annotator
    labeling, mine = connection.execute(
        sa_select(
            select(func.max(Assignment.labeling_number))
            .where(Assignment.project_id == project_id)
            .scalar_subquery(),
            select(func.max(Assignment.annotator_number))
            .where(Assignment.project_id == project_id, Assignment.annotator == annotator)
            .scalar_subquery(),
        )
    ).one()
    assignment.annotator_number = int(mine or 0) + 1
    if assignment.purpose in LABELING:
        assignment.labeling_number = int(labeling or 0) + 1


def count_assignments(
    *,
    session: Session,
    project_id: int,
    purpose: str | None = None,
    purposes: Sequence[str] | None = None,
    annotator: str | None = None,
) -> int:
    """Deliveries so far in the project (every status), optionally of one purpose (or of any of
    ``purposes``) and to one annotator."""
    query = select(func.count()).select_from(Assignment).where(Assignment.project_id == project_id)
    if purpose is not None:
        query = query.where(Assignment.purpose == purpose)
    if purposes is not None:
        query = query.where(col(Assignment.purpose).in_(purposes))
    if annotator is not None:
        query = query.where(Assignment.annotator == annotator)
    return int(session.exec(query).one())
