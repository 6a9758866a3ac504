"""A job whose run time passed while the scheduler could not get to it (a busy machine: seven
jobs due at once on two cores) runs late rather than being skipped: APScheduler's default
``misfire_grace_time`` (1 s) skipped it with a WARNING ("Run time of job … was missed by
0:00:01.18"), and the digest, retrain or redraw waited for the next poll. (With ``coalesce``,
a backlog is still one run.) The project's own scheduler (build_scheduler), a real
BackgroundScheduler; SQLite and PostgreSQL (the workspace its jobs use)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest

from engine.scheduler import build_scheduler
from engine.workspace import Workspace


def test_a_run_time_passed_while_the_scheduler_was_held_up_still_runs(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="apscheduler")
    scheduler = build_scheduler(ws, poll_seconds=3600)  # its own jobs: not due during the test
    ran: list[datetime] = []
    done = threading.Event()

    def job() -> None:
        ran.append(datetime.now(UTC))
        done.set()

    scheduler.start(paused=True)  # held up: nothing runs until resumed
    try:
        # due 5 s ago, while the scheduler was held up: past the old 1 s grace (set in the
        # past, not waited for)
        due = datetime.now(UTC) - timedelta(seconds=5)
        scheduler.add_job(job, "interval", seconds=3600, next_run_time=due, id="late")
        scheduler.resume()
        assert done.wait(10), "the late job was skipped"
    finally:
        scheduler.shutdown(wait=True)
    assert len(ran) == 1
    missed = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not missed, [r.getMessage() for r in missed]
