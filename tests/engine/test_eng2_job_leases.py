"""The proposals and reviews leases are renewed while their work runs, as the training lease
is: a refresh or a scan of a very large project that outlasts the lease's 10 minutes was open to
a second replica starting the same work. The work is made slow here (it waits for the test),
and the lease short; the leases are the real ones, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine import jobs, proposing, reviews
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import Lease
from storage.repositories import leases
from tests.helpers import load_slice


def _held_through_its_first_expiry(ws: Workspace, name: str) -> bool:
    """Watch lease ``name``, by the database's clock, until it would have lapsed as first seen
    and was renewed twice (its owner at every look); then whether another owner can take it."""
    with session_scope(ws.db, read_only=True) as s:
        first = s.get(Lease, name)
        assert first is not None
    expiries = [first.expires_at]
    deadline = time.monotonic() + 60
    while True:
        with session_scope(ws.db, read_only=True) as s:
            now, lease = leases.database_now(s), s.get(Lease, name)
        assert lease is not None and lease.owner == first.owner, "another owner took it"
        assert lease.expires_at >= now, f"{name} lapsed while its work ran"
        if lease.expires_at > expiries[-1]:
            expiries.append(lease.expires_at)
        if now > first.expires_at and len(expiries) >= 3:
            break
        assert time.monotonic() < deadline, f"renewed {len(expiries) - 1} times in 60 s"
        time.sleep(0.05)
    with session_scope(ws.db) as s:
        return leases.try_acquire(
            session=s, name=name, owner="replica-2", ttl=timedelta(minutes=10)
        )


def _run_slowly(
    monkeypatch: pytest.MonkeyPatch, module: Any, function: str, job: Callable[[], Any]
) -> tuple[threading.Event, threading.Thread]:
    started, finish = threading.Event(), threading.Event()

    def slow(*args: Any, **kwargs: Any) -> Any:  # a very large project
        started.set()
        finish.wait(60)
        return []

    monkeypatch.setattr(module, function, slow)
    worker = threading.Thread(target=job)
    worker.start()
    assert started.wait(60)
    return finish, worker


@pytest.mark.parametrize("work", ["proposals", "reviews"])
def test_a_long_refresh_or_scan_renews_its_lease(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, work: str
) -> None:
    load_slice(ws, banking_slice[:10], tmp_path)
    if work == "proposals":
        monkeypatch.setattr(jobs, "PROPOSALS_LEASE", timedelta(seconds=3))  # renewed each 1 s
        monkeypatch.setattr(proposing, "refresh_due", lambda *a, **k: True)
        finish, worker = _run_slowly(
            monkeypatch, proposing, "refresh_proposals",
            lambda: jobs._refresh_one(ws, "bank", owner="replica-1", now=None, on_refreshed=None),
        )  # fmt: skip
    else:
        monkeypatch.setattr(jobs, "REVIEWS_LEASE", timedelta(seconds=3))
        finish, worker = _run_slowly(
            monkeypatch, reviews, "scan_project",
            lambda: jobs._scan_one(ws, "bank", 1, owner="replica-1", now=None, on_scanned=None),
        )  # fmt: skip
    try:
        taken = _held_through_its_first_expiry(ws, f"{work}:bank")
    finally:
        finish.set()
        worker.join(60)
    assert not taken, "another replica could start the same work meanwhile"
    with session_scope(ws.db, read_only=True) as s:
        assert leases.holder(session=s, name=f"{work}:bank") is None  # released after
