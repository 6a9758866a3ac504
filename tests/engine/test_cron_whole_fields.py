"""Digest schedules are read whole: APScheduler took a day or month name range from an item's
start and ignored the rest, so "mon–fri" (an en dash) fired on Mondays only, "mon-fri!" was
taken and "jan–mar" read as January. A bad schedule is refused; typographic dashes and quotes
are read as ASCII ones, from the CLI as from `/label settings`."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine import jobs
from engine.project_settings import check_settings
from storage.errors import InvalidInputError
from storage.models import Project


def fires(cron: str, after: datetime, n: int) -> list[str]:
    """The next ``n`` digest times after ``after``, as "Mon 03-09"."""
    project = Project(name="p", settings={"digest_cron": cron, "timezone": "UTC"})
    out = []
    for _ in range(n):
        fire = jobs.next_digest_time(project, after=after)
        assert fire is not None
        out.append(fire.strftime("%a %m-%d"))
        after = fire
    return out


SATURDAY = datetime(2026, 3, 7, 12, tzinfo=ZoneInfo("UTC"))
WEEK = ["Mon 03-09", "Tue 03-10", "Wed 03-11", "Thu 03-12", "Fri 03-13", "Mon 03-16"]


@pytest.mark.parametrize(
    "cron",
    [
        "0 9 * * mon-fri!",  # APScheduler: mon-fri
        "0 9 * * mon-fri/x",  # a step that is not a number
        "0 9 * * mon/x",
        "0 9 * * */x",
        "0 9 * * */+2",  # +2 is a number to Python, not to cron
        "0 9 * * */",
        "0 9 * * monkey",
        "0 9 * * monday,3",  # "monday" was read as "mon" beside a digit
        "0 9 * * mon,,fri",
        "0 9 * jan-mar! *",  # APScheduler: jan-mar
        "0 9 * jan-mar/x *",
        "0 9 * january *",
        "0 9 * 13 *",
        "0 9 last! * *",  # APScheduler: last
    ],
)
def test_a_field_with_anything_after_its_names_is_refused(cron: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid digest schedule"):
        check_settings({"digest_cron": cron})


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 9 * * mon-fri", WEEK),
        ("0 9 * * MON-FRI", WEEK),
        ("0 9 * * 1-5", WEEK),
        ("0 9 * * */2", ["Sun 03-08", "Tue 03-10", "Thu 03-12", "Sat 03-14"]),
        ("0 9 * * sun,7", ["Sun 03-08", "Sun 03-15"]),
        ("0 9 * * fri-sun", ["Sun 03-08", "Fri 03-13", "Sat 03-14", "Sun 03-15"]),
        ("0 9 * * mon-fri/2", ["Mon 03-09", "Wed 03-11", "Fri 03-13", "Mon 03-16"]),
        ("0 9 1-7 * mon", ["Mon 04-06", "Mon 05-04"]),  # the first Monday of the month
        ("0 9 1 jan-mar *", ["Fri 01-01", "Mon 02-01", "Mon 03-01"]),
        ("0 9 1 APR,6-7 *", ["Wed 04-01", "Mon 06-01", "Wed 07-01", "Thu 04-01"]),
        ("0 9 last * *", ["Tue 03-31", "Thu 04-30"]),
    ],
)
def test_crontab_schedules_still_fire_as_written(cron: str, expected: list[str]) -> None:
    assert check_settings({"digest_cron": cron}) == {"digest_cron": cron}
    assert fires(cron, SATURDAY, len(expected)) == expected


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0 9 * * mon–fri", "0 9 * * mon-fri"),  # en dash
        ("0 9 * * mon—fri", "0 9 * * mon-fri"),  # em dash
        ("0 9 1 jan–mar *", "0 9 1 jan-mar *"),
    ],
)
def test_typographic_dashes_are_read_as_hyphens(typed: str, stored: str) -> None:
    """`/label settings` read them so; the CLI stored "mon–fri" and fired on Mondays only."""
    assert check_settings({"digest_cron": typed}) == {"digest_cron": stored}


def test_an_en_dash_stored_before_fires_as_meant() -> None:
    """A schedule the CLI stored as typed ("mon–fri") before dashes were read as hyphens is
    read as one now: the weekdays its admin meant, neither Mondays only nor an error."""
    assert fires("0 9 * * mon–fri", SATURDAY, 6) == WEEK
    assert fires("0 9 1 jan–mar *", SATURDAY, 3) == ["Fri 01-01", "Mon 02-01", "Mon 03-01"]
