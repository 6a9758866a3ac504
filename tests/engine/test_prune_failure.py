"""A training whose model is committed (and active) is a finished training even when pruning the
old model files afterwards fails (a busy database, a file the system will not delete): it was
raised as the training's failure, so `labelbot train` and the scheduler reported a failed
training for a model that answered, and the scheduler skipped its notices. On SQLite and
PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from engine import training
from tests.helpers import label_next, load_slice


def test_a_failed_prune_after_the_model_is_active_is_a_warning_not_a_failed_training(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 20, annotators=("U1",))

    def busy(*args: object, **kwargs: object) -> None:
        raise OperationalError("DELETE", {}, Exception("database is locked"))

    monkeypatch.setattr(training, "_prune_artifacts", busy)
    with caplog.at_level(logging.WARNING, logger="engine.training"):
        run = training.train_project(ws, "bank")
    assert run.status == "ready" and run.is_active
    (active,) = [r for r in training.list_versions(ws, "bank") if r.is_active]
    assert active.version == run.version
    said = [r.getMessage() for r in caplog.records if r.name == "engine.training"]
    assert any(
        f"v{run.version} of bank is ready; old model files were not pruned" in line
        and "database is locked" in line
        for line in said
    ), said
