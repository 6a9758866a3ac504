"""audit37 fixes in the scheduler's retrain check (engine.jobs): the newest run and the newest
finished one read by a bounded query (storage.repositories.models.newest_model_runs), and this
process's note of a failed try, which holds back the project it was about, and only while no
model has finished since. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from engine import jobs, projects, training
from engine.config import Settings
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import ModelRun
from storage.repositories import models
from tests.helpers import label_next, load_slice


def _newest(ws: Workspace, project_id: int) -> tuple[int | None, int | None]:
    """(newest run's version, newest ready run's version), from the bounded query."""
    with session_scope(ws.db, read_only=True) as s:
        last, ready = models.newest_model_runs(session=s, project_id=project_id)
    return (last.version if last else None), (ready.version if ready else None)


def _from_every_run(ws: Workspace, project_id: int) -> tuple[int | None, int | None]:
    """The same, from every run (what the retrain check read before)."""
    with session_scope(ws.db, read_only=True) as s:
        runs = models.list_model_runs(session=s, project_id=project_id)
    ready = [r.version for r in runs if r.status == "ready"]
    return (runs[-1].version if runs else None), (ready[-1] if ready else None)


def _add_run(ws: Workspace, project_id: int, status: str) -> ModelRun:
    with session_scope(ws.db) as s:
        run = models.start_model_run(session=s, project_id=project_id, n_labels=0, classes=[])
        if status != "training":
            models.finish_model_run(session=s, run_id=int(run.id or 0), status=status)
        return run


def test_the_newest_runs_are_those_every_run_gives(ws) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="bank", labels=["a", "b"])
    projects.create_project(ws, name="shop", labels=["a", "b"])
    bank = int(projects.get_project(ws, "bank").id or 0)
    shop = int(projects.get_project(ws, "shop").id or 0)
    assert _newest(ws, bank) == _from_every_run(ws, bank) == (None, None)
    seen = []
    for status in ("failed", "training", "ready", "ready", "failed", "training", "ready"):
        _add_run(ws, bank, status)
        _add_run(ws, shop, "failed")  # another project's runs are not this one's
        seen.append(_newest(ws, bank))
        assert seen[-1] == _from_every_run(ws, bank)
    assert seen == [(1, None), (2, None), (3, 3), (4, 4), (5, 4), (6, 4), (7, 7)]
    assert _newest(ws, shop) == (7, None)


def test_a_failure_after_a_model_still_waits_retrain_minutes(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """The note of a failed try is forgotten once a model newer than the one there was then
    has finished, not because some model exists: an encoder that cannot load, tried with v1
    ready, is waited out as before, not tried again (reading the whole pool) at every poll."""
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(ws, project="bank", multi_label_share=0.0, audit_share=0.0,
                             retrain_every=5, retrain_minutes=10)  # fmt: skip
    label_next(ws, truth, 12, annotators=("U1",))
    assert training.train_project(ws, "bank").version == 1
    label_next(ws, truth, 6, annotators=("U2",))
    settings = Settings(
        DATABASE_URL=ws.settings.database_url,
        LABELBOT_DATA_DIR=ws.settings.data_dir,
        LABELBOT_ENCODER=str(tmp_path / "no-such-model"),
    )
    broken = Workspace(settings=settings, db=ws.db)
    [first] = jobs.retrain_cycle(broken, owner="w1")
    assert first.failed and first.version is None and "cannot be loaded" in first.message
    assert jobs.retrain_cycle(broken, owner="w1") == []  # waited out, v1 there or not
    waiting = jobs.retrain_decision(broken, "bank")
    assert not waiting.due and "the last try failed" in waiting.reason, waiting
    # another process trains v2: the note is about the project before it, and is forgotten
    assert training.train_project(ws, "bank").version == 2
    label_next(ws, truth, 6, annotators=("U3",))
    assert jobs.retrain_decision(broken, "bank").due
    assert (jobs.TRAIN_FAILED, "bank") not in broken.notes
