"""Time audit regressions: crontab digest schedules read as crontab (Sunday is day 0 and 7),
time zone names that are not zones, fixed UTC offsets, and the one-message-a-day claim on the
database's clock, not the process's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import digest, jobs, project_settings, projects, rhythm
from engine.rhythm import Rhythm
from storage.errors import InvalidInputError
from storage.models import Project


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(2026, month, day, hour, minute, tzinfo=ZoneInfo("America/New_York"))


def fires(cron: str, after: datetime, n: int, tz: str = "America/New_York") -> list[str]:
    """The next ``n`` digest times after ``after``, as "Mon 03-09 09:00" on the project's clock."""
    project = Project(name="p", settings={"digest_cron": cron, "timezone": tz})
    out = []
    for _ in range(n):
        fire = jobs.next_digest_time(project, after=after)
        assert fire is not None
        out.append(fire.astimezone(after.tzinfo).strftime("%a %m-%d %H:%M"))
        after = fire
    return out


def test_numbered_weekdays_are_crontabs_sunday_is_0_and_7() -> None:
    # the week the clocks go forward in New York (Sunday 8 March 2026)
    saturday = ny(3, 7, 12)
    assert fires("0 9 * * 1-5", saturday, 6) == [
        "Mon 03-09 09:00", "Tue 03-10 09:00", "Wed 03-11 09:00",
        "Thu 03-12 09:00", "Fri 03-13 09:00", "Mon 03-16 09:00",
    ]  # fmt: skip
    assert fires("0 9 * * 0", saturday, 2) == ["Sun 03-08 09:00", "Sun 03-15 09:00"]
    assert fires("0 9 * * 7", saturday, 1) == ["Sun 03-08 09:00"]
    assert fires("0 9 * * 5-7", saturday, 4) == [
        "Sun 03-08 09:00",
        "Fri 03-13 09:00", "Sat 03-14 09:00", "Sun 03-15 09:00",
    ]  # fmt: skip
    assert fires("0 9 * * */2", saturday, 4) == [  # crontab: Sunday, Tuesday, Thursday, Saturday
        "Sun 03-08 09:00", "Tue 03-10 09:00", "Thu 03-12 09:00", "Sat 03-14 09:00",
    ]  # fmt: skip
    # a range of Sunday alone is Sunday alone (7-7 and 0-0 were read as 0 to 7: every day)
    for sunday in ("7-7", "0-0"):
        assert fires(f"0 9 * * {sunday}", saturday, 2) == ["Sun 03-08 09:00", "Sun 03-15 09:00"]
    assert len(fires("0 9 * * 0-7", saturday, 7)) == 7  # and 0 to 7, every day
    assert fires("0 9 * * 6-0", saturday, 3) == [  # Saturday to Sunday, written with 0
        "Sun 03-08 09:00", "Sat 03-14 09:00", "Sun 03-15 09:00",
    ]  # fmt: skip
    # names meant the same before and still do
    assert fires("0 9 * * mon-fri", saturday, 1) == ["Mon 03-09 09:00"]
    # Sunday as 7 is a valid schedule now (it was refused as out of range)
    assert project_settings.check_settings({"digest_cron": "0 9 * * 7"})["digest_cron"]
    # and a day out of crontab's range says what the range is (not APScheduler's 0-6)
    with pytest.raises(InvalidInputError, match=r"0-7 \(0 and 7 are Sunday\)"):
        project_settings.check_settings({"digest_cron": "0 9 * * 8"})


def test_digests_go_out_on_crontabs_weekdays(ws) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="news", labels=["a", "b"])
    project_settings.change_settings(
        ws, project="news", changes={"digest_cron": "0 9 * * 1-5", "timezone": "Europe/London"}
    )
    digest.mark_sent(ws, "news", now=datetime(2026, 10, 23, 9, 0, tzinfo=UTC))  # Friday
    sent: list[str] = []
    # Saturday 24 October, 09:00 London (BST): no digest on a Saturday
    assert jobs.digest_cycle(ws, sent.append, now=datetime(2026, 10, 24, 8, 0, tzinfo=UTC)) == []
    # Monday 26 October, 09:00 London, the day after the clocks went back (GMT)
    assert jobs.digest_cycle(ws, sent.append, now=datetime(2026, 10, 26, 9, 0, tzinfo=UTC)) == [
        "news"
    ]
    assert sent == ["news"]


def test_a_time_zone_name_that_is_a_directory_falls_back_to_utc(ws) -> None:  # type: ignore[no-untyped-def]
    # "America" names a folder of the tz database: ZoneInfo raises IsADirectoryError, which
    # stopped every nudge (one person's row) and every digest of the project
    assert Rhythm(tz="America").zone.utcoffset(None) == timedelta(0)
    assert Rhythm(tz="x" * 300).zone.utcoffset(None) == timedelta(0)
    rhythm.update_rhythm(ws, user="U1", tz="America", nudge_at=9 * 60)
    rhythm.update_rhythm(ws, user="U2", tz="Europe/London", nudge_at=9 * 60)
    assert rhythm.due_nudges(ws, now=datetime(2026, 11, 25, 10, tzinfo=UTC)) == ["U1", "U2"]
    project = Project(name="p", settings={"digest_cron": "0 9 * * *", "timezone": "America"})
    after = datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert jobs.next_digest_time(project, after=after) == datetime(2026, 11, 26, 9, tzinfo=UTC)


def test_fixed_utc_offsets_kathmandu_and_kiritimati() -> None:
    # a zone Slack names that this machine does not know is stored as its offset (bot side)
    kathmandu = Rhythm(tz="UTC+05:45", nudge_at=9 * 60 + 30)
    assert not rhythm.nudge_due(kathmandu, datetime(2026, 11, 25, 3, 44, tzinfo=UTC))
    assert rhythm.nudge_due(kathmandu, datetime(2026, 11, 25, 3, 45, tzinfo=UTC))  # 09:30
    kiritimati = Rhythm(tz="UTC+14:00")
    # 09:59 UTC on the 25th is 23:59 on the 25th there; 10:00 UTC is already the 26th
    assert rhythm.day_start(kiritimati, datetime(2026, 11, 25, 10, tzinfo=UTC)) == datetime(
        2026, 11, 25, 10, tzinfo=UTC
    )
    assert rhythm.in_quiet_hours(kiritimati, datetime(2026, 11, 25, 9, 59, tzinfo=UTC))
    west = Rhythm(tz="UTC-03:30")
    assert rhythm.snooze_end(west, datetime(2026, 11, 25, 12, tzinfo=UTC), "tomorrow") == datetime(
        2026, 11, 26, 11, 30, tzinfo=UTC
    )  # 08:00 tomorrow at UTC-03:30
    assert rhythm.offset_name(5 * 3600 + 45 * 60) == "UTC+05:45"
    assert rhythm.offset_name(-(3 * 3600 + 30 * 60)) == "UTC-03:30"
    for bad in ("UTC+24:00", "UTC+5:45", "UTC+05:60"):
        assert Rhythm(tz=bad).zone.utcoffset(None) == timedelta(0)


def test_the_day_is_claimed_on_the_databases_clock(ws, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A replica whose clock runs a day ahead must not stamp tomorrow's message as sent (the
    database's clock is the one the replicas share; SQLite's and PostgreSQL's here are this
    machine's, so the real time is the reference)."""
    ahead = timedelta(days=1)
    monkeypatch.setattr(rhythm, "utcnow", lambda: datetime.now(UTC) + ahead)
    rhythm.update_rhythm(ws, user="U1", quiet_start=0, quiet_end=0)  # quiet off, UTC
    before = datetime.now(UTC)
    assert rhythm.claim_unsolicited(ws, user="U1")
    stamped = rhythm.rhythm_of(ws, user="U1").last_unsolicited_at
    assert stamped is not None and stamped.tzinfo is not None
    assert before - timedelta(minutes=1) <= stamped <= datetime.now(UTC) + timedelta(minutes=1)
    # so tomorrow's message is still tomorrow's (a stamp a day ahead had spent it)
    assert rhythm.claim_unsolicited(ws, user="U1", now=stamped + ahead)

    until = rhythm.snooze(ws, user="U2", length="1h")
    assert timedelta(minutes=59) <= until - before <= timedelta(minutes=61)
