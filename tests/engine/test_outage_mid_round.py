"""A database outage that begins in the middle of a scheduler round stops the round: every
project would fail alike. Before, each project's isolation handler logged a full traceback (one
per project per poll), and a retrain cut off counted as a failed training, tried again only
after `retrain_minutes`. The job's wrapper (engine.scheduler.DatabaseWatch) says it once a
minute -- on SQLite and PostgreSQL. The outage is the driver's error as storage.db classifies
it, raised where the database is next asked."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from engine import jobs, projects, training
from storage.errors import DatabaseUnavailable
from tests.helpers import label_next, load_slice

DOWN = DatabaseUnavailable("the database cannot be reached just now", reason="connection refused")


def test_an_outage_during_a_retrain_stops_the_round_and_is_no_failed_training(
    ws: Any, banking_slice: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(ws, project="bank", retrain_every=10, retrain_minutes=60)
    label_next(ws, truth, 12)
    assert jobs.retrain_decision(ws, "bank").due

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise DOWN

    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, logger="engine.jobs"):
        patch.setattr(training, "train_project", down)
        with pytest.raises(DatabaseUnavailable):
            jobs.retrain_cycle(ws, owner="w1")
    assert not [r for r in caplog.records if r.exc_info]  # no traceback from the round
    assert (jobs.TRAIN_FAILED, "bank") not in ws.notes  # no wait before the next try
    # back: the next poll trains at once
    assert [o.version for o in jobs.retrain_cycle(ws, owner="w1")] == [1]


def test_an_outage_during_a_digest_round_stops_it(
    ws: Any, banking_slice: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("p1", "p2"):
        load_slice(ws, banking_slice[:10], tmp_path, project=name, channel_id=f"C0{name.upper()}")
        projects.update_settings(ws, project=name, digest_cron="* * * * *",
                                 last_digest_at="2026-01-01T00:00:00+00:00")  # fmt: skip
    asked: list[str] = []

    def send(name: str) -> None:
        asked.append(name)
        raise DOWN

    with caplog.at_level(logging.WARNING, logger="engine.jobs"), pytest.raises(DatabaseUnavailable):
        jobs.digest_cycle(ws, send, owner="w1")
    assert asked == ["p1"]  # p2 was not tried against a database that is down
    assert not [r for r in caplog.records if r.exc_info]
