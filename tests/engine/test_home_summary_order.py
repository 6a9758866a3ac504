"""App Home's kept figures (engine.progress.home_summary) under visits at once: a slower visit
whose figures were begun before a viewer's own undo, kept after the visit that counted it, never
replaces the newer ones (review 36: _keep took whichever finished last). On SQLite and
PostgreSQL. And delete_project forgets what this process kept of the project: its App Home
figures, its runs' merges (the click path's memo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import labeling, progress, projects, taxonomy, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import examples, models
from tests.engine import test_merge_readers_before_rescore as readers
from tests.engine import test_review34b_findings as review34b
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


def test_deleting_a_project_forgets_its_merges_memo(ws: Workspace, tmp_path: Path) -> None:
    review34b._seven_labeled(ws, tmp_path)
    run = training.train_project(ws, "seven", kind="blend")
    with session_scope(ws.db, read_only=True) as session:
        stored = models.get_predictions_for(session=session, example_ids=range(1, 200))
        example_id, row = next(
            (i, r)
            for i, r in stored.items()
            if examples.get_example(session=session, example_id=i).text in readers.VAGUE
            and r.model_run_id == run.id
        )
    top_two = [str(lb) for lb, _ in row.probs[:2]]
    taxonomy.merge_labels(ws, project="seven", labels=top_two, into="merged", actor="admin",
                          rescore=False)  # fmt: skip
    readers._handed(ws, example_id, "U1")  # the click path keeps the run's merges
    assert ("merges", run.id) in ws.memo
    projects.delete_project(ws, "seven")
    assert ("merges", run.id) not in ws.memo
