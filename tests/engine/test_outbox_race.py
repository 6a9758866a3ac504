"""The outbox flushed by two replicas at once while Slack is slow: every queued message goes
out once, even when one flush takes longer than a message's lease -- on SQLite and
PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from engine import messaging
from engine.workspace import Workspace

SEND_SECONDS = 0.25  # one slow chat.postMessage
LEASE = timedelta(seconds=2)  # stands for OUTBOX_LEASE's 2 minutes, scaled down with Slack


def test_a_flush_longer_than_the_lease_sends_nothing_twice(
    ws, db_url_and_schema, encoder, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(messaging, "OUTBOX_LEASE", LEASE)
    queued = [
        messaging.enqueue(ws, method="chat.postMessage", payload={"channel": "C1", "text": f"m{i}"})
        for i in range(16)
    ]  # 16 x 0.25 s: one flush alone takes twice the lease
    _, schema = db_url_and_schema
    delivered: list[str] = []
    lock = threading.Lock()

    def send(pending: messaging.Pending) -> None:
        time.sleep(SEND_SECONDS)
        with lock:
            delivered.append(str(pending.payload["text"]))

    def replica(start_after: float) -> None:
        own = Workspace.open(ws.settings, schema=schema, encoder=encoder, migrate=False)
        time.sleep(start_after)
        try:
            messaging.drain(own, send=send)
        finally:
            own.close()

    # the second replica's flush starts after the first one's lease would have lapsed
    threads = [threading.Thread(target=replica, args=(s,)) for s in (0.0, 2.3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    twice = {text: n for text, n in Counter(delivered).items() if n > 1}
    assert twice == {} and len(delivered) == len(queued)
    assert messaging.outbox_size(ws, status="sent") == len(queued)
    assert messaging.outbox_size(ws) == 0
