"""The mark a labelbot leaves beside alembic's version (labelbot_schema_compat): from which
schema revision on code can run on the database's schema. An older labelbot runs on a schema a
newer one only added to, and refuses one it changed or did not mark; downgrades and `db copy`
keep the mark right. On SQLite and PostgreSQL.

The newer labelbot is a directory of migrations: this labelbot's own and three more, one that
only adds (a nullable column, a table), one that renames a column this labelbot reads, and one
that only adds after it (and claims more than it may)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from engine.database import copy_to
from storage.db import (
    COMPAT_SINCE,
    COMPAT_TABLE,
    MIGRATIONS_DIR,
    NewerSchema,
    SchemaChange,
    alembic_config,
    current_revision,
    downgrade,
    make_engine,
    oldest_compatible,
    revisions,
    session_scope,
    upgrade,
)
from storage.errors import ConfigurationError
from storage.repositories.projects import create_project, get_project, list_labels, list_projects
from tests.conftest import POSTGRES_URL, _postgres_schema_engine, empty_database

ORDER = revisions()
HEAD = ORDER[-1]
# the newer labelbot's migrations, after this one's newest
ADDED, RENAMED, INDEXED = (f"{int(HEAD) + n:04d}" for n in (1, 2, 3))
KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

FAKE = '''"""{doc}

Revision ID: {revision}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None
compatible_with = "{compatible_with}"


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''

NEWER_MIGRATIONS = (
    (
        ADDED,
        HEAD,
        HEAD,  # only adds: the code of HEAD runs on it
        "a colour for projects, and their tags",
        """    op.add_column("projects", sa.Column("colour", sa.String(length=20), nullable=True))
    op.create_table(
        "project_tags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
    )""",
        """    op.drop_table("project_tags")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("colour")""",
    ),
    (
        RENAMED,
        ADDED,
        RENAMED,  # renames a column older code reads: only its own code runs on it
        "projects.description is projects.summary",
        """    with op.batch_alter_table("projects") as batch:
        batch.alter_column("description", new_column_name="summary")""",
        """    with op.batch_alter_table("projects") as batch:
        batch.alter_column("summary", new_column_name="description")""",
    ),
    (
        INDEXED,
        RENAMED,
        HEAD,  # only adds, but after RENAMED: claims more than it may
        "an index on projects.colour",
        """    op.create_index("ix_projects_colour", "projects", ["colour"])""",
        """    op.drop_index("ix_projects_colour", table_name="projects")""",
    ),
)


def newer_migrations(directory: Path) -> Path:
    """A newer labelbot's migrations in ``directory``: this one's, and :data:`NEWER_MIGRATIONS`."""
    shutil.copytree(MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    for revision, down, compatible_with, doc, up, back in NEWER_MIGRATIONS:
        (directory / "versions" / f"{revision}_newer.py").write_text(
            FAKE.format(
                doc=doc,
                revision=revision,
                down=down,
                compatible_with=compatible_with,
                upgrade=up,
                downgrade=back,
            )
        )
    return directory


def fresh_database(kind: str, tmp_path: Path) -> Iterator[tuple[str, str | None, sa.Engine]]:
    """(url, schema, engine) of an empty database this labelbot made: SQLite in ``tmp_path`` or
    a fresh PostgreSQL schema (dropped afterwards)."""
    with empty_database(kind, tmp_path / "labelbot.db") as (url, schema, engine):
        assert upgrade(engine) == SchemaChange(before=None, after=HEAD)
        yield url, schema, engine


@pytest.fixture(params=KINDS)
def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, str | None, sa.Engine]]:
    yield from fresh_database(request.param, tmp_path)


@pytest.fixture
def newer(tmp_path: Path) -> Path:
    return newer_migrations(tmp_path / "newer")


def mark(engine: sa.Engine) -> list[tuple[Any, ...]] | None:
    """The rows of labelbot_schema_compat (None: no such table)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(COMPAT_TABLE):
            return None
        rows = conn.exec_driver_sql(f"SELECT revision, oldest_compatible FROM {COMPAT_TABLE}")
        return [tuple(row) for row in rows]


def refusal(revision: str) -> str:
    return (
        f"the database schema is at revision {revision}, which this labelbot does not know "
        f"(its newest is {HEAD}): it was upgraded by a newer labelbot; upgrade labelbot, or "
        f"roll the database back with that newer labelbot (`labelbot db downgrade {HEAD}`), "
        "or point DATABASE_URL at another database"
    )


def test_each_migration_says_from_which_revision_code_runs_on_its_schema() -> None:
    """Before 0020 nothing was declared: only code that knows a revision runs on it. 0020 only
    adds a table 0019's code never reads; from it on, every migration declares its revision
    (the template writes it), one this code knows and not after its own."""
    since = ORDER.index(COMPAT_SINCE)
    assert [oldest_compatible(name) for name in ORDER[:since]] == ORDER[:since]
    assert oldest_compatible(COMPAT_SINCE) == ORDER[since - 1]
    script = ScriptDirectory.from_config(alembic_config(sa.create_engine("sqlite://")))
    for index, name in enumerate(ORDER[since:], start=since):
        declared = script.get_revision(name).module.compatible_with
        assert declared in ORDER[: index + 1], name
        assert oldest_compatible(name) in ORDER[: index + 1]
    template = (MIGRATIONS_DIR / "script.py.mako").read_text()
    assert "compatible_with = ${repr(up_revision)}" in template


def test_the_newer_migrations_declare_what_they_may(newer: Path) -> None:
    """A migration that only adds, after one that did not, is held to that one's revision."""
    assert oldest_compatible(ADDED, migrations=newer) == HEAD
    assert oldest_compatible(RENAMED, migrations=newer) == RENAMED
    assert oldest_compatible(INDEXED, migrations=newer) == RENAMED


def test_a_new_database_records_its_revision(
    database: tuple[str, str | None, sa.Engine],
) -> None:
    _, _, engine = database
    assert mark(engine) == [(HEAD, oldest_compatible(HEAD))]
    assert upgrade(engine) is None and mark(engine) == [(HEAD, oldest_compatible(HEAD))]


def test_this_labelbot_runs_on_a_schema_a_newer_one_only_added_to(
    database: tuple[str, str | None, sa.Engine], newer: Path
) -> None:
    """A replica of the older release that restarts mid-rollout: it opens the database as it
    is, neither upgraded nor downgraded, and works on it; the newer labelbot carries on."""
    _, _, engine = database
    # the newer labelbot's upgrade says the code at HEAD keeps running on it
    assert upgrade(engine, ADDED, migrations=newer) == SchemaChange(
        before=HEAD, after=ADDED, kept_open_from=HEAD
    )
    assert mark(engine) == [(ADDED, HEAD)]
    opened = upgrade(engine, run_on_newer=True)
    assert opened == NewerSchema(revision=ADDED, newest=HEAD, oldest_compatible=HEAD)
    assert current_revision(engine) == ADDED and mark(engine) == [(ADDED, HEAD)]
    with session_scope(engine) as session:
        create_project(session=session, name="p", labels=["A", "B"], description="d")
    with session_scope(engine, read_only=True) as session:
        project = get_project(session=session, name="p")
        assert project.id is not None and project.description == "d"
        assert [label.name for label in list_labels(session=session, project_id=project.id)] == [
            "A",
            "B",
        ]
    with engine.connect() as conn:  # what the newer labelbot added is there, left empty
        assert conn.exec_driver_sql("SELECT colour FROM projects").all() == [(None,)]
        assert conn.exec_driver_sql("SELECT count(*) FROM project_tags").scalar_one() == 0
    # without run_on_newer (db copy: it would leave out what was added) it is refused as before
    with pytest.raises(ConfigurationError) as raised:
        upgrade(engine)
    assert str(raised.value) == refusal(ADDED)
    # only the newer labelbot downgrades it: this one does not know the way back
    with pytest.raises(ConfigurationError) as raised:
        downgrade(engine, HEAD)
    assert str(raised.value) == refusal(ADDED)
    assert upgrade(engine, run_on_newer=True) == opened
    assert upgrade(engine, ADDED, migrations=newer) is None  # the newer one: current already
    assert current_revision(engine) == ADDED and mark(engine) == [(ADDED, HEAD)]


def test_this_labelbot_refuses_a_schema_a_newer_one_changed(
    database: tuple[str, str | None, sa.Engine], newer: Path
) -> None:
    _, _, engine = database
    with session_scope(engine) as session:
        create_project(session=session, name="p", labels=["A"])
    upgrade(engine, RENAMED, migrations=newer)
    assert mark(engine) == [(RENAMED, RENAMED)]
    with pytest.raises(ConfigurationError) as raised:
        upgrade(engine, run_on_newer=True)
    assert str(raised.value) == refusal(RENAMED)
    assert raised.value.exit_code == 6
    assert current_revision(engine) == RENAMED
    # what the refusal spares it: this labelbot reads the column the newer one renamed
    with pytest.raises(sa.exc.SQLAlchemyError), session_scope(engine) as session:
        list_projects(session=session)
    # a migration that only adds after it does not make it readable again
    # ... though code at RENAMED keeps running on it, as the upgrade says
    assert upgrade(engine, migrations=newer) == SchemaChange(
        before=RENAMED, after=INDEXED, kept_open_from=RENAMED
    )
    assert mark(engine) == [(INDEXED, RENAMED)]
    with pytest.raises(ConfigurationError) as raised:
        upgrade(engine, run_on_newer=True)
    assert str(raised.value) == refusal(INDEXED)


def test_a_downgrade_keeps_the_mark_right(
    database: tuple[str, str | None, sa.Engine], newer: Path
) -> None:
    """Each downgrade records what the revision it reaches declared; one below 0020 takes the
    table away with it, and the next upgrade records it again."""
    _, _, engine = database
    upgrade(engine, migrations=newer)
    assert mark(engine) == [(INDEXED, RENAMED)]
    assert downgrade(engine, RENAMED, migrations=newer) == SchemaChange(INDEXED, RENAMED)
    assert mark(engine) == [(RENAMED, RENAMED)]
    with pytest.raises(ConfigurationError):
        upgrade(engine, run_on_newer=True)
    assert downgrade(engine, ADDED, migrations=newer) == SchemaChange(RENAMED, ADDED)
    assert mark(engine) == [(ADDED, HEAD)]
    assert upgrade(engine, run_on_newer=True) == NewerSchema(ADDED, HEAD, HEAD)
    assert downgrade(engine, HEAD, migrations=newer) == SchemaChange(ADDED, HEAD)
    assert mark(engine) == [(HEAD, oldest_compatible(HEAD))]
    assert upgrade(engine, run_on_newer=True) is None
    before = ORDER[ORDER.index(COMPAT_SINCE) - 1]
    assert downgrade(engine, before) == SchemaChange(HEAD, before)
    assert current_revision(engine) == before and mark(engine) is None
    assert upgrade(engine) == SchemaChange(before, HEAD)
    assert mark(engine) == [(HEAD, oldest_compatible(HEAD))]


SPOILED = {
    "no table": [f"DROP TABLE {COMPAT_TABLE}"],
    "no row": [f"DELETE FROM {COMPAT_TABLE}"],
    # a migration run by other means than labelbot's: the row is about another revision
    "a row about another revision": [f"UPDATE {COMPAT_TABLE} SET revision = '{HEAD}'"],
    "a revision this code does not know": [
        f"UPDATE {COMPAT_TABLE} SET oldest_compatible = '{ADDED}'"
    ],
    "two rows": [f"INSERT INTO {COMPAT_TABLE} (revision, oldest_compatible) VALUES ('x', 'y')"],
    "a table changed": [
        f"DROP TABLE {COMPAT_TABLE}",
        f"CREATE TABLE {COMPAT_TABLE} (revision varchar(32), readable_from varchar(32))",
        f"INSERT INTO {COMPAT_TABLE} VALUES ('{ADDED}', '{HEAD}')",
    ],
}


@pytest.mark.parametrize("spoiled", SPOILED)
def test_a_newer_schema_without_a_mark_this_labelbot_can_read_is_refused(
    database: tuple[str, str | None, sa.Engine], newer: Path, spoiled: str
) -> None:
    _, _, engine = database
    upgrade(engine, ADDED, migrations=newer)
    with engine.begin() as conn:
        for statement in SPOILED[spoiled]:
            conn.exec_driver_sql(statement)
    with pytest.raises(ConfigurationError) as raised:
        upgrade(engine, run_on_newer=True)
    assert str(raised.value) == refusal(ADDED)
    assert current_revision(engine) == ADDED


def test_db_copy_records_the_mark_in_the_target_and_refuses_a_newer_source(
    database: tuple[str, str | None, sa.Engine], newer: Path, tmp_path: Path
) -> None:
    """The mark is the migrations' bookkeeping, as alembic_version is: not copied, written by
    the target's own upgrade. A source newer than this labelbot is not copied by it, marked or
    not: the copy would leave out what the newer one added."""
    url, schema, engine = database
    with session_scope(engine) as session:
        create_project(session=session, name="p", labels=["A"])
    copy = tmp_path / "copy.db"
    report = copy_to(source_url=url, source_schema=schema, target_url=f"sqlite:///{copy}")
    assert COMPAT_TABLE not in dict(report.tables)
    target = make_engine(f"sqlite:///{copy}")
    assert mark(target) == [(HEAD, oldest_compatible(HEAD))]
    with session_scope(target, read_only=True) as session:
        assert [p.name for p in list_projects(session=session)] == ["p"]
    target.dispose()
    assert mark(engine) == [(HEAD, oldest_compatible(HEAD))]
    upgrade(engine, ADDED, migrations=newer)
    other = tmp_path / "other.db"
    with pytest.raises(ConfigurationError) as raised:
        copy_to(source_url=url, source_schema=schema, target_url=f"sqlite:///{other}")
    assert str(raised.value).startswith(
        f"the source database schema is at revision {ADDED}, which this labelbot does not know"
    )
    assert not other.exists()
    assert current_revision(engine) == ADDED and mark(engine) == [(ADDED, HEAD)]


@pytest.mark.postgres
def test_db_copy_into_postgres_records_the_mark(tmp_path: Path) -> None:
    for url, _, engine in fresh_database("sqlite", tmp_path):
        with session_scope(engine) as session:
            create_project(session=session, name="p", labels=["A"])
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin, target = _postgres_schema_engine(name)
        try:
            copy_to(source_url=url, target_url=POSTGRES_URL, target_schema=name)
            assert mark(target) == [(HEAD, oldest_compatible(HEAD))]
        finally:
            target.dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
            admin.dispose()


@pytest.mark.parametrize("run_on_newer", [True, False])
def test_an_upgrade_that_finds_a_newer_schema_under_its_lock_leaves_it_as_it_is(
    database: tuple[str, str | None, sa.Engine], newer: Path, run_on_newer: bool
) -> None:
    """Replicas of both releases starting at once: the older one read a revision it knows
    and older than its own, and the newer one's upgrade went first. Under the lock it reads the
    revision again: it runs on the schema as it is, or refuses it, and changes nothing."""
    url, schema, engine = database
    before = ORDER[ORDER.index(COMPAT_SINCE) - 1]
    downgrade(engine, before)
    taken: list[object] = []

    @sa.event.listens_for(engine, "checkout")
    def newer_goes_first(*_: object) -> None:
        taken.append(_)
        if len(taken) == 2:  # the first reads the revision, the second migrates: before its lock
            other = make_engine(url, schema=schema)
            upgrade(other, ADDED, migrations=newer)
            other.dispose()

    if run_on_newer:
        assert upgrade(engine, run_on_newer=True) == NewerSchema(ADDED, HEAD, HEAD)
    else:
        with pytest.raises(ConfigurationError) as raised:
            upgrade(engine)
        assert str(raised.value) == refusal(ADDED)
    sa.event.remove(engine, "checkout", newer_goes_first)
    assert len(taken) == 2
    assert current_revision(engine) == ADDED and mark(engine) == [(ADDED, HEAD)]


def test_an_upgrade_says_whether_the_code_before_it_keeps_running(
    database: tuple[str, str | None, sa.Engine], newer: Path
) -> None:
    """What the upgrade notice rests on: an upgrade that only added, from a schema that already
    carried the mark, keeps the code at the schema it left running; one through a change does
    not, nor does one from before 0020 (that code never reads the mark)."""
    _, _, engine = database
    assert upgrade(engine, RENAMED, migrations=newer) == SchemaChange(HEAD, RENAMED)
    assert downgrade(engine, HEAD, migrations=newer) == SchemaChange(RENAMED, HEAD)
    before = ORDER[ORDER.index(COMPAT_SINCE) - 1]
    downgrade(engine, before)
    assert upgrade(engine, ADDED, migrations=newer) == SchemaChange(before, ADDED)
