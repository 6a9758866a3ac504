"""A rolling upgrade, from the terminal: a labelbot older than the database's schema, restarted,
runs on a schema the newer labelbot only added to and says so once (stderr; serve's log); it
refuses one the newer labelbot changed (exit 6); `labelbot init` records the mark."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from bot.cli import app
from storage.db import current_revision, make_engine, oldest_compatible, upgrade
from tests.bot.conftest import cli_environment, cli_on_each, rest_only_serve
from tests.storage.test_schema_compat import (
    ADDED,
    HEAD,
    KINDS,
    RENAMED,
    fresh_database,
    mark,
    newer_migrations,
    refusal,
)

NOTICE = (
    f"the database schema is at revision {ADDED}, newer than this labelbot's {HEAD}; the "
    f"labelbot that upgraded it only added to it (labelbot from schema {HEAD} on can run on "
    "it), so this labelbot runs on it as it is, without what was added; upgrade labelbot when "
    "you can"
)


@pytest.fixture(params=KINDS)
def env(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    embedding_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[sa.Engine]:
    """DATABASE_URL: a database this labelbot made, at its newest revision."""
    yield from cli_on_each(
        fresh_database(request.param, tmp_path), monkeypatch, embedding_cache_dir
    )


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_a_restarted_older_labelbot_runs_on_a_schema_the_newer_one_only_added_to(
    env: sa.Engine, tmp_path: Path
) -> None:
    upgrade(env, ADDED, migrations=newer_migrations(tmp_path / "newer"))
    made = _invoke("project", "create", "p", "--labels", "A,B")
    assert made.exit_code == 0, made.output
    assert made.stderr.strip().splitlines() == [NOTICE]
    listed = _invoke("project", "list")
    assert listed.exit_code == 0, listed.output
    assert "p" in listed.stdout.split()
    assert listed.stderr.strip().splitlines() == [NOTICE]
    assert current_revision(env) == ADDED and mark(env) == [(ADDED, HEAD)]


def test_a_restarted_older_labelbot_refuses_a_schema_the_newer_one_changed(
    env: sa.Engine, tmp_path: Path
) -> None:
    upgrade(env, RENAMED, migrations=newer_migrations(tmp_path / "newer"))
    for args in (["project", "list"], ["init"]):
        result = _invoke(*args)
        assert result.exit_code == 6, result.output
        assert result.stderr.strip().splitlines() == [f"error: {refusal(RENAMED)}"]
    assert current_revision(env) == RENAMED


def test_init_records_the_mark(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_environment(monkeypatch, f"sqlite:///{tmp_path / 'new.db'}", embedding_cache_dir)
    result = _invoke("init")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert mark(engine) == [(HEAD, oldest_compatible(HEAD))]
    engine.dispose()


def test_serve_logs_that_it_runs_on_a_newer_schema(
    tmp_path: Path,
    embedding_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for url, _, engine in fresh_database("sqlite", tmp_path):
        upgrade(engine, ADDED, migrations=newer_migrations(tmp_path / "newer"))
        cli_environment(monkeypatch, url, embedding_cache_dir)
        rest_only_serve(monkeypatch, tmp_path)
        with caplog.at_level(logging.INFO):
            result = _invoke("serve", "--no-scheduler")
            assert result.exit_code == 0, result.output
        said = [r for r in caplog.records if "newer than this labelbot" in r.getMessage()]
        assert [(r.levelname, r.getMessage()) for r in said] == [("WARNING", NOTICE)]
        assert current_revision(engine) == ADDED


def test_the_upgrade_notice_says_whether_the_release_before_keeps_running(
    env: sa.Engine, tmp_path: Path
) -> None:
    """The newer labelbot's own notice: an upgrade that only added says the release it left
    keeps running on it; one through a change says that release can no longer open it."""
    from bot.cli.common import schema_notice

    newer = newer_migrations(tmp_path / "newer")
    added = upgrade(env, ADDED, migrations=newer)
    assert schema_notice(added) == (
        f"upgraded the database schema {HEAD} → {ADDED}; it only added to it, so labelbot from "
        f"schema {HEAD} on (releases at {HEAD} included) keeps running on it (`labelbot db "
        f"downgrade {HEAD}` with this labelbot rolls it back)"
    )
    changed = upgrade(env, RENAMED, migrations=newer)
    assert schema_notice(changed) == (
        f"upgraded the database schema {ADDED} → {RENAMED}; labelbot releases older than this "
        f"one can no longer open it (`labelbot db downgrade {ADDED}` with this labelbot rolls "
        "it back)"
    )
