"""Where each disagreement is settled: the one project-channel thread opened for it.

engine.consensus finds disagreements and stores adjudications; this remembers the thread a
front-end opened for one (a discussion thread of kind ``dispute``, so replies in it are kept as
comments like any discussion), so it is opened once whichever process notices it first.

A verdict given elsewhere than on the thread (`labelbot adjudicate`, or a reviewer's change that
carried the vote) is drawn on it, once across processes: whoever draws it (the scheduler's round,
the bot after a review in Slack) takes a lease named after the deciding annotation
(``verdict:<annotation id>``), held a few minutes while it draws it and, once Slack took the
drawing, for a century: its stored marker (:func:`verdict_drawn`). :func:`verdict_undrawn`
gives it back when the drawing failed, so the next round tries again; a process killed while
drawing leaves it to lapse (or be taken over at once on its host), and a later round draws it.
The drawing posts a reply in the thread too (its participants are notified of replies, not of
an edited root), only with the marker's taking, so a verdict drawn before replies were posted
gets none, and only for a verdict given within :data:`REPLY_WITHIN` (:func:`reply_due`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from engine import jobs
from engine.discussions import DISPUTE, TEAM, Thread, example_thread, project_threads
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import as_utc, utcnow
from storage.repositories import feedback, leases, slack

log = logging.getLogger(__name__)

__all__ = [
    "DISPUTE",
    "dispute_thread",
    "dispute_threads",
    "settled_elsewhere",
    "claim_verdict",
    "verdict_drawn",
    "verdict_marked",
    "verdicts_marked",
    "verdict_undrawn",
    "claim_link",
    "link_made",
    "unlinked",
    "reply_due",
    "REPLY_WITHIN",
]

# the marker of a verdict drawn on its thread: a lease that does not lapse in practice (a lapsed
# lease is pruned a day later, engine.jobs.tidy: this one is not)
VERDICT_DRAWN_FOR = timedelta(days=36500)
# the marker while its verdict is being drawn: far longer than a chat.update and a reply with
# the client's retries; a drawing whose process was killed lapses after it, and the next round
# draws the verdict (set for good at once, the marker would stay taken by a drawing never made)
DRAWING_FOR = timedelta(minutes=5)
# how the owner of a marker set for good starts (as it did before DRAWING_FOR, when the marker
# was set for good at once)
_SET_FOR_GOOD = "drawn:"

# How old a verdict drawn on its thread may be and still be told there in a reply: a verdict is
# drawn by the next round (seconds to minutes), and a database upgraded with older verdicts
# never drawn (a reviewer's change, drawn since this version) does not post them all at once.
REPLY_WITHIN = timedelta(days=2)


_CHUNK = 900  # annotation ids per query


def dispute_thread(ws: Workspace, *, example_id: int) -> Thread | None:
    """The thread already opened on the example's disagreement, if any."""
    return example_thread(ws, example_id=example_id, kinds=(DISPUTE,))


def dispute_threads(ws: Workspace, *, project: str) -> list[Thread]:
    """Every disagreement thread opened in ``project`` (settled or not), oldest first."""
    return project_threads(ws, project=project, kind=DISPUTE)


def settled_elsewhere(ws: Workspace, verdicts: Iterable[tuple[Thread, int]]) -> set[int]:
    """Of ``verdicts`` (each thread with the annotation id of the adjudication, or reviewer's
    change, deciding its example), the annotation ids not given by a Settle click on that
    thread's root (one query per 900): a click there drew the verdict as it stored it; any
    other (the CLI's, a review's) left the root as it was."""
    wanted = list(verdicts)
    if not wanted:
        return set()
    ids = sorted({a for _, a in wanted})
    keys: dict[int, str] = {}
    with session_scope(ws.db, read_only=True) as session:  # a round asks for every verdict's
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            keys.update(feedback.annotation_keys(session=session, annotation_ids=chunk))
    return {
        annotation_id
        for thread, annotation_id in wanted
        if not keys.get(annotation_id, "").startswith(f"slack:{thread.channel}:{thread.thread_ts}:")
    }


def claim_verdict(ws: Workspace, *, annotation_id: int) -> str | None:
    """Take the drawing of verdict ``annotation_id`` on its thread, once across processes:
    the claim's owner (for :func:`verdict_drawn` and :func:`verdict_undrawn`), or None when it
    was drawn, or is being drawn, already. Reads before it writes (a quiet round writes
    nothing). The claim lasts :data:`DRAWING_FOR` until the drawing is done: one whose process
    died lapses (at once, taken over, where that process ran on this host)."""
    return _claim_mark(ws, f"verdict:{annotation_id}")


def verdict_drawn(ws: Workspace, *, annotation_id: int, owner: str) -> bool:
    """Slack took the drawing ``owner`` claimed (:func:`claim_verdict`): its marker is set for
    good. False when the claim lapsed and was taken meanwhile (the drawing is another's)."""
    return _keep_mark(ws, f"verdict:{annotation_id}", owner=owner)


def verdict_marked(ws: Workspace, *, annotation_id: int) -> bool:
    """Whether verdict ``annotation_id``'s marker is set for good (:func:`verdict_drawn`): why
    :func:`claim_verdict` returned None, when it did for that and not because another process
    is drawing it, whose claim lapses if that process dies (a later round draws it then)."""
    with session_scope(ws.db, read_only=True) as session:
        lease = leases.held(session=session, name=f"verdict:{annotation_id}")
    return lease is not None and lease.owner.startswith(_SET_FOR_GOOD)


def verdicts_marked(ws: Workspace, annotation_ids: Iterable[int]) -> set[int]:
    """Of verdicts ``annotation_ids``, those whose marker is set for good (:func:`verdict_marked`),
    in one query per 900 (a dispute round's settled threads: those drawn need nothing more)."""
    wanted = sorted(set(annotation_ids))
    if not wanted:
        return set()
    with session_scope(ws.db, read_only=True) as session:
        marked = slack.marks_set_for_good(session=session,
                                          names=[f"verdict:{a}" for a in wanted],
                                          owner_prefix=_SET_FOR_GOOD)  # fmt: skip
    return {a for a in wanted if f"verdict:{a}" in marked}


def verdict_undrawn(ws: Workspace, *, annotation_id: int, owner: str) -> None:
    """The drawing :func:`claim_verdict` took failed: given back, the next round draws it."""
    with session_scope(ws.db) as session:
        leases.release(session=session, name=f"verdict:{annotation_id}", owner=owner)


def claim_link(ws: Workspace, *, example_id: int, discussed_ts: str) -> str | None:
    """Take the posting of the word linking the example's Discuss thread (``discussed_ts``) to
    its disagreement thread, once across processes, as :func:`claim_verdict` takes a verdict's
    drawing: the claim's owner (for :func:`link_made`), or None when it was linked, or is being
    linked, already."""
    return _claim_mark(ws, f"dispute-link:{example_id}:{discussed_ts}")


def link_made(ws: Workspace, *, example_id: int, discussed_ts: str, owner: str) -> bool:
    """The word :func:`claim_link` claimed was posted (or Slack refused it: a courtesy, not
    tried again): its marker is set for good."""
    return _keep_mark(ws, f"dispute-link:{example_id}:{discussed_ts}", owner=owner)


def unlinked(ws: Workspace, *, project: str, among: Iterable[int]) -> list[int]:
    """Of examples ``among`` (the project's unsettled disagreements), those with a Discuss
    thread and a disagreement thread whose link (:func:`claim_link`) is not set for good: its
    claim lapsed (the process that took it was killed before posting it), is held still, or
    was never taken. Two reads of the project's threads, and one per example with both."""
    wanted = set(among)
    if not wanted:
        return []
    disputed = {t.example_id for t in project_threads(ws, project=project, kind=DISPUTE)}
    discussed = [
        t
        for t in project_threads(ws, project=project, kind=TEAM)
        if t.example_id in wanted and t.example_id in disputed
    ]
    if not discussed:
        return []
    with session_scope(ws.db, read_only=True) as session:
        marks = {
            t.example_id: leases.held(
                session=session, name=f"dispute-link:{t.example_id}:{t.thread_ts}"
            )
            for t in discussed
        }
    return [e for e, lease in marks.items() if lease is None or not _set_for_good(lease.owner)]


def _set_for_good(owner: str) -> bool:
    return owner.startswith(_SET_FOR_GOOD)


def _claim_mark(ws: Workspace, name: str) -> str | None:
    """Take marker ``name`` for :data:`DRAWING_FOR` for a fresh owner of this process: free,
    lapsed (its work cut short elsewhere), or held by a process of this host that has ended
    (killed in its work: engine.jobs.owner_ended); its owner, or None when it is set for good
    (:func:`_keep_mark`) or held by a live process."""
    with session_scope(ws.db, read_only=True) as session:
        lease = leases.held(session=session, name=name)
    if lease is not None and not jobs.owner_ended(lease.owner):
        return None
    owner = f"{jobs.default_owner()}:{uuid.uuid4().hex[:8]}"
    with session_scope(ws.db) as session:
        if lease is None:
            got = leases.try_acquire(session=session, name=name, owner=owner, ttl=DRAWING_FOR)
        else:
            got = leases.take_over(session=session, name=name, owner=owner, holder=lease.owner,
                                   ttl=DRAWING_FOR)  # fmt: skip
    if got and lease is not None:
        log.warning("took marker %s over from %s: that process ended in its work", name,
                    lease.owner)  # fmt: skip
    return owner if got else None


def _keep_mark(ws: Workspace, name: str, *, owner: str) -> bool:
    """Marker ``name``, claimed by ``owner``, set for good (:data:`VERDICT_DRAWN_FOR`), under an
    owner no process is (never taken over as an ended one's); False when ``owner`` lost it."""
    with session_scope(ws.db) as session:
        return leases.take_over(session=session, name=name,
                                owner=f"{_SET_FOR_GOOD}{uuid.uuid4().hex}",
                                holder=owner, ttl=VERDICT_DRAWN_FOR)  # fmt: skip


def reply_due(*, given_at: datetime, now: datetime | None = None) -> bool:
    """Whether a verdict given at ``given_at`` and drawn now is told in its thread
    (:data:`REPLY_WITHIN`); an older one is only drawn."""
    return as_utc(given_at) >= (now or utcnow()) - REPLY_WITHIN
