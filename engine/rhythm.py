"""The busy expert's rhythm: snooze, quiet hours in their own time zone, the opt-in daily nudge,
and never more than one unsolicited message a day.

The rules are pure functions of a person's :class:`Rhythm` and a clock (``now``, aware UTC),
so they are tested with any time zone and any hour; the service functions below read and write
the ``people`` table. "Unsolicited" is everything the bot sends a person without being asked in
that moment (the nudge today); the day is the person's local day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import InvalidInputError
from storage.models import Person, utcnow
from storage.repositories import leases, people

Session = Any  # a storage session (only storage imports sqlmodel)

# Quiet hours unless a person sets their own: evenings, nights and early mornings.
DEFAULT_QUIET = (20 * 60, 8 * 60)
SNOOZES = {"1h": "1 hour", "tomorrow": "until tomorrow"}
# When a person's day ends for "until tomorrow": the night belongs to the day before it.
DAY_ROLLOVER = timedelta(hours=4)
# A fixed offset from UTC, stored when Slack's zone name is one this machine's tz database lacks
# (bot.rhythm_flow.remember_tz): "UTC+05:45", "UTC-03:00".
_OFFSET = re.compile(r"UTC([+-])(\d\d):([0-5]\d)")


def zone_named(name: str) -> tzinfo | None:
    """The time zone ``name`` (an IANA name, or a fixed offset as :func:`offset_name` writes it),
    or None when it names none: not only unknown names fail, a directory of the tz database
    ("America") or an over-long name fails with an OSError."""
    fixed = _OFFSET.fullmatch(name)
    if fixed:
        sign, hours, minutes = fixed.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        if offset >= timedelta(hours=24):
            return None
        return timezone(-offset if sign == "-" else offset, name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def offset_name(seconds: int) -> str:
    """ "UTC+05:45" for an offset of ``seconds`` east of UTC (Slack's ``tz_offset``)."""
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Rhythm:
    """A person's preferences (defaults for someone labelbot has not met)."""

    tz: str | None = None
    quiet_start: int | None = None  # minutes after local midnight
    quiet_end: int | None = None
    nudge_at: int | None = None
    snoozed_until: datetime | None = None
    last_unsolicited_at: datetime | None = None
    leaderboard: bool = True

    @property
    def zone(self) -> tzinfo:
        """Their time zone; UTC when unknown (never an error: one bad name must not stop the
        nudges and leaderboards of everyone else)."""
        return (zone_named(self.tz) if self.tz else None) or UTC

    @property
    def quiet(self) -> tuple[int, int]:
        if self.quiet_start is None or self.quiet_end is None:
            return DEFAULT_QUIET
        return self.quiet_start, self.quiet_end


# --- The rules (pure) --------------------------------------------------------------------------


def local(rhythm: Rhythm, now: datetime) -> datetime:
    return now.astimezone(rhythm.zone)


def _minutes(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


def in_quiet_hours(rhythm: Rhythm, now: datetime) -> bool:
    """Whether ``now`` falls in the person's quiet hours, on their own clock (may wrap midnight)."""
    return _quiet_at(rhythm, _minutes(local(rhythm, now)))


def _quiet_at(rhythm: Rhythm, minute: int) -> bool:
    start, end = rhythm.quiet
    if start == end:
        return False  # "quiet off"
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def snoozed(rhythm: Rhythm, now: datetime) -> bool:
    return rhythm.snoozed_until is not None and now < rhythm.snoozed_until


def day_start(rhythm: Rhythm, now: datetime) -> datetime:
    """Midnight of the person's local day, in UTC."""
    today = local(rhythm, now).date()
    return datetime.combine(today, time(0), tzinfo=rhythm.zone).astimezone(UTC)


def day_start_of(*, session: Session, user: str, now: datetime) -> datetime:
    """Midnight of ``user``'s local day in UTC (their Slack time zone once known, else UTC's):
    the "today" of "you labeled N today", as of streaks and quiet hours."""
    return day_start(_rhythm(people.get_person(session=session, user_id=user)), now)


def messaged_today(rhythm: Rhythm, now: datetime) -> bool:
    last = rhythm.last_unsolicited_at
    return last is not None and last >= day_start(rhythm, now)


def why_not_now(rhythm: Rhythm, now: datetime) -> str | None:
    """Why an unsolicited message may not go out now, or None when it may."""
    if snoozed(rhythm, now):
        return "snoozed"
    if in_quiet_hours(rhythm, now):
        return "quiet hours"
    if messaged_today(rhythm, now):
        return "already messaged today"
    return None


def nudge_time(rhythm: Rhythm) -> int | None:
    """When the daily nudge comes (minutes after local midnight): the time asked for, or the
    end of the quiet hours when it falls in them (a 22:00 nudge with quiet hours 20:00-08:00
    could otherwise never come: each day's 22:00 is quiet)."""
    if rhythm.nudge_at is None:
        return None
    return rhythm.quiet[1] if _quiet_at(rhythm, rhythm.nudge_at) else rhythm.nudge_at


def nudge_due(rhythm: Rhythm, now: datetime) -> bool:
    """The daily nudge: asked for, its local time reached today, and nothing forbids a message."""
    at = nudge_time(rhythm)
    if at is None:
        return False
    return _minutes(local(rhythm, now)) >= at and why_not_now(rhythm, now) is None


def snooze_end(rhythm: Rhythm, now: datetime, length: str) -> datetime:
    """When a snooze of ``length`` ("1h" or "tomorrow": the end of the next night's quiet hours,
    the coming morning for someone still up after midnight)."""
    if length == "1h":
        return now + timedelta(hours=1)
    if length != "tomorrow":
        raise InvalidInputError(f"snooze for {', '.join(SNOOZES)}, not {length!r}")
    # Someone still up at 00:30 means the morning after their night, not the one after that:
    # their day ends at DAY_ROLLOVER, not at midnight (a snooze at 00:30 lasted ~31.5 h).
    tomorrow = (local(rhythm, now) - DAY_ROLLOVER).date() + timedelta(days=1)
    wake = rhythm.quiet[1] if rhythm.quiet[0] != rhythm.quiet[1] else DEFAULT_QUIET[1]
    morning = datetime.combine(tomorrow, time(wake // 60, wake % 60), tzinfo=rhythm.zone)
    while morning.astimezone(UTC) <= now:  # a wake time before the rollover (quiet 22:00-03:00)
        tomorrow += timedelta(days=1)
        morning = datetime.combine(tomorrow, time(wake // 60, wake % 60), tzinfo=rhythm.zone)
    return morning.astimezone(UTC)


def parse_clock(text: str) -> int:
    """ "09:30" -> minutes after midnight."""
    hours, sep, minutes = text.strip().partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit()):
        raise InvalidInputError(f"give a time as HH:MM, like 09:30 (not {text!r})")
    h, m = int(hours), int(minutes)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise InvalidInputError(f"{text!r} is not a time of day")
    return h * 60 + m


def parse_quiet(text: str) -> tuple[int, int]:
    """ "22:00-08:00" -> (start, end) in minutes; "off" -> no quiet hours."""
    if text.strip().lower() == "off":
        return 0, 0
    start, sep, end = text.partition("-")
    if not sep:
        raise InvalidInputError(f"give quiet hours as HH:MM-HH:MM, like 20:00-08:00 (not {text!r})")
    return parse_clock(start), parse_clock(end)


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- Services ----------------------------------------------------------------------------------


def _rhythm(found: Person | None) -> Rhythm:
    if found is None:
        return Rhythm()
    return Rhythm(
        tz=found.tz,
        quiet_start=found.quiet_start,
        quiet_end=found.quiet_end,
        nudge_at=found.nudge_at,
        snoozed_until=found.snoozed_until,
        last_unsolicited_at=found.last_unsolicited_at,
        leaderboard=found.leaderboard,
    )


def _clock(session: Any, now: datetime | None) -> datetime:
    """``now`` if given (tests, simulations), else the database's clock: the one clock every
    replica shares. Each process's own may be minutes off, and the day's one message stamped
    by a replica whose clock runs ahead, just before a person's midnight, would count as
    tomorrow's (losing it); one whose clock runs behind would see yesterday's claim as due
    again (a second message the same evening)."""
    return now or leases.database_now(session)


def rhythm_of(ws: Workspace, *, user: str) -> Rhythm:
    with session_scope(ws.db, read_only=True) as session:
        return _rhythm(people.get_person(session=session, user_id=user))


def leaderboard_opt_outs(ws: Workspace) -> set[str]:
    """Everyone who ran `/label leaderboard off` (one query, however many people)."""
    with session_scope(ws.db, read_only=True) as session:
        return people.opted_out_of_leaderboard(session=session)


def update_rhythm(ws: Workspace, *, user: str, **fields: object) -> Rhythm:
    """Store preferences (tz, quiet_start, quiet_end, nudge_at, snoozed_until, leaderboard)."""
    with session_scope(ws.db) as session:
        people.save_person(session=session, user_id=user, **fields)
    return rhythm_of(ws, user=user)


def snooze(ws: Workspace, *, user: str, length: str, now: datetime | None = None) -> datetime:
    """Snooze ``user``: no unsolicited message until the returned moment."""
    with session_scope(ws.db) as session:
        now = _clock(session, now)
        until = snooze_end(_rhythm(people.get_person(session=session, user_id=user)), now, length)
        people.save_person(session=session, user_id=user, snoozed_until=until)
    return until


def claim_unsolicited(ws: Workspace, *, user: str, now: datetime | None = None) -> bool:
    """May labelbot write to ``user`` unasked now? True claims today's one message (atomically:
    two processes asking at once get one True). The database's clock unless ``now`` is given."""
    with session_scope(ws.db) as session:
        now = _clock(session, now)
        rhythm = _rhythm(people.get_person(session=session, user_id=user))
        if why_not_now(rhythm, now) is not None:
            return False
        return people.claim_unsolicited(
            session=session, user_id=user, since=day_start(rhythm, now), now=now
        )


def due_nudges(ws: Workspace, *, now: datetime | None = None) -> list[str]:
    """Those whose daily nudge is due now (the caller checks there is work, then claims), by
    the database's clock unless ``now`` is given."""
    with session_scope(ws.db, read_only=True) as session:
        now = _clock(session, now)
        nudged = people.list_nudged(session=session)
        return [p.user_id for p in nudged if nudge_due(_rhythm(p), now)]


def saw_home(ws: Workspace, *, user: str, now: datetime | None = None) -> None:
    """``user`` opened the App Home tab (a new model refreshes it for them for a while)."""
    with session_scope(ws.db) as session:
        people.save_person(session=session, user_id=user, home_opened_at=now or utcnow())


def recent_home_viewers(
    ws: Workspace, *, within: timedelta, limit: int, now: datetime | None = None
) -> list[str]:
    """Who opened App Home within ``within``, most recent first, at most ``limit``."""
    since = (now or utcnow()) - within
    with session_scope(ws.db, read_only=True) as session:
        return people.recent_home_viewers(session=session, since=since, limit=limit)
