"""Delivery bookkeeping for chat front-ends: events handled once, an outbox of messages that
could not be sent yet, where each example was delivered, and the checks a click needs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.labeling import NotSentToYou, latest_assignment, sent_elsewhere
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import StaleActionError
from storage.models import as_utc, utcnow
from storage.repositories import assignments, examples, projects, slack

EVENT_MEMORY = timedelta(days=2)  # Slack retries an event for about an hour at most
# A message the front-end answered with a failure of its own that may pass (Slack's
# internal_error, say) is tried this many times, with backoff, before it is given up.
OUTBOX_MAX_ATTEMPTS = 12
# Such a message holds its conversation's later messages back (they keep its order) until it
# has failed this many tries from the outbox: then they go ahead of it, and it follows when it
# goes through (or is given up), instead of holding them for all its tries (about an hour). A
# failure of the front-end's (a rate limit, an outage) counts none: every message would fail.
OUTBOX_LANE_PATIENCE = 2
OUTBOX_MAX_BACKOFF = timedelta(minutes=15)
OUTBOX_LEASE = timedelta(minutes=2)  # a flusher that dies mid-send frees its messages after this
# While the front-end takes no call at all (down, rate limiting, its credentials refused), one
# message is tried a round, and the rounds come 5 s, 10 s, 20 s... apart, at most this far: the
# others wait their turn, and none is given up for it (see Reach).
OUTBOX_PROBE_EVERY = timedelta(minutes=1)
OUTBOX_BLOCKED_RETRY = OUTBOX_PROBE_EVERY
# A message still unsent this long after its first try is given up (dead): news that old is
# more confusing than helpful, and the expert has asked again by then.
OUTBOX_MAX_AGE = timedelta(hours=24)
# How long the outbox keeps what is done with (its payloads included), for a look after the fact.
OUTBOX_KEEP_SETTLED = timedelta(days=7)  # sent, or dropped unsent
OUTBOX_KEEP_DEAD = timedelta(days=30)  # given up
DEAD_WITHIN = timedelta(hours=24)  # what `dead_count` counts: messages given up lately

log = logging.getLogger(__name__)


def first_delivery(ws: Workspace, *, event_id: str) -> bool:
    """True the first time an event id is seen, False for every redelivery."""
    with session_scope(ws.db) as session:
        return slack.record_event(session=session, event_id=event_id)


def forget_old_events(ws: Workspace, *, now: datetime | None = None) -> int:
    with session_scope(ws.db) as session:
        return slack.prune_events(session=session, before=(now or utcnow()) - EVENT_MEMORY)


def forget_old_messages(ws: Workspace, *, now: datetime | None = None) -> int:
    """Delete the outbox's messages sent or dropped more than OUTBOX_KEEP_SETTLED ago and those
    given up more than OUTBOX_KEEP_DEAD ago; how many."""
    now = now or utcnow()
    with session_scope(ws.db) as session:
        return slack.prune_outbox(
            session=session,
            settled_before=now - OUTBOX_KEEP_SETTLED,
            dead_before=now - OUTBOX_KEEP_DEAD,
        )


# --- Outbox ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    id: int
    method: str
    payload: dict[str, Any]
    assignment_id: int | None
    attempts: int
    message_key: str | None = None  # the message it rewrites (enqueue's ``rewrites``)
    first_try: datetime | None = None
    last_error: str | None = None  # why the last try failed (as the sender put it)
    lane: str | None = None  # the queue it waits its turn in (enqueue's ``conversation``)


def enqueue(
    ws: Workspace,
    *,
    method: str,
    payload: dict[str, Any],
    assignment_id: int | None = None,
    error: str | None = None,
    rewrites: str | None = None,
    first_try: datetime | None = None,
    retry_after: timedelta | None = None,
    conversation: str | None = None,
) -> int:
    """Queue a call that could not be delivered (or must wait its turn); :func:`drain` retries
    it later.

    ``conversation``: where a new message is posted. One conversation's messages go out in the
    order they were queued, one at a time (across replicas), whenever each is due: one queued
    after a message that waits out a rate limit waits for it (:func:`queued_in` tells a sender
    to queue a message behind them instead of sending it ahead). An edit's queue is its message.
    A message that failed OUTBOX_LANE_PATIENCE tries of its own no longer holds its queue
    (:func:`drain`).

    ``rewrites``: the key of a message the call replaces whole (an edit of it), first tried at
    ``first_try``. Edits of one message go out in the order they were made, and only the last:
    queued, the call supersedes the older edits still pending (dropped unsent), and it is itself
    dropped at once when a newer edit of the message is known (queued or sent already). That
    order is the order of the first tries, whenever each edit is due.

    ``retry_after``: the front-end asked for no call before then (a rate limit's Retry-After):
    the first try from the outbox waits for it, up to OUTBOX_MAX_BACKOFF (one sooner would only
    be refused again); without it the call is due at once.
    """
    first_try = first_try or utcnow()
    with session_scope(ws.db) as session:
        newer = None
        if rewrites is not None:
            newer = slack.newer_rewrite(session=session, message_key=rewrites, than=first_try)
        due = None
        if retry_after is not None and retry_after > timedelta(0):
            due = slack.outbox_now(session=session) + min(retry_after, OUTBOX_MAX_BACKOFF)
        queued = slack.enqueue(
            session=session,
            method=method,
            payload=payload,
            assignment_id=assignment_id,
            error=error if newer is None else f"superseded by outbox #{newer}",
            next_attempt_at=due,
            message_key=rewrites,
            first_try=first_try,
            status="pending" if newer is None else "dropped",
            lane=rewrites or conversation,
        )
        assert queued.id is not None
        dropped = 0
        if rewrites is not None and newer is None:
            dropped = slack.drop_older_rewrites(
                session=session, message_key=rewrites, before=first_try,
                reason=f"superseded by outbox #{queued.id}", keep=queued.id,
            )  # fmt: skip
    if newer is not None:
        log.info("outbox #%d dropped unsent: superseded by outbox #%d", queued.id, newer)
    if dropped:
        log.info("outbox #%d supersedes %d queued edit(s) of %s", queued.id, dropped, rewrites)
    return queued.id


def queued_in(ws: Workspace, *, conversation: str, delivering: int | None = None) -> int | None:
    """A message queued for ``conversation`` and not sent yet (the oldest), or None: a new
    message for it must then be queued behind (:func:`enqueue`), not sent ahead. One read. A
    message that failed OUTBOX_LANE_PATIENCE tries of its own does not count (:func:`drain`).

    ``delivering``: the new message delivers that assignment's example; an earlier delivery of
    it still queued does not hold it back: the new one replaces it (once it is delivered, the
    queued one is dropped unsent, :func:`record_delivery`), as when the expert asks again."""
    with session_scope(ws.db, read_only=True) as session:
        return slack.first_in_lane(
            session=session, lane=conversation, besides_assignment=delivering,
            let_pass_after=OUTBOX_LANE_PATIENCE,
        )  # fmt: skip


def edit_in_flight(ws: Workspace, *, message_key: str) -> int | None:
    """A queued edit of the message ``message_key`` that the outbox is sending right now, or
    None: a new edit must then be queued behind it (:func:`enqueue`), or the older one could
    land after it. One read when no edit of the message is queued. (An older edit that merely
    waits does not hold a new one back: the new one replaces it, :func:`rewritten`.)"""
    with session_scope(ws.db, read_only=True) as session:
        if slack.first_in_lane(session=session, lane=message_key) is None:
            return None
        return slack.claimed_in_lane(session=session, lane=message_key)


def rewritten(ws: Workspace, *, message_key: str, first_try: datetime) -> int | None:
    """An edit of the message ``message_key``, first tried at ``first_try``, went through: the
    older edits of it still queued are dropped unsent (sent later, they would undo it). Only
    writes when there are some (a read otherwise).

    Returns an older edit the outbox was sending meanwhile (claimed before this one went out,
    so not dropped): it may land after this one, which the caller must then queue again
    (:func:`enqueue`: it waits for that one); None otherwise."""
    with session_scope(ws.db, read_only=True) as session:
        if not slack.has_older_rewrites(session=session, message_key=message_key,
                                        before=first_try):  # fmt: skip
            return None
    with session_scope(ws.db) as session:
        dropped = slack.drop_older_rewrites(
            session=session, message_key=message_key, before=first_try,
            reason=f"superseded: a newer edit of {message_key} went through",
        )  # fmt: skip
        in_flight = slack.older_rewrite_in_flight(
            session=session, message_key=message_key, before=first_try
        )
    if dropped:
        log.info("%d queued edit(s) of %s dropped: a newer one went through", dropped, message_key)
    return in_flight


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, ... capped at 15 minutes."""
    return min(timedelta(seconds=5 * 2 ** max(attempts - 1, 0)), OUTBOX_MAX_BACKOFF)


def drain(
    ws: Workspace,
    *,
    send: Callable[[Pending], str | None],
    limit: int = 50,
    now: datetime | None = None,
    reach: Reach | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Try each due message once with ``send(pending) -> error or None``; the number sent.

    ``send`` returns None on success, an error string on a failure of the message's own worth
    retrying (it is tried again later, with backoff, up to OUTBOX_MAX_ATTEMPTS times), and
    raises ``PermanentFailure`` for a call that can never succeed (the message is then given up
    as ``dead``, with a warning), or ``Unreachable`` / ``DeliveryBlocked`` when the front-end
    takes no call just now: the message stays due, the try is not counted, the round ends, and
    ``reach`` (this process's view of the front-end) holds the next rounds back until a probe
    is due. A message unsent OUTBOX_MAX_AGE after its first try is given up unsent.

    A message that delivers an assignment's example is dropped unsent (status ``dropped``)
    when the assignment no longer wants it: closed, expired (the example may be with another
    expert by now) or delivered already (the expert asked again and got it). So is an edit of
    a message when a newer edit of it is known (queued, or sent: :func:`enqueue`), and one for
    which ``send`` raises ``Superseded`` (the front-end knows of a newer edit that went through).

    One conversation's messages (one message's edits) go out in the order they were queued:
    a message is claimed only once every message queued before it for its conversation is done
    with (sent, dropped, given up), so one that waits (a rate limit, a backoff) or is in flight
    on another replica holds the later ones back (slack.claim_next_message). Until it has
    failed OUTBOX_LANE_PATIENCE tries of its own (``send`` returned an error): from then on it
    holds them only while it is in flight, they go ahead of it, and it goes whenever due (a
    message Slack itself keeps refusing must not keep an expert's DM quiet for an hour). A
    failure of the front-end's (``Unreachable``, ``DeliveryBlocked``) counts none: the message
    keeps holding its conversation however long the front-end takes nothing.

    ``stop``: once set, no further message is claimed; the round ends after the one in flight
    (a server shutting down must not wait for a backlog sent to a slow front-end).
    """
    if reach is not None and reach.down is not None:
        with session_scope(ws.db, read_only=True) as session:
            if not reach.due(now or slack.outbox_now(session=session)):
                return 0  # the front-end takes nothing: not yet time for the next probe
    sent = 0
    after = 0
    for _ in range(limit):
        if stop is not None and stop.is_set():
            break
        # Claimed one at a time, right before sending: a lease taken for a whole batch would
        # lapse while earlier messages are still being sent, and another replica's flush would
        # send the rest a second time.
        # The claim's times come from the database's clock (unless a test gives ``now``): a
        # replica whose clock runs ahead must not see another's live claim as lapsed.
        with session_scope(ws.db) as session:
            claimed = slack.claim_next_message(
                session=session, after_id=after, lease=OUTBOX_LEASE, now=now,
                let_pass_after=OUTBOX_LANE_PATIENCE,
            )  # fmt: skip
            if claimed is None:
                break
            pending = Pending(
                int(claimed.id or 0), claimed.method, dict(claimed.payload),
                claimed.assignment_id, claimed.attempts, claimed.message_key, claimed.created_at,
                claimed.last_error, claimed.lane,
            )  # fmt: skip
            unwanted = None
            if pending.assignment_id is not None:
                unwanted = slack.unwanted_delivery(
                    session=session, assignment_id=pending.assignment_id
                )
            if pending.message_key is not None:
                newer = slack.newer_rewrite(
                    session=session, message_key=pending.message_key,
                    than=claimed.created_at, than_id=pending.id,
                )  # fmt: skip
                if newer is not None:
                    unwanted = f"superseded by outbox #{newer}"
            if unwanted is not None:
                slack.mark_dropped(session=session, message_id=pending.id, reason=unwanted)
            clock = now or slack.outbox_now(session=session)
            aged = unwanted is None and as_utc(claimed.created_at) < clock - OUTBOX_MAX_AGE
            hours = OUTBOX_MAX_AGE.total_seconds() / 3600
            too_old = f"unsent {hours:g} h after its first try (last: {claimed.last_error})"
            if aged:
                slack.mark_failed(
                    session=session, message_id=pending.id, error=too_old, retry_after=None,
                    counted=False,
                )  # fmt: skip
        after = pending.id  # each due message is tried once per drain, oldest first
        if unwanted is not None:
            log.info("outbox #%d dropped unsent: %s", pending.id, unwanted)
            continue
        if aged:
            _given_up(pending, too_old)
            continue
        error: str | None
        try:
            error = send(pending)
        except Superseded as exc:
            with session_scope(ws.db) as session:
                slack.mark_dropped(session=session, message_id=pending.id, reason=str(exc))
            log.info("outbox #%d dropped unsent: %s", pending.id, exc)
            continue
        except (Unreachable, DeliveryBlocked) as exc:
            # Nothing about this message: it stays due (the oldest, it is the next probe, and
            # the order of the others is kept), the try is not counted, and every other
            # message would fail alike this round.
            with session_scope(ws.db) as session:
                slack.mark_failed(
                    session=session, message_id=pending.id, error=str(exc),
                    retry_after=timedelta(0), counted=False,
                )  # fmt: skip
                at = now or slack.outbox_now(session=session)
                waiting = slack.count_outbox(session=session)
            if reach is not None:
                wait = exc.retry_after if isinstance(exc, Unreachable) else None
                reach.failed(str(exc), now=at, waiting=waiting, retry_after=wait)
            break
        except PermanentFailure as exc:
            with session_scope(ws.db) as session:
                slack.mark_failed(
                    session=session, message_id=pending.id, error=str(exc), retry_after=None
                )
            _given_up(pending, str(exc))
            if reach is not None:
                reach.reached()  # it answered, refusing this one message
            continue
        if reach is not None:
            reach.reached()
        attempts = pending.attempts + 1
        wait = backoff(attempts) if attempts < OUTBOX_MAX_ATTEMPTS else None
        with session_scope(ws.db) as session:
            if error is None:
                slack.mark_sent(session=session, message_id=pending.id)
                sent += 1
            else:
                slack.mark_failed(
                    session=session, message_id=pending.id, error=error, retry_after=wait
                )
        if error is not None and wait is None:
            _given_up(pending, f"{error} ({attempts} attempts)")
        elif error is not None and attempts == OUTBOX_LANE_PATIENCE and pending.lane is not None:
            log.info("outbox #%d failed %d tries (%s): the messages queued after it for %s go "
                     "ahead of it", pending.id, attempts, error, pending.lane)  # fmt: skip
    return sent


class Reach:
    """Whether the chat front-end takes calls, as this process's outbox last heard
    (thread-safe); ``name`` names it in the log.

    While it takes none (:func:`drain`'s sender raised ``Unreachable`` or ``DeliveryBlocked``),
    a round is due 5 s after the failure, then 10 s, 20 s... after the next ones, at most
    OUTBOX_PROBE_EVERY apart, and tries one message, the oldest due: the tries are not counted
    against the messages, so an outage of any length gives none up (OUTBOX_MAX_AGE aside). The
    messages themselves are never put off, only the rounds: once a call goes through again (a
    probe, or any other call of the front-end's reported with :meth:`reached`), every waiting
    message is due at once, in the order they were queued (one queued with the wait a rate
    limit asked for, :func:`enqueue`'s ``retry_after``, once that wait is over). One WARNING
    says when the front-end stops taking calls, one INFO when it takes them again.
    """

    def __init__(self, name: str = "the front-end") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._down: str | None = None  # why the last call failed, while nothing goes through
        self._failures = 0  # rounds failed since
        self._next: datetime | None = None  # when the next round is due

    @property
    def down(self) -> str | None:
        """Why the front-end took the last call of the outbox's not, or None while it takes them."""
        return self._down

    def due(self, now: datetime) -> bool:
        with self._lock:
            return self._next is None or now >= self._next

    def failed(
        self, reason: str, *, now: datetime, waiting: int, retry_after: timedelta | None = None
    ) -> None:
        """A round's call failed for a reason of the front-end's, at ``now`` (the outbox's clock)
        with ``waiting`` messages pending. ``retry_after``: the front-end asked for no call
        before then (a rate limit's Retry-After): the next probe waits for it, up to
        OUTBOX_MAX_BACKOFF (a probe sooner would only be refused again, and count against
        labelbot's rate)."""
        with self._lock:
            was = self._down
            self._down = reason
            self._failures += 1
            wait = min(backoff(min(self._failures, 8)), OUTBOX_PROBE_EVERY)
            if retry_after is not None:
                wait = max(wait, min(retry_after, OUTBOX_MAX_BACKOFF))
            self._next = now + wait
        if was is None:
            log.warning(
                "outbox: %s takes no calls (%s): %d message(s) wait for it, kept however long "
                "it lasts (up to a day each); one is tried about once a minute until it answers",
                self.name, reason, waiting,
            )  # fmt: skip

    def reached(self) -> None:
        """A call went through: after an outage, logged once, and the rounds are due again."""
        if self._down is None:
            return
        with self._lock:
            was, self._down, self._failures, self._next = self._down, None, 0, None
        if was is not None:
            log.info("outbox: %s reachable again (it failed with %s): the waiting messages go out",
                     self.name, was)  # fmt: skip


def _given_up(pending: Pending, error: str) -> None:
    log.warning(
        "outbox #%d given up (dead): %s to %s, assignment %s: %s",
        pending.id,
        pending.method,
        pending.payload.get("channel"),
        pending.assignment_id,
        error,
    )


class PermanentFailure(Exception):
    """Raised by an outbox sender for a call that retrying cannot fix (e.g. invalid blocks)."""


class Superseded(Exception):
    """Raised by an outbox sender for an edit of a message older than one that went through
    since it was queued: the message is dropped unsent."""


class Unreachable(Exception):
    """Raised by an outbox sender when the front-end took no call just now, for no reason of
    the message's (no connection, a timeout, a server error, a rate limit): the message stays
    pending and due, the attempt is not counted against it, and the round ends (see Reach).
    ``retry_after``: how long the front-end asked to be left alone (a rate limit's
    Retry-After), if it said."""

    def __init__(self, reason: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class DeliveryBlocked(Exception):
    """Raised by an outbox sender when nothing can be sent at all for now (the front-end
    refuses labelbot's credentials): handled as ``Unreachable``."""


def outbox_size(ws: Workspace, *, status: str = "pending") -> int:
    with session_scope(ws.db, read_only=True) as session:
        return slack.count_outbox(session=session, status=status)


def dead_count(ws: Workspace, *, within: timedelta = DEAD_WITHIN) -> int:
    """How many messages were given up (``dead``) within ``within`` before now."""
    with session_scope(ws.db, read_only=True) as session:
        return slack.count_dead(session=session, within=within)


# --- Deliveries and clicks ---------------------------------------------------------------------


def record_delivery(
    ws: Workspace,
    *,
    assignment_id: int,
    channel: str,
    message_ts: str,
    outbox_id: int | None = None,
) -> None:
    """Remember where an assigned example was delivered (to update that message later), and
    drop any other delivery of it still in the outbox (``outbox_id``: the one that delivered
    it): sent later, it would be a second live message of the example."""
    with session_scope(ws.db) as session:
        assignments.set_assignment_message(
            session=session, assignment_id=assignment_id, channel=channel, message_ts=message_ts
        )
        dropped = slack.drop_pending_deliveries(
            session=session,
            assignment_id=assignment_id,
            reason=f"assignment {assignment_id} was delivered already (message {message_ts})",
            keep=outbox_id,
        )
    if dropped:
        log.info("assignment %d delivered: %d queued delivery(ies) dropped", assignment_id, dropped)


@dataclass(frozen=True)
class ExampleRef:
    example_id: int
    project: str
    text: str
    channel: str | None  # the project's channel, for discussions


def delivered_in(ws: Workspace, *, assignment_id: int) -> tuple[str, str] | None:
    """Where an assigned example was delivered (channel, ts), None while it was not."""
    with session_scope(ws.db, read_only=True) as session:
        return assignments.assignment_message(session=session, assignment_id=assignment_id)


def example_ref(ws: Workspace, *, example_id: int) -> ExampleRef:
    with session_scope(ws.db, read_only=True) as session:
        example = examples.get_example(session=session, example_id=example_id)
        project = projects.get_project_by_id(session=session, project_id=example.project_id)
        return ExampleRef(example_id, project.name, example.text, project.channel_id)


@dataclass(frozen=True)
class StoredLabel:
    annotation_id: int
    example_id: int
    label: str
    retracted: bool
    label_id: int = 0
    labeled_at: datetime | None = None


def _stored(found: slack.KeyedAnnotation) -> StoredLabel:
    return StoredLabel(found.id, found.example_id, found.label, found.retracted,
                       found.label_id, found.created_at)  # fmt: skip


def label_for_key(ws: Workspace, *, key: str) -> StoredLabel | None:
    """What a click with this idempotency key already stored, if anything."""
    with session_scope(ws.db, read_only=True) as session:
        found = slack.annotation_by_key(session=session, key=key)
        return None if found is None else _stored(found)


def labels_given_in_slack(ws: Workspace, *, example_id: int) -> list[tuple[str, StoredLabel]]:
    """The example's labels given by a click in Slack and not undone, each with the click's
    idempotency key (bot.flow.click_key: the message it was given on, and who clicked)."""
    with session_scope(ws.db, read_only=True) as session:
        found = slack.live_annotations_by_key(
            session=session, example_id=example_id, source="slack"
        )
        return [(key, _stored(annotation)) for key, annotation in found]


def holds_example(ws: Workspace, *, project: str, annotator: str) -> bool:
    """Whether ``annotator`` holds an example of ``project`` to label (delivered or not)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        held = assignments.get_open_assignment(
            session=session, project_id=found.id, annotator=annotator
        )
        return held is not None


def prepare_label(
    ws: Workspace, *, example_id: int, annotator: str, key: str, channel: str | None = None
) -> tuple[ExampleRef, StoredLabel | None]:
    """Everything to check before storing a click, in one read.

    Returns the example and, for a repeated key (a retry, a double click), what was stored.
    Raises NotSentToYou (engine.labeling) for a click in ``channel`` on a message that was not
    sent to ``annotator`` (never theirs, or theirs in another conversation; one whose
    conversation is not recorded yet counts as theirs), also once the owner's hold lapsed;
    StaleActionError when the example is now out with someone else or this annotator already
    labeled it from another message. ``channel`` None: no message to check (not a click).
    """
    with session_scope(ws.db, read_only=True) as session:
        example = examples.get_example(session=session, example_id=example_id)
        project = projects.get_project_by_id(session=session, project_id=example.project_id)
        ref = ExampleRef(example_id, project.name, example.text, project.channel_id)
        found = slack.annotation_by_key(session=session, key=key)
        if found is not None:
            return ref, _stored(found)
        if channel is not None and sent_elsewhere(
            session, example_id=example_id, annotator=annotator, channel=channel
        ):
            raise NotSentToYou()
        holder = slack.open_holder(session=session, example_id=example_id)
        if holder is not None and holder != annotator:
            raise StaleActionError("this example is now with another expert")
        if slack.has_live_annotation(session=session, example_id=example_id, annotator=annotator):
            raise StaleActionError("you already labeled this example")
        return ref, None


def gone_to(ws: Workspace, *, example_id: int, annotator: str) -> str | None:
    """The expert the example went to instead of ``annotator``, when it was delivered to them
    and their hold lapsed: another expert who holds it now, or whose label counts (earliest
    first). None when it was never theirs (a click on someone else's message), or when nobody
    else has it (a late click is then taken as it is)."""
    with session_scope(ws.db, read_only=True) as session:
        if latest_assignment(session, example_id=example_id, annotator=annotator) is None:
            return None
        holder = slack.open_holder(session=session, example_id=example_id)
        if holder is not None and holder != annotator:
            return holder
        others = [a for a in slack.live_labelers(session=session, example_id=example_id)
                  if a != annotator]  # fmt: skip
        return others[0] if others else None


def labeled_by(ws: Workspace, *, example_id: int, annotator: str) -> bool:
    """Whether ``annotator`` has a live label on the example."""
    with session_scope(ws.db, read_only=True) as session:
        return slack.has_live_annotation(
            session=session, example_id=example_id, annotator=annotator
        )


def labeled_by_others(ws: Workspace, *, example_id: int, annotator: str) -> bool:
    """Whether someone other than ``annotator`` has a live label on the example."""
    with session_scope(ws.db, read_only=True) as session:
        return slack.has_live_annotation(
            session=session, example_id=example_id, annotator=annotator, others=True
        )
