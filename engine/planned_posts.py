"""Posts noted before they are made, so that a process killed after Slack stored one and before
its ts was recorded does not make a second one.

chat.postMessage is not idempotent, and what labelbot keeps of a proposal's card or of a thread's
root is the ts Slack answers with: a replica killed between the post and that record (a deploy's
SIGKILL, out of memory, the host gone) left the card unrecorded, and the next round posted a
second one, the first keeping live buttons nobody follows. So the post is noted first (its
channel, the delivery key its message metadata carries, when it was first tried) and the note
dropped once the ts is recorded; a try that finds a note looks for that message in the channel's
history before posting (bot.posting), as a digest does (engine.digest.note_posting).

A note is a lease named ``planned-post:<what>`` (its name ending with the project's, so deleting
the project deletes it), the note itself in its owner (as engine.jobs.pass_claim's notes are),
held for :data:`NOTED_FOR`: an older one has lapsed, and is no longer looked for (a post cut
short that long ago is posted anew), then pruned with the other lapsed leases (engine.jobs.tidy).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import as_utc
from storage.repositories import leases

# How long a post noted and never finished is looked for in its channel's history: the next
# round comes seconds to a minute after a killed one (an hour or two when the host went), as a
# digest's (bot.digests.LOOK_FOR_POSTED_WITHIN).
NOTED_FOR = timedelta(hours=12)
PREFIX = "planned-post:"
_SEP = "|"  # between the note's fields in the lease's owner (no key, time or channel id has one)


@dataclass(frozen=True)
class PlannedPost:
    """A chat.postMessage about to be made: where, its message's delivery key and its first
    try (Unix seconds); ``read_to``, the Slack ts of the oldest message a search for it cut
    short read (all newer ones were read: the next search reads only older ones), if any."""

    channel: str
    key: str
    first_try: float
    read_to: str | None = None

    def as_owner(self) -> str:
        fields = (self.key, repr(self.first_try), self.channel)
        return _SEP.join(fields + ((self.read_to,) if self.read_to else ()))

    @classmethod
    def from_owner(cls, owner: str) -> PlannedPost | None:
        """The post a note's owner holds; None for an owner that is no note (never written so:
        read as none, the post made as before notes were kept)."""
        key, _, rest = owner.partition(_SEP)
        first, _, rest = rest.partition(_SEP)
        channel, _, read_to = rest.partition(_SEP)
        try:
            first_try = float(first)
        except ValueError:
            return None
        return cls(channel, key, first_try, read_to or None) if key and channel else None


def note_name(what: str, *, project: str) -> str:
    """The name of the note of post ``what`` ("proposal:12", "dispute:7") of ``project``."""
    return f"{PREFIX}{what}:{project}"


def planned(ws: Workspace, name: str) -> PlannedPost | None:
    """The post noted as ``name`` and not done, noted within :data:`NOTED_FOR`; None if none."""
    with session_scope(ws.db, read_only=True) as session:
        lease = leases.held(session=session, name=name)
    return None if lease is None else PlannedPost.from_owner(lease.owner)


def note(ws: Workspace, name: str, post: PlannedPost, *, instead_of: PlannedPost | None) -> bool:
    """Note ``post`` as ``name`` before it is made (committed when this returns), in place of
    ``instead_of``, the note :func:`planned` read (its post not found in the channel); False
    when another note was made meanwhile (the caller, under the claim on the work, expects
    none: the post is then not made)."""
    with session_scope(ws.db) as session:
        if instead_of is not None:
            return leases.take_over(session=session, name=name, owner=post.as_owner(),
                                    holder=instead_of.as_owner(), ttl=NOTED_FOR)  # fmt: skip
        return leases.try_acquire(session=session, name=name, owner=post.as_owner(), ttl=NOTED_FOR)


def searched(ws: Workspace, name: str, post: PlannedPost, *, read_to: str) -> PlannedPost:
    """A search for ``post``, noted as ``name``, was cut short having read the messages from
    ``read_to`` (a Slack ts) on: noted, so the next search goes on from there; the note as it
    is now (unchanged when it was taken meanwhile). The note keeps its time to lapse."""
    moved = replace(post, read_to=read_to)
    with session_scope(ws.db) as session:
        held = leases.held(session=session, name=name)
        if held is None or held.owner != post.as_owner():
            return post
        left = as_utc(held.expires_at) - as_utc(leases.database_now(session))
        if left <= timedelta(0) or not leases.take_over(
            session=session, name=name, owner=moved.as_owner(), holder=post.as_owner(), ttl=left
        ):
            return post
    return moved


def done(ws: Workspace, name: str, post: PlannedPost) -> None:
    """``post`` is made and recorded, or was not made: the note goes."""
    with session_scope(ws.db) as session:
        leases.drop(session=session, name=name, owner=post.as_owner())
