"""A training whose last transaction fails (Ctrl-C or a busy database while the pool's predictions
are written: the longest write of a training, at 50,000 examples) is recorded as failed, with its
reason, and leaves no model file behind; the model that answered before still does. Before, the
run stayed ``training`` ("stopped: the training process ended without finishing" in a process
that was alive) and its file was named by no run, so no prune ever deleted it. On SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import jobs, projects, training
from storage.db import BUSY, session_scope
from storage.errors import ConflictError
from storage.repositories import models
from tests.helpers import label_next, load_slice, scheduler_job


def _model_files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "bank").glob("*.npz"))


def _active_predictions(ws) -> set[int | None]:  # type: ignore[no-untyped-def]
    project = projects.get_project(ws, "bank")
    assert project.id is not None
    with session_scope(ws.db, read_only=True) as session:
        rows = models.get_predictions(session=session, project_id=project.id)
        return {row.model_run_id for row in rows.values()}


def test_ctrl_c_while_the_predictions_are_written_fails_the_run_and_leaves_no_file(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, monkeypatch
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 20, annotators=("U1",))
    monkeypatch.setattr(ws, "settings", ws.settings.model_copy(update={"models_dir": tmp_path}))
    v1 = training.train_project(ws, "bank")
    label_next(ws, truth, 5, annotators=("U1",))

    def interrupted(**_kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(training.models, "replace_predictions", interrupted)
        with pytest.raises(KeyboardInterrupt):
            training.train_project(ws, "bank")
    runs = training.list_versions(ws, "bank")
    assert [(r.version, r.status, r.is_active) for r in runs] == [
        (1, "ready", True),
        (2, "failed", False),
    ]
    assert runs[1].metrics["error"] == "interrupted (Ctrl-C) while training"
    assert not runs[1].artifact_path
    assert _model_files(tmp_path) == [Path(str(v1.artifact_path)).name]
    assert jobs.training_states(ws, "bank") == {}  # not "stopped": nothing is left running
    assert _active_predictions(ws) == {v1.id}
    v3 = training.train_project(ws, "bank")
    assert v3.status == "ready" and v3.is_active
    assert _model_files(tmp_path) == sorted(Path(str(r.artifact_path)).name for r in (v1, v3))


def test_a_busy_database_at_the_last_write_is_a_failed_retrain_that_names_its_run(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, monkeypatch
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 20, annotators=("U1",))
    monkeypatch.setattr(ws, "settings", ws.settings.model_copy(update={"models_dir": tmp_path}))
    retrain = scheduler_job(ws, "retrain")
    retrain()
    [v1] = training.list_versions(ws, "bank")
    label_next(ws, truth, 20, annotators=("U1",))

    def busy(**_kwargs: object) -> None:
        raise ConflictError(BUSY)  # what session_scope makes of SQLite's "database is locked"

    with monkeypatch.context() as patch:
        patch.setattr(training.models, "replace_predictions", busy)
        retrain()
    runs = training.list_versions(ws, "bank")
    assert [(r.version, r.status, r.is_active) for r in runs] == [
        (1, "ready", True),
        (2, "failed", False),
    ]
    assert runs[1].metrics["error"] == f"ConflictError: {BUSY}"
    failure = training.last_failure(ws, "bank")
    assert failure is not None and failure["version"] == 2
    assert _model_files(tmp_path) == [Path(str(v1.artifact_path)).name]
    assert _active_predictions(ws) == {v1.id}
