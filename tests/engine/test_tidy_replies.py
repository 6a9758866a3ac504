"""A thread reply's event records are forgotten by the scheduler's housekeeping (``jobs.tidy``),
after as long as Slack event ids are kept, on SQLite and PostgreSQL; handling a reply's event
forgets no other reply's record."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from engine import discussions, jobs, messaging
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import ReplyRecord, utcnow


def _keys(ws: Workspace) -> set[str]:
    with session_scope(ws.db, read_only=True) as session:
        return {r.external_key for r in session.exec(select(ReplyRecord)).all()}


def test_tidy_forgets_reply_records_after_the_event_memory(ws: Workspace) -> None:
    now = utcnow()
    long_ago = now - messaging.EVENT_MEMORY - timedelta(hours=1)
    with session_scope(ws.db) as session:
        session.add(ReplyRecord(external_key="slack:C1:old", deleted=True, seen_at=long_ago))
    # a deletion in a thread the chat does not name leaves a tombstone; it prunes nothing
    assert not discussions.delete_reply(ws, key="slack:C1:new", channel="C1", thread_ts=None)
    assert _keys(ws) == {"slack:C1:old", "slack:C1:new"}

    assert jobs.tidy(ws, now=now).replies == 1
    assert _keys(ws) == {"slack:C1:new"}
    later = now + messaging.EVENT_MEMORY + timedelta(minutes=1)
    assert jobs.tidy(ws, now=later).replies == 1
    assert _keys(ws) == set()
