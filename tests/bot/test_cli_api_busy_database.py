"""While another process holds the database's write lock (a long `labelbot import`), commands
that only read still answer, and one that must write fails with one line and exit code 4 (it
was an 85-line traceback, exit code 1, for every command); the REST API answers such an error
with JSON 409. SQLite's lock is held by a second process, PostgreSQL's by a second connection,
with the busy and lock timeouts cut short."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from typer.testing import CliRunner

import storage.db
from bot.cli import app
from storage.db import BUSY
from tests.bot.conftest import API_TOKEN, Bot
from tests.storage.write_lock import postgres_table_lock, sqlite_write_lock


@pytest.fixture
def settings_cache():  # type: ignore[no-untyped-def]
    from engine.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(args: list[str]) -> Any:
    return CliRunner().invoke(app, args)


def _one_line_conflict(args: list[str]) -> str:
    result = _run(args)
    assert result.exit_code == 4, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output
    return str(result.output.strip())


def test_sqlite_commands_while_another_process_holds_the_write_lock(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch, settings_cache
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(storage.db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    path = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    assert _run(["project", "create", "p1", "--labels", "A,B"]).exit_code == 0
    with sqlite_write_lock(str(path)):
        for read in (["status", "p1"], ["project", "list"], ["export", "p1"]):
            result = _run(read)
            assert result.exit_code == 0, (read, result.output)
        refused = _one_line_conflict(["project", "set", "p1", "--retrain-every", "7"])
    assert refused == f"error: {BUSY}"
    assert _run(["project", "set", "p1", "--retrain-every", "7"]).exit_code == 0


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_a_postgres_lock_timeout_is_one_line_with_exit_code_4(
    db_url_and_schema, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch, settings_cache
) -> None:  # type: ignore[no-untyped-def]
    url, schema = db_url_and_schema
    options = f"-csearch_path%3D{schema}%20-clock_timeout%3D300"  # the operator's lock_timeout
    monkeypatch.setenv("DATABASE_URL", f"{url}?options={options}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    assert _run(["project", "create", "p1", "--labels", "A,B"]).exit_code == 0
    with postgres_table_lock(url, schema, "projects"):
        refused = _one_line_conflict(["status", "p1"])
    assert refused.startswith(
        "error: the database is busy (canceling statement due to lock timeout): another "
        "process holds a lock this needs"
    )
    assert _run(["status", "p1"]).exit_code == 0


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_the_rest_api_answers_a_busy_database_with_json_409(bot: Bot, db_url_and_schema) -> None:  # type: ignore[no-untyped-def]
    url, schema = db_url_and_schema

    @event.listens_for(bot.ws.db, "connect")
    def _short_lock_timeout(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET lock_timeout = 300")
        cursor.close()
        dbapi_connection.commit()

    bot.ws.db.dispose()  # connections from now on have it
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    with postgres_table_lock(url, schema, "projects"):
        answer = bot.slack.http.get("/api/projects", headers=auth)
    assert answer.status_code == 409, answer.text
    body = answer.json()
    assert body["error"] == "ConflictError"
    assert body["detail"].startswith("the database is busy (canceling statement due to lock")
    assert bot.slack.http.get("/api/projects", headers=auth).json() == []
