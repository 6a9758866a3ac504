"""Upgrades of databases that hold data, from every earlier revision, on SQLite and PostgreSQL;
a database newer than the code; replicas migrating at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from storage.db import COMPAT_TABLE, alembic_config, bookkeeping_table, current_revision, upgrade
from storage.errors import ConfigurationError

REVISIONS = [
    r.revision
    for r in reversed(
        list(
            ScriptDirectory.from_config(
                alembic_config(sa.create_engine("sqlite://"))
            ).walk_revisions()
        )
    )
]


def _downgrade_to_base(db: sa.Engine) -> None:
    config = alembic_config(db)
    with db.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")


def _value(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.Float | sa.Numeric):
        return 0.5
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 1, 1, tzinfo=UTC)
    if isinstance(kind, sa.JSON):
        return {}
    if isinstance(kind, sa.LargeBinary):
        return b"x"
    length = getattr(kind, "length", None) or 20
    return f"{column.name}"[:length]


def _fill_every_table(db: sa.Engine) -> dict[str, int]:
    """One row in every table the schema has now, each foreign key pointing at its parent's
    row: what a database in use looks like to a migration. Returns the rows per table."""
    metadata = sa.MetaData()
    with db.begin() as conn:
        metadata.reflect(conn)
        ids: dict[str, Any] = {}
        for table in metadata.sorted_tables:
            if table.name in ("alembic_version", COMPAT_TABLE):  # the migrations' bookkeeping
                continue
            row: dict[str, Any] = {}
            for column in table.columns:
                parents = [fk.column.table.name for fk in column.foreign_keys]
                if parents and parents[0] != table.name:
                    row[column.name] = ids[parents[0]]
                elif column.primary_key and isinstance(column.type, sa.Integer):
                    continue  # the database numbers it
                elif column.nullable or column.server_default is not None:
                    continue
                else:
                    row[column.name] = _value(column)
            conn.execute(table.insert().values(**row))
            (pk,) = [c for c in table.primary_key.columns][:1] or [None]
            if pk is not None:
                ids[table.name] = conn.execute(sa.select(sa.func.max(pk))).scalar_one()
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
            if t.name not in ("alembic_version", COMPAT_TABLE)
        }


@pytest.mark.parametrize("start", REVISIONS[:-1])
def test_a_database_in_use_upgrades_from_every_revision(db, start: str) -> None:  # type: ignore[no-untyped-def]
    """SQLite rebuilds a table to alter it; with foreign keys on, dropping the old copy of a
    table other rows refer to failed, and a 0002 database with labels could never upgrade."""
    _downgrade_to_base(db)
    upgrade(db, start)
    before = _fill_every_table(db)
    upgrade(db)
    assert current_revision(db) == REVISIONS[-1]
    with db.connect() as conn:
        after = {
            name: conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            for name in before
        }
    assert after == before  # every row kept
    if db.dialect.name == "sqlite":  # and foreign keys are enforced again afterwards
        with db.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_a_database_newer_than_the_code_is_a_clear_error(db) -> None:  # type: ignore[no-untyped-def]
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(
        ConfigurationError, match="revision 9999, which this labelbot does not know"
    ):
        upgrade(db)


def test_replicas_starting_together_take_turns_on_a_fresh_database(db) -> None:  # type: ignore[no-untyped-def]
    """Three processes migrate an empty database at once: each waits for the one before and
    finds the work done (on PostgreSQL, concurrent CREATE TYPE / TABLE collided). Processes,
    as replicas are: Alembic's context is global to a process."""
    _downgrade_to_base(db)
    with db.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
    schema = None
    if db.dialect.name == "postgresql":
        with db.connect() as conn:
            schema = conn.execute(sa.text("SHOW search_path")).scalar_one()
    url = db.url.render_as_string(hide_password=False)
    script = (
        "import sys\n"
        "from storage.db import make_engine, upgrade\n"
        "upgrade(make_engine(sys.argv[1], schema=sys.argv[2] or None))\n"
    )
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, schema or ""],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    failures = []
    for replica in replicas:
        try:
            _, err = replica.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            replica.kill()
            _, err = replica.communicate()
            failures.append("stuck for 2 minutes")
            continue
        if replica.returncode != 0:
            failures.append(err[-1500:])
    assert failures == []
    assert current_revision(db) == REVISIONS[-1]


def test_0013_keeps_runs_and_leaves_their_label_ids_unknown(db) -> None:  # type: ignore[no-untyped-def]
    """Runs recorded before 0013 keep their classes and have no label ids (the engine resolves
    them from the rename history); a downgrade drops the column and keeps the runs."""
    _downgrade_to_base(db)
    upgrade(db, "0012")
    then = datetime(2026, 1, 1, tzinfo=UTC)
    metadata = sa.MetaData()
    with db.begin() as conn:
        metadata.reflect(conn, only=["projects", "model_runs"])
        projects, runs = metadata.tables["projects"], metadata.tables["model_runs"]
        conn.execute(projects.insert().values(name="p", description="", created_at=then,
                                              settings={}))  # fmt: skip
        project_id = conn.execute(sa.select(projects.c.id)).scalar_one()
        conn.execute(runs.insert().values(
            project_id=project_id, version=1, created_at=then, n_labels=6, kind="linear",
            metrics={}, classes=["a", "b"], status="ready", is_active=True,
        ))  # fmt: skip
    upgrade(db)
    with db.connect() as conn:
        runs = sa.Table("model_runs", sa.MetaData(), autoload_with=conn)
        assert conn.execute(sa.select(runs.c.classes, runs.c.label_ids)).one() == (["a", "b"], None)
    config = alembic_config(db)
    with db.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0012")
    with db.connect() as conn:
        runs = sa.Table("model_runs", sa.MetaData(), autoload_with=conn)
        assert "label_ids" not in runs.c
        assert conn.execute(sa.select(runs.c.classes)).scalar_one() == ["a", "b"]


def test_the_migrations_build_the_schema_the_models_describe(db) -> None:  # type: ignore[no-untyped-def]
    """A column, index or constraint added to a SQLModel table without its migration works in a
    test database made from the models and fails on a team's database made by the migrations:
    the two must agree (alembic's autogenerate comparison finds nothing to add or drop). The
    migrations' bookkeeping beside alembic_version (labelbot_schema_compat) has no model."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401  (registers every table on SQLModel.metadata)

    with db.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": bookkeeping_table}
        )
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_an_install_without_its_migrations_is_a_clear_error(  # type: ignore[no-untyped-def]
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that left the migration files out would have said "database ready" on a
    database without a table."""
    import storage.db

    (tmp_path / "versions").mkdir()
    for name in ("env.py", "script.py.mako"):
        (tmp_path / name).write_text((storage.db.MIGRATIONS_DIR / name).read_text())
    monkeypatch.setattr(storage.db, "MIGRATIONS_DIR", tmp_path)
    with pytest.raises(ConfigurationError, match="installed without its data files"):
        upgrade(sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}"))
