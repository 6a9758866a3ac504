"""CLI errors that were tracebacks or misleading lines: each is one line with its exit code."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app


@pytest.fixture
def settings_cache():  # type: ignore[no-untyped-def]
    from engine.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def cli_env(tmp_path: Path, embedding_cache_dir: Path, monkeypatch, settings_cache):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))


@pytest.fixture
def pg_cli_env(db_url_and_schema, embedding_cache_dir: Path, monkeypatch, settings_cache):  # type: ignore[no-untyped-def]
    """The CLI on a fresh PostgreSQL schema (psycopg takes the search_path from the URL)."""
    url, schema = db_url_and_schema
    monkeypatch.setenv("DATABASE_URL", f"{url}?options=-csearch_path%3D{schema}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))


def _one_line_error(args: list[str], code: int, message: str) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.output
    assert result.output.strip().splitlines() == [result.output.strip()], result.output
    assert message in result.output and "Traceback" not in result.output
    return str(result.output)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:5432/does_not_exist_db",
        "postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:1/does_not_exist_db",  # no server
    ],
)
def test_a_database_that_cannot_be_reached_is_a_configuration_error(
    url: str, tmp_path: Path, monkeypatch, settings_cache
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(tmp_path))
    output = _one_line_error(["status", "foo"], 6, "error: cannot connect to the database")
    assert "'does_not_exist_db' at 127.0.0.1:" in output and "DATABASE_URL" in output
    assert "s3cret-pw" not in output


def test_a_file_that_is_no_sqlite_database_is_a_configuration_error(
    tmp_path: Path, monkeypatch, settings_cache
) -> None:  # type: ignore[no-untyped-def]
    """DATABASE_URL naming a file of something else (a CSV, a backup dump) was a traceback:
    SQLite opens any file and refuses it only at the first statement."""
    other = tmp_path / "labels.csv"
    other.write_text("text,label\nhello,a\n" * 200)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{other}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(tmp_path))
    output = _one_line_error(["project", "list"], 6, "error: cannot connect to the database")
    assert "labels.csv" in output and "file is not a database" in output
    assert "DATABASE_URL" in output
    assert other.read_text() == "text,label\nhello,a\n" * 200  # left as it was


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_values_too_long_for_postgres_are_refused_up_front(pg_cli_env) -> None:  # type: ignore[no-untyped-def]
    channel, actor = "C" * 80, "u" * 250
    _one_line_error(
        ["project", "create", "p1", "--labels", "A,B", "--channel", channel],
        2,
        "channel is too long (80 characters, at most 64)",
    )
    assert CliRunner().invoke(app, ["project", "create", "p1", "--labels", "A,B"]).exit_code == 0
    _one_line_error(["project", "set", "p1", "--channel", channel], 2, "channel is too long")
    _one_line_error(["labels", "add", "p1", "NEW", "--actor", actor], 2, "actor is too long")
    _one_line_error(["labels", "rename", "p1", "A", "X", "--actor", actor], 2, "actor is too long")
    _one_line_error(["label", "p1", "--annotator", actor], 2, "annotator is too long")
    for value in ("nan", "inf", "2e12"):
        _one_line_error(
            ["project", "set", "p1", "--retrain-minutes", value], 2, "setting retrain_minutes"
        )
    _one_line_error(["project", "set", "p1", "--digest-cron", "0 0 30 2 *"], 2, "never fires")
    listed = CliRunner().invoke(app, ["labels", "list", "p1"])
    assert "NEW" not in listed.output and "X" not in listed.output  # nothing was changed


def test_models_help_keeps_its_usage_table(cli_env) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["models", "--help"])
    assert result.exit_code == 0
    lines = [line.strip() for line in result.output.splitlines()]
    for usage in (
        "labelbot models NAME ",
        "labelbot models unpin NAME ",
        "labelbot models promote",
    ):
        assert any(line.startswith(usage) for line in lines), result.output


def test_unpin_says_when_nothing_was_pinned(cli_env) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "a,b"]).exit_code == 0
    result = runner.invoke(app, ["models", "unpin", "p"])
    assert result.exit_code == 0 and "p: no version is pinned; nothing changed" in result.output


def test_simulate_with_a_one_row_pool_says_what_is_wrong(cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pool, test = tmp_path / "pool.csv", tmp_path / "test.csv"
    for path in (pool, test):
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([["text", "label"], ["my card has not arrived", "a"]])
    _one_line_error(
        ["simulate", str(pool), "--test", str(test)],
        2,
        f"{pool}: the pool needs at least 2 examples to simulate (it has 1)",
    )


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_init_refuses_an_in_memory_database(url: str, monkeypatch, settings_cache) -> None:  # type: ignore[no-untyped-def]
    """`init` on an in-memory SQLite said "database ready" for a database gone at exit."""
    monkeypatch.setenv("DATABASE_URL", url)
    _one_line_error(["init"], 6, "in-memory SQLite database")
