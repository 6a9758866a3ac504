"""A scheduled retrain that fails (here: a file where the project's model folder should be)
keeps its reason on the failed run, says it in one WARNING line naming the run, and counts in
this process's activity (what /metrics exposes). On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engine import jobs, projects, training
from tests.helpers import label_next, load_slice, scheduler_job


def test_a_failed_retrain_keeps_and_says_its_reason(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(ws, project="bank", retrain_every=5)
    label_next(ws, truth, 20, annotators=("U1",))
    # models of its own (the data dir, with its embedding cache, is the session's)
    monkeypatch.setattr(ws, "settings", ws.settings.model_copy(update={"models_dir": tmp_path}))
    blocker = tmp_path / "bank"
    blocker.write_text("not a folder")
    before = jobs.ACTIVITY.snapshot()
    retrain = scheduler_job(ws, "retrain")
    with caplog.at_level(logging.INFO):
        retrain()
    said = [r for r in caplog.records if r.name == "engine.scheduler"]
    assert [(r.levelname, r.getMessage()) for r in said] == [
        (
            "WARNING",
            f"retrain bank: training v1 failed: FileExistsError: [Errno 17] File exists: "
            f"'{blocker}'",
        )
    ]
    assert "vNone" not in caplog.text and "Traceback" not in caplog.text
    [run] = training.list_versions(ws, "bank")
    assert run.status == "failed"
    assert run.metrics["error"] == f"FileExistsError: [Errno 17] File exists: '{blocker}'"
    failure = training.last_failure(ws, "bank")
    assert failure is not None
    assert (failure["version"], failure["error"]) == (1, run.metrics["error"])
    assert failure["at"] == run.metrics["failed_at"]
    after = jobs.ACTIVITY.snapshot()
    assert after.failures.get("bank", 0) == before.failures.get("bank", 0) + 1
    assert after.duration_count == before.duration_count + 1
    assert after.last_success["retrain"] >= before.last_success.get("retrain", 0)
    # the reason does not get in the way of what reads runs' metrics: the next training works
    blocker.unlink()
    ws.memo.clear()
    v2 = training.train_project(ws, "bank")
    assert v2.status == "ready" and v2.is_active
    assert training.last_failure(ws, "bank") is None


def test_failure_text_is_one_short_line() -> None:
    text = training.failure_text(OSError("disk full\nsecond line " + "x" * 500))
    assert text == "OSError: disk full"
    long = training.failure_text(ValueError("y" * 1000))
    assert "\n" not in long and len(long) == training.FAILURE_TEXT_MAX
    assert training.failure_text(MemoryError()) == "MemoryError"
    # stopped, not broken: said in words (`labelbot models`, status), not as an exception name
    assert training.failure_text(KeyboardInterrupt()) == "interrupted (Ctrl-C) while training"
    assert training.failure_text(SystemExit(143)) == (
        "stopped while training: the process was asked to exit"
    )


def test_a_training_that_fails_after_saving_its_model_leaves_no_file(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, monkeypatch
) -> None:
    """Ctrl-C (or a database error) while the pool's predictions were worked out, after the
    model file was written: the failed run names no file, so pruning never deleted it, and
    each such failure left one behind."""
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 20, annotators=("U1",))
    monkeypatch.setattr(ws, "settings", ws.settings.model_copy(update={"models_dir": tmp_path}))

    def interrupted(*_args: object, **_kwargs: object) -> object:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(training, "_prediction_rows", interrupted)
        with pytest.raises(KeyboardInterrupt):
            training.train_project(ws, "bank")
    [run] = training.list_versions(ws, "bank")
    assert run.status == "failed" and not run.artifact_path
    assert list((tmp_path / "bank").glob("*.npz")) == []
    ready = training.train_project(ws, "bank")  # the next one keeps its file
    assert ready.status == "ready" and [p.name for p in (tmp_path / "bank").glob("*.npz")] == [
        Path(str(ready.artifact_path)).name
    ]
