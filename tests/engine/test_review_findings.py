"""Findings of the review of this morning's commits in the engine, each shown by a test that
failed before its fix (marked ``xfail(strict=True)`` until then).

* The orphan model-file sweep (ec42f6e) can delete the file of a run that goes on to commit:
  a training that stalls for over an hour after writing its file (a suspended VM, a laptop
  asleep under `labelbot train`, SIGSTOP) loses its lease; the next holder fails its run and,
  the file an hour old, deletes it; the stalled process then wakes and commits its run
  (engine.training.train_project never checks that the run is still ``training``:
  storage.repositories.models.finish_model_run sets any status), ready and, when nothing
  newer became active meanwhile, active, naming a file that is gone. It now finds its run
  failed in its last transaction and records nothing (its file deleted, a ConflictError).

On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from engine import jobs, training
from engine.classifier import Model
from storage.db import session_scope
from storage.errors import ConflictError
from storage.repositories import models
from storage.repositories import projects as projects_repo
from tests.helpers import label_next, load_slice
from tests.storage.test_labeling_races import blocks_someone, wait_until

TWO_HOURS = 2 * 3600.0


@pytest.fixture
def loaded(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 20, annotators=("U1", "U2"))
    return ws, truth


def test_a_training_that_wakes_after_its_file_was_swept_does_not_activate_it(
    loaded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, _ = loaded
    v1 = jobs.train_now(ws, "bank")
    written, wake = threading.Event(), threading.Event()
    save = Model.save

    def save_then_stall(self: Model, path: Path) -> None:
        save(self, path)
        written.set()
        assert wake.wait(60), "the test never woke the stalled training"

    monkeypatch.setattr(Model, "save", save_then_stall)
    outcome: dict[str, Any] = {}

    def stalled() -> None:  # the process that stalls after writing its model file
        try:
            outcome["run"] = jobs.train_now(ws, "bank")
        except Exception as exc:  # noqa: BLE001 -- what it met is the result
            outcome["run"] = exc

    trainer = threading.Thread(target=stalled)
    trainer.start()
    assert written.wait(120)

    # Over an hour on, its lease lapsed: the next holder does what _train_held does first
    # (its own training then fails or is held back, leaving v1 active)
    with session_scope(ws.db) as session:
        project = projects_repo.get_project(session=session, name="bank")
        assert project.id is not None
        assert models.fail_abandoned_runs(session=session, project_id=project.id) == 1
    swept = training.remove_orphan_models(ws, "bank", now=time.time() + TWO_HOURS)
    assert len(swept) == 1  # the stalled run's file

    wake.set()  # the stalled process goes on and commits
    trainer.join(120)
    assert isinstance(outcome["run"], ConflictError), outcome["run"]
    assert str(outcome["run"]) == training.LAPSED
    active = [r for r in training.list_versions(ws, "bank") if r.is_active]
    assert len(active) == 1
    # the active model's file is there: v1's, or one the woken run wrote and kept
    assert active[0].artifact_path and Path(active[0].artifact_path).is_file(), (
        f"active v{active[0].version} names {active[0].artifact_path}, deleted by the sweep "
        f"(v1 was {v1.artifact_path})"
    )
    (woke,) = [r for r in training.list_versions(ws, "bank") if r.version == v1.version + 1]
    assert woke.status == "failed" and not woke.artifact_path
    assert woke.metrics["error"].startswith("abandoned: the training process stopped")
    assert training.LAPSED in woke.metrics["error"]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_the_next_holder_does_not_fail_a_run_committing_under_it(
    loaded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other order (PostgreSQL): the woken training's last transaction is under way (its
    run stored ready, not committed) when the lease's next holder fails the runs left
    ``training``. It read the run as training, waited for its row, and failed it over the
    commit: a ready (maybe active) run said failed. It now takes turns with that transaction
    (lock_models) and then finds no run to fail."""
    ws, _ = loaded
    jobs.train_now(ws, "bank")
    finish = models.finish_model_run
    stored, commit = threading.Event(), threading.Event()
    woken_pid: list[int] = []

    def held(*, session: Any, status: str, **kw: Any) -> Any:
        run = finish(session=session, status=status, **kw)
        if status == "ready" and threading.current_thread().name == "woken":
            pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
            woken_pid.append(int(pid))
            stored.set()
            assert commit.wait(60), "the test never let the run commit"
        return run

    monkeypatch.setattr(models, "finish_model_run", held)
    outcome: dict[str, Any] = {}

    def woken() -> None:
        try:
            outcome["run"] = training.train_project(ws, "bank")
        except Exception as exc:  # noqa: BLE001 -- what it met is the result
            outcome["run"] = exc
            stored.set()

    def next_holder() -> None:  # what _train_held does first
        with session_scope(ws.db) as session:
            project = projects_repo.get_project(session=session, name="bank")
            assert project.id is not None
            outcome["failed"] = models.fail_abandoned_runs(session=session, project_id=project.id)

    trainer = threading.Thread(target=woken, name="woken", daemon=True)
    trainer.start()
    assert stored.wait(120) and "run" not in outcome, outcome
    holder = threading.Thread(target=next_holder, daemon=True)
    holder.start()
    wait_until(lambda: blocks_someone(ws.db, woken_pid[0]), "the next holder to wait", 30)
    commit.set()
    trainer.join(120)
    holder.join(60)
    assert outcome["failed"] == 0
    run = outcome["run"]
    assert not isinstance(run, BaseException), run
    (now,) = [r for r in training.list_versions(ws, "bank") if r.version == run.version]
    assert now.status == "ready" and now.artifact_path and Path(now.artifact_path).is_file()
