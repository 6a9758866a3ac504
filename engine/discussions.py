"""Discussions: chat threads about one example, whose replies become comments on it.

A thread is any (channel, thread_ts) pair a front-end opened for an example; replies arrive with
that pair and a per-reply key, so a redelivered reply is stored once.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import examples, slack
from storage.repositories import feedback as annotation_repo

TEAM = "team"  # the thread in the project channel, where colleagues weigh in
DM = "dm"  # the thread under the expert's own labeling message


@dataclass(frozen=True)
class Thread:
    example_id: int
    channel: str
    thread_ts: str


def team_thread(ws: Workspace, *, example_id: int) -> Thread | None:
    """The project-channel thread already opened on an example, if any."""
    with session_scope(ws.db, read_only=True) as session:
        found = slack.example_thread(session=session, example_id=example_id, kind=TEAM)
        if found is None:
            return None
        return Thread(found.example_id, found.channel, found.thread_ts)


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
    ws: Workspace, *, channel: str, thread_ts: str, author: str, text: str, key: str
) -> int | None:
    """Store a thread reply as a comment (once per ``key``); the example id, or None when the
    thread is not a discussion we know or the reply was already stored."""
    with session_scope(ws.db) as session:
        thread = slack.get_thread(session=session, channel=channel, thread_ts=thread_ts)
        if thread is None:
            return None
        _, created = annotation_repo.add_comment(
            session=session,
            example_id=thread.example_id,
            author=author,
            text=text,
            external_key=key,
        )
        return thread.example_id if created else None


def edit_reply(ws: Workspace, *, key: str, text: str) -> bool:
    """A reply edited in the chat: its comment (stored under ``key``) reads as it does now.
    False when no comment has that key (the message was no reply we kept)."""
    with session_scope(ws.db) as session:
        return annotation_repo.edit_comment(session=session, external_key=key, text=text)


def delete_reply(ws: Workspace, *, key: str) -> bool:
    """A reply deleted in the chat: its comment is deleted with it, so that its text is gone
    from the database and every export. False when no comment has that key."""
    with session_scope(ws.db) as session:
        return annotation_repo.delete_comment(session=session, external_key=key)
