"""The scheduler's tidy deletes the outbox's messages long done with (their payloads kept every
message labelbot ever queued for good): sent or dropped over a week ago, given up over 30 days
ago. Pending ones, and recent ones of every kind, stay. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from engine import jobs, messaging
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import OutboxMessage, utcnow


def test_tidy_deletes_the_outbox_messages_long_done_with(ws: Workspace) -> None:
    now = utcnow()
    week, month = messaging.OUTBOX_KEEP_SETTLED, messaging.OUTBOX_KEEP_DEAD
    day = timedelta(days=1)
    rows = {  # name: (status, queued, sent or last due)
        "sent long ago": ("sent", now - week - 2 * day, now - week - day),
        "sent lately": ("sent", now - week - 2 * day, now - week + day),
        "dropped long ago": ("dropped", now - week - day, now - week - day),
        "dropped lately": ("dropped", now - day, now - day),
        "dead long ago": ("dead", now - month - 2 * day, now - month - day),
        "dead lately": ("dead", now - week - day, now - week - day),
        "pending": ("pending", now - month - day, now - month - day),
    }
    with session_scope(ws.db) as session:
        for name, (status, queued, later) in rows.items():
            session.add(
                OutboxMessage(
                    method="chat.postMessage",
                    payload={"channel": "C1", "text": name},
                    status=status,
                    created_at=queued,
                    next_attempt_at=later,
                    sent_at=later if status == "sent" else None,
                )  # fmt: skip
            )
    done = jobs.tidy(ws, now=now)
    assert done.outbox == 3
    with session_scope(ws.db, read_only=True) as session:
        left = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
        assert [m.payload["text"] for m in left] == [
            "sent lately", "dropped lately", "dead lately", "pending",
        ]  # fmt: skip
    assert jobs.tidy(ws, now=now).outbox == 0


def test_the_tidy_job_says_how_many_outbox_messages_it_deleted(ws: Workspace, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    from tests.helpers import scheduler_job

    long_ago = utcnow() - messaging.OUTBOX_KEEP_SETTLED - timedelta(days=1)
    with session_scope(ws.db) as session:
        session.add(
            OutboxMessage(
                method="chat.postMessage",
                payload={"channel": "C1", "text": "old"},
                status="sent",
                created_at=long_ago,
                next_attempt_at=long_ago,
                sent_at=long_ago,
            )
        )
    tidy = scheduler_job(ws, "tidy")
    with caplog.at_level(logging.INFO, logger="engine.scheduler"):
        tidy()
    said = [r.getMessage() for r in caplog.records if r.name == "engine.scheduler"]
    assert said == [
        "tidied 0 old event ids, 0 thread reply records, 0 lapsed leases and 1 outbox message "
        "sent, dropped or given up long ago"
    ]
