"""The way back to an older labelbot, from the terminal: a command that upgrades the schema
says so once (stderr; serve's log), `db copy` refuses a source at an older revision, `db
downgrade` takes the schema back, `db backup` copies a SQLite database as it is."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from bot.cli import app
from storage.db import COMPAT_TABLE, current_revision, make_engine, revisions
from tests.bot.conftest import cli_environment, cli_on_each, rest_only_serve
from tests.storage.test_db_copy import dump_at
from tests.storage.test_upgrade_safety import HEAD, KINDS, OLD, database_at

NOTICE = (
    f"upgraded the database schema {OLD} → {HEAD}; labelbot releases older than this one can no "
    f"longer open it (`labelbot db downgrade {OLD}` with this labelbot rolls it back)"
)


@pytest.fixture(params=KINDS)
def old_env(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    embedding_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """DATABASE_URL: a database an older labelbot made (schema at 0017, one row per table)."""
    yield from cli_on_each(database_at(request.param, tmp_path), monkeypatch, embedding_cache_dir)


def _invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


def test_a_command_that_upgrades_the_schema_says_so_once(old_env: Any) -> None:
    """`labelbot project list` of a new labelbot upgraded the old labelbot's database without
    a word, so nobody knew the old one could no longer open it."""
    first = _invoke("project", "list")
    assert first.exit_code == 0, first.output
    assert first.stderr.strip().splitlines() == [NOTICE]
    assert current_revision(old_env) == HEAD
    again = _invoke("project", "list")
    assert again.exit_code == 0 and again.stderr == "", again.output


def test_creating_a_database_says_what_it_said(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_environment(monkeypatch, f"sqlite:///{tmp_path / 'new.db'}", embedding_cache_dir)
    result = _invoke("init")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.startswith("database ready: ")


def test_serve_logs_the_upgrade(
    tmp_path: Path,
    embedding_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for url, _, engine in database_at("sqlite", tmp_path):
        cli_environment(monkeypatch, url, embedding_cache_dir)
        rest_only_serve(monkeypatch, tmp_path)
        with caplog.at_level(logging.INFO):
            result = _invoke("serve", "--no-scheduler")
            assert result.exit_code == 0, result.output
            said = [r for r in caplog.records if "upgraded the database schema" in r.getMessage()]
            assert [(r.levelname, r.getMessage()) for r in said] == [("WARNING", NOTICE)]
            caplog.clear()
            assert _invoke("serve", "--no-scheduler").exit_code == 0
            assert not [r for r in caplog.records if "upgraded" in r.getMessage()]
        assert current_revision(engine) == HEAD


def test_db_copy_leaves_a_source_at_an_older_revision_as_it_is(
    old_env: Any, tmp_path: Path
) -> None:
    before = dump_at(old_env)
    result = _invoke("db", "copy", "--to", f"sqlite:///{tmp_path / 'backup.db'}")
    assert result.exit_code == 4, result.output
    assert result.stderr.strip().splitlines() == [
        f"error: the source database's schema is at revision {OLD}, older than this "
        f"labelbot's {HEAD}: db copy does not upgrade it, so that the labelbot that made it "
        "can still open it; back it up with `labelbot db backup FILE` (or with the labelbot "
        "that made it), or upgrade it first with `labelbot init`; nothing was copied"
    ]
    assert current_revision(old_env) == OLD and dump_at(old_env) == before
    assert not (tmp_path / "backup.db").exists()


def test_db_downgrade_says_what_it_undoes_asks_and_takes_the_schema_back(old_env: Any) -> None:
    assert _invoke("project", "list").exit_code == 0  # the new labelbot upgraded it
    upgraded = dump_at(old_env)
    refused = _invoke("db", "downgrade", OLD, stdin="y\n")  # stdin is no terminal
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.strip() == (
        f"error: not downgraded: stdin is not a terminal to confirm on; pass --yes to "
        f"downgrade to {OLD}"
    )
    assert current_revision(old_env) == HEAD
    done = _invoke("db", "downgrade", OLD, "--yes")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    undone = list(reversed(revisions()[revisions().index(OLD) + 1 :]))
    assert lines[0].endswith(
        f"from schema revision {HEAD} to {OLD} undoes {len(undone)} migrations (what they added "
        "goes, with what it holds); stop labelbot's processes on it first:"
    )
    assert [line.split()[0] for line in lines[1 : 1 + len(undone)]] == undone
    assert lines[-1] == f"downgraded {HEAD} → {OLD}"
    assert current_revision(old_env) == OLD
    assert len(upgraded.pop(COMPAT_TABLE)) == 1  # the migrations' bookkeeping, gone below 0020
    assert {t: len(r) for t, r in dump_at(old_env).items()} == {
        t: len(r) for t, r in upgraded.items()
    }
    again = _invoke("db", "downgrade", OLD, "--yes")
    assert again.exit_code == 0
    assert again.stdout.strip() == f"the database schema is at {OLD} already: nothing to downgrade"


def test_db_downgrade_refusals_are_one_line(old_env: Any) -> None:
    for args, message in (
        (
            ["17a"],
            f"error: unknown schema revision '17a': this labelbot knows 0001 to {HEAD}",
        ),
        (
            ["0018", "--yes"],
            f"error: the database schema is at revision {OLD}, older than 0018: a downgrade "
            "only goes back (`labelbot init` upgrades it)",
        ),
    ):
        result = _invoke("db", "downgrade", *args)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().splitlines() == [result.stderr.strip()]
        assert result.stderr.startswith(message), result.stderr
    assert current_revision(old_env) == OLD
    # a revision without its leading zeros is that revision (it was "unknown revision '17'")
    short = _invoke("db", "downgrade", OLD.lstrip("0"), "--yes")
    assert short.exit_code == 0, short.output
    assert short.stdout.strip() == f"the database schema is at {OLD} already: nothing to downgrade"


def test_db_downgrade_help_says_when() -> None:
    result = _invoke("db", "downgrade", "--help")
    assert result.exit_code == 0
    words = " ".join(result.output.split())
    assert "db downgrade [OPTIONS] REVISION" in words
    assert "Use it before rolling a deployment back to an older labelbot" in words
    assert "--yes" in words
    shown = " ".join(_invoke("db", "--help").output.split())
    assert "downgrade" in shown and "backup" in shown


def test_db_backup_copies_the_database_as_it_is(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for url, _, engine in database_at("sqlite", tmp_path):
        cli_environment(monkeypatch, url, embedding_cache_dir)
        target = tmp_path / "backup.db"
        made = _invoke("db", "backup", str(target))
        assert made.exit_code == 0, made.output
        assert made.stdout.startswith(
            f"backed up sqlite:///{tmp_path / 'old.db'} (schema revision {OLD}) to {target}: "
        )
        assert current_revision(engine) == OLD  # not upgraded
        copy = sqlite3.connect(target)
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (OLD,)
        copy.close()
        assert dump_at(make_engine(f"sqlite:///{target}")) == dump_at(engine)
        refused = _invoke("db", "backup", str(target))
        assert refused.exit_code == 4
        assert refused.stderr.strip() == (
            f"error: {target} exists: pass --force to replace it, or give another file; "
            "nothing was written"
        )
        assert _invoke("db", "backup", str(target), "--force").exit_code == 0
        cli_environment(monkeypatch, f"sqlite:///{tmp_path / 'missing.db'}", embedding_cache_dir)
        missing = _invoke("db", "backup", str(tmp_path / "b2.db"))
        assert missing.exit_code == 3
        assert not (tmp_path / "missing.db").exists()


@pytest.mark.postgres
def test_db_backup_on_postgres_names_pg_dump(
    embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_environment(
        monkeypatch, "postgresql+psycopg://me:s3cret@db.example/labelbot", embedding_cache_dir
    )
    result = _invoke("db", "backup", "backup.dump")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: labelbot db backup copies a SQLite database; back up PostgreSQL with its own "
        "tool: pg_dump -Fc -f FILE 'postgresql://me:***@db.example/labelbot' (the URL without "
        "+psycopg; restore with pg_restore)"
    )


@pytest.mark.postgres
@pytest.mark.parametrize("param", ["password", "sslpassword"])
def test_db_backup_on_postgres_masks_a_password_query_parameter(
    param: str, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pg_dump advice printed a ?password= (or ?sslpassword=) query parameter in clear."""
    cli_environment(
        monkeypatch,
        f"postgresql+psycopg://me@db.example/labelbot?sslmode=require&{param}=s3cret",
        embedding_cache_dir,
    )
    result = _invoke("db", "backup", "backup.dump")
    assert result.exit_code == 2
    assert "s3cret" not in result.output
    assert "'postgresql://me@db.example/labelbot?" in result.stderr
    assert f"{param}=***" in result.stderr and "sslmode=require" in result.stderr
