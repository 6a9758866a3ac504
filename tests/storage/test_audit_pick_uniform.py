"""An audit pick is a uniform draw over the free examples (the audit's accuracy estimate rests on
it), now made by drawing any example at random and keeping a free one rather than sorting the
project on each pick: on SQLite and PostgreSQL, free examples that follow runs of labeled ones
are drawn no more often than the others, a labeled one never, and the one free example left is
still found."""

from __future__ import annotations

import csv
import random
from collections import Counter
from pathlib import Path

import pytest

from engine import projects
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import assignments
from storage.repositories import projects as projects_repo

# chi-square critical value for 7 degrees of freedom at p = 0.001
CHI2_7_P001 = 24.32


def _project(ws: Workspace, tmp_path: Path, free: set[int], n: int = 30) -> None:
    projects.create_project(ws, name="p", labels=["A", "B"])
    path = tmp_path / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([f"text {i:02d}", "" if i in free else "A"] for i in range(n))
    projects.import_file(ws, project="p", path=path, embed=False)


def _draws(ws: Workspace, k: int) -> Counter[str]:
    with session_scope(ws.db) as session:  # not read-only: PostgreSQL's claim locks its pick
        pid = projects_repo.get_project(session=session, name="p").id
        assert pid is not None
        picks: Counter[str] = Counter()
        for _ in range(k):
            found = assignments._next_free_example(session, pid, "ana", uniform=True)
            assert found is not None
            picks[found.text] += 1
        return picks


def test_audit_picks_are_uniform_over_the_free_examples(
    ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(assignments, "_audit_rng", random.Random(3))
    free = {10, 20, 24, 25, 26, 27, 28, 29}  # after runs of 10, 9 and 3 labeled examples
    _project(ws, tmp_path, free)

    picks = _draws(ws, 800)

    assert set(picks) == {f"text {i:02d}" for i in free}  # never a labeled one
    expected = 800 / len(free)
    chi2 = sum((picks[f"text {i:02d}"] - expected) ** 2 / expected for i in free)
    assert chi2 < CHI2_7_P001, picks


def test_the_last_free_example_is_found(
    ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(assignments, "_audit_rng", random.Random(5))
    _project(ws, tmp_path, {17})
    assert _draws(ws, 20) == Counter({"text 17": 20})
