"""People: each expert's rhythm preferences, and the atomic claim of the day's one message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select, update

from storage.db import rowcount
from storage.models import Person, utcnow

FIELDS = frozenset(
    {"tz", "quiet_start", "quiet_end", "nudge_at", "snoozed_until", "leaderboard", "home_opened_at"}
)


def get_person(*, session: Session, user_id: str) -> Person | None:
    return session.get(Person, user_id)


def save_person(*, session: Session, user_id: str, **fields: Any) -> Person:
    """Create or update ``user_id``'s row with ``fields`` (names from FIELDS)."""
    unknown = set(fields) - FIELDS
    if unknown:
        raise ValueError(f"unknown person fields: {sorted(unknown)}")
    person = session.get(Person, user_id)
    if person is None:
        try:
            # Two commands from one user can arrive together (`/label nudge`, `/label quiet`):
            # the second insert loses the race, and its change is then applied as an update.
            with session.begin_nested():
                person = Person(user_id=user_id, **fields)
                session.add(person)
            return person
        except IntegrityError:
            person = session.get(Person, user_id, populate_existing=True)
            assert person is not None
    for name, value in fields.items():
        setattr(person, name, value)
    person.updated_at = utcnow()
    session.add(person)
    session.flush()
    return person


def claim_unsolicited(*, session: Session, user_id: str, since: datetime, now: datetime) -> bool:
    """Mark ``now`` as the day's unsolicited message unless one went out at or after ``since``.

    One conditional UPDATE, so two processes (serve and worker) never both send: the one whose
    update matched the row sends, the other sees 0 rows.
    """
    if session.get(Person, user_id) is None:
        save_person(session=session, user_id=user_id)
    result = session.exec(
        update(Person)
        .where(
            col(Person.user_id) == user_id,
            or_(
                col(Person.last_unsolicited_at).is_(None),
                col(Person.last_unsolicited_at) < since,
            ),
        )
        .values(last_unsolicited_at=now)
    )
    session.expire_all()
    return rowcount(result) == 1


def list_nudged(*, session: Session) -> list[Person]:
    """Everyone who asked for a daily nudge."""
    return list(
        session.exec(
            select(Person).where(col(Person.nudge_at).is_not(None)).order_by(col(Person.user_id))
        ).all()
    )


def opted_out_of_leaderboard(*, session: Session) -> set[str]:
    return set(session.exec(select(Person.user_id).where(col(Person.leaderboard).is_(False))).all())


def time_zones(*, session: Session) -> dict[str, str]:
    """user id -> IANA time zone, for everyone whose zone is known."""
    rows = session.exec(select(Person.user_id, Person.tz).where(col(Person.tz).is_not(None))).all()
    return {user: tz for user, tz in rows if tz}


def recent_home_viewers(*, session: Session, since: datetime, limit: int) -> list[str]:
    """Who opened App Home at or after ``since``, most recent first, at most ``limit``."""
    rows = session.exec(
        select(Person.user_id)
        .where(col(Person.home_opened_at) >= since)
        .order_by(col(Person.home_opened_at).desc(), col(Person.user_id))
        .limit(limit)
    ).all()
    return list(rows)
