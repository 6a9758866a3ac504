"""Discussions: chat threads about one example, whose replies become comments on it.

A thread is any (channel, thread_ts) pair a front-end opened for an example; replies arrive with
that pair and a per-reply key, so a redelivered reply is stored once. A reply's edit or deletion
may arrive before the reply (chat events come out of order, or redelivered): what they said is
kept by the reply's key, so a deleted reply is never stored after all and an edited one is stored
as edited. The scheduler's housekeeping (``engine.jobs.tidy``) forgets a reply's events once none
came for ``messaging.EVENT_MEMORY``: Slack retries an event within minutes and reorders them by
seconds, so two days is ample.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import examples, projects, replies, slack
from storage.repositories import feedback as annotation_repo

TEAM = "team"  # the thread in the project channel, where colleagues weigh in
DM = "dm"  # the thread under the expert's own labeling message


@dataclass(frozen=True)
class Thread:
    example_id: int
    channel: str
    thread_ts: str


DISPUTE = "dispute"  # the thread a disagreement between experts opens (engine.disputes)
FLAGGED = "flag"  # the thread a flag opens in the project channel (engine.flags)


def example_thread(ws: Workspace, *, example_id: int, kinds: tuple[str, ...]) -> Thread | None:
    """The first thread of the first of ``kinds`` opened on an example, if any."""
    with session_scope(ws.db, read_only=True) as session:
        for kind in kinds:
            found = slack.example_thread(session=session, example_id=example_id, kind=kind)
            if found is not None:
                return Thread(found.example_id, found.channel, found.thread_ts)
    return None


def project_threads(ws: Workspace, *, project: str, kind: str) -> list[Thread]:
    """Every thread of ``kind`` opened in ``project`` (the first one of each example), oldest
    first."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        rows = slack.project_threads(session=session, project_id=found.id, kind=kind)
        return [Thread(r.example_id, r.channel, r.thread_ts) for r in rows]


def thread_project(ws: Workspace, *, channel: str, thread_ts: str) -> str | None:
    """The name of the project whose example the thread (channel, thread_ts) discusses, of any
    kind; None when it is no discussion we know."""
    with session_scope(ws.db, read_only=True) as session:
        thread = slack.get_thread(session=session, channel=channel, thread_ts=thread_ts)
        if thread is None:
            return None
        example = examples.get_example(session=session, example_id=thread.example_id)
        return projects.get_project_by_id(session=session, project_id=example.project_id).name


def team_thread(ws: Workspace, *, example_id: int) -> Thread | None:
    """The project-channel thread already opened on an example, if any: its Discuss thread,
    else its disagreement thread (Discuss points there rather than open a second thread)."""
    return example_thread(ws, example_id=example_id, kinds=(TEAM, DISPUTE))


def discuss_thread(ws: Workspace, *, example_id: int) -> Thread | None:
    """The example's Discuss thread in the project channel, if any (not its disagreement's)."""
    return example_thread(ws, example_id=example_id, kinds=(TEAM,))


def thread_gone(ws: Workspace, *, channel: str, thread_ts: str) -> bool:
    """The chat says the thread's first message is gone (deleted): the thread is set aside, so
    the example's next Discuss opens a new one; its replies stay the example's comments."""
    with session_scope(ws.db) as session:
        return slack.set_thread_gone(session=session, channel=channel, thread_ts=thread_ts)


def open_thread(
    ws: Workspace, *, example_id: int, channel: str, thread_ts: str, kind: str, opened_by: str
) -> bool:
    """Remember that replies under (channel, thread_ts) discuss ``example_id``; True if new."""
    with session_scope(ws.db) as session:
        examples.get_example(session=session, example_id=example_id)
        _, created = slack.add_thread(
            session=session,
            example_id=example_id,
            channel=channel,
            thread_ts=thread_ts,
            kind=kind,
            opened_by=opened_by,
        )
        return created


def add_reply(
    ws: Workspace,
    *,
    channel: str,
    thread_ts: str,
    author: str,
    text: str,
    key: str,
    written_at: datetime | None = None,
) -> int | None:
    """Store a thread reply as a comment (once per ``key``; as edited, when its edit came
    first), dated ``written_at`` (when it was written; None: now); the example id, or None when
    the thread is not a discussion we know, the reply was already stored, or it was deleted
    before it arrived."""
    with session_scope(ws.db) as session:
        thread = slack.get_thread(session=session, channel=channel, thread_ts=thread_ts)
        if thread is None:
            return None
        earlier = replies.reply_arrived(session=session, external_key=key, now=utcnow())
        if earlier.deleted:
            return None
        _, created = annotation_repo.add_comment(
            session=session,
            example_id=thread.example_id,
            author=author,
            text=earlier.text if earlier.text is not None else text,
            external_key=key,
            created_at=written_at,
        )
        return thread.example_id if created else None


def edit_reply(
    ws: Workspace, *, key: str, channel: str, thread_ts: str, text: str, edited_at: datetime
) -> bool:
    """A message edited in the chat at ``edited_at``, in thread ``thread_ts`` (its own ts when
    it is in none): the comment stored under ``key`` reads as it does now, or will once the
    reply arrives (in a discussion we know); a late edit older than the last one is ignored.
    True when a stored comment changed."""
    with session_scope(ws.db) as session:
        if slack.get_thread(session=session, channel=channel, thread_ts=thread_ts) is None:
            # No reply in a discussion: nothing to remember (most edits).
            return annotation_repo.edit_comment(session=session, external_key=key, text=text)
        return replies.record_edit(
            session=session, external_key=key, text=text, edited_at=edited_at, now=utcnow()
        )


def delete_reply(ws: Workspace, *, key: str, channel: str, thread_ts: str | None) -> bool:
    """A message deleted in the chat, in thread ``thread_ts`` (its own ts when it is in none,
    None when the chat does not say): its comment is deleted with it, so that its text is gone
    from the database and every export; a reply in a discussion we know (or maybe in one)
    leaves a tombstone, so that it is not stored should it arrive after. True when a comment
    was deleted."""
    with session_scope(ws.db) as session:
        known = thread_ts is None or (
            slack.get_thread(session=session, channel=channel, thread_ts=thread_ts) is not None
        )
        if not known:
            return annotation_repo.delete_comment(session=session, external_key=key)
        return replies.record_deletion(session=session, external_key=key, now=utcnow())
