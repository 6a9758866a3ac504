"""`labelbot db copy --to URL [--from URL]`: the whole database into another, empty one, from
the terminal; what the team sees afterwards is the same on the copy, and every refusal is one
line with its exit code and no password."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import bot.cli.database  # noqa: F401  (registers `db`, until bot/cli/__init__.py imports it)
from bot.cli import app
from engine.config import Settings, get_settings
from engine.workspace import Workspace
from storage.db import make_engine
from tests.conftest import POSTGRES_URL, _postgres_schema_engine
from tests.storage.test_db_copy import PROJECT, build_source, copied_tables, dump


@pytest.fixture
def source_env(
    tmp_path: Path, encoder, embedding_cache_dir: Path, banking_slice, monkeypatch
) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """DATABASE_URL: a SQLite file holding a project a team has worked on."""
    url = f"sqlite:///{tmp_path / 'labelbot.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    get_settings.cache_clear()
    ws = Workspace.open(
        Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=embedding_cache_dir), encoder=encoder
    )
    build_source(ws, banking_slice[:60], tmp_path)
    ws.close()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL naming a fresh, empty PostgreSQL schema (psycopg takes it from the URL)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin, engine = _postgres_schema_engine(name)
    engine.dispose()
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
    admin.dispose()


def _run(args: list[str], monkeypatch: pytest.MonkeyPatch | None = None, url: str = "") -> str:
    if monkeypatch is not None:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return str(result.output)


def _one_line_error(args: list[str], code: int, message: str) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.output
    assert result.output.strip().splitlines() == [result.output.strip()], result.output
    assert message in result.output and "Traceback" not in result.output, result.output
    return str(result.output)


def _seen(monkeypatch: pytest.MonkeyPatch, url: str) -> list[str]:
    """What the team sees on the database at ``url``: status, the export, the history."""
    return [
        _run(["status", PROJECT, "--json"], monkeypatch, url),
        _run(["export", PROJECT], monkeypatch, url),
        _run(["export", PROJECT, "--format", "csv"], monkeypatch, url),
        _run(["labels", "history", PROJECT, "--json"], monkeypatch, url),
        _run(["models", PROJECT], monkeypatch, url),
    ]


@pytest.mark.postgres
def test_db_copy_to_postgres_and_back(
    source_env: str, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _seen(monkeypatch, source_env)
    monkeypatch.setenv("DATABASE_URL", source_env)
    get_settings.cache_clear()
    output = _run(["db", "copy", "--to", pg_url])
    source_rows = copied_tables(dump(make_engine(source_env)))
    total = sum(len(rows) for rows in source_rows.values())
    lines = output.strip().splitlines()
    assert lines[-1] == (
        f"copied 19 tables, {total:,} rows from {source_env} to {pg_url} (not copied: leases)"
    )
    # one line per table, with its rows: "  annotations            26"
    assert [line.split() for line in lines[:-1]] == [
        [name, f"{len(rows):,}"] for name, rows in source_rows.items()
    ]
    assert _seen(monkeypatch, pg_url) == seen
    # the copy is a labelbot database like any other: the status counts a new label
    _run(["labels", "add", PROJECT, "Refunds"], monkeypatch, pg_url)
    assert "Refunds" in _run(["labels", "list", PROJECT], monkeypatch, pg_url)

    # and back, from PostgreSQL (--from) to a new SQLite file
    back = f"sqlite:///{tmp_path / 'backup' / 'labelbot.db'}"
    _run(["db", "copy", "--from", pg_url, "--to", back], monkeypatch, source_env)
    assert copied_tables(dump(make_engine(back))) == copied_tables(dump(make_engine(pg_url)))
    assert (
        json.loads(_run(["status", PROJECT, "--json"], monkeypatch, back))["labels"]
        == (json.loads(_run(["status", PROJECT, "--json"], monkeypatch, pg_url))["labels"])
    )


@pytest.mark.postgres
def test_db_copy_refuses_a_target_with_data(
    source_env: str, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(["db", "copy", "--to", pg_url])
    before = dump(make_engine(pg_url))
    _one_line_error(
        ["db", "copy", "--to", pg_url],
        4,
        "error: the target database is not empty: table 'people' has rows; labelbot copies "
        "only into a database without labelbot data, and changed nothing there",
    )
    assert dump(make_engine(pg_url)) == before


def test_db_copy_errors_are_one_line_with_exit_codes(
    source_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _one_line_error(
        ["db", "copy", "--to", "postgresql+psycopg://me:s3cret@db.example:port/labelbot"],
        2,
        "error: --to is not a valid database URL: "
        "'postgresql+psycopg://me:***@db.example:port/labelbot'",
    )
    _one_line_error(
        ["db", "copy", "--to", "mysql://me:s3cret@db.example/labelbot"],
        2,
        "error: --to uses an unsupported database 'mysql'",
    )
    unreachable = _one_line_error(
        ["db", "copy", "--to", "postgresql+psycopg://me:s3cret@127.0.0.1:1/labelbot"],
        6,
        "error: cannot connect to the target database 'labelbot' at 127.0.0.1:1: ",
    )
    assert unreachable.rstrip().endswith("; check --to") and "s3cret" not in unreachable
    _one_line_error(
        ["db", "copy", "--to", "sqlite://"], 2, "error: --to names an in-memory SQLite database"
    )
    _one_line_error(
        ["db", "copy", "--to", source_env], 2, "error: --to names the source database itself"
    )
    missing = tmp_path / "nowhere.db"
    _one_line_error(
        ["db", "copy", "--from", f"sqlite:///{missing}", "--to", f"sqlite:///{tmp_path / 'x.db'}"],
        3,
        f"error: no database at {missing} (--from sqlite:///{missing}); nothing was copied",
    )
    assert not missing.exists()


def test_db_copy_that_fails_mid_way_writes_nothing(
    source_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(source_env)
    with engine.connect() as conn:  # a comment on an example that is not there (hand-edited)
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql(
            "INSERT INTO comments (id, example_id, author, text, created_at) "
            "VALUES (77, 99999, 'U2', 'orphan', '2026-12-01 10:00:00.000000')"
        )
        conn.commit()
    engine.dispose()
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    _one_line_error(
        ["db", "copy", "--to", target],
        2,
        "error: the target database refused a row of table 'comments' (id=77): FOREIGN KEY "
        "constraint failed; nothing was copied",
    )
    assert not (tmp_path / "copy.db").exists()  # the file the copy created is removed


def test_db_copy_help() -> None:
    result = CliRunner().invoke(app, ["db", "copy", "--help"])
    assert result.exit_code == 0
    assert "db copy [OPTIONS]" in result.output
    words = " ".join(result.output.split())
    assert "--to URL" in words and "--from URL" in words
    assert "only leases (which process holds which work, now) are left out" in words
    assert "copy" in CliRunner().invoke(app, ["db", "--help"]).output
