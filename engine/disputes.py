"""Where each disagreement is settled: the one project-channel thread opened for it.

engine.consensus finds disagreements and stores adjudications; this remembers the thread a
front-end opened for one (a discussion thread of kind ``dispute``, so replies in it are kept as
comments like any discussion), so it is opened once whichever process notices it first.

A verdict given elsewhere than on the thread (`labelbot adjudicate`, or a reviewer's change that
carried the vote) is drawn on it, once across processes: whoever draws it (the scheduler's round,
the bot after a review in Slack) takes a lease named after the deciding annotation
(``verdict:<annotation id>``) that lapses only in a century, its stored marker;
:func:`verdict_undrawn` gives it back when the drawing failed, so the next round tries again.
The drawing posts a reply in the thread too (its participants are notified of replies, not of
an edited root), only with the marker's taking, so a verdict drawn before replies were posted
gets none, and only for a verdict given within :data:`REPLY_WITHIN` (:func:`reply_due`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from engine.discussions import DISPUTE, Thread, example_thread, project_threads
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import as_utc, utcnow
from storage.repositories import feedback, leases

__all__ = [
    "DISPUTE",
    "dispute_thread",
    "dispute_threads",
    "settled_elsewhere",
    "claim_verdict",
    "verdict_undrawn",
    "reply_due",
    "REPLY_WITHIN",
]

# the marker of a verdict drawn on its thread: a lease that does not lapse in practice (a lapsed
# lease is pruned a day later, engine.jobs.tidy: this one is not)
VERDICT_DRAWN_FOR = timedelta(days=36500)

# How old a verdict drawn on its thread may be and still be told there in a reply: a verdict is
# drawn by the next round (seconds to minutes), and a database upgraded with older verdicts
# never drawn (a reviewer's change, drawn since this version) does not post them all at once.
REPLY_WITHIN = timedelta(days=2)


def dispute_thread(ws: Workspace, *, example_id: int) -> Thread | None:
    """The thread already opened on the example's disagreement, if any."""
    return example_thread(ws, example_id=example_id, kinds=(DISPUTE,))


def dispute_threads(ws: Workspace, *, project: str) -> list[Thread]:
    """Every disagreement thread opened in ``project`` (settled or not), oldest first."""
    return project_threads(ws, project=project, kind=DISPUTE)


def settled_elsewhere(ws: Workspace, verdicts: Iterable[tuple[Thread, int]]) -> set[int]:
    """Of ``verdicts`` (each thread with the annotation id of the adjudication, or reviewer's
    change, deciding its example), the annotation ids not given by a Settle click on that
    thread's root (one query): a click there drew the verdict as it stored it; any other (the
    CLI's, a review's) left the root as it was."""
    wanted = list(verdicts)
    if not wanted:
        return set()
    with session_scope(ws.db, read_only=True) as session:
        keys = feedback.annotation_keys(session=session, annotation_ids=[a for _, a in wanted])
    return {
        annotation_id
        for thread, annotation_id in wanted
        if not keys.get(annotation_id, "").startswith(f"slack:{thread.channel}:{thread.thread_ts}:")
    }


def claim_verdict(ws: Workspace, *, annotation_id: int) -> str | None:
    """Take the drawing of verdict ``annotation_id`` on its thread, once across processes:
    the claim's owner (for :func:`verdict_undrawn`), or None when it was drawn, or is being
    drawn, already. Reads before it writes (a quiet round writes nothing)."""
    name = f"verdict:{annotation_id}"
    with session_scope(ws.db, read_only=True) as session:
        if leases.held(session=session, name=name) is not None:
            return None
    owner = f"drawn:{uuid.uuid4().hex}"
    with session_scope(ws.db) as session:
        got = leases.try_acquire(session=session, name=name, owner=owner, ttl=VERDICT_DRAWN_FOR)
    return owner if got else None


def verdict_undrawn(ws: Workspace, *, annotation_id: int, owner: str) -> None:
    """The drawing :func:`claim_verdict` took failed: given back, the next round draws it."""
    with session_scope(ws.db) as session:
        leases.release(session=session, name=f"verdict:{annotation_id}", owner=owner)


def reply_due(*, given_at: datetime, now: datetime | None = None) -> bool:
    """Whether a verdict given at ``given_at`` and drawn now is told in its thread
    (:data:`REPLY_WITHIN`); an older one is only drawn."""
    return as_utc(given_at) >= (now or utcnow()) - REPLY_WITHIN
