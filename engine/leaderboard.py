"""The weekly leaderboard and streaks for the digest: who labeled most in the last 7 days, and
for how many days in a row each of them has labeled.

Only answers given by hand count (not imports or simulations, nor adjudications: settling a
disagreement is a decision over the votes, not one more label, engine.consensus); people who
opted out with `/label leaderboard off` (engine.rhythm) are left out. Days are each expert's own
calendar days (their Slack time zone, UTC when unknown): labeling at 23:30 and again at 00:30
local time is two days of a streak, and an evening session that crosses midnight UTC is not.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from engine.evaluation import IMPORTED
from engine.rhythm import Rhythm
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import feedback, people, projects

WEEK = timedelta(days=7)
NOT_BY_HAND = frozenset({IMPORTED, "simulation", feedback.ADJUDICATION})
TOP = 5


@dataclass(frozen=True)
class Standing:
    annotator: str
    labels: int  # in the last 7 days
    streak: int  # consecutive days with a label, up to today (or yesterday: today may be young)


def streak(days: set[date], today: date) -> int:
    """Consecutive days in ``days`` ending today, or yesterday when today has none yet."""
    day = today if today in days else today - timedelta(days=1)
    count = 0
    while day in days:
        count += 1
        day -= timedelta(days=1)
    return count


def weekly_leaderboard(
    ws: Workspace, project: str, *, now: datetime | None = None, top: int = TOP
) -> list[Standing]:
    """The ``top`` experts of the last 7 days, most labels first (ties: longer streak, name)."""
    now = now or utcnow()
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        rows = feedback.list_annotations(session=session, project_id=found.id)
        hidden = people.opted_out_of_leaderboard(session=session)
        known = people.time_zones(session=session)
    zones = {user: Rhythm(tz=tz).zone for user, tz in known.items()}
    utc = Rhythm().zone
    week: Counter[str] = Counter()
    days: dict[str, set[date]] = defaultdict(set)
    for row in rows:
        if row.source in NOT_BY_HAND or row.annotator in hidden or row.created_at > now:
            continue
        days[row.annotator].add(row.created_at.astimezone(zones.get(row.annotator, utc)).date())
        if row.created_at >= now - WEEK:
            week[row.annotator] += 1
    standings = [
        Standing(who, n, streak(days[who], now.astimezone(zones.get(who, utc)).date()))
        for who, n in week.items()
    ]
    standings.sort(key=lambda s: (-s.labels, -s.streak, s.annotator))
    return standings[:top]
