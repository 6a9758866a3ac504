"""A database that cannot be reached while labelbot runs is a one-line DatabaseUnavailable, not
the driver's OperationalError: PostgreSQL that refuses connections (a closed port), SQLite whose
file cannot be opened (its directory gone). Errors that are not an outage stay what they were."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.db import make_engine, session_scope
from storage.errors import DatabaseUnavailable


def _select_one(url: str) -> None:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            session.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()


def test_postgres_refusing_connections_is_database_unavailable() -> None:
    with pytest.raises(DatabaseUnavailable) as raised:
        _select_one("postgresql+psycopg://nobody@127.0.0.1:1/labelbot")  # nothing listens
    message = str(raised.value)
    assert message.startswith("the database cannot be reached just now (connection failed:")
    assert "Connection refused" in raised.value.reason and "\n" not in message
    assert raised.value.exit_code == 7


def test_sqlite_that_cannot_open_its_file_is_database_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    engine = make_engine(f"sqlite:///{folder / 'labelbot.db'}")  # makes the folder
    shutil.rmtree(folder)  # e.g. a volume unmounted under the running bot
    try:
        with (
            pytest.raises(DatabaseUnavailable, match="unable to open database file"),
            session_scope(engine) as session,
        ):
            session.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()


def test_other_database_errors_are_not_an_outage(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'labelbot.db'}")
    try:
        with (
            pytest.raises(sa.exc.OperationalError, match="no such table"),
            session_scope(engine) as session,
        ):
            session.execute(sa.text("SELECT * FROM nowhere"))
    finally:
        engine.dispose()
