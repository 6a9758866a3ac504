"""A training killed outright (SIGKILL) after writing its model file and before its run
committed left a file no run names, forever: the next training of the project, under its
lease, deletes it once it is old enough -- never a file a run names, a fresh one (a replica
whose lease lapsed may be about to commit it), nor one outside the models folder. On SQLite
and PostgreSQL, with a real child process killed by a real SIGKILL."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from engine import jobs, training
from engine.classifier import Model
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import models
from tests.helpers import label_next, load_slice

HOURS_AGO = 2 * 3600.0


@pytest.fixture
def loaded(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 20, annotators=("U1", "U2"))
    return ws, truth


def _killed_after_writing(ws: Workspace, name: str) -> Path:
    """Train ``name`` in a child process that is SIGKILLed once its model file is written;
    the file it left."""
    before = set(ws.model_dir(name).iterdir())
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        try:
            ws.db.dispose(close=False)  # the parent's connections stay the parent's
            save = Model.save

            def save_then_die(self: Model, path: Path) -> None:
                save(self, path)
                os.kill(os.getpid(), signal.SIGKILL)

            Model.save = save_then_die  # type: ignore[method-assign]
            training.train_project(ws, name)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    (left,) = set(ws.model_dir(name).iterdir()) - before
    return left


def _age(path: Path) -> None:
    old = time.time() - HOURS_AGO
    os.utime(path, (old, old))


def _versions(ws: Workspace) -> dict[int, str]:
    return {run.version: run.status for run in training.list_versions(ws, "bank")}


def test_a_model_file_left_by_a_killed_training_is_deleted_by_a_later_one(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    v1 = jobs.train_now(ws, "bank")
    orphan = _killed_after_writing(ws, "bank")
    assert orphan.is_file() and orphan.name.startswith("v2-")
    assert _versions(ws) == {1: "ready", 2: "training"}  # no run names the file

    # the next training fails the abandoned run; its file is minutes old: kept for now (a
    # process whose lease lapsed could still be committing it)
    v3 = jobs.train_now(ws, "bank")
    assert _versions(ws) == {1: "ready", 2: "failed", 3: "ready"}
    assert orphan.is_file()

    _age(orphan)  # an hour on
    label_next(ws, truth, 5, annotators=("U1",))
    v4 = jobs.train_now(ws, "bank")
    assert not orphan.exists()
    for run in (v1, v3, v4):  # the runs' own files are all still there
        assert run.artifact_path and Path(run.artifact_path).is_file()
    assert training.predict_texts(ws, "bank", ["my card has not arrived"])
    # the failed run forgot it: nothing left to look at
    assert training.remove_orphan_models(ws, "bank") == []
    (v2,) = [r for r in training.list_versions(ws, "bank") if r.version == 2]
    assert models.PLANNED_FILE not in v2.metrics and v2.metrics["error"].startswith("abandoned")


def test_a_file_a_run_names_or_outside_the_models_folder_is_never_deleted(  # type: ignore[no-untyped-def]
    loaded, tmp_path: Path
) -> None:
    ws, _ = loaded
    v1 = jobs.train_now(ws, "bank")
    named = _killed_after_writing(ws, "bank")
    _age(named)
    # a run names a file of that name (a `db copy`'s row naming the first database's folder)
    elsewhere = tmp_path / "first" / "models" / "bank" / named.name
    with session_scope(ws.db) as session:
        models.finish_model_run(
            session=session, run_id=int(v1.id or 0), status="ready", artifact_path=str(elsewhere)
        )
    jobs.train_now(ws, "bank")  # fails v2, whose file a run names
    assert named.is_file()

    # a failed run naming a file outside the models folder: another installation's
    outside = tmp_path / "bank" / "v9-0123abcd.npz"
    outside.parent.mkdir()
    outside.write_bytes(b"PK not ours")
    _age(outside)
    with session_scope(ws.db) as session:
        run = models.start_model_run(
            session=session, project_id=v1.project_id, n_labels=1, classes=["a", "b"]
        )
        models.plan_artifact(session=session, run_id=int(run.id or 0), path=str(outside))
        models.finish_model_run(session=session, run_id=int(run.id or 0), status="failed")
    assert training.remove_orphan_models(ws, "bank") == []
    assert named.is_file() and outside.is_file()
    assert not [r for r in training.list_versions(ws, "bank") if models.PLANNED_FILE in r.metrics]
