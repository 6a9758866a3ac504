"""Upgrades, downgrades and backups that keep the way back to an older labelbot open, on SQLite
and PostgreSQL: an upgrade says what it changed, `db copy` never upgrades its source, the
migrations' downgrades run under the upgrade's lock, a SQLite backup is the database as it is,
and a PostgreSQL upgrade gives up on a table lock rather than freeze the other replicas."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.database import copy_to
from storage.copying import backup_sqlite
from storage.db import (
    COMPAT_TABLE,
    SchemaChange,
    current_revision,
    downgrade,
    make_engine,
    migration_titles,
    revisions,
    upgrade,
)
from storage.errors import ConfigurationError, ConflictError, InvalidInputError
from tests.conftest import empty_database
from tests.storage.test_db_copy import dump_at
from tests.storage.test_migrations import _fill_every_table

OLD = "0017"  # the newest revision of the release before 0018 and 0019
HEAD = revisions()[-1]


def database_at(
    kind: str, tmp_path: Path, revision: str = OLD
) -> Iterator[tuple[str, str | None, sa.Engine]]:
    """(url, schema, engine) of a database an older labelbot made: migrated by the project's
    own migrations up to ``revision`` only, one row in every table. SQLite in ``tmp_path`` or a
    fresh PostgreSQL schema (dropped afterwards)."""
    with empty_database(kind, tmp_path / "old.db") as (url, schema, engine):
        upgrade(engine, revision)
        _fill_every_table(engine)
        yield url, schema, engine


KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def old(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None, Any]]:
    yield from database_at(request.param, tmp_path)


def _counts(engine: sa.Engine) -> dict[str, int]:
    return {name: len(rows) for name, rows in dump_at(engine).items()}


def test_an_upgrade_says_from_which_revision_to_which(old: tuple[str, str | None, Any]) -> None:
    """Every command upgraded an older schema silently: the caller is told, to say it."""
    _, _, engine = old
    assert upgrade(engine) == SchemaChange(before=OLD, after=HEAD)
    assert upgrade(engine) is None  # current already: nothing to say
    assert current_revision(engine) == HEAD


def test_a_fresh_database_is_created_not_upgraded(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert upgrade(engine) == SchemaChange(before=None, after=HEAD)
    engine.dispose()


def test_downgrade_takes_a_database_in_use_back_and_it_upgrades_again(
    old: tuple[str, str | None, Any],
) -> None:
    _, _, engine = old
    upgrade(engine)
    before = _counts(engine)
    assert before.pop(COMPAT_TABLE) == 1  # the migrations' own bookkeeping, gone below 0020
    assert [name for name, _ in migration_titles(engine, since=OLD)] == list(
        reversed(revisions()[revisions().index(OLD) + 1 :])
    )
    assert downgrade(engine, OLD) == SchemaChange(before=HEAD, after=OLD)
    assert current_revision(engine) == OLD
    assert _counts(engine) == before  # every row kept
    if engine.dialect.name == "sqlite":  # foreign keys enforced again afterwards
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    assert downgrade(engine, OLD) is None  # there already
    assert upgrade(engine) == SchemaChange(before=OLD, after=HEAD)
    assert _counts(engine) == {**before, COMPAT_TABLE: 1}


def test_downgrade_refuses_an_unknown_revision_or_one_ahead(
    old: tuple[str, str | None, Any],
) -> None:
    _, _, engine = old
    for unknown in ("17", "base", "head", "-1", "9999"):
        with pytest.raises(InvalidInputError, match=f"unknown schema revision '{unknown}'"):
            downgrade(engine, unknown)
    with pytest.raises(
        InvalidInputError, match=f"at revision {OLD}, older than 0018: a downgrade only goes back"
    ):
        downgrade(engine, "0018")
    assert current_revision(engine) == OLD


def test_a_database_newer_than_the_code_names_the_downgrade(
    old: tuple[str, str | None, Any],
) -> None:
    """The newer labelbot that upgraded it can take it back: the refusal says how."""
    _, _, engine = old
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(ConfigurationError) as raised:
        upgrade(engine)
    assert f"roll the database back with that newer labelbot (`labelbot db downgrade {HEAD}`)" in (
        str(raised.value)
    )


def test_db_copy_refuses_a_source_at_an_older_revision_and_changes_nothing(
    old: tuple[str, str | None, Any], tmp_path: Path
) -> None:
    """`db copy --to sqlite:///backup.db`, a backup before switching labelbot, upgraded the
    source first: neither it nor the "backup" opened with the old labelbot any more."""
    url, schema, engine = old
    before = dump_at(engine)
    target = tmp_path / "backup.db"
    with pytest.raises(ConflictError) as raised:
        copy_to(source_url=url, source_schema=schema, target_url=f"sqlite:///{target}")
    assert str(raised.value) == (
        f"the source database's schema is at revision {OLD}, older than this labelbot's "
        f"{HEAD}: db copy does not upgrade it, so that the labelbot that made it can still open "
        "it; back it up with `labelbot db backup FILE` (or with the labelbot that made it), or "
        "upgrade it first with `labelbot init`; nothing was copied"
    )
    assert current_revision(engine) == OLD
    assert dump_at(engine) == before
    assert not target.exists()


def test_a_backup_holds_what_the_wal_holds_at_the_database_revision(tmp_path: Path) -> None:
    """`cp labelbot.db` while the bot runs misses what is committed in labelbot.db-wal; the
    online backup has it, at the database's own revision (no upgrade)."""
    (url, _, engine) = next(database_at("sqlite", tmp_path))
    live = engine.connect()  # the running bot: the WAL is not checkpointed into the file
    live.exec_driver_sql(
        "INSERT INTO people (user_id, leaderboard, updated_at) "
        "VALUES ('U-after', 0, '2026-12-01 10:00:00.000000')"
    )
    live.commit()
    assert (tmp_path / "old.db-wal").stat().st_size > 0
    made = backup_sqlite(engine, tmp_path / "backup.db")
    assert made.revision == OLD and made.path == tmp_path / "backup.db"
    copy = sqlite3.connect(tmp_path / "backup.db")
    assert copy.execute("SELECT count(*) FROM people WHERE user_id = 'U-after'").fetchone() == (1,)
    assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (OLD,)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    copy.close()
    assert current_revision(engine) == OLD
    assert sorted(p.name for p in tmp_path.iterdir() if "backup" in p.name) == ["backup.db"]
    with pytest.raises(ConflictError, match="backup.db exists: pass --force to replace it"):
        backup_sqlite(engine, tmp_path / "backup.db")
    (tmp_path / "other.db").write_bytes(b"not a database")
    backup_sqlite(engine, tmp_path / "other.db", force=True)
    other = sqlite3.connect(tmp_path / "other.db")
    assert other.execute("SELECT count(*) FROM people").fetchone() == (2,)
    other.close()
    with pytest.raises(InvalidInputError, match="is the database itself"):
        backup_sqlite(engine, tmp_path / "old.db", force=True)
    live.close()
    engine.dispose()


@pytest.mark.postgres
def test_a_backup_of_postgres_points_at_pg_dump() -> None:
    engine = make_engine("postgresql+psycopg://me:s3cret@db.example/labelbot")
    with pytest.raises(InvalidInputError) as raised:
        backup_sqlite(engine, Path("backup.db"))
    message = str(raised.value)
    assert "pg_dump -Fc -f FILE 'postgresql://me:***@db.example/labelbot'" in message
    assert "s3cret" not in message


@pytest.mark.postgres
def test_a_postgres_upgrade_gives_up_on_a_table_a_long_read_holds(tmp_path: Path) -> None:
    """0019's DROP INDEX waits for every open transaction that read `annotations` (an export, a
    training snapshot), and every other replica's reads of it queued behind: clicks froze for
    as long as the read lasted. The upgrade now gives up (a busy ConflictError, rolled back
    whole) and works once the read is over."""
    gen = database_at("postgres", tmp_path, revision="0018")
    url, schema, engine = next(gen)
    reader = make_engine(url, schema=schema)
    long_read = reader.connect()
    long_read.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    long_read.exec_driver_sql("SELECT count(*) FROM annotations").all()
    outcome: list[BaseException | SchemaChange | None] = []

    def upgrading() -> None:
        try:
            outcome.append(upgrade(engine))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=upgrading)
    thread.start()
    thread.join(120)  # not a timing: without a lock timeout it waits as long as the read lasts
    waited = thread.is_alive()
    long_read.exec_driver_sql("COMMIT")
    long_read.close()
    thread.join()
    assert not waited, "the upgrade waited for the long read (no lock timeout)"
    (error,) = outcome
    assert isinstance(error, ConflictError), error
    assert str(error).startswith(
        f"the database is busy: upgrading its schema to {HEAD} needs a table"
    )
    assert current_revision(engine) == "0018"  # rolled back whole
    assert upgrade(engine) == SchemaChange(before="0018", after=HEAD)
    reader.dispose()
    gen.close()
