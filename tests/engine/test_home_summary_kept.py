"""App Home's project figures are kept a minute per process (engine.progress.home_summary):
a visit between changes reads none of the project's rows (audit 36). What each visit must
still show exactly: the viewer's own counts, and their own labels in the project's figures
the moment they gave them; other experts' labels show within the minute, and the refresh
after a new model (``summaries``) works the figures out afresh. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import labeling, progress, projects
from engine.workspace import Workspace

LABELS = ["card_arrival", "age_limit"]


def _label(ws: Workspace, who: str) -> None:
    task = labeling.next_task(ws, project="bank", annotator=who)
    assert task is not None
    key = f"{who}:{task.example_id}"
    labeling.submit_label(ws, project="bank", example_id=task.example_id, label=LABELS[0],
                          annotator=who, source="slack", key=key)  # fmt: skip


def _shown(ws: Workspace, who: str) -> tuple[int, int]:
    """(the viewer's own labels, the project's labeled examples) as App Home shows them."""
    mine = progress.user_progress(ws, annotator=who)
    (project,) = mine.projects
    assert project.as_of is not None
    return mine.labeled_total, project.labeled


def test_figures_kept_a_minute_but_never_the_viewers_own(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    path = tmp_path / "bank.csv"
    path.write_text("text\n" + "".join(f"text number {i}\n" for i in range(10)), "utf-8")
    projects.import_file(ws, project="bank", path=path, embed=False)
    projects.update_settings(ws, project="bank", audit_share=0.0, multi_label_share=0.0)
    clock = [1000.0]
    monkeypatch.setattr(progress, "_clock", lambda: clock[0])

    _label(ws, "ana")
    assert _shown(ws, "ana") == (1, 1)
    assert _shown(ws, "bob") == (0, 1)
    _label(ws, "ana")  # her own click: in her next visit's figures at once
    assert _shown(ws, "ana") == (2, 2)
    _label(ws, "carol")  # another expert's: in the figures within the minute
    clock[0] += progress.SUMMARY_MAX_AGE - 1
    assert _shown(ws, "bob") == (0, 2)  # kept: carol's label not yet counted
    _label(ws, "bob")  # his own now: worked out again, carol's label with it
    assert _shown(ws, "bob") == (1, 4)
    _label(ws, "carol")
    assert _shown(ws, "ana") == (2, 4)
    clock[0] += progress.SUMMARY_MAX_AGE
    assert _shown(ws, "ana") == (2, 5)  # a minute on: worked out again
    _label(ws, "carol")
    # the refresh after a new model works them out afresh, and keeps them for the next visits
    fresh = progress.user_progress(ws, annotator="ana", summaries={})
    assert [p.labeled for p in fresh.projects] == [6]
    assert _shown(ws, "bob") == (1, 6)
