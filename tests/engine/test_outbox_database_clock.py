"""The outbox keeps the database's clock, not each replica's, on SQLite and PostgreSQL: a
replica whose clock runs ahead (by more than a claim lasts) neither sends a message another
replica claimed a moment ago a second time, nor puts a failed message's retry off by its skew.

A replica's clock running ahead is simulated by moving the process clock (``utcnow``) while it
drains; the database's clock (SQLite's ``'now'``, PostgreSQL's ``statement_timestamp()``) is not
Python's and does not move."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo

import pytest

import storage.models
from engine import messaging
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import OutboxMessage
from storage.repositories import leases

SKEW = messaging.OUTBOX_LEASE + timedelta(minutes=3)


class _Ahead(datetime):
    """``datetime`` whose ``now`` runs SKEW ahead: the clock of a badly synchronised machine."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return datetime.now(tz) + SKEW


@contextmanager
def _clock_ahead(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with monkeypatch.context() as patched:
        patched.setattr(storage.models, "datetime", _Ahead)  # what utcnow() reads
        assert storage.models.utcnow() - datetime.now(storage.models.UTC) > SKEW / 2
        yield


def _queue(ws: Workspace) -> int:
    return messaging.enqueue(ws, method="chat.postMessage", payload={"channel": "C1", "text": "hi"})


def test_a_replica_whose_clock_runs_ahead_does_not_send_a_claimed_message_again(
    ws: Workspace, replica: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = _queue(ws)
    sent: list[tuple[str, int]] = []

    def send_ahead(pending: messaging.Pending) -> None:
        sent.append(("ahead", pending.id))

    def send(pending: messaging.Pending) -> None:
        sent.append(("on time", pending.id))
        # while this replica's Slack call is on its way, the other replica flushes
        with _clock_ahead(monkeypatch):
            assert messaging.drain(replica, send=send_ahead) == 0

    assert messaging.drain(ws, send=send) == 1
    assert sent == [("on time", queued)]
    assert messaging.outbox_size(ws, status="sent") == 1


def test_a_retry_is_put_off_by_the_backoff_on_the_databases_clock(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = _queue(ws)
    with _clock_ahead(monkeypatch):
        assert messaging.drain(ws, send=lambda pending: "HTTP 503") == 0
    with session_scope(ws.db, read_only=True) as session:
        message = session.get(OutboxMessage, queued)
        assert message is not None and message.attempts == 1
        wait = message.next_attempt_at - leases.database_now(session)
    assert timedelta(0) < wait <= messaging.backoff(1)  # 5 s, not 5 s and the skew
