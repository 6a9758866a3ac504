"""What the chat front-end needs stored: handled events, the outbox, discussion threads, and
the few lookups a click needs (the annotation a key stored, who holds an example now).

The outbox's times (when a message is due, how long a claim on it lasts) come from the
database's clock, as the leases' do (storage.repositories.leases): replicas on several machines
compare them against one clock, so one whose clock runs ahead cannot take a message another
replica claimed a moment ago and send it a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, not_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.db import rowcount
from storage.models import (
    Annotation,
    Assignment,
    DiscussionThread,
    Example,
    Label,
    Lease,
    OutboxMessage,
    ProcessedEvent,
    utcnow,
)
from storage.repositories.leases import database_now
from storage.repositories.taxonomy import counting_label_ids

# --- Events ------------------------------------------------------------------------------------


def record_event(*, session: Session, event_id: str, now: datetime | None = None) -> bool:
    """Remember an event id; False when it was already recorded (a redelivery)."""
    if session.get(ProcessedEvent, event_id) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(ProcessedEvent(event_id=event_id, received_at=now or utcnow()))
    except IntegrityError:
        return False  # a concurrent delivery of the same event won the insert
    return True


def prune_events(*, session: Session, before: datetime) -> int:
    """Forget event ids older than ``before`` (Slack retries within minutes, not days)."""
    result = session.execute(delete(ProcessedEvent).where(col(ProcessedEvent.received_at) < before))
    return rowcount(result)


# --- Outbox ------------------------------------------------------------------------------------


def enqueue(
    *,
    session: Session,
    method: str,
    payload: dict[str, Any],
    assignment_id: int | None = None,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
    message_key: str | None = None,
    first_try: datetime | None = None,
    status: str = "pending",
    lane: str | None = None,
) -> OutboxMessage:
    """Queue a call; ``message_key``: the message it rewrites whole, ``first_try`` when it was
    first tried (``created_at``: it orders the calls to one message). ``next_attempt_at``: when
    it is first due (on the outbox's clock, the database's: :func:`outbox_now`), now without
    it; a later one does not change that order. ``lane``: the queue it waits its turn in
    (:func:`claim_next_message`), ``message_key`` unless given."""
    message = OutboxMessage(
        method=method,
        payload=payload,
        assignment_id=assignment_id,
        message_key=message_key,
        lane=lane or message_key,
        status=status,
        last_error=(error or "")[:500] or None,
        next_attempt_at=next_attempt_at or database_now(session),
        created_at=first_try or utcnow(),
    )
    session.add(message)
    session.flush()
    return message


def claim_next_message(
    *,
    session: Session,
    after_id: int,
    lease: timedelta,
    now: datetime | None = None,
    let_pass_after: int | None = None,
) -> OutboxMessage | None:
    """Take the oldest due pending message with an id above ``after_id`` that is first in its
    lane, and push its next attempt ``lease`` from now (``claimed_until`` too): one message,
    claimed right before it is sent, so the lease covers one Slack call however long the flush
    takes (None when nothing is due).

    First in its lane: no message queued before it in its lane (``lane``: its conversation, or
    the message it edits) is pending, whether that one is due, waiting (a rate limit's
    Retry-After, a backoff) or claimed by a flusher sending it now. So one lane's messages go
    out one at a time, in the order they were queued, however many replicas flush: the next
    one is free only once the one before it is sent, dropped or given up. Messages without a
    lane go whenever due.

    ``let_pass_after``: a message whose tries failed that many times (``attempts``, which
    counts only the failures of the message's own: a rate limit or an outage counts none) no
    longer holds its lane, except while a flusher sends it: the ones behind it go ahead, and
    it goes whenever due (:func:`first_in_lane` alike). None: every message holds its lane.

    The claim is a conditional write (still pending, due and first in its lane), so two
    flushers never both take a message, on SQLite and PostgreSQL alike; on PostgreSQL SKIP
    LOCKED lets them pass each other instead of queueing behind one row. ``now`` defaults to the
    database's clock; pass one only to simulate time (tests): the lease then runs from the
    later of the two.
    """
    clock = database_now(session)
    now = now or clock
    lease_until = max(now, clock) + lease
    before = aliased(OutboxMessage)
    queued_before = (
        select(before.id)
        .where(
            col(before.lane) == col(OutboxMessage.lane),
            col(before.status) == "pending",
            col(before.id) < col(OutboxMessage.id),
            *_holding(before, now, let_pass_after),
        )
        .exists()
    )
    due = (
        col(OutboxMessage.id) > after_id,
        col(OutboxMessage.status) == "pending",
        col(OutboxMessage.next_attempt_at) <= now,
        or_(col(OutboxMessage.lane).is_(None), not_(queued_before)),
    )
    while True:
        query = select(OutboxMessage.id).where(*due).order_by(col(OutboxMessage.id)).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        found = session.exec(query).first()
        if found is None:
            return None
        taken = session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == found, *due)
            .values(next_attempt_at=lease_until, claimed_until=lease_until)
        )
        if rowcount(taken) == 1:
            return session.get(OutboxMessage, found, populate_existing=True)
        after_id = int(found)  # taken by another flusher between the read and the write


def first_in_lane(
    *,
    session: Session,
    lane: str,
    besides_assignment: int | None = None,
    let_pass_after: int | None = None,
) -> int | None:
    """A message pending in ``lane`` (the oldest), or None when the lane is empty: one indexed
    read, for the calls that must not overtake what waits there. ``besides_assignment``: the
    deliveries of that assignment's example do not count (a new delivery replaces them).
    ``let_pass_after``: nor do the messages that no longer hold their lane, having failed that
    many times on their own (:func:`claim_next_message`)."""
    conditions = [col(OutboxMessage.lane) == lane, col(OutboxMessage.status) == "pending"]
    if let_pass_after is not None:
        conditions += _holding(OutboxMessage, database_now(session), let_pass_after)
    if besides_assignment is not None:
        conditions.append(
            or_(
                col(OutboxMessage.assignment_id).is_(None),
                col(OutboxMessage.assignment_id) != besides_assignment,
            )
        )
    return _first_id(session, *conditions)


def claimed_in_lane(*, session: Session, lane: str) -> int | None:
    """A message pending in ``lane`` that a flusher is sending right now (claimed), or None."""
    return _first_id(
        session,
        col(OutboxMessage.lane) == lane,
        col(OutboxMessage.status) == "pending",
        _claimed(database_now(session)),
    )


def _first_id(session: Session, *conditions: Any) -> int | None:
    """The lowest id of the outbox messages meeting ``conditions`` (the oldest), or None."""
    found = session.exec(
        select(OutboxMessage.id).where(*conditions).order_by(col(OutboxMessage.id)).limit(1)
    ).first()
    return None if found is None else int(found)


def _holding(row: Any, now: datetime, let_pass_after: int | None) -> list[Any]:
    """Where a pending message ``row`` (OutboxMessage or an alias) holds the later ones of its
    lane back: it has failed fewer than ``let_pass_after`` tries of its own, or a flusher is
    sending it right now (``now``: the claims' clock). Always, without ``let_pass_after``."""
    if let_pass_after is None:
        return []
    return [or_(col(row.attempts) < let_pass_after, col(row.claimed_until) > now)]


def _claimed(now: datetime) -> Any:
    return col(OutboxMessage.claimed_until) > now


def _unclaimed(now: datetime) -> Any:
    return or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) <= now)


def mark_sent(*, session: Session, message_id: int, now: datetime | None = None) -> None:
    message = session.get(OutboxMessage, message_id)
    if message is not None:
        message.status = "sent"
        message.sent_at = now or utcnow()
        message.attempts += 1
        message.claimed_until = None
        session.add(message)


def mark_failed(
    *,
    session: Session,
    message_id: int,
    error: str,
    retry_after: timedelta | None,
    counted: bool = True,
) -> None:
    """Record a failed attempt, to be tried again ``retry_after`` from now (the database's
    clock); ``retry_after=None`` gives up on the message (status ``dead``; its
    ``next_attempt_at`` then says when, for :func:`count_dead`). With ``counted`` False the
    attempt says nothing about the message (nothing could be sent at all) and is not counted
    towards giving up."""
    message = session.get(OutboxMessage, message_id)
    if message is not None:
        message.attempts += 1 if counted else 0
        message.last_error = error[:500]
        message.next_attempt_at = database_now(session) + (retry_after or timedelta(0))
        message.claimed_until = None
        if retry_after is None:
            message.status = "dead"
        session.add(message)


def mark_dropped(*, session: Session, message_id: int, reason: str) -> None:
    """Give up on a message that is no longer wanted (status ``dropped``): not a failure."""
    message = session.get(OutboxMessage, message_id)
    if message is not None:
        message.status = "dropped"
        message.last_error = reason[:500]
        message.claimed_until = None
        session.add(message)


def drop_pending_deliveries(
    *, session: Session, assignment_id: int, reason: str, keep: int | None = None
) -> int:
    """Drop the pending messages that would deliver an assignment's example (all but ``keep``,
    and but one a flusher is sending right now: it settles it, and the one after it in its lane
    waits for that): it has been delivered another way. How many were dropped."""
    conditions = [
        col(OutboxMessage.assignment_id) == assignment_id,
        col(OutboxMessage.status) == "pending",
        _unclaimed(database_now(session)),
    ]
    if keep is not None:
        conditions.append(col(OutboxMessage.id) != keep)
    result = session.execute(
        update(OutboxMessage).where(*conditions).values(status="dropped", last_error=reason[:500])
    )
    return rowcount(result)


def newer_rewrite(
    *, session: Session, message_key: str, than: datetime, than_id: int | None = None
) -> int | None:
    """A call to the message ``message_key`` first tried after ``than`` (or at ``than`` and
    queued after outbox #``than_id``), pending, sent or superseded itself (not given up): its
    id, or None. Such a call is newer than one first tried at ``than``, which must not be
    sent after it."""
    newer = col(OutboxMessage.created_at) > than
    if than_id is not None:
        newer = or_(
            newer,
            and_(col(OutboxMessage.created_at) == than, col(OutboxMessage.id) > than_id),
        )
    found = session.exec(
        select(OutboxMessage.id)
        .where(
            col(OutboxMessage.message_key) == message_key,
            col(OutboxMessage.status) != "dead",
            newer,
        )
        .limit(1)
    ).first()
    return None if found is None else int(found)


def _older_rewrites(message_key: str, before: datetime, keep: int | None) -> list[Any]:
    conditions = [
        col(OutboxMessage.message_key) == message_key,
        col(OutboxMessage.status) == "pending",
        col(OutboxMessage.created_at) <= before,
    ]
    if keep is not None:
        conditions.append(col(OutboxMessage.id) != keep)
    return conditions


def has_older_rewrites(*, session: Session, message_key: str, before: datetime) -> bool:
    """Whether calls to the message ``message_key`` first tried by ``before`` are pending."""
    found = session.exec(
        select(OutboxMessage.id).where(*_older_rewrites(message_key, before, None)).limit(1)
    ).first()
    return found is not None


def older_rewrite_in_flight(*, session: Session, message_key: str, before: datetime) -> int | None:
    """A call to the message ``message_key`` first tried by ``before`` that a flusher is sending
    right now (claimed, so :func:`drop_older_rewrites` left it): its id, or None."""
    return _first_id(
        session, *_older_rewrites(message_key, before, None), _claimed(database_now(session))
    )


def drop_older_rewrites(
    *, session: Session, message_key: str, before: datetime, reason: str, keep: int | None = None
) -> int:
    """Drop the pending calls to the message ``message_key`` first tried by ``before`` (all but
    ``keep``): a newer one rewrote it, or will. How many were dropped. One a flusher is sending
    right now is left to it (:func:`claimed_in_lane` finds it): dropped, it would free the
    newer call behind it in its lane for another flusher while it is still in flight, and it
    could land after the newer one."""
    result = session.execute(
        update(OutboxMessage)
        .where(*_older_rewrites(message_key, before, keep), _unclaimed(database_now(session)))
        .values(status="dropped", last_error=reason[:500])
    )
    return rowcount(result)


def unwanted_delivery(
    *, session: Session, assignment_id: int, now: datetime | None = None
) -> str | None:
    """Why delivering an assignment's example now would be wrong (it is closed or expired, or
    it was delivered already: a second live message of it), or None when it is still wanted."""
    row = session.exec(
        select(
            Assignment.status,
            col(Assignment.expires_at) >= (now or utcnow()),
            Assignment.message_ts,
        ).where(Assignment.id == assignment_id)
    ).first()
    if row is None:
        return f"assignment {assignment_id} is gone"
    status, unexpired, message_ts = row
    if status != "open":
        return f"assignment {assignment_id} is {status}"
    if not unexpired:
        return f"assignment {assignment_id} expired"
    if message_ts is not None:
        return f"assignment {assignment_id} was delivered already (message {message_ts})"
    return None


def outbox_now(*, session: Session) -> datetime:
    """The outbox's clock: the database's (see the module's docstring)."""
    return database_now(session)


def prune_outbox(*, session: Session, settled_before: datetime, dead_before: datetime) -> int:
    """Delete the messages that are done with: sent, or dropped unsent, before
    ``settled_before`` (a dropped one by when it was queued and last due), and given up before
    ``dead_before``. Pending ones stay. How many were deleted."""
    sent = and_(col(OutboxMessage.status) == "sent", col(OutboxMessage.sent_at) < settled_before)
    dropped = and_(
        col(OutboxMessage.status) == "dropped",
        col(OutboxMessage.created_at) < settled_before,
        col(OutboxMessage.next_attempt_at) < settled_before,
    )
    dead = and_(
        col(OutboxMessage.status) == "dead", col(OutboxMessage.next_attempt_at) < dead_before
    )
    result = session.execute(delete(OutboxMessage).where(or_(sent, dropped, dead)))
    return rowcount(result)


def count_outbox(*, session: Session, status: str = "pending") -> int:
    return int(
        session.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == status)
        ).one()
    )


def count_dead(*, session: Session, within: timedelta) -> int:
    """Messages given up within ``within`` before now (the database's clock)."""
    since = database_now(session) - within
    return int(
        session.exec(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == "dead", col(OutboxMessage.next_attempt_at) >= since)
        ).one()
    )


# --- Discussion threads ------------------------------------------------------------------------


def add_thread(
    *, session: Session, example_id: int, channel: str, thread_ts: str, kind: str, opened_by: str
) -> tuple[DiscussionThread, bool]:
    """Map a thread to an example; the same (channel, thread_ts) again returns the stored row."""
    existing = get_thread(session=session, channel=channel, thread_ts=thread_ts)
    if existing is not None:
        return existing, False
    thread = DiscussionThread(
        example_id=example_id, channel=channel, thread_ts=thread_ts, kind=kind, opened_by=opened_by
    )
    try:
        with session.begin_nested():
            session.add(thread)
    except IntegrityError:
        existing = get_thread(session=session, channel=channel, thread_ts=thread_ts)
        if existing is None:
            raise
        return existing, False
    return thread, True


GONE = "gone"  # the kind of a thread whose first message was deleted in the chat


def set_thread_gone(*, session: Session, channel: str, thread_ts: str) -> bool:
    """Mark the thread (channel, thread_ts) as gone: its first message was deleted, so no one
    can open it; the example's next thread of that kind is then a new one. Replies it got stay
    the example's comments (the row keeps mapping them). False when it is no thread we know."""
    found = get_thread(session=session, channel=channel, thread_ts=thread_ts)
    if found is None:
        return False
    found.kind = GONE
    session.add(found)
    return True


def get_thread(*, session: Session, channel: str, thread_ts: str) -> DiscussionThread | None:
    return session.exec(
        select(DiscussionThread).where(
            DiscussionThread.channel == channel, DiscussionThread.thread_ts == thread_ts
        )
    ).first()


def example_thread(*, session: Session, example_id: int, kind: str) -> DiscussionThread | None:
    """The first thread of ``kind`` opened on an example (one team discussion per example)."""
    return session.exec(
        select(DiscussionThread)
        .where(DiscussionThread.example_id == example_id, DiscussionThread.kind == kind)
        .order_by(col(DiscussionThread.id))
    ).first()


def project_threads(*, session: Session, project_id: int, kind: str) -> list[DiscussionThread]:
    """The project's threads of ``kind`` (one per example: the first opened), oldest first."""
    rows = session.exec(
        select(DiscussionThread)
        .join(Example, col(Example.id) == col(DiscussionThread.example_id))
        .where(Example.project_id == project_id, DiscussionThread.kind == kind)
        .order_by(col(DiscussionThread.id))
    ).all()
    first: dict[int, DiscussionThread] = {}
    for row in rows:
        first.setdefault(row.example_id, row)
    return list(first.values())


_MARK_CHUNK = 900  # names per IN query


def marks_set_for_good(*, session: Session, names: list[str], owner_prefix: str) -> set[str]:
    """Of the markers ``names`` (leases: a dispute thread's verdict drawn, engine.disputes),
    those set for good, held by an owner starting with ``owner_prefix`` (they are held for a
    century: not checked for lapsing); one query per :data:`_MARK_CHUNK` names."""
    found: set[str] = set()
    for start in range(0, len(names), _MARK_CHUNK):
        chunk = names[start : start + _MARK_CHUNK]
        rows = session.exec(
            select(Lease.name).where(
                col(Lease.name).in_(chunk), col(Lease.owner).startswith(owner_prefix)
            )
        ).all()
        found.update(str(name) for name in rows)
    return found


# --- Lookups a click needs ---------------------------------------------------------------------


@dataclass(frozen=True)
class KeyedAnnotation:
    id: int
    example_id: int
    label: str
    annotator: str
    retracted: bool
    label_id: int = 0
    created_at: datetime | None = None


def annotation_by_key(*, session: Session, key: str) -> KeyedAnnotation | None:
    """The annotation stored under an idempotency key (retracted or not), with its label name."""
    row = session.exec(
        select(Annotation, Label.name)
        .join(Label, col(Label.id) == Annotation.label_id)
        .where(Annotation.idempotency_key == key)
    ).first()
    if row is None:
        return None
    annotation, name = row
    return KeyedAnnotation(
        id=int(annotation.id or 0),
        example_id=annotation.example_id,
        label=name,
        annotator=annotation.annotator,
        retracted=annotation.retracted_at is not None,
        label_id=annotation.label_id,
        created_at=annotation.created_at,
    )


def live_annotations_by_key(
    *, session: Session, example_id: int, source: str
) -> list[tuple[str, KeyedAnnotation]]:
    """The example's annotations from ``source`` not taken back, each with its idempotency
    key (a Slack click's names the message it was given on), oldest first."""
    rows = session.exec(
        select(Annotation, Label.name)
        .join(Label, col(Label.id) == Annotation.label_id)
        .where(
            Annotation.example_id == example_id,
            Annotation.source == source,
            col(Annotation.retracted_at).is_(None),
        )
        .order_by(col(Annotation.id))
    ).all()
    return [
        (
            annotation.idempotency_key,
            KeyedAnnotation(
                id=int(annotation.id or 0),
                example_id=annotation.example_id,
                label=name,
                annotator=annotation.annotator,
                retracted=False,
                label_id=annotation.label_id,
                created_at=annotation.created_at,
            ),
        )
        for annotation, name in rows
    ]


def open_holder(*, session: Session, example_id: int, now: datetime | None = None) -> str | None:
    """Who holds the example right now (an open, unexpired assignment), if anyone."""
    return session.exec(
        select(Assignment.annotator).where(
            Assignment.example_id == example_id,
            Assignment.status == "open",
            col(Assignment.expires_at) >= (now or utcnow()),
        )
    ).first()


def live_labelers(*, session: Session, example_id: int) -> list[str]:
    """Who labeled the example with a label that still counts, earliest first."""
    rows = session.exec(
        select(Annotation.annotator)
        .where(
            Annotation.example_id == example_id,
            col(Annotation.retracted_at).is_(None),
            col(Annotation.label_id).in_(counting_label_ids()),
        )
        .order_by(col(Annotation.created_at), col(Annotation.id))
    ).all()
    return list(dict.fromkeys(rows))


def has_live_annotation(
    *, session: Session, example_id: int, annotator: str, others: bool = False
) -> bool:
    """Whether ``annotator`` (or, with ``others``, anyone but them) labeled the example with a
    label that still counts (an annotation of a split or unmapped retired label waits for a
    relabel, so it does not)."""
    who = Annotation.annotator != annotator if others else Annotation.annotator == annotator
    found = session.exec(
        select(Annotation.id).where(
            Annotation.example_id == example_id,
            who,
            col(Annotation.retracted_at).is_(None),
            col(Annotation.label_id).in_(counting_label_ids()),
        )
    ).first()
    return found is not None
