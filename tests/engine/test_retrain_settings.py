"""The retrain trigger's settings as an older labelbot (or a hand edit) stored them: one that
`labelbot project set` refuses today is its default, said in one WARNING line naming the setting
and the command that fixes it. ``retrain_minutes`` 2e12 (taken before settings had bounds)
overflowed the scheduler's arithmetic and failed the project's retrain at every poll, an ERROR
with a traceback and a WARNING each time (5,760 a day at the default poll), and it never
trained. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from engine import jobs, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import projects as project_repo
from tests.helpers import label_next, load_slice, scheduler_job


def _store_settings(ws: Workspace, **settings: object) -> None:
    """Settings written straight through storage, as an older version (or a hand edit) left them."""
    with session_scope(ws.db) as session:
        found = project_repo.get_project(session=session, name="bank")
        assert found.id is not None
        project_repo.update_project_settings(session=session, project_id=found.id, **settings)


def test_a_retrain_timer_out_of_range_is_the_default_said_once(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    _store_settings(ws, retrain_minutes=2e12)
    label_next(ws, truth, 5, annotators=("U1",))
    retrain = scheduler_job(ws, "retrain")
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            retrain()
    assert training.list_versions(ws, "bank") == []  # 5 labels: waiting for 20, or 10 minutes
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [
        "project bank: its retrain_minutes setting 2000000000000.0 cannot be used (stored by an "
        "older labelbot, or by hand); the default, 10, is used until it is set again with "
        "`labelbot project set bank --retrain-minutes N`"
    ]
    decision = jobs.retrain_decision(ws, "bank", now=utcnow() + timedelta(minutes=11))
    assert decision.due and decision.reason == "5 new labels and 10 min passed"
    label_next(ws, truth, 15, annotators=("U1",))
    retrain()
    [run] = training.list_versions(ws, "bank")
    assert run.status == "ready" and run.is_active


@pytest.mark.parametrize("stored", ["many", 0, -3, 2_000_000, float("nan"), None])
def test_a_retrain_threshold_that_cannot_be_used_is_the_default(stored: object) -> None:
    assert jobs.retrain_every({"retrain_every": stored}) == jobs.DEFAULT_RETRAIN_EVERY
    assert jobs.retrain_minutes({"retrain_minutes": stored}) == jobs.DEFAULT_RETRAIN_MINUTES


def test_settings_that_can_be_set_are_read_as_set() -> None:
    assert jobs.retrain_every({"retrain_every": 5}) == 5
    assert jobs.retrain_every({"retrain_every": "30"}) == 30  # as text, by a hand edit
    assert jobs.retrain_every({}) == jobs.DEFAULT_RETRAIN_EVERY
    assert jobs.retrain_minutes({"retrain_minutes": 0.5}) == 0.5
    assert jobs.retrain_minutes({}) == jobs.DEFAULT_RETRAIN_MINUTES


def test_the_retrain_reason_counts_one_label_as_one(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """What the worker logs ("retrain bank: v2 (1 new label and 10 min passed)"), in words."""
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 1, annotators=("U1",))
    assert jobs.retrain_decision(ws, "bank").reason == "1 new label, waiting for 20"
    later = jobs.retrain_decision(ws, "bank", now=utcnow() + timedelta(minutes=11))
    assert later.reason == "1 new label and 10 min passed"
    _store_settings(ws, retrain_every=1)
    assert jobs.retrain_decision(ws, "bank").reason == "1 new label (threshold 1)"
