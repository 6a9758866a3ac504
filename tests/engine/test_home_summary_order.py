"""App Home's kept figures (engine.progress.home_summary) under visits at once: a slower visit
whose figures were begun before a viewer's own undo, kept after the visit that counted it, never
replaces the newer ones (review 36: _keep took whichever finished last). On SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import labeling, progress
from engine.workspace import Workspace
from tests.engine import test_review36d as review36d


def test_a_slower_visit_kept_last_never_shows_the_viewers_undone_label(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    review36d._bank(ws, tmp_path)
    clock = [1000.0]
    monkeypatch.setattr(progress, "_clock", lambda: clock[0])
    review36d._label(ws, "ana", "card_arrival")
    given = review36d._label(ws, "ana", "card_arrival")
    assert progress.user_progress(ws, annotator="ana").projects[0].labeled == 2
    clock[0] += progress.SUMMARY_MAX_AGE  # bob's next visit works the figures out again
    real = progress.project_summary
    inside: list[bool] = []

    def meanwhile(ws_: Workspace, name: str) -> progress.ProjectSummary:
        summary = real(ws_, name)  # bob's read: before ana's undo
        if not inside:
            inside.append(True)
            # another listener thread, while bob's visit is still on its way: ana undoes her
            # second label and her tab counts it
            assert labeling.undo(ws, annotation_id=given.annotation_id, annotator="ana")
            assert progress.user_progress(ws, annotator="ana").projects[0].labeled == 1
        return summary

    monkeypatch.setattr(progress, "project_summary", meanwhile)
    assert progress.user_progress(ws, annotator="bob").projects[0].labeled == 1  # the newer
    mine = progress.user_progress(ws, annotator="ana")
    assert mine.labeled_total == 1
    assert mine.projects[0].labeled == 1
