"""Audit 35, database lifecycle: migrations, `labelbot db` commands, copies between SQLite and
PostgreSQL, on real databases holding data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import projects
from engine.config import Settings
from engine.workspace import Workspace
from storage.db import downgrade, make_engine, session_scope, upgrade
from storage.errors import ConfigurationError
from storage.repositories import projects as projects_repo
from storage.repositories import proposals as proposals_repo
from tests.conftest import empty_database


@pytest.fixture
def sqlite_ws(tmp_path: Path, encoder, embedding_cache_dir) -> Iterator[Workspace]:  # type: ignore[no-untyped-def]
    settings = Settings(
        DATABASE_URL=f"sqlite:///{tmp_path / 'labelbot.db'}", LABELBOT_DATA_DIR=embedding_cache_dir
    )
    ws = Workspace.open(settings, encoder=encoder)
    yield ws
    ws.close()


def _propose(ws: Workspace, project: str, n: int) -> int:
    """Store an open merge proposal for ``project``; its id (the Approve button's)."""
    with session_scope(ws.db) as session:
        found = projects_repo.get_project(session=session, name=project)
        assert found.id is not None
        row, created = proposals_repo.save_open_proposal(
            session=session, project_id=found.id, kind="merge", labels=["a", "b"],
            key=f'["merge", "a", "b", {n}]', score=0.5, evidence={}, evidence_strength=0.5,
            message="merge a and b?",
        )  # fmt: skip
        assert created and row.id is not None
        return row.id


def _id_counters(engine: sa.Engine) -> dict[str, int]:
    """SQLite's AUTOINCREMENT counters, by table: the highest id each ever handed out."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name, seq FROM sqlite_sequence").all()
    return {str(name): int(seq) for name, seq in rows}


def test_a_downgrade_keeps_sqlites_id_counters(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    projects.create_project(ws, name="kept", labels=["a", "b"])
    projects.create_project(ws, name="gone", labels=["a", "b"])
    _propose(ws, "kept", 1)
    deleted_id = _propose(ws, "gone", 2)
    projects.delete_project(ws, "gone")  # its proposal's Approve button stays in Slack
    counters = _id_counters(ws.db)
    assert counters["proposals"] == deleted_id
    # roll back to the release before 0017 for a while, then upgrade again (README: "Any
    # command of the newer release run afterwards upgrades the database again")
    downgrade(ws.db, "0016")
    assert _id_counters(ws.db) == counters  # every table's, the rebuilt ones' too
    upgrade(ws.db)
    assert _id_counters(ws.db) == counters
    new_id = _propose(ws, "kept", 3)
    assert new_id > deleted_id, (
        f"proposal id {new_id} handed out again after the downgrade (was deleted id {deleted_id})"
    )


KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("kind", KINDS)
def test_another_applications_alembic_revision_is_not_called_a_newer_labelbot(
    kind: str, tmp_path: Path
) -> None:
    with empty_database(kind, tmp_path / "shared.db") as (_url, _schema, engine):
        with engine.begin() as conn:  # the other application's tables and its Alembic revision
            conn.exec_driver_sql("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
            conn.exec_driver_sql(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"
            )
            conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('e3b0c44298fc')")
        with pytest.raises(ConfigurationError) as refused:
            upgrade(engine)
        said = str(refused.value)
        with engine.connect() as conn:  # the other application's revision is left alone
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [
                ("e3b0c44298fc",)
            ]
        # the database holds no labelbot table: nothing a newer labelbot made, nothing for
        # `labelbot db downgrade` to take back
        assert "newer labelbot" not in said and "db downgrade" not in said, said
        assert "another application" in said and "e3b0c44298fc" in said, said
        with pytest.raises(ConfigurationError) as refused:  # `labelbot db downgrade` says so too
            downgrade(engine, "0021")
        assert "another application" in str(refused.value), refused.value
        assert "newer labelbot" not in str(refused.value), refused.value
        with engine.connect() as conn:  # nothing of labelbot's was made beside its tables
            tables = sorted(sa.inspect(conn).get_table_names())
        assert tables == ["alembic_version", "invoices"]
        if kind == "postgres":  # the way out it names: a schema of labelbot's own
            assert "?options=-csearch_path%3D" in said, said
            with empty_database(kind, tmp_path / "own.db") as (url, own, _engine):
                assert own is not None
                mine = make_engine(f"{url}?options=-csearch_path%3D{own}")
                try:
                    upgrade(mine)
                    with mine.connect() as conn:
                        assert sa.inspect(conn).has_table("projects")
                finally:
                    mine.dispose()
            with engine.connect() as conn:
                assert sorted(sa.inspect(conn).get_table_names()) == tables


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot make a file in: a read-only one, or (as root, who writes
    anywhere) sysfs, where no one can."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    return Path("/sys")


def test_a_backup_into_a_folder_it_cannot_write_names_the_file_not_the_data_dir(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from bot.cli import app
    from tests.bot.conftest import cli_environment

    database = tmp_path / "labelbot.db"
    cli_environment(monkeypatch, f"sqlite:///{database}", embedding_cache_dir)
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    target = _unwritable_folder(tmp_path) / "labelbot-backup.db"
    result = CliRunner().invoke(app, ["db", "backup", str(target)])
    assert result.exit_code != 0
    said = result.stderr
    assert "Traceback" not in result.output and said.startswith("error: "), result.output
    assert not target.exists()
    # the way out is another FILE (or the folder's permissions), not the data directory
    assert "LABELBOT_DATA_DIR" not in said and str(target) in said, said
    assert "Permission denied" in said and result.exit_code == 6, said  # and why: as any write
    assert [p.name for p in target.parent.iterdir() if "labelbot-backup" in p.name] == []


QUEUE_HEAD = (
    "SELECT example_id FROM predictions WHERE project_id = 1 "
    "ORDER BY priority DESC, example_id LIMIT 1"
)  # the head of the labeling queue, as storage.repositories.assignments walks it


def test_a_downgrade_and_upgrade_keep_the_queue_index_descending(tmp_path: Path) -> None:
    def index_and_plan(engine: sa.Engine) -> tuple[str, list[str]]:
        with engine.connect() as conn:
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_predictions_queue'"
            ).scalar_one()
            plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {QUEUE_HEAD}")]
        return str(sql), plan

    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade(fresh)
    made = index_and_plan(fresh)
    assert "priority DESC" in made[0] and not any("TEMP B-TREE" in step for step in made[1])
    fresh.dispose()
    rolled = make_engine(f"sqlite:///{tmp_path / 'rolled.db'}")
    upgrade(rolled)
    downgrade(rolled, "0021")  # one release back, then forward again
    upgrade(rolled)
    try:
        assert index_and_plan(rolled) == made
    finally:
        rolled.dispose()
