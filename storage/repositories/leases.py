"""Leases: one process at a time does a piece of work (e.g. trains one project).

A lease is a row naming its owner and when it lapses. Acquiring is a single conditional write —
take the row if it is free, lapsed, or already ours — so it is safe across processes on SQLite and
PostgreSQL alike. A process that dies simply lets its lease lapse; the work is picked up again by
whoever polls next (jobs are derived from state, never held only in memory). One that knows the
owner has died (engine.jobs: a process of its own machine that is gone) takes it over at once,
with a write conditional on that owner still holding it.

Times come from the database's clock, not the process's: replicas on different machines compare
every lease against one clock, so one whose clock runs ahead cannot treat a live lease as lapsed,
nor one whose clock runs behind take a lease that is already lapsed for everyone else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from storage.db import rowcount
from storage.models import Lease


def database_now(session: Session) -> datetime:
    """The database server's current time, timezone-aware UTC (the lease clock every replica
    shares). PostgreSQL: ``statement_timestamp()`` (``now()`` would be the start of a possibly
    long transaction). SQLite: its ``'now'`` is UTC text; the file is on this machine, so this is
    this machine's clock, to the millisecond."""
    if session.get_bind().dialect.name == "sqlite":
        text = session.execute(select(func.strftime("%Y-%m-%d %H:%M:%f", "now"))).scalar_one()
        return datetime.fromisoformat(str(text)).replace(tzinfo=UTC)
    value: datetime = session.execute(select(func.statement_timestamp())).scalar_one()
    return value.astimezone(UTC)


def try_acquire(
    *, session: Session, name: str, owner: str, ttl: timedelta, now: datetime | None = None
) -> bool:
    """Take lease ``name`` for ``owner`` until ``now + ttl``; False if someone else holds it.

    ``now`` defaults to the database's clock; pass one only to simulate time (tests)."""
    now = now or database_now(session)
    taken = session.execute(
        update(Lease)
        .where(
            col(Lease.name) == name,
            or_(col(Lease.owner) == owner, col(Lease.expires_at) < now),
        )
        .values(owner=owner, expires_at=now + ttl, acquired_at=now)
    )
    if rowcount(taken) == 1:
        return True
    if session.get(Lease, name) is not None:
        return False  # held by a live owner
    try:
        with session.begin_nested():
            session.add(Lease(name=name, owner=owner, expires_at=now + ttl, acquired_at=now))
    except IntegrityError:
        return False  # another process created it first
    return True


def take_lapsed(
    *, session: Session, name: str, owner: str, ttl: timedelta, now: datetime | None = None
) -> str | None:
    """Take lease ``name`` for ``owner`` until ``now + ttl`` when it is free or lapsed (never
    while live, ``owner``'s own hold included): the owner it lapsed from, "" when there was
    none; None when someone holds it, or took it first. A holder may leave a note for the next
    one in its owner (engine.jobs.pass_claim): the one taking it over reads what it took over.
    One conditional write, on the owner read: two takers cannot both get it."""
    now = now or database_now(session)
    row = session.execute(
        select(col(Lease.owner), col(Lease.expires_at)).where(col(Lease.name) == name)
    ).first()
    if row is None:
        try:
            with session.begin_nested():
                session.add(Lease(name=name, owner=owner, expires_at=now + ttl, acquired_at=now))
        except IntegrityError:
            return None  # another process created it first
        return ""
    before = str(row[0])
    taken = session.execute(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.owner) == before, col(Lease.expires_at) < now)
        .values(owner=owner, expires_at=now + ttl, acquired_at=now)
    )
    return before if rowcount(taken) == 1 else None


def take_over(
    *,
    session: Session,
    name: str,
    owner: str,
    holder: str,
    ttl: timedelta,
    now: datetime | None = None,
) -> bool:
    """Take lease ``name`` from ``holder`` (a process known to have died) for ``owner`` until
    ``now + ttl``; False if ``holder`` no longer holds it (another process took it first)."""
    now = now or database_now(session)
    taken = session.execute(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.owner) == holder)
        .values(owner=owner, expires_at=now + ttl, acquired_at=now)
    )
    return rowcount(taken) == 1


def release(*, session: Session, name: str, owner: str) -> None:
    """Give the lease up (only its owner can): it lapses now, by the database's clock."""
    session.execute(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.owner) == owner)
        .values(expires_at=database_now(session) - timedelta(seconds=1))
    )


def holder(*, session: Session, name: str, now: datetime | None = None) -> str | None:
    """Who holds lease ``name`` (None when nobody or it lapsed), by the database's clock unless
    ``now`` is given."""
    lease = held(session=session, name=name, now=now)
    return None if lease is None else lease.owner


def held(*, session: Session, name: str, now: datetime | None = None) -> Lease | None:
    """Lease ``name`` while someone holds it (who, and until when); None when nobody does or it
    lapsed, by the database's clock unless ``now`` is given."""
    lease = session.get(Lease, name)
    if lease is None or lease.expires_at < (now or database_now(session)):
        return None
    return lease


def lapsed(
    *, session: Session, prefix: str, now: datetime | None = None, limit: int = 100
) -> list[str]:
    """The names starting with ``prefix`` of leases that lapsed (work left for whoever polls
    next: one kept as a to-do until dropped), the longest lapsed first, at most ``limit``."""
    rows = session.execute(
        select(col(Lease.name))
        .where(
            col(Lease.name).startswith(prefix, autoescape=True),
            col(Lease.expires_at) < (now or database_now(session)),
        )
        .order_by(col(Lease.expires_at), col(Lease.name))
        .limit(limit)
    ).all()
    return [str(name) for (name,) in rows]


def drop(*, session: Session, name: str, owner: str) -> bool:
    """Delete lease ``name`` held by ``owner``: its work is done, nothing is left for anyone
    (a released lease lapses and stays, :func:`lapsed`). False when ``owner`` lost it."""
    result = session.execute(
        delete(Lease).where(col(Lease.name) == name, col(Lease.owner) == owner)
    )
    return rowcount(result) == 1


def prune(*, session: Session, before: datetime) -> int:
    """Delete leases that lapsed before ``before`` (one-off claims, such as a disagreement
    thread's, would otherwise pile up); how many."""
    result = session.execute(delete(Lease).where(col(Lease.expires_at) < before))
    return rowcount(result)
