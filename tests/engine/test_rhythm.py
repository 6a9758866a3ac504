"""The busy expert's rhythm as rules on a controllable clock, in several time zones, and the
one-message-a-day claim on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import rhythm
from engine.rhythm import Rhythm
from storage.errors import InvalidInputError


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


BERLIN = Rhythm(tz="Europe/Berlin")  # UTC+1 in November
TOKYO = Rhythm(tz="Asia/Tokyo")  # UTC+9
NEW_YORK = Rhythm(tz="America/New_York")  # UTC-5


@pytest.mark.parametrize(
    ("person", "now", "quiet"),
    [
        (BERLIN, utc(25, 6, 59), True),  # 07:59 in Berlin
        (BERLIN, utc(25, 7, 0), False),  # 08:00
        (BERLIN, utc(25, 18, 59), False),  # 19:59
        (BERLIN, utc(25, 19, 0), True),  # 20:00
        (TOKYO, utc(25, 0, 0), False),  # 09:00 in Tokyo
        (TOKYO, utc(25, 12, 0), True),  # 21:00
        (NEW_YORK, utc(25, 12, 0), True),  # 07:00 in New York
        (NEW_YORK, utc(25, 13, 0), False),  # 08:00
        (Rhythm(), utc(25, 23, 0), True),  # no time zone known: UTC
    ],
)
def test_default_quiet_hours_follow_the_persons_clock(person, now, quiet) -> None:  # type: ignore[no-untyped-def]
    assert rhythm.in_quiet_hours(person, now) is quiet


def test_own_quiet_hours_daytime_wrapping_and_off() -> None:
    lunch = Rhythm(tz="Europe/Berlin", quiet_start=12 * 60, quiet_end=13 * 60)
    assert rhythm.in_quiet_hours(lunch, utc(25, 11, 30))  # 12:30 Berlin
    assert not rhythm.in_quiet_hours(lunch, utc(25, 21, 0))  # 22:00: only lunch is quiet
    off = Rhythm(tz="Europe/Berlin", quiet_start=0, quiet_end=0)
    assert not any(rhythm.in_quiet_hours(off, utc(25, h)) for h in range(24))
    assert rhythm.parse_quiet("22:00-07:30") == (22 * 60, 7 * 60 + 30)
    assert rhythm.parse_quiet("off") == (0, 0)
    with pytest.raises(InvalidInputError):
        rhythm.parse_quiet("22:00")
    with pytest.raises(InvalidInputError):
        rhythm.parse_clock("25:00")


def test_snooze_one_hour_and_until_tomorrow_morning_in_their_zone() -> None:
    now = utc(25, 15, 0)  # 16:00 Berlin, 00:00 Tokyo (the 26th)
    assert rhythm.snooze_end(BERLIN, now, "1h") == utc(25, 16, 0)
    assert rhythm.snooze_end(BERLIN, now, "tomorrow") == utc(26, 7, 0)  # 08:00 Berlin, the 26th
    # 00:00 in Tokyo: the night is still the 25th's, so "tomorrow" is the coming morning
    assert rhythm.snooze_end(TOKYO, now, "tomorrow") == utc(25, 23, 0)  # 08:00 Tokyo, the 26th
    snoozed = Rhythm(tz="Europe/Berlin", snoozed_until=utc(25, 16, 0))
    assert rhythm.why_not_now(snoozed, utc(25, 15, 30)) == "snoozed"
    assert rhythm.why_not_now(snoozed, utc(25, 16, 0)) is None
    with pytest.raises(InvalidInputError):
        rhythm.snooze_end(BERLIN, now, "forever")


def test_until_tomorrow_after_midnight_is_the_coming_morning_not_the_next() -> None:
    # Someone still up at 00:30 who asks for tomorrow means after their night: 7.5 h, not 31.5 h
    assert rhythm.snooze_end(BERLIN, utc(25, 23, 30), "tomorrow") == utc(26, 7, 0)
    assert rhythm.snooze_end(BERLIN, utc(26, 2, 59), "tomorrow") == utc(26, 7, 0)  # 03:59
    # from 04:00 on, the day is the new one: tomorrow is the next calendar day
    assert rhythm.snooze_end(BERLIN, utc(26, 3, 0), "tomorrow") == utc(27, 7, 0)
    assert rhythm.snooze_end(BERLIN, utc(26, 22, 59), "tomorrow") == utc(27, 7, 0)  # 23:59
    # a wake time before the rollover never ends a snooze in the past
    early = Rhythm(tz="Europe/Berlin", quiet_start=22 * 60, quiet_end=3 * 60)
    assert rhythm.snooze_end(early, utc(26, 2, 30), "tomorrow") == utc(27, 2, 0)  # 03:30 -> 03:00
    assert rhythm.snooze_end(early, utc(26, 0, 30), "tomorrow") == utc(26, 2, 0)  # 01:30 -> 03:00


def test_the_nudge_comes_at_its_local_time_once_a_local_day() -> None:
    person = Rhythm(tz="America/New_York", nudge_at=9 * 60 + 30)
    assert not rhythm.nudge_due(person, utc(25, 14, 29))  # 09:29 in New York
    assert rhythm.nudge_due(person, utc(25, 14, 30))
    sent = Rhythm(tz="America/New_York", nudge_at=9 * 60 + 30, last_unsolicited_at=utc(25, 14, 30))
    assert not rhythm.nudge_due(sent, utc(25, 18, 0))  # already messaged today
    # 04:00 UTC on the 26th is still the 25th in New York (23:00): not a new day, and quiet
    assert rhythm.messaged_today(sent, utc(26, 4, 0))
    assert rhythm.nudge_due(sent, utc(26, 14, 30))  # the next local day
    assert not rhythm.nudge_due(Rhythm(tz="America/New_York"), utc(25, 15, 0))  # never asked


def test_a_nudge_asked_for_in_quiet_hours_comes_when_they_end() -> None:
    """22:00 with quiet hours 20:00-08:00: every day's 22:00 is quiet, so it never came."""
    late = Rhythm(tz="America/New_York", nudge_at=22 * 60)  # the default quiet hours
    assert rhythm.nudge_time(late) == 8 * 60
    assert not rhythm.nudge_due(late, utc(25, 12, 59))  # 07:59 in New York
    assert rhythm.nudge_due(late, utc(25, 13, 0))  # 08:00
    early = Rhythm(tz="America/New_York", nudge_at=7 * 60, quiet_start=0, quiet_end=6 * 60)
    assert rhythm.nudge_time(early) == 7 * 60  # outside them: as asked
    assert rhythm.nudge_time(Rhythm(nudge_at=22 * 60, quiet_start=0, quiet_end=0)) == 22 * 60


def test_one_unsolicited_message_a_day(ws) -> None:  # type: ignore[no-untyped-def]
    rhythm.update_rhythm(ws, user="U1", tz="Asia/Tokyo")
    morning = utc(25, 1, 0)  # 10:00 in Tokyo
    assert rhythm.claim_unsolicited(ws, user="U1", now=morning)
    assert not rhythm.claim_unsolicited(ws, user="U1", now=morning + timedelta(hours=3))
    assert not rhythm.claim_unsolicited(ws, user="U1", now=utc(25, 14, 0))  # 23:00: quiet anyway
    assert rhythm.claim_unsolicited(ws, user="U1", now=utc(26, 0, 0))  # 09:00 the next day
    # someone labelbot never met: UTC, claimed once
    assert rhythm.claim_unsolicited(ws, user="U2", now=utc(25, 10, 0))
    assert not rhythm.claim_unsolicited(ws, user="U2", now=utc(25, 11, 0))
    # snoozed: no claim until the snooze ends
    until = rhythm.snooze(ws, user="U3", length="1h", now=utc(25, 10, 0))
    assert not rhythm.claim_unsolicited(ws, user="U3", now=utc(25, 10, 30))
    assert rhythm.claim_unsolicited(ws, user="U3", now=until)


def test_due_nudges_from_stored_preferences(ws) -> None:  # type: ignore[no-untyped-def]
    rhythm.update_rhythm(ws, user="U1", tz="Europe/Berlin", nudge_at=9 * 60 + 30)
    rhythm.update_rhythm(ws, user="U2", tz="Asia/Tokyo", nudge_at=9 * 60 + 30)
    rhythm.update_rhythm(ws, user="U3", tz="Europe/Berlin")
    assert rhythm.due_nudges(ws, now=utc(25, 0, 0)) == []  # 09:00 Tokyo, 01:00 Berlin: not yet
    assert rhythm.due_nudges(ws, now=utc(25, 11, 30)) == ["U1"]  # 12:30 Berlin, 20:30 Tokyo
    assert rhythm.due_nudges(ws, now=utc(26, 0, 30)) == ["U2"]  # 09:30 Tokyo, 01:30 Berlin
