"""The labelbot database as a whole: a copy into another, empty database (`labelbot db copy`),
e.g. from the zero-set-up SQLite file to PostgreSQL when a team runs several replicas; a
SQLite backup (`labelbot db backup`); the schema taken back to an older release's revision
(`labelbot db downgrade`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from engine.config import sqlite_file
from storage.copying import (
    CHUNK_ROWS,
    Backup,
    CopyReport,
    Progress,
    backup_sqlite,
    copy_database,
    open_database,
    sqlite_file_named,
)
from storage.db import (
    SchemaChange,
    current_revision,
    downgrade,
    make_engine,
    masked_url,
    migration_titles,
)
from storage.errors import InvalidInputError, NotFoundError

__all__ = [
    "Backup",
    "CopyReport",
    "DowngradePlan",
    "SchemaChange",
    "backup_to",
    "copy_to",
    "downgrade_database",
    "downgrade_plan",
    "shown_url",
]


@dataclass(frozen=True)
class DowngradePlan:
    """A downgrade to ``revision`` from ``current``: the migrations it undoes, newest first, as
    (revision, what it did); none when the database is at ``revision`` already."""

    current: str | None
    revision: str
    undone: tuple[tuple[str, str], ...]


def copy_to(
    *,
    source_url: str,
    target_url: str,
    source_option: str = "DATABASE_URL",
    target_option: str = "--to",
    source_schema: str | None = None,
    target_schema: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy the database at ``source_url`` into the empty one at ``target_url``, both brought to
    the current schema first (storage.copying). The options name where each URL came from in
    errors; the schemas pin PostgreSQL's search_path, as Workspace.open's does (tests).

    Refused before anything is written: a SQLite source file that does not exist (an empty one
    would be created and copied), an in-memory target (gone when the command ends), and a
    target that is the source itself. A copy that fails into a SQLite file it created removes
    that file, so nothing is left behind (an existing target file is left as it was)."""
    source_file = sqlite_file(source_url)
    if source_file is not None and not source_file.exists():
        raise NotFoundError(
            f"no database at {source_file} ({source_option} {source_url}); nothing was copied"
        )
    if _in_memory(target_url):
        raise InvalidInputError(
            f"{target_option} names an in-memory SQLite database, gone when this command ends: "
            "give a file, e.g. sqlite:///labelbot-copy.db"
        )
    _refuse_source_files(source_url, target_url, target_option=target_option)
    if _same(source_url, source_schema, target_url, target_schema):
        raise InvalidInputError(
            f"{target_option} names the source database itself ({shown_url(target_url)}): "
            "give another, empty database"
        )
    source = open_database(source_url, schema=source_schema, role="source", option=source_option)
    target_file = sqlite_file(target_url)
    made = target_file is not None and not target_file.exists()
    try:
        try:
            target = open_database(
                target_url, schema=target_schema, role="target", option=target_option
            )
            try:
                return copy_database(source, target, chunk_rows=chunk_rows, progress=progress)
            finally:
                target.dispose()
        except BaseException:
            if made:  # a SQLite file this copy created holds nothing but the schema: remove it
                assert target_file is not None
                _remove_sqlite(target_file)
            raise
    finally:
        source.dispose()


def _remove_sqlite(path: Path) -> None:
    """Delete a SQLite database file and the journal files SQLite keeps beside it."""
    for name in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        name.unlink(missing_ok=True)


def shown_url(url: str) -> str:
    """A database URL as messages show it: a SQLite file by its absolute path, a password as
    ``***``."""
    path = sqlite_file(url)
    return f"sqlite:///{path}" if path is not None else masked_url(url)


def _in_memory(url: str) -> bool:
    try:
        parsed = make_url(url)
    except Exception:
        return False
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def _refuse_source_files(source_url: str, target_url: str, *, target_option: str) -> None:
    """InvalidInputError for a SQLite target that is one of the source's own files, by any
    name (a symbolic or hard link, a relative path): the source itself, or its -wal, -shm or
    -journal file, which SQLite writes and deletes as the source is used (a copy "done" into
    the source's -wal is gone as the source closes; one over it corrupts the source). So is a
    target whose own -wal, -shm or -journal file would be the source."""
    source_file, target_file = sqlite_file(source_url), sqlite_file(target_url)
    if source_file is None or target_file is None:
        return
    named = sqlite_file_named(target_file, source_file)
    if named == "":
        raise InvalidInputError(
            f"{target_option} names the source database itself ({shown_url(target_url)}): "
            "give another, empty database"
        )
    if named is not None:
        raise InvalidInputError(
            f"{target_option} names the source database's {named} file "
            f"({shown_url(target_url)}), which SQLite writes and removes as the database is "
            "used: give another, empty database; nothing was copied"
        )
    beside = sqlite_file_named(source_file, target_file)
    if beside:
        raise InvalidInputError(
            f"{target_option} names a database whose {beside} file would be the source "
            f"database ({shown_url(source_url)}): give another, empty database; nothing was "
            "copied"
        )


def _same(source: str, source_schema: str | None, target: str, target_schema: str | None) -> bool:
    source_file, target_file = sqlite_file(source), sqlite_file(target)
    if source_file is not None or target_file is not None:
        return source_file == target_file
    try:
        a, b = make_url(source), make_url(target)
    except Exception:
        return False
    a, b = (url.set(drivername="postgresql", password=None) for url in (a, b))
    return (a, source_schema) == (b, target_schema)


def _existing(url: str) -> None:
    """NotFoundError for a SQLite file that does not exist (it would be created empty)."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise NotFoundError(f"no database at {path} (DATABASE_URL {masked_url(url)})")


def downgrade_plan(url: str, revision: str, *, schema: str | None = None) -> DowngradePlan:
    """What `labelbot db downgrade REVISION` would do to the database at ``url``, checked as
    the downgrade checks it (storage.db.downgrade), changing nothing."""
    _existing(url)
    engine = make_engine(url, schema=schema)
    try:
        undone = migration_titles(engine, since=revision)
        return DowngradePlan(
            current=current_revision(engine), revision=revision, undone=tuple(undone)
        )
    finally:
        engine.dispose()


def downgrade_database(
    url: str, revision: str, *, schema: str | None = None
) -> SchemaChange | None:
    """Bring the schema of the database at ``url`` back to ``revision`` (None: it was there)."""
    _existing(url)
    engine = make_engine(url, schema=schema)
    try:
        return downgrade(engine, revision)
    finally:
        engine.dispose()


def backup_to(url: str, path: Path, *, force: bool = False) -> Backup:
    """Back the SQLite database at ``url`` up into the file ``path`` as it is (storage.copying:
    SQLite's online backup, no upgrade); refused on PostgreSQL, naming pg_dump."""
    _existing(url)
    engine = make_engine(url)
    try:
        return backup_sqlite(engine, path, force=force)
    finally:
        engine.dispose()
