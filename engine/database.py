"""Moving a labelbot database: a whole copy into another, empty database (`labelbot db copy`),
e.g. from the zero-set-up SQLite file to PostgreSQL when a team runs several replicas."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from engine.config import sqlite_file
from storage.copying import CHUNK_ROWS, CopyReport, Progress, copy_database, open_database
from storage.db import masked_url
from storage.errors import InvalidInputError, NotFoundError

__all__ = ["CopyReport", "copy_to", "shown_url"]


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
