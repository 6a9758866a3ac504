""" "You labeled N today" counts from the expert's own midnight (their Slack time zone once
known, as streaks and quiet hours do), not UTC's: for an expert in California, UTC's day turns
at 4 pm and the count fell to 0 mid-afternoon. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine import labeling, progress, projects, rhythm
from engine.workspace import Workspace

LABELS = ["card_arrival", "age_limit"]


def _label_at(ws: Workspace, who: str, when: datetime) -> None:
    task = labeling.next_task(ws, project="bank", annotator=who, now=when)
    assert task is not None
    labeling.submit_label(ws, project="bank", example_id=task.example_id, label=LABELS[0],
                          annotator=who, source="slack", key=f"{who}:{when}", now=when)  # fmt: skip


def test_today_is_the_experts_own_day(ws: Workspace, tmp_path: Path) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    path = tmp_path / "bank.csv"
    path.write_text("text\n" + "".join(f"text number {i}\n" for i in range(10)), "utf-8")
    projects.import_file(ws, project="bank", path=path, embed=False)
    projects.update_settings(ws, project="bank", audit_share=0.0, multi_label_share=0.0)
    rhythm.update_rhythm(ws, user="U0ANA", tz="America/Los_Angeles")  # UTC-8 in December

    evening = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)  # 22:00 on Dec 2 in Los Angeles
    morning = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # 02:00 on Dec 3 there
    for who in ("U0ANA", "carol"):  # carol: no time zone known (a terminal name): UTC's day
        _label_at(ws, who, evening)
        _label_at(ws, who, morning)
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # 04:00 in Los Angeles

    assert progress.labeled_today(ws, annotator="U0ANA", project="bank", now=now) == 1
    assert progress.user_progress(ws, annotator="U0ANA", now=now).labeled_today == 1
    task = labeling.next_task(ws, project="bank", annotator="U0ANA", now=now)
    assert task is not None and task.done_today == 1
    assert progress.labeled_today(ws, annotator="carol", project="bank", now=now) == 2
    # at her midnight (08:00 UTC) the morning label is still today's, and the next day's not
    tomorrow = now + timedelta(days=1)
    assert progress.labeled_today(ws, annotator="U0ANA", project="bank", now=tomorrow) == 0
