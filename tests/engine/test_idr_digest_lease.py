"""The digest lease is renewed while its digest is sent, as the proposals, reviews and training
leases are: a send that outlasted the lease's 10 minutes (a rate-limited or slow chat service)
let a second replica take ``digest:NAME`` and post the same digest again. The send is made slow
here (it waits for the test) and the lease short; the lease is the real one, on SQLite and
PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from engine import jobs
from storage.db import session_scope
from storage.repositories import leases
from tests.engine.test_eng2_job_leases import _held_through_its_first_expiry
from tests.helpers import load_slice


def test_a_long_digest_send_renews_its_lease(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_slice(ws, banking_slice[:10], tmp_path)
    monkeypatch.setattr(jobs, "DIGEST_LEASE", timedelta(seconds=3))  # renewed each 1 s
    monkeypatch.setattr(jobs, "digest_due", lambda *a, **k: True)
    started, finish = threading.Event(), threading.Event()
    sent: list[list[str]] = []

    def send(name: str) -> None:  # a slow chat service
        started.set()
        finish.wait(60)

    worker = threading.Thread(target=lambda: sent.append(jobs.digest_cycle(ws, send, owner="r1")))
    worker.start()
    assert started.wait(60)
    try:
        taken = _held_through_its_first_expiry(ws, "digest:bank")
    finally:
        finish.set()
        worker.join(60)
    assert not taken, "another replica could send the same digest meanwhile"
    assert sent == [["bank"]]
    with session_scope(ws.db, read_only=True) as s:
        assert leases.holder(session=s, name="digest:bank") is None  # released after
