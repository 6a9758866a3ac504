"""Copying a whole labelbot database into another, empty one (`labelbot db copy`): SQLite to
PostgreSQL as a team grows, PostgreSQL to SQLite for a local copy, SQLite to SQLite.

Every row of every table is copied with its ids, so what refers to rows from outside the
database (model files under LABELBOT_DATA_DIR named by run, Slack buttons carrying label and
example ids, the ``message_ts`` of messages already posted) keeps working against the copy.

- Both databases are at the current migration head first: an empty target is brought there,
  a source at an older revision is refused as it is (so is a target with data), never
  upgraded, so the labelbot that made it can still open it; ``alembic_version`` is the
  migration's, never copied. Leases are not copied (:data:`SKIPPED`).
- The source is read in one snapshot (:func:`storage.db.session_scope` ``read_only``: SQLite's
  deferred read transaction, PostgreSQL's REPEATABLE READ), so the bot may keep running on it.
- The target is written in one transaction: a row it refuses (a value too long for its column
  or a NUL byte, which PostgreSQL checks and SQLite does not) leaves it as empty as it was, and
  the error names the table and the row. A target with any labelbot row is refused untouched.
- Tables go in foreign-key order, rows by primary key in chunks of :data:`CHUNK_ROWS` (streamed,
  never a whole table in memory). A column that refers to its own table (``labels.mapped_to_id``:
  a label merged into one created after it) is filled in a second pass, once its rows are in.
- JSON is copied as the text stored, so SQL NULL and JSON ``null`` stay apart and nothing is
  re-serialised; datetimes go through their column type (aware UTC both ways).
- Id counters: the next id the copy hands out is past every id the source ever handed out,
  not only past the ids copied (SQLite's ``sqlite_sequence`` for AUTOINCREMENT tables, migration
  0014: an undo removes labels whose ids must never return; PostgreSQL's sequences).
"""

from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    func,
    inspect,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.db import (
    BUSY,
    SQLITE_BUSY,
    _reason,
    busy_error,
    connect,
    current_revision,
    is_sqlite,
    make_engine,
    masked_url,
    revisions,
    session_scope,
    upgrade,
)
from storage.errors import (
    DISK_ERRNOS,
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    LabelbotError,
)
from storage.models import ModelRun
from storage.repositories.models import PLANNED_FILE

CHUNK_ROWS = 2_000
# Not copied. A lease names a process working on the source (host, PID, token) and when its
# hold lapses: in the copy it would only hold work back (a project's training, for up to 15
# minutes) for a process that never connects to it. Nothing in a lease is history. Every other
# table is copied, the short-lived ones too: Slack event ids and reply records (two days) keep
# a redelivered event or a deleted reply from being stored twice after the switch, pending
# outbox messages and open assignments and batches carry on where the source left them.
SKIPPED = ("leases",)

# (table, rows copied so far over all tables, rows to copy over all tables)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CopyReport:
    """What a copy did: each table copied with its rows, in the order copied."""

    tables: tuple[tuple[str, int], ...]
    skipped: tuple[str, ...] = SKIPPED

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.tables)


def open_database(url: str, *, schema: str | None = None, role: str, option: str) -> Engine:
    """An engine on ``url`` with its schema at the current head. Errors are storage.db's
    (an unparsable URL, an unreachable server, an unknown revision), naming the ``role``
    ("source", "target") and the ``option`` the URL came from instead of DATABASE_URL; a
    password is never shown. A URL that does not parse is bad input unless it is DATABASE_URL
    (configuration)."""
    try:
        engine = make_engine(url, schema=schema)
    except ConfigurationError as exc:
        kind = ConfigurationError if option == "DATABASE_URL" else InvalidInputError
        raise kind(_named(exc, role=role, option=option)) from None
    try:
        connect(engine).close()
        if role == "target":
            # before the upgrade: a database holding labelbot data at an older revision is
            # refused as it is, not upgraded first (its own, older labelbot could no longer
            # open it) and then refused
            _refuse_stored_rows(engine)
        else:
            # nor is the source upgraded: a copy taken as a backup before switching to a new
            # labelbot left both the database and its "backup" unreadable by the old one
            _refuse_older_source(engine, option=option)
        upgrade(engine)
    except ConfigurationError as exc:
        engine.dispose()
        raise ConfigurationError(_named(exc, role=role, option=option)) from None
    except BaseException:
        engine.dispose()
        raise
    return engine


def _refuse_older_source(engine: Engine, *, option: str) -> None:
    """ConflictError when the source's schema is at a revision older than this code's newest
    (read only; one it does not know is :func:`storage.db.upgrade`'s error, one without a
    schema is upgraded as before: it holds no data)."""
    current = current_revision(engine)
    order = revisions()
    if current is None or current not in order or current == order[-1]:
        return
    where = "" if option == "DATABASE_URL" else f" (with DATABASE_URL set to the {option} URL)"
    raise ConflictError(
        f"the source database's schema is at revision {current}, older than this labelbot's "
        f"{order[-1]}: db copy does not upgrade it, so that the labelbot that made it can "
        "still open it; back it up with `labelbot db backup FILE` (or with the labelbot that "
        f"made it), or upgrade it first with `labelbot init`{where}; nothing was copied"
    )


def _named(exc: Exception, *, role: str, option: str) -> str:
    message = str(exc).replace("the database", f"the {role} database", 1)
    return message.replace("DATABASE_URL", option)


def copy_database(
    source: Engine,
    target: Engine,
    *,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy every labelbot row of ``source`` into ``target`` (both at the current head; see the
    module docstring). ConflictError when the target holds rows already, InvalidInputError when
    it refuses one (nothing is then written), ConflictError when either is too busy."""
    tables, deferred = _plan()
    try:
        with _writing(target) as out:
            _lock(out, tables)
            _refuse_rows(out, tables)
            with session_scope(source, read_only=True) as session:
                src = session.connection()
                # the first statement: the snapshot every later one reads (SQLite, PostgreSQL)
                total = {t.name: _count(src, t) for t in tables}
                highest = _source_counters(src, tables)
                copied: list[tuple[str, int]] = []
                done, rows = 0, sum(total.values())
                for table in tables:

                    def on_chunk(k: int, name: str = table.name, before: int = done) -> None:
                        if progress is not None:
                            progress(name, before + k, rows)

                    n, last = _copy_table(
                        src,
                        out,
                        table,
                        deferred.get(table.name, ()),
                        chunk_rows=chunk_rows,
                        on_chunk=on_chunk,
                    )
                    done += n
                    copied.append((table.name, n))
                    if last is not None:
                        highest[table.name] = max(highest.get(table.name, 0), last)
                for table in tables:
                    if deferred.get(table.name):
                        _fill_deferred(src, out, table, deferred[table.name], chunk_rows)
                _forget_planned_files(out)
                _carry_counters(out, tables, highest)
    except OperationalError as exc:
        busy = busy_error(exc)
        if busy is not None:
            raise busy from exc
        raise
    return CopyReport(tables=tuple(copied))


def _plan() -> tuple[list[Table], dict[str, tuple[Column[Any], ...]]]:
    """The tables to copy in foreign-key order, and per table the columns to fill in a second
    pass: those referring to a table not copied before it, i.e. to their own table, or across
    a cycle between tables (none today; SQLAlchemy's order breaks one somewhere, with a
    warning)."""
    tables = [t for t in SQLModel.metadata.sorted_tables if t.name not in SKIPPED]
    deferred: dict[str, tuple[Column[Any], ...]] = {}
    for at, table in enumerate(tables):
        before = set(tables[:at])
        later = tuple(fk.parent for fk in table.foreign_keys if fk.column.table not in before)
        for column in later:
            if not column.nullable:  # cannot be inserted empty and filled in after
                raise ConfigurationError(
                    f"cannot copy table {table.name!r}: its column {column.name!r} refers to "
                    "rows copied later and cannot be left empty meanwhile"
                )
        if later:
            deferred[table.name] = later
    return tables, deferred


@contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction on the target (SQLite: BEGIN IMMEDIATE, storage.db), committed
    when the block ends and rolled back whole on any error."""
    with connect(engine) as connection, connection.begin():
        yield connection


def _lock(connection: Connection, tables: Sequence[Table]) -> None:
    """PostgreSQL: no other process writes the target's tables until the copy commits (reads go
    on), so the emptiness checked is the emptiness written into. SQLite's write lock, taken by
    BEGIN IMMEDIATE, does this already."""
    if is_sqlite(connection.engine):
        return
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(t.name) for t in tables)
    connection.exec_driver_sql(f"LOCK TABLE {names} IN EXCLUSIVE MODE")


def _refuse_rows(connection: Connection, tables: Sequence[Table]) -> None:
    for table in tables:
        if connection.execute(select(1).select_from(table).limit(1)).first() is not None:
            raise _not_empty(table.name)


def _refuse_stored_rows(engine: Engine) -> None:
    """ConflictError when any labelbot table the database has, at whatever revision, holds a
    row; read only (the check under the copy's lock, :func:`_refuse_rows`, stays)."""
    with connect(engine) as connection:
        present = set(inspect(connection).get_table_names())
        quote = connection.dialect.identifier_preparer.quote
        for table in _plan()[0]:
            if table.name not in present:
                continue
            row = connection.exec_driver_sql(f"SELECT 1 FROM {quote(table.name)} LIMIT 1")
            if row.first() is not None:
                raise _not_empty(table.name)


def _not_empty(table: str) -> ConflictError:
    return ConflictError(
        f"the target database is not empty: table {table!r} has rows; labelbot copies only "
        "into a database without labelbot data, and changed nothing there"
    )


def _count(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _id_column(table: Table) -> Column[Any] | None:
    """The table's single integer primary key, whose ids a counter hands out; None otherwise
    (predictions are keyed by their example, leases by name)."""
    keys = list(table.primary_key.columns)
    if len(keys) != 1 or not isinstance(keys[0].type, Integer) or keys[0].foreign_keys:
        return None
    return keys[0]


def _source_counters(connection: Connection, tables: Sequence[Table]) -> dict[str, int]:
    """The highest id the source ever handed out, per table where it keeps one beyond its rows:
    SQLite's sqlite_sequence (AUTOINCREMENT tables), PostgreSQL's sequences. Read in the
    snapshot's transaction; a sequence is not transactional, so one moved on since is read as
    it is now, which is only ever higher."""
    if is_sqlite(connection.engine):
        known = connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
        ).first()
        if known is None:
            return {}
        rows = connection.exec_driver_sql("SELECT name, seq FROM sqlite_sequence").all()
        return {str(name): int(seq) for name, seq in rows if seq is not None}
    counters = {}
    for table, sequence in _sequences(connection, tables):
        last, called = connection.exec_driver_sql(
            f"SELECT last_value, is_called FROM {sequence}"
        ).one()
        counters[table.name] = int(last) if called else int(last) - 1
    return counters


def _sequences(connection: Connection, tables: Sequence[Table]) -> list[tuple[Table, str]]:
    """PostgreSQL: each table's id sequence, as the server names it (schema-qualified, quoted)."""
    found = []
    for table in tables:
        column = _id_column(table)
        if column is None:
            continue
        name = connection.execute(
            select(func.pg_get_serial_sequence(table.name, column.name))
        ).scalar_one()
        if name is not None:
            found.append((table, str(name)))
    return found


def _copy_table(
    src: Connection,
    out: Connection,
    table: Table,
    deferred: Sequence[Column[Any]],
    *,
    chunk_rows: int,
    on_chunk: Callable[[int], None] | None,
) -> tuple[int, int | None]:
    """Stream ``table``'s rows from ``src`` into ``out``, ``chunk_rows`` at a time; the rows
    copied and the highest id among them (None without an integer id)."""
    columns = list(table.columns)
    keys = [f"v{i}" for i in range(len(columns))]
    # JSON as the text stored: SQL NULL stays NULL, JSON null stays "null", nothing re-encoded
    read = [cast(c, Text).label(c.name) if isinstance(c.type, JSON) else c for c in columns]
    query = select(*read).order_by(*table.primary_key.columns)
    insert = table.insert().values(
        {c.name: _value(c, key, out, c in deferred) for c, key in zip(columns, keys, strict=True)}
    )
    id_column = _id_column(table)
    id_at = columns.index(id_column) if id_column is not None else None
    copied, last = 0, None
    result = src.execute(query.execution_options(yield_per=chunk_rows))
    for chunk in result.partitions(chunk_rows):
        params = [dict(zip(keys, row, strict=True)) for row in chunk]
        _insert(out, insert, params, table, keys)
        copied += len(params)
        if id_at is not None:
            last = int(chunk[-1][id_at])
        if on_chunk is not None:
            on_chunk(copied)
    return copied, last


def _value(column: Column[Any], key: str, out: Connection, later: bool) -> Any:
    if later:
        return null()
    if isinstance(column.type, JSON):
        text = bindparam(key, type_=Text)
        # PostgreSQL takes JSON text only as JSON; SQLite stores the text as it is
        return text if is_sqlite(out.engine) else cast(text, column.type)
    return bindparam(key, type_=column.type)


def _insert(
    out: Connection, insert: Any, params: list[dict[str, Any]], table: Table, keys: list[str]
) -> None:
    """Insert one chunk under a savepoint; when the target refuses it, find the row it refuses
    (one at a time, each under its own savepoint) and name it."""
    try:
        with out.begin_nested():
            out.execute(insert, params)
        return
    except (DataError, IntegrityError) as exc:
        refused: Exception = exc
    for row in params:
        try:
            with out.begin_nested():
                out.execute(insert, row)
        except (DataError, IntegrityError) as exc:
            raise _refusal(table, keys, row, exc) from exc
    raise _refusal(table, keys, None, refused) from refused


def _refusal(
    table: Table, keys: list[str], row: dict[str, Any] | None, exc: Exception
) -> InvalidInputError:
    where = ""
    if row is not None:
        names = [c.name for c in table.columns]
        shown = ", ".join(
            f"{c.name}={row[keys[names.index(c.name)]]!r}" for c in table.primary_key.columns
        )
        where = f" ({shown})"
    return InvalidInputError(
        f"the target database refused a row of table {table.name!r}{where}: {_reason(exc)}; "
        "nothing was copied"
    )


def _fill_deferred(
    src: Connection, out: Connection, table: Table, columns: Sequence[Column[Any]], chunk_rows: int
) -> None:
    """Set the columns inserted empty, now that every row they may refer to is in."""
    keys = list(table.primary_key.columns)
    query = (
        select(*keys, *columns)
        .where(or_(*(c.is_not(None) for c in columns)))
        .order_by(*keys)
        .execution_options(yield_per=chunk_rows)
    )
    update = (
        table.update()
        .where(and_(*(k == bindparam(f"k{i}", type_=k.type) for i, k in enumerate(keys))))
        .values({c.name: bindparam(f"d{j}", type_=c.type) for j, c in enumerate(columns)})
    )
    names = [f"k{i}" for i in range(len(keys))] + [f"d{j}" for j in range(len(columns))]
    for chunk in src.execute(query).partitions(chunk_rows):
        out.execute(update, [dict(zip(names, row, strict=True)) for row in chunk])


def _forget_planned_files(out: Connection) -> None:
    """Drop the copy's notes of model files runs planned but never recorded
    (``storage.repositories.models.PLANNED_FILE``): such a file, left by the source's killed
    training, is the source's to delete. Kept, the note of a run training while the copy was
    made (failed in the copy at its next training) would let the copy delete the file that run
    then recorded in the source, when both share a models folder."""
    runs = ModelRun.__table__  # type: ignore[attr-defined]
    metrics = runs.c.metrics
    found = out.execute(
        select(runs.c.id, cast(metrics, Text)).where(cast(metrics, Text).like(f"%{PLANNED_FILE}%"))
    ).all()
    for run_id, text in found:
        stored = json.loads(text)
        if not isinstance(stored, dict) or PLANNED_FILE not in stored:
            continue
        kept = {k: v for k, v in stored.items() if k != PLANNED_FILE}
        out.execute(runs.update().where(runs.c.id == run_id).values(metrics=kept))


def _carry_counters(out: Connection, tables: Sequence[Table], highest: dict[str, int]) -> None:
    """Make the target's next ids follow ``highest`` (per table: the highest id the source
    handed out, or copied). PostgreSQL: setval on each id sequence. SQLite: sqlite_sequence for
    its AUTOINCREMENT tables; its other tables give max(id) + 1, as on any SQLite database."""
    if not is_sqlite(out.engine):
        for table, sequence in _sequences(out, tables):
            if highest.get(table.name, 0) > 0:
                regclass = cast(literal(sequence), REGCLASS)
                out.execute(select(func.setval(regclass, highest[table.name])))
        return
    autoincrement = {
        str(name)
        for name, sql in out.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'"
        )
        if sql is not None and "AUTOINCREMENT" in str(sql).upper()
    }
    for table in tables:
        n = highest.get(table.name, 0)
        if table.name not in autoincrement or n <= 0:
            continue
        changed = out.exec_driver_sql(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (n, table.name)
        )
        if not changed.rowcount:
            out.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table.name, n)
            )


# The files SQLite keeps beside a database file (the name plus these), besides the file itself.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def sqlite_file_named(path: Path, database: Path) -> str | None:
    """Which of the SQLite ``database``'s files writing ``path`` writes over, through a symbolic
    or a hard link too: "" for the database itself, "-wal", "-shm" or "-journal" for one beside
    it (whether there now or not: SQLite makes them as it goes); None for any other file."""
    target = Path(os.path.realpath(path))
    real = Path(os.path.realpath(database))
    for suffix in ("", *SQLITE_SIDE_FILES):
        kept = real.with_name(real.name + suffix)
        if target == kept:
            return suffix
        try:  # a hard link: another name of the same file
            if target.exists() and kept.exists() and os.path.samefile(target, kept):
                return suffix
        except OSError:
            continue
    return None


@dataclass(frozen=True)
class Backup:
    """A SQLite backup written: the file, its schema revision (None: no labelbot schema), its
    size in bytes."""

    path: Path
    revision: str | None
    size: int


SQLITE_FULL = 13  # sqlite3.SQLITE_FULL: "database or disk is full"
# SQLite's extended codes of a write, a sync or a truncation the OS refused ("disk I/O error"):
# SQLITE_IOERR_WRITE, _FSYNC, _DIR_FSYNC, _TRUNCATE. Its unix VFS maps every errno of a write but
# ENOSPC (SQLITE_FULL) to SQLITE_IOERR_WRITE: a quota (EDQUOT), a file size limit (EFBIG).
SQLITE_WRITE_ERRORS = frozenset({778, 1034, 1290, 1546})


def _unwritable_backup(path: Path, code: int | None, reason: str) -> LabelbotError:
    """The error of a backup file the OS would not let labelbot write (``code``: its errno):
    ``path`` and why, and the way out there, the backup's own folder and disk; the database
    and LABELBOT_DATA_DIR have nothing to do with it. What the machine refuses (no permission,
    read-only, full: :data:`storage.errors.DISK_ERRNOS`) is a ConfigurationError (exit 6, as
    any file labelbot cannot write), any other refusal of the path an InvalidInputError."""
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
        advice = "free some space there or give a FILE on another disk"
    else:
        advice = "give a FILE in a folder this user can write to"
    kind = ConfigurationError if code in DISK_ERRNOS else InvalidInputError
    return kind(f"could not write the backup {path}: {reason}; {advice}; nothing was written")


# A temporary file a write left beside its target and unchanged this long is no write in
# progress (an export or a backup writes on as it goes, so its file's modification time keeps
# moving) but one a process killed outright left behind (SIGKILL, out of memory, a power loss).
LEFTOVER_AGE = timedelta(hours=1)


def sweep_leftovers(
    target: Path, *, names: str, keep: Path | None = None, now: float | None = None
) -> list[Path]:
    """Delete the temporary files that earlier writes of ``target``, killed, left beside it:
    the names that ``names`` (a regular expression) matches in full, unchanged for
    :data:`LEFTOVER_AGE`, but ``keep`` (this write's own); what was deleted. One that cannot be
    is left: this is tidying."""
    pattern = re.compile(names)
    cutoff = (time.time() if now is None else now) - LEFTOVER_AGE.total_seconds()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        if (keep is not None and entry.name == keep.name) or not pattern.fullmatch(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def backup_sqlite(engine: Engine, path: Path, *, force: bool = False) -> Backup:
    """Copy ``engine``'s SQLite database into the file ``path`` with SQLite's online backup API,
    as it is (its revision, no upgrade): one consistent snapshot, the WAL's committed pages
    included, while the bot goes on writing (a `cp` of the file alone misses what the WAL holds
    since its last checkpoint). Written beside ``path`` and moved into place, so a failed backup
    leaves no half file. An existing ``path`` is refused unless ``force``. PostgreSQL: an
    InvalidInputError naming pg_dump, its own tool."""
    if not is_sqlite(engine):
        # masked_url: a ?password= / ?sslpassword= query parameter goes too, not only user info
        url = masked_url(
            engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        )
        raise InvalidInputError(
            "labelbot db backup copies a SQLite database; back up PostgreSQL with its own tool: "
            f"pg_dump -Fc -f FILE '{url}' (the URL without +psycopg; restore with pg_restore)"
        )
    database = engine.url.database
    if not database or database == ":memory:":
        raise InvalidInputError(
            "DATABASE_URL names an in-memory SQLite database: there is no file to back up"
        )
    source = Path(database).expanduser().resolve()
    target = path.expanduser().resolve()
    named = sqlite_file_named(path.expanduser(), source)
    if named == "":
        raise InvalidInputError(f"{path} is the database itself: give another file")
    if named is not None:
        # SQLite's own file beside the database: replacing a live WAL drops what it holds
        # (committed, not yet checkpointed) and leaves the database "malformed"
        raise InvalidInputError(
            f"{path} is the database's {named} file ({source}{named}): writing there "
            "would corrupt the database; give another file"
        )
    if target.is_dir():
        raise InvalidInputError(f"{path} is a directory: give a file name, e.g. {path}/backup.db")
    if target.exists() and not force:
        raise ConflictError(
            f"{target} exists: pass --force to replace it, or give another file; nothing was "
            "written"
        )
    if not target.parent.is_dir():
        raise InvalidInputError(f"no directory {target.parent} to write {target.name} in")
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:  # a folder it may not write in (read-only, another user's), full
        raise _unwritable_backup(path, exc.errno, exc.strerror or str(exc)) from None
    os.close(handle)
    written = Path(name)
    try:
        # a backup killed outright left its partial copy (and SQLite's journal of it) here
        sweep_leftovers(target, keep=written, names=(
            rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp(-journal|-wal|-shm)?"
        ))  # fmt: skip
        os.chmod(written, source.stat().st_mode & 0o777)  # as private as the database itself
        out = sqlite3.connect(written)
        try:
            with connect(engine.execution_options(sqlite_begin="DEFERRED")) as connection:
                raw = connection.connection.dbapi_connection
                assert raw is not None
                try:
                    raw.backup(out)
                except sqlite3.OperationalError as exc:
                    code = exc.sqlite_errorcode & 0xFF
                    # the backup's disk, not the database's: the database is only read here
                    if code == SQLITE_FULL:
                        raise _unwritable_backup(path, errno.ENOSPC, str(exc)) from exc
                    if exc.sqlite_errorcode in SQLITE_WRITE_ERRORS:
                        raise _unwritable_backup(path, errno.EIO, (
                            f"{exc} writing it (the disk would not let it grow: a quota, a file "
                            "size limit; or the disk is failing)"
                        )) from exc  # fmt: skip
                    if code != SQLITE_BUSY:
                        raise
                    raise ConflictError(BUSY) from exc
            known = out.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
            row = (
                out.execute("SELECT version_num FROM alembic_version").fetchone() if known else None
            )
        finally:
            out.close()  # the last connection: its WAL, if any, goes into the file
        for suffix in SQLITE_SIDE_FILES:  # a replaced database's, never this one's
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        try:
            os.replace(written, target)
        except OSError as exc:
            if exc.errno not in DISK_ERRNOS:
                raise
            raise _unwritable_backup(path, exc.errno, exc.strerror or str(exc)) from None
    except BaseException:
        for leftover in (written, *(written.with_name(written.name + s) for s in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
        raise
    return Backup(
        path=target, revision=None if row is None else str(row[0]), size=target.stat().st_size
    )
