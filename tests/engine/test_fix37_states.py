"""Session 37: the runs still marked ``training`` (``jobs.training_states``, read by `labelbot
status` and `labelbot models`) are read from the database alone (runs of status 'training',
``models.training_versions``), not every run the project ever had with its metrics. The
states are those every run gives. Rows are counted (each statement on model_runs run again to
its last row), never timed. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from engine import jobs, projects
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import leases, models

METRICS = {"accuracy": 0.5, "per_label": {f"intent_{i}": {"f1": 0.5} for i in range(60)}}


class RunRows:
    """How many rows the statements on model_runs return while counting (each run once more,
    on the same connection, to its last row)."""

    def __init__(self, engine: Any) -> None:
        self.counting = False
        self.rows = 0
        self.statements = 0
        event.listen(engine, "after_cursor_execute", self._after)

    def _after(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        sql = " ".join(statement.split())
        if not self.counting or not sql.upper().startswith("SELECT") or "model_runs" not in sql:
            return
        again = cursor.connection.cursor()
        again.execute(statement, params)
        self.rows += len(again.fetchall())
        self.statements += 1


def _add_runs(ws: Workspace, project_id: int, statuses: list[str]) -> None:
    with session_scope(ws.db) as s:
        for status in statuses:
            run = models.start_model_run(session=s, project_id=project_id, n_labels=60,
                                         classes=["a", "b"])  # fmt: skip
            if status != "training":
                models.finish_model_run(session=s, run_id=int(run.id or 0), status=status,
                                        metrics=METRICS)  # fmt: skip


def _from_every_run(ws: Workspace, name: str) -> dict[int, str]:
    """The states as read before: every run of the project, those still training kept."""
    pid = int(projects.get_project(ws, name).id or 0)
    with session_scope(ws.db, read_only=True) as s:
        versions = [r.version for r in models.list_model_runs(session=s, project_id=pid)
                    if r.status == "training"]  # fmt: skip
        alive = leases.held(session=s, name=f"train:{name}") is not None
    return dict.fromkeys(versions, "training" if alive else "stopped")


def test_training_states_read_the_training_runs_only(ws) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="bank", labels=["a", "b"])
    projects.create_project(ws, name="shop", labels=["a", "b"])
    bank = int(projects.get_project(ws, "bank").id or 0)
    shop = int(projects.get_project(ws, "shop").id or 0)
    assert jobs.training_states(ws, "bank") == _from_every_run(ws, "bank") == {}
    history = (["ready", "failed", "ready"] * 40)[:119]
    _add_runs(ws, bank, history[:50] + ["training"] + history[50:] + ["training"])
    _add_runs(ws, shop, ["training", "ready", "training"])  # another project's are not bank's
    counter = RunRows(ws.db)
    counter.counting = True
    try:
        states = jobs.training_states(ws, "bank")
    finally:
        counter.counting = False
    assert states == _from_every_run(ws, "bank") == {51: "stopped", 121: "stopped"}
    assert counter.statements >= 1
    # the two runs still training, not the project's 121
    assert counter.rows == 2, f"{counter.rows} rows of model_runs read for 2 runs training"

    # a live lease: the same runs, "training"; another project's lease is not bank's
    owner = "worker-9.example:42:abcd"
    with session_scope(ws.db) as s:
        assert leases.try_acquire(session=s, name="train:shop", owner=owner, ttl=jobs.TRAIN_LEASE)
    assert jobs.training_states(ws, "bank") == _from_every_run(ws, "bank")
    assert jobs.training_states(ws, "bank") == {51: "stopped", 121: "stopped"}
    assert jobs.training_states(ws, "shop") == _from_every_run(ws, "shop")
    assert jobs.training_states(ws, "shop") == {1: "training", 3: "training"}
    with session_scope(ws.db) as s:
        assert leases.try_acquire(session=s, name="train:bank", owner=owner, ttl=jobs.TRAIN_LEASE)
    assert jobs.training_states(ws, "bank") == {51: "training", 121: "training"}
    assert jobs.training_states(ws, "bank") == _from_every_run(ws, "bank")

    # finished: none left training
    with session_scope(ws.db) as s:
        for run in models.list_model_runs(session=s, project_id=bank):
            if run.status == "training":
                models.finish_model_run(session=s, run_id=int(run.id or 0), status="failed")
    assert jobs.training_states(ws, "bank") == _from_every_run(ws, "bank") == {}
