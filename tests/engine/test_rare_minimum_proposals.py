"""The "too rare to learn" proposals follow the project's `rare_minimum`, as `labelbot status`,
App Home and the queue do. They used a fixed 5 (found by an audit): with rare_minimum 10, a
label of 8 was "too rare" in status but never proposed; with 1, a label status called fine was
still posted as "too few to learn" -- on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from engine import projects, proposing
from tests.helpers import SLICE_LABELS


def _rare(ws: Any) -> set[str]:
    return {
        p.labels[0]
        for p in proposing.refresh_proposals(ws, "bank")
        if p.kind == "rare" and p.status == "open"
    }


def test_rare_proposals_follow_the_projects_rare_minimum(
    ws: Any, banking_slice: Any, tmp_path: Path
) -> None:
    lagging = SLICE_LABELS[-1]
    kept: dict[str, int] = {}
    rows = []
    for text, label in banking_slice:  # 25 of each label, 8 of the last one
        if kept.get(label, 0) < (8 if label == lagging else 25):
            kept[label] = kept.get(label, 0) + 1
            rows.append((text, label))
    projects.create_project(ws, name="bank", labels=SLICE_LABELS)
    path = tmp_path / "labeled.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    projects.import_file(ws, project="bank", path=path)

    assert _rare(ws) == set()  # 8 is enough at the default, 5
    projects.update_settings(ws, project="bank", rare_minimum=10)
    assert projects.project_status(ws, "bank")["rare"]["too_rare"] == [lagging]
    assert _rare(ws) == {lagging}  # as status says
