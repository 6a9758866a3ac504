"""The weekly leaderboard and streaks (each expert's own calendar days), with the per-person
opt-out; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine import labeling, leaderboard, projects, rhythm
from engine.leaderboard import Standing, streak

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def test_streak_counts_consecutive_days_to_today_or_yesterday() -> None:
    today = NOW.date()
    days = {today - timedelta(days=d) for d in (0, 1, 2, 4)}
    assert streak(days, today) == 3
    assert streak({today - timedelta(days=1), today - timedelta(days=2)}, today) == 2
    assert streak({today - timedelta(days=2)}, today) == 0
    assert streak(set(), today) == 0


def _project(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="p", labels=["a", "b"])
    path = tmp_path / "p.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([f"text {i}"] for i in range(30))
    projects.import_file(ws, project="p", path=path)


def _label_at(ws, user: str, at: datetime) -> int:  # type: ignore[no-untyped-def]
    task = labeling.next_task(ws, project="p", annotator=user, now=at)
    assert task is not None
    labeling.submit_label(ws, project="p", example_id=task.example_id, label="a", annotator=user,
                          source="slack", key=f"{user}:{task.example_id}", now=at)  # fmt: skip
    return task.example_id


def test_streaks_follow_each_experts_own_calendar(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """23:30 and 00:30 in Tokyo are two days of a streak; the same instants are one UTC day."""
    _project(ws, tmp_path)
    rhythm.update_rhythm(ws, user="U0KEN", tz="Asia/Tokyo")
    for user in ("U0KEN", "U0UTC"):
        _label_at(ws, user, datetime(2026, 11, 24, 14, 30, tzinfo=UTC))  # 23:30 JST, Nov 24
        _label_at(ws, user, datetime(2026, 11, 24, 15, 30, tzinfo=UTC))  # 00:30 JST, Nov 25
    board = {s.annotator: s for s in leaderboard.weekly_leaderboard(ws, "p", now=NOW)}
    assert board["U0KEN"].streak == 2 and board["U0UTC"].streak == 1
    assert board["U0KEN"].labels == board["U0UTC"].labels == 2


def test_weekly_leaderboard_from_labels(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _project(ws, tmp_path)

    def label(user: str, days_ago: int) -> None:
        at = NOW - timedelta(days=days_ago)
        task = labeling.next_task(ws, project="p", annotator=user, now=at)
        assert task is not None
        labeling.submit_label(
            ws,
            project="p",
            example_id=task.example_id,
            label="a",
            annotator=user,
            source="slack",
            key=f"{user}:{task.example_id}",
            now=at,
        )

    for days_ago in (0, 1, 2, 3, 10):  # Ana: a 4-day streak, 4 labels this week
        label("U0ANA", days_ago)
    for days_ago in (1, 1, 1, 1, 1):  # Ben: 5 labels, all yesterday
        label("U0BEN", days_ago)
    label("U0CY", 9)  # Cy: nothing this week
    board = leaderboard.weekly_leaderboard(ws, "p", now=NOW)
    assert board == [Standing("U0BEN", 5, 1), Standing("U0ANA", 4, 4)]

    rhythm.update_rhythm(ws, user="U0BEN", leaderboard=False)
    assert leaderboard.weekly_leaderboard(ws, "p", now=NOW) == [Standing("U0ANA", 4, 4)]


def test_adjudications_are_no_labeling(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An adjudication settles an example's label; it is no vote (engine.consensus). It was
    counted as labeling all the same: "by U0LEAD (3)" among the digest's new labels, and U0LEAD
    on the weekly leaderboard with 3 labels."""
    from engine import consensus, digest

    _project(ws, tmp_path)
    at = NOW - timedelta(hours=2)
    settled = [_label_at(ws, user, at) for user in ("U0ANA", "U0ANA", "U0ANA")]
    for _ in range(2):
        _label_at(ws, "U0BEN", at)
    for example_id in settled:  # the lead overrules Ana's three
        consensus.adjudicate(ws, project="p", example_id=example_id, label="b", actor="U0LEAD",
                             now=at + timedelta(minutes=5))  # fmt: skip
    board = leaderboard.weekly_leaderboard(ws, "p", now=NOW)
    assert board == [Standing("U0ANA", 3, 1), Standing("U0BEN", 2, 1)]
    d = digest.build_digest(ws, "p", now=NOW)
    assert d.by_annotator == [("U0ANA", 3), ("U0BEN", 2)] and d.labels_since == 5
    assert "U0LEAD" not in "\n".join(d.summary())
