"""Leases are timed by the database's clock, not by the clock of the replica taking them
(SQLite and PostgreSQL). A replica's clock is skewed by skewing ``utcnow`` for the whole process
(every ``utcnow()`` caller reads it); the database server's clock stays true."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import storage.models
from storage.db import make_engine, session_scope
from storage.models import Lease
from storage.repositories import leases

TTL = timedelta(minutes=15)  # the training lease's
SKEW = timedelta(minutes=20)  # more than the TTL


@contextmanager
def clock_off_by(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> Iterator[None]:
    """This process's clock runs ``delta`` off (ahead when positive) inside the block."""

    class Skewed(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def]
            return datetime.now(tz) + delta

    with monkeypatch.context() as patch:
        patch.setattr(storage.models, "datetime", Skewed)
        assert abs(storage.models.utcnow() - datetime.now(UTC) - delta) < timedelta(seconds=5)
        yield


@pytest.fixture
def replicas(db_url_and_schema) -> Iterator[tuple[sa.Engine, sa.Engine]]:  # type: ignore[no-untyped-def]
    """Two replicas: each its own engine and connection pool on one database."""
    url, schema = db_url_and_schema
    a, b = make_engine(url, schema=schema), make_engine(url, schema=schema)
    yield a, b
    a.dispose()
    b.dispose()


def _acquire(engine: sa.Engine, owner: str) -> bool:
    with session_scope(engine) as s:
        return leases.try_acquire(session=s, name="train:bank", owner=owner, ttl=TTL)


def test_a_replica_whose_clock_runs_ahead_cannot_take_a_live_lease(  # type: ignore[no-untyped-def]
    replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = replicas
    assert _acquire(a, "a")
    with clock_off_by(monkeypatch, SKEW):
        assert not _acquire(b, "b"), "B's clock says A's live lease lapsed"
        with session_scope(b, read_only=True) as s:
            assert leases.holder(session=s, name="train:bank") == "a"


def test_a_lease_taken_by_a_replica_whose_clock_runs_behind_is_live(  # type: ignore[no-untyped-def]
    replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = replicas
    with clock_off_by(monkeypatch, -SKEW):
        assert _acquire(a, "a")
    assert not _acquire(b, "b"), "A's lease was written as already lapsed"
    with session_scope(b, read_only=True) as s:
        assert leases.holder(session=s, name="train:bank") == "a"


def test_a_release_by_a_replica_whose_clock_runs_ahead_frees_the_lease(  # type: ignore[no-untyped-def]
    replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = replicas
    assert _acquire(a, "a")
    with clock_off_by(monkeypatch, SKEW), session_scope(a) as s:
        leases.release(session=s, name="train:bank", owner="a")
    with session_scope(b, read_only=True) as s:
        assert leases.holder(session=s, name="train:bank") is None
    assert _acquire(b, "b"), "A's release left its lease held into A's future"


def test_lease_times_are_stored_like_every_other_datetime(  # type: ignore[no-untyped-def]
    replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database's time is written through the same column type as Python's: aware UTC on
    the way back, and on SQLite the same text format (so text comparisons still order)."""
    a, _ = replicas
    with clock_off_by(monkeypatch, timedelta(days=3)):
        assert _acquire(a, "a")
        with session_scope(a, read_only=True) as s:
            now = leases.database_now(s)
            lease = s.get(Lease, "train:bank")
            raw = s.execute(sa.text("SELECT expires_at FROM leases")).scalar_one()
    assert now.tzinfo is UTC and abs(now - datetime.now(UTC)) < timedelta(minutes=1)
    assert lease is not None and lease.expires_at.tzinfo is not None
    assert timedelta(0) < lease.expires_at - lease.acquired_at == TTL
    assert abs(lease.acquired_at - datetime.now(UTC)) < timedelta(minutes=1)
    if a.dialect.name == "sqlite":
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", raw), raw


def test_a_given_now_still_sets_the_time(replicas) -> None:  # type: ignore[no-untyped-def]
    """Tests (and simulations) pass their own clock; it wins over the database's."""
    a, b = replicas
    long_ago = datetime.now(UTC) - timedelta(days=2)
    with session_scope(a) as s:
        assert leases.try_acquire(session=s, name="train:bank", owner="a", ttl=TTL, now=long_ago)
    with session_scope(b, read_only=True) as s:
        assert leases.holder(session=s, name="train:bank") is None
        assert leases.holder(session=s, name="train:bank", now=long_ago) == "a"
    assert _acquire(b, "b")
