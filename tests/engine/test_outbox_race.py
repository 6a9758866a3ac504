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
LEASE = timedelta(seconds=5)  # stands for OUTBOX_LEASE's 2 minutes, scaled down with Slack
QUEUED = 32  # 32 x 0.25 s: one flush alone takes longer than the lease
LAPSED_AFTER = 21  # 21 x 0.25 s = 5.25 s of sending: the first message's lease has lapsed


def test_a_flush_longer_than_the_lease_sends_nothing_twice(
    ws, db_url_and_schema, encoder, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The second replica's flush starts once the first one has been sending for longer than
    the lease, and the first goes on only once the second has sent a message: both flush at
    once, past the lease, whatever the machine's load."""
    monkeypatch.setattr(messaging, "OUTBOX_LEASE", LEASE)
    queued = [
        messaging.enqueue(ws, method="chat.postMessage", payload={"channel": "C1", "text": f"m{i}"})
        for i in range(QUEUED)
    ]
    _, schema = db_url_and_schema
    delivered: dict[str, list[str]] = {"first": [], "second": []}
    lapsed, overtaken = threading.Event(), threading.Event()
    lock = threading.Lock()
    errors: list[Exception] = []

    def send(replica: str, pending: messaging.Pending) -> None:
        time.sleep(SEND_SECONDS)
        with lock:
            delivered[replica].append(str(pending.payload["text"]))
            count = len(delivered[replica])
        if replica == "second":
            overtaken.set()
        elif count == LAPSED_AFTER:  # the first flush is past its lease: let the second one in
            lapsed.set()
            assert overtaken.wait(60), "the second replica sent nothing"

    def replica(name: str, start: threading.Event | None) -> None:
        own = Workspace.open(ws.settings, schema=schema, encoder=encoder, migrate=False)
        try:
            assert start is None or start.wait(60), "the first replica never got that far"
            messaging.drain(own, send=lambda pending: send(name, pending))
        except Exception as exc:  # a thread's failure fails the test below
            errors.append(exc)
        finally:
            own.close()

    threads = [
        threading.Thread(target=replica, args=("first", None)),
        threading.Thread(target=replica, args=("second", lapsed)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    sent = delivered["first"] + delivered["second"]
    twice = {text: n for text, n in Counter(sent).items() if n > 1}
    assert twice == {} and len(sent) == len(queued)
    assert len(delivered["first"]) >= LAPSED_AFTER and delivered["second"]  # both flushed
    assert messaging.outbox_size(ws, status="sent") == len(queued)
    assert messaging.outbox_size(ws) == 0
