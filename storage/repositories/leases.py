"""Leases: one process at a time does a piece of work (e.g. trains one project).

A lease is a row naming its owner and when it lapses. Acquiring is a single conditional write —
take the row if it is free, lapsed, or already ours — so it is safe across processes on SQLite and
PostgreSQL alike. A process that dies simply lets its lease lapse; the work is picked up again by
whoever polls next (jobs are derived from state, never held only in memory).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from storage.models import Lease, utcnow


def try_acquire(
    *, session: Session, name: str, owner: str, ttl: timedelta, now: datetime | None = None
) -> bool:
    """Take lease ``name`` for ``owner`` until ``now + ttl``; False if someone else holds it."""
    now = now or utcnow()
    taken = session.execute(
        update(Lease)
        .where(
            col(Lease.name) == name,
            or_(col(Lease.owner) == owner, col(Lease.expires_at) < now),
        )
        .values(owner=owner, expires_at=now + ttl, acquired_at=now)
    )
    if int(getattr(taken, "rowcount", 0) or 0) == 1:
        return True
    if session.get(Lease, name) is not None:
        return False  # held by a live owner
    try:
        with session.begin_nested():
            session.add(Lease(name=name, owner=owner, expires_at=now + ttl, acquired_at=now))
    except IntegrityError:
        return False  # another process created it first
    return True


def release(*, session: Session, name: str, owner: str) -> None:
    """Give the lease up (only its owner can)."""
    session.execute(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.owner) == owner)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )


def holder(*, session: Session, name: str, now: datetime | None = None) -> str | None:
    lease = session.get(Lease, name)
    if lease is None or lease.expires_at < (now or utcnow()):
        return None
    return lease.owner


def prune(*, session: Session, before: datetime) -> int:
    """Delete leases that lapsed before ``before`` (one-off claims, such as a disagreement
    thread's, would otherwise pile up); how many."""
    result = session.execute(delete(Lease).where(col(Lease.expires_at) < before))
    return int(getattr(result, "rowcount", 0) or 0)
