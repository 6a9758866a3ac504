"""The redraw after a merge (labeling.tasks_on_screen) scores the on-screen rows its stored
classes cannot tell live in one model call, and says what each message's own read says."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import labeling, messaging, projects
from engine.workspace import Workspace
from tests.engine import test_merge_readers_before_rescore as readers
from tests.engine import test_review34b_findings as review34b
from tests.engine import test_review36d as review36d


def test_the_redraw_after_a_merge_scores_its_rows_live_at_once(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    review34b._seven_labeled(ws, tmp_path)
    projects.update_settings(ws, project="seven", audit_share=0.0, multi_label_share=0.0)
    vague, merged = review36d._vague_tops_merged(ws)
    shown = [i for i, top in vague.items() if top in merged][:3]
    assert len(shown) >= 2
    held = {}
    for k, example_id in enumerate(shown):  # each on its own expert's screen
        task = readers._handed(ws, example_id, f"U{k}")
        messaging.record_delivery(ws, assignment_id=task.assignment_id, channel=f"D{k}",
                                  message_ts=f"{k}.1")  # fmt: skip
        held[task.assignment_id] = task
    calls = review36d._count_rescores(monkeypatch)
    redrawn = labeling.tasks_on_screen(ws, project="seven")
    assert {t.example_id for t, _, _ in redrawn} == set(shown)
    assert len(calls) == 1, calls
    for task, _, _ in redrawn:
        assert task.suggestion is not None and task.suggestion[0] == "merged"
        one = labeling.held_task(ws, assignment_id=task.assignment_id)
        assert (task.suggestion, task.runner_up) == (one.suggestion, one.runner_up)
        assert task.suggestion == held[task.assignment_id].suggestion
