"""A digest schedule stored before schedules were checked as `labelbot project set` checks them
today ("mon-fri!" was taken until 2026-12-02) is said once, as one ERROR line naming the fix, and
no digest goes out for it; it was an ERROR with a traceback at every round of the digest job,
every minute (1,440 a day), for as long as it stayed. The other projects' digests go out. On
SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from engine import jobs, projects
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import projects as project_repo
from tests.helpers import load_slice


def _store_cron(ws: Workspace, project: str, cron: str) -> None:
    """A schedule written straight through storage, as an older version left it."""
    with session_scope(ws.db) as session:
        found = project_repo.get_project(session=session, name=project)
        assert found.id is not None
        project_repo.update_project_settings(session=session, project_id=found.id, digest_cron=cron)


def test_a_schedule_stored_before_it_was_checked_is_said_once(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load_slice(ws, banking_slice[:5], tmp_path, project="old")
    load_slice(ws, banking_slice[5:10], tmp_path, project="bank")
    _store_cron(ws, "old", "0 9 * * mon-fri!")
    projects.update_settings(ws, project="bank", digest_cron="*/30 * * * *")
    sent: list[str] = []
    with caplog.at_level(logging.INFO, logger="engine.jobs"):
        for minutes in (31, 62, 93):
            now = utcnow() + timedelta(minutes=minutes)
            assert jobs.digest_cycle(ws, sent.append, owner="w1", now=now) == ["bank"]
    assert sent == ["bank"] * 3
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [(r.getMessage(), r.exc_info) for r in errors] == [
        (
            "digest of old failed: invalid digest schedule '0 9 * * mon-fri!': day of the week "
            "'mon-fri!': use 0-7 (0 and 7 are Sunday) or sun-sat, e.g. 1-5; no digest is sent "
            "until it is set again with `labelbot project set old --digest-cron '0 9 * * "
            "mon-fri'`",
            None,
        )
    ]


def test_an_unknown_timezone_is_said_once(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A timezone this system does not know (a hand edit, a zone gone from a newer tzdata) is
    UTC, said once per process, not at every round of the digest job."""
    name = f"tz{uuid.uuid4().hex[:8]}"  # said once per process: a project of its own
    load_slice(ws, banking_slice[:5], tmp_path, project=name)
    with session_scope(ws.db) as session:
        found = project_repo.get_project(session=session, name=name)
        assert found.id is not None
        project_repo.update_project_settings(
            session=session, project_id=found.id, timezone="Mars/Olympus_Mons",
            digest_cron="0 9 * * *",
        )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="engine.jobs"):
        for minutes in (1, 2, 3):
            jobs.digest_cycle(
                ws, lambda _: None, owner="w1", now=utcnow() + timedelta(minutes=minutes)
            )
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert said == [f"project {name} has an unknown timezone 'Mars/Olympus_Mons'; using UTC"]
