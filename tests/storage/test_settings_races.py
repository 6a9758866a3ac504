"""The project's settings JSON under concurrent writers of different keys (audit finding 4).

The settings are one JSON column, written back whole. Writers of different keys run in
different processes: the digest job marks a digest sent, an admin saves `/label settings`, the
proposals and review scans record what they did, an admin pins a version. A writer that merges
into a copy it read before another writer committed puts the other's key back as it was: a
digest re-armed, an admin setting reverted, a pin lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from storage.db import make_engine, session_scope
from storage.errors import NotFoundError
from storage.repositories import projects

# How long a helper thread may take before the test calls it hung (never reached when it works).
HUNG = 30.0


def _project(db: Engine, **settings: Any) -> int:
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="p", labels=["a"], settings=settings)
        assert project.id is not None
        return project.id


def _settings(db: Engine, project_id: int) -> dict[str, Any]:
    with session_scope(db, read_only=True) as s:
        return dict(projects.get_project_by_id(session=s, project_id=project_id).settings)


def wait_until_done_or_blocked(
    monitor: Engine, *, pid: Callable[[], int | None], done: threading.Event
) -> str:
    """'done' once ``done`` is set, 'blocked' once PostgreSQL backend ``pid()`` waits for a
    lock, whichever is seen first: how a test tells "this write waits for that transaction"
    apart from "it went ahead", without guessing at durations."""
    deadline = time.monotonic() + HUNG
    while time.monotonic() < deadline:
        if done.is_set():
            return "done"
        backend = pid()
        if backend is not None:
            with monitor.connect() as conn:
                waiting = conn.execute(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": backend},
                ).scalar()
            if waiting == "Lock":
                return "blocked"
        time.sleep(0.005)  # a polling interval, not a guess at how long anything takes
    raise AssertionError("the other transaction neither finished nor waited for a lock")


def test_update_merges_keys_and_stores_none_as_null(db) -> None:  # type: ignore[no-untyped-def]
    """The semantics every caller relies on: other keys are kept, None is stored (as null, so
    ``settings.get(key)`` answers None, as unpin expects), an unknown project is NotFound."""
    pid = _project(db, batch_size=5, pinned_version=3)
    with session_scope(db) as s:
        merged = projects.update_project_settings(
            session=s, project_id=pid, pinned_version=None, last_digest_at="t1"
        ).settings
    expected = {"batch_size": 5, "pinned_version": None, "last_digest_at": "t1"}
    assert merged == expected
    assert _settings(db, pid) == expected
    with pytest.raises(NotFoundError, match="no project with id 999"), session_scope(db) as s:
        projects.update_project_settings(session=s, project_id=999, x=1)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_a_copy_loaded_earlier_in_the_transaction_is_not_written_back(  # type: ignore[no-untyped-def]
    db_url_and_schema, db
) -> None:
    """A transaction that loaded the project before another replica's write committed (a
    taxonomy change loads it before taking its lock) merges into the row as it is now, not
    into its own stale copy."""
    url, schema = db_url_and_schema
    pid = _project(db, admins=["U1"])
    other = make_engine(url, schema=schema)  # another replica: its own pool
    try:
        with session_scope(db) as s:
            stale = projects.get_project(session=s, name="p")
            assert stale.settings == {"admins": ["U1"]}
            with session_scope(other) as s2:  # commits while the first transaction is open
                projects.update_project_settings(
                    session=s2, project_id=pid, last_digest_at="2024-05-01T09:00:00"
                )
            projects.update_project_settings(session=s, project_id=pid, pinned_version=2)
    finally:
        other.dispose()
    assert _settings(db, pid) == {
        "admins": ["U1"],
        "last_digest_at": "2024-05-01T09:00:00",
        "pinned_version": 2,
    }


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_a_write_between_another_writers_read_and_write_is_kept(  # type: ignore[no-untyped-def]
    db_url_and_schema, db
) -> None:
    """Forced interleaving: replica A (the digest job) has read the settings and is about to
    write them back when replica B (an admin) saves a setting. B must wait for A and merge
    into A's result; before the fix B went ahead and A's write put B's old value back."""
    url, schema = db_url_and_schema
    pid = _project(db, batch_size=5)
    a_read = threading.Event()
    b_done = threading.Event()
    b_pid: list[int] = []
    errors: list[BaseException] = []
    seen: list[str] = []
    a_thread: list[threading.Thread] = []

    def pause_a_before_its_write(session: OrmSession, *_: Any) -> None:
        if threading.current_thread() is not a_thread[0] or a_read.is_set():
            return
        a_read.set()  # A has read the settings; its UPDATE is next
        seen.append(wait_until_done_or_blocked(db, pid=lambda: b_pid[0] if b_pid else None,
                                               done=b_done))  # fmt: skip

    def replica_a() -> None:
        engine = make_engine(url, schema=schema)
        try:
            with session_scope(engine) as s:
                projects.update_project_settings(
                    session=s, project_id=pid, last_digest_at="2024-05-01T09:00:00"
                )
        except BaseException as exc:  # re-raised by the main thread's assertion
            errors.append(exc)
        finally:
            engine.dispose()

    def replica_b() -> None:
        engine = make_engine(url, schema=schema)
        try:
            assert a_read.wait(HUNG)
            with session_scope(engine) as s:
                b_pid.append(int(s.execute(text("SELECT pg_backend_pid()")).scalar_one()))
                projects.update_project_settings(session=s, project_id=pid, batch_size=20)
        except BaseException as exc:
            errors.append(exc)
        finally:
            b_done.set()
            engine.dispose()

    event.listen(OrmSession, "before_flush", pause_a_before_its_write)
    try:
        a_thread.append(threading.Thread(target=replica_a))
        threads = [a_thread[0], threading.Thread(target=replica_b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(HUNG)
    finally:
        event.remove(OrmSession, "before_flush", pause_a_before_its_write)
    assert errors == []
    assert seen == ["blocked"]  # B waited for A's transaction instead of writing past it
    assert _settings(db, pid) == {"batch_size": 20, "last_digest_at": "2024-05-01T09:00:00"}


WRITES = 100


def test_two_replicas_writing_different_keys_lose_no_write(db_url_and_schema, db) -> None:  # type: ignore[no-untyped-def]
    """Two replicas (their own engines) each write their own key many times, as the audit's
    repro did (the digest job against an admin). Each checks, before every write, that its
    previous value is still there: a stale copy written back by the other would revert it.
    (On SQLite, whose writers are serial, this holds with or without the row lock.)"""
    url, schema = db_url_and_schema
    pid = _project(db)
    barrier = threading.Barrier(2)
    reverted: dict[str, int] = {"digest": 0, "admin": 0}
    errors: list[BaseException] = []

    def replica(key: str) -> None:
        engine = make_engine(url, schema=schema)
        try:
            barrier.wait()
            for i in range(WRITES):
                with session_scope(engine, read_only=True) as s:
                    now = projects.get_project_by_id(session=s, project_id=pid).settings
                if now.get(key) != (i - 1 if i else None):
                    reverted[key] += 1
                with session_scope(engine) as s:
                    projects.update_project_settings(session=s, project_id=pid, **{key: i})
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=replica, args=(k,)) for k in reverted]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HUNG)
    assert errors == []
    assert reverted == {"digest": 0, "admin": 0}
    assert _settings(db, pid) == {"digest": WRITES - 1, "admin": WRITES - 1}
