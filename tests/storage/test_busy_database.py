"""A database busy with another process's long write (an import) neither stops start-up nor
crashes a command: a current schema is opened without the write lock, and a write that waits
past the busy or lock timeout is a one-line ConflictError. SQLite's lock is held by a second
process, PostgreSQL's by a second connection; the timeouts are cut short so no test waits 30 s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command

import storage.db
from storage.db import BUSY, alembic_config, current_revision, make_engine, session_scope, upgrade
from storage.errors import ConflictError
from storage.repositories import projects
from tests.storage.write_lock import postgres_table_lock, sqlite_write_lock

BUSY_TIMEOUT_MS = 300


@pytest.fixture
def sqlite_db(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:  # type: ignore[no-untyped-def]
    """A migrated SQLite database with one project, opened with a short busy timeout."""
    monkeypatch.setattr(storage.db, "SQLITE_BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)
    engine = make_engine(f"sqlite:///{tmp_path / 'labelbot.db'}")
    upgrade(engine)
    with session_scope(engine) as s:
        projects.create_project(session=s, name="p1", labels=["a", "b"])
    engine.dispose()  # what follows connects anew, as a new command does
    yield engine
    engine.dispose()


def _path(engine: sa.Engine) -> str:
    assert engine.url.database is not None
    return engine.url.database


def test_a_current_schema_opens_while_another_process_holds_the_write_lock(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    """Every command upgrades on start-up: that took BEGIN IMMEDIATE even with nothing to do,
    so `labelbot status` died after the busy timeout (30 s) with a traceback during an import."""
    with sqlite_write_lock(_path(sqlite_db)):
        # held throughout: an upgrade that took the write lock would fail after the busy
        # timeout ("database is locked"), whatever the machine's speed (no timing asserted: a
        # loaded CI box took 4.6 s to import and check the migrations)
        upgrade(sqlite_db)
        with session_scope(sqlite_db, read_only=True) as s:
            assert [p.name for p in projects.list_projects(session=s)] == ["p1"]


def test_a_write_that_waits_past_the_busy_timeout_is_a_one_line_conflict(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    with sqlite_write_lock(_path(sqlite_db)) as lock:
        with pytest.raises(ConflictError) as caught, session_scope(sqlite_db) as s:
            projects.create_project(session=s, name="p2", labels=["a", "b"])
        assert str(caught.value) == BUSY
        assert "another labelbot process (an import?) holds its write lock" in BUSY
        lock.release()
        with session_scope(sqlite_db) as s:  # the engine works again once the lock is free
            projects.create_project(session=s, name="p2", labels=["a", "b"])


def test_an_upgrade_takes_the_lock_and_reads_the_revision_again(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    """Only a schema that needs an upgrade takes the write lock: busy, a one-line conflict that
    changed nothing; once the lock is free, it upgrades."""
    newest = current_revision(sqlite_db)
    config = alembic_config(sqlite_db)
    with sqlite_db.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    older = current_revision(sqlite_db)
    assert older != newest
    with sqlite_write_lock(_path(sqlite_db)), pytest.raises(ConflictError, match="busy"):
        upgrade(sqlite_db)
    assert current_revision(sqlite_db) == older
    upgrade(sqlite_db)
    assert current_revision(sqlite_db) == newest


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_a_postgres_lock_timeout_is_a_one_line_conflict(db_url_and_schema) -> None:  # type: ignore[no-untyped-def]
    """An operator's lock_timeout (here in DATABASE_URL) that runs out on a table another
    connection holds (a migration, a bulk rewrite)."""
    url, schema = db_url_and_schema
    engine = make_engine(f"{url}?options=-csearch_path%3D{schema}%20-clock_timeout%3D300")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW lock_timeout").scalar_one() == "300ms"
        with session_scope(engine) as s:
            projects.create_project(session=s, name="p1", labels=["a", "b"])
        with postgres_table_lock(url, schema, "projects"):
            upgrade(engine)  # current: reads alembic_version only
            with pytest.raises(ConflictError) as caught, session_scope(engine) as s:
                projects.get_project(session=s, name="p1")
        message = str(caught.value)
        assert message.startswith("the database is busy (canceling statement due to lock timeout)")
        assert "\n" not in message and "SELECT" not in message
    finally:
        engine.dispose()
