"""Engines, sessions and schema migrations.

SQLite is the zero-set-up default; PostgreSQL (``postgresql+psycopg://...``) is for teams that run
several bot replicas. Every command brings the schema up to date through Alembic on start-up
(:func:`upgrade` returns what it changed, for the command to say it: older labelbot releases
can no longer open the database); :func:`downgrade` takes it back for them. Each migration says
from which labelbot schema revision on code can run on the schema it leaves (its
``compatible_with``), which the database keeps beside alembic's version (:data:`COMPAT_TABLE`):
a labelbot older than the database's schema runs on it when that names a revision it knows
(a rolling upgrade's older replicas, restarting), and refuses it otherwise.

A database too busy to answer (SQLite's write lock held past the busy timeout by a long import,
a PostgreSQL lock or statement timeout) is a one-line ConflictError, not the driver's traceback;
one that cannot be reached just now (the server down, restarting or out of connections) is a
one-line DatabaseUnavailable (:func:`unavailable_error`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from sqlalchemy import Column, MetaData, String, Table, delete, event, insert, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, Result, make_url
from sqlalchemy.exc import (
    DatabaseError,
    DataError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlmodel import Session, create_engine

from storage.errors import (
    ConfigurationError,
    ConflictError,
    DatabaseUnavailable,
    InvalidInputError,
    LabelbotError,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Writers wait this long for SQLite's single write lock before failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_BUSY = 5  # sqlite3.SQLITE_BUSY: the primary code of "database is locked" (and its variants)
# PostgreSQL's SQLSTATEs for "waited too long": lock_not_available (lock_timeout, NOWAIT) and
# query_canceled (statement_timeout)
POSTGRES_BUSY = ("55P03", "57014")
BUSY = (
    "the database is busy: another labelbot process (an import?) holds its write lock; try "
    "again when it finishes"
)
# PostgreSQL's SQLSTATEs of a server that cannot serve this connection now: admin_shutdown,
# crash_shutdown, cannot_connect_now (57P01-57P03: pg_terminate_backend, a restart, recovery),
# too_many_connections (53300); and class 08, connection_exception. A connection that failed
# before the server answered a query has none (libpq gives no SQLSTATE there): refused, timed
# out, or the server's FATAL at start-up (too many connections, CONNECTION LIMIT 0).
POSTGRES_UNAVAILABLE = frozenset({"57P01", "57P02", "57P03", "53300"})
SQLITE_CANTOPEN = 14  # sqlite3.SQLITE_CANTOPEN: "unable to open database file"
# The server's own words, at start-up, for "not now" rather than "not this URL" (what
# :func:`connect` makes a DatabaseUnavailable; anything else there is a ConfigurationError).
POSTGRES_NOT_NOW = (
    "too many connections",
    "connection slots are reserved",
    "the database system is",  # starting up, shutting down, in recovery mode
    "terminating connection due to administrator command",
)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def advisory_xact_lock(session: Session, kind: str, key: str) -> None:
    """Take a PostgreSQL advisory lock on (``kind``, schema, ``key``) until the transaction ends;
    nothing on SQLite, whose write transactions are serial already.

    The key is ``hashtextextended('labelbot:<kind>:<schema>:<key>', 0)``: the schema keeps
    deployments (and test runs) in different schemas of one database from waiting on each other.
    concat(), unlike ||, skips a NULL schema, so the key is never NULL (which would lock nothing).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(hashtextextended("
            "concat('labelbot:', CAST(:kind AS text), ':', current_schema(), ':',"
            " CAST(:key AS text)), 0))"
        ),
        {"kind": kind, "key": key},
    )


def dialect_insert(session: Session, entity: Any) -> Any:
    """INSERT INTO ``entity``'s table in the session's dialect: both have ON CONFLICT (an
    upsert) and RETURNING, SQLAlchemy's generic insert neither."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(entity)
    return sqlite.insert(entity)


def driver_rows(session: Session, statement: str, parameters: dict[str, Any]) -> Sequence[Any]:
    """The rows of ``statement``, PostgreSQL driver SQL in psycopg's placeholders (``%(name)b``:
    a list sent as one array, in binary), run on the session's connection: in its transaction,
    its errors still SQLAlchemy's (a DataError is an InvalidInputError in ``session_scope``).

    For the import's bulk statements: a whole chunk's rows as a few arrays (``unnest``,
    ``= ANY``) in one short statement. SQLAlchemy's multi-row INSERTs of 1,000 rows and IN lists
    of hundreds of values made statements too long for psycopg's cache, so it scanned each one
    anew to turn its placeholders into PostgreSQL's (bench/README.md, "Import speed"); and a
    text array in psycopg's text format escapes each element with a regex (binary does not)."""
    return session.connection().exec_driver_sql(statement, parameters).all()


def bound(session: Session, column: Any, value: Any) -> Any:
    """``value`` as SQLAlchemy sends it for ``column`` (its type's bind processor: a
    UTCDateTime converted to UTC), for :func:`driver_rows`, which passes values to the driver
    as they are."""
    process = column.type.bind_processor(session.get_bind().dialect)
    return process(value) if process is not None else value


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched: ``Session.execute`` is typed to return a
    plain Result, and only the CursorResult it returns for these statements has a rowcount."""
    return int(getattr(result, "rowcount", 0) or 0)


def masked_url(url: str) -> str:
    """``url`` with its password as ``***``, even when it does not parse (where sqlalchemy's
    ``render_as_string(hide_password=True)`` cannot help). A URL that does not parse is most
    often one whose password has an unescaped ``@``, ``/``, ``:`` or ``#``: so the user info is
    everything after ``://`` up to the *last* ``@``, and all of it after its first ``:`` goes.
    A password given as a query parameter (``?password=``, ``?sslpassword=``) goes too."""
    url = _QUERY_PARAM.sub(_mask_param, url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{sep}{user}{':***' if colon else ''}@{host}"


# A query parameter, up to the next "&" (a "#" may be part of an unescaped password). libpq
# takes any connection keyword there, password and sslpassword (the client key's passphrase)
# among them: https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS
_QUERY_PARAM = re.compile(r"([?&])([^=&]*)=([^&]*)")


def _mask_param(match: re.Match[str]) -> str:
    """A query parameter with its value as ``***`` when its name (percent-decoded, as libpq and
    sqlalchemy read it; in any case) holds "password"."""
    sep, key, value = match.groups()
    if "password" in unquote_plus(key).lower():
        value = "***"
    return f"{sep}{key}={value}"


def _host_and_path(parsed: URL) -> str:
    """What a ``sqlite://NAME/...`` URL meant as its file: its host and path."""
    return parsed.host + (f"/{parsed.database}" if parsed.database else "") if parsed.host else ""


def make_engine(url: str, *, schema: str | None = None, echo: bool = False) -> Engine:
    """An engine for ``url``; ``schema`` pins PostgreSQL's search_path (tests isolate by it)."""
    if "://" not in url:  # a file name or path alone ("labelbot.db"): no URL at all
        raise ConfigurationError(
            f"DATABASE_URL is not a database URL: {masked_url(url)!r}: write one such as "
            "sqlite:///labelbot.db (a file relative to the current directory), "
            "sqlite:////var/lib/labelbot/labelbot.db (an absolute path: four slashes) or "
            "postgresql+psycopg://user:password@host/db"
        )
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ConfigurationError(
            f"DATABASE_URL is not a valid database URL: {masked_url(url)!r} (special characters "
            "in the user name or password must be percent-encoded: @ as %40, : as %3A, / as "
            "%2F, # as %23)"
        ) from exc
    if parsed.host and "@" in parsed.host:
        # sqlalchemy splits user info at the *first* "@": an unescaped "@" in the password
        # leaves the rest of the password in the host name, which every "cannot connect"
        # message (ours, the driver's) would then print
        raise ConfigurationError(
            f"DATABASE_URL is not a valid database URL: {masked_url(url)!r} (its host name "
            "holds an '@': an '@' in the user name or password must be percent-encoded as %40)"
        )
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo}
    if backend == "sqlite" and parsed.host:
        # sqlite://labelbot.db: two slashes make "labelbot.db" a host name, which SQLite has not
        raise ConfigurationError(
            f"DATABASE_URL {masked_url(url)!r} names a host; a SQLite URL has three slashes "
            f"before a relative path (sqlite:///{_host_and_path(parsed)}) and four before an "
            "absolute one (sqlite:////var/lib/labelbot.db)"
        )
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            folder = Path(database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file in the way, no permission: was a traceback
                raise ConfigurationError(
                    f"DATABASE_URL {masked_url(url)!r}: cannot create the directory {folder} "
                    f"for its SQLite file ({_mkdir_failure(folder, exc)})"
                ) from None
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        }
        if not database or database == ":memory:":
            from sqlalchemy.pool import StaticPool

            kwargs["poolclass"] = StaticPool
        engine = create_engine(parsed, **kwargs)
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        connect_args: dict[str, Any] = {"connect_timeout": 10, **_tcp_settings(parsed)}
        if schema:
            connect_args["options"] = f"-csearch_path={schema}"
        kwargs["connect_args"] = connect_args
        kwargs["pool_pre_ping"] = True
        try:
            engine = create_engine(parsed, **kwargs)
        except (ImportError, NoSuchModuleError) as exc:  # postgresql+psycopg2://, +asyncpg://
            rest = masked_url(url).partition("://")[2]
            raise ConfigurationError(
                f"DATABASE_URL names the driver {parsed.drivername!r}, which is not installed "
                f"({exc}): labelbot uses psycopg 3, write postgresql+psycopg://{rest}"
            ) from None
        _configure_postgres(engine)
        return engine
    if backend in ("postgres", "pgsql", "psql"):
        # Heroku's and many hosts' spelling, which SQLAlchemy 1.4 and later refuse
        rest = masked_url(url).partition("://")[2]
        raise ConfigurationError(
            f"DATABASE_URL starts with {parsed.drivername}://, which SQLAlchemy does not "
            f"accept: write postgresql+psycopg://{rest} (or postgresql://)"
        )
    raise ConfigurationError(
        f"DATABASE_URL uses an unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://"
    )


# A server that stops answering without closing the connection (a network partition, a frozen
# host) left a query waiting for minutes (Linux retransmits for ~15 minutes), its thread and its
# pooled connection held. libpq's TCP settings end such a connection, and the query fails as a
# DatabaseUnavailable: keepalive probes on an idle one (30 s without traffic, then 3 probes 10 s
# apart), and TCP_USER_TIMEOUT on one whose sent data goes unacknowledged for 30 s. Neither cuts
# a long query or an export: the server's kernel answers the probes and acknowledges the data
# however long PostgreSQL takes (no statement_timeout for that reason). A setting in the URL's
# own query string wins.
POSTGRES_TCP = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,  # no effect where the system has no TCP_KEEPCNT (libpq's docs)
}
TCP_USER_TIMEOUT_MS = 30_000  # libpq 12 and later; no effect where the system lacks it (Linux)


def _tcp_settings(url: URL) -> dict[str, Any]:
    """:data:`POSTGRES_TCP`, and tcp_user_timeout where psycopg's libpq knows it (an older libpq
    refuses the connection for an unknown option), less those ``url`` sets itself."""
    import psycopg

    settings: dict[str, Any] = dict(POSTGRES_TCP)
    if psycopg.pq.version() >= 120000:
        settings["tcp_user_timeout"] = TCP_USER_TIMEOUT_MS
    return {k: v for k, v in settings.items() if k not in url.query}


def _configure_postgres(engine: Engine) -> None:
    """Each connection runs with JIT compilation off. labelbot's queries are short (a click's
    are milliseconds), yet a correlated query over a large project can cross the planner's JIT
    threshold and spend far longer compiling than running: 0.8 s of a 1.1 s query at 50,000
    examples (scale audit, 2026-12-02). Set per session, as SQLAlchemy's documentation sets
    search_path, so that PGOPTIONS and the URL's own options still apply."""

    @event.listens_for(engine, "connect", insert=True)
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection.info.server_version < 110000:  # no JIT before PostgreSQL 11
            return
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute("SET jit = off")
        cursor.close()
        dbapi_connection.autocommit = autocommit


def _mkdir_failure(folder: Path, exc: OSError) -> str:
    """Why ``folder`` could not be made: the file in its way, or the OS's reason."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"{existing} is a file, not a directory"
    return f"{exc.strerror or exc}: {exc.filename or folder}"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN and breaks SELECT ... then UPDATE
        # atomicity; we issue BEGIN ourselves (below) so writers serialise correctly.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # BEGIN IMMEDIATE takes the write lock up front: two processes claiming the next example
        # cannot both read "free" and then both write (SQLite has no SELECT ... FOR UPDATE).
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def session_scope(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """A transaction: commits on success, rolls back on any exception.

    ``read_only``: the transaction reads one snapshot of the database, as of its first
    statement, so a read of several statements (a training pool: the labels, then the votes)
    never sees a change committed half-way. SQLite's deferred read transaction is one snapshot
    (and takes no write lock); on PostgreSQL it is REPEATABLE READ, READ ONLY (the default,
    READ COMMITTED, takes a new snapshot per statement), which also refuses any write.

    A value the database refuses (too long for its column, a NUL byte, NaN in JSON: PostgreSQL
    checks these, SQLite does not) becomes an InvalidInputError: a safety net for input that
    slipped past validation, so the user sees one line instead of the SQL statement. A
    database too busy to answer in time becomes a ConflictError the same way (:func:`busy_error`),
    one that cannot be reached a DatabaseUnavailable (:func:`unavailable_error`).
    """
    bind: Any = engine
    if read_only and is_sqlite(engine):
        bind = engine.execution_options(sqlite_begin="DEFERRED")
    elif read_only:
        # set on the connection for this checkout; the pool resets it when it is returned
        bind = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()  # a no-op for read-only work; keeps loaded objects usable
        except DataError as exc:
            session.rollback()
            raise InvalidInputError(f"the database refused a value: {_reason(exc)}") from exc
        except OperationalError as exc:
            session.rollback()
            known = busy_error(exc) or unavailable_error(exc)
            if known is not None:
                raise known from exc
            raise
        except BaseException:
            session.rollback()
            raise


def busy_error(exc: BaseException) -> ConflictError | None:
    """``exc`` as the one-line ConflictError of a database too busy to answer (None for any
    other error): SQLite's "database is locked" once its busy timeout has passed (another
    process held the write lock throughout: a long import), PostgreSQL's lock or statement
    timeout (``lock_timeout``, ``statement_timeout``, where the operator set them)."""
    if not isinstance(exc, OperationalError):
        return None
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)  # the extended code: its low byte is primary
    if isinstance(code, int) and code & 0xFF == SQLITE_BUSY:
        return ConflictError(BUSY)
    if getattr(orig, "sqlstate", None) in POSTGRES_BUSY:
        return ConflictError(
            f"the database is busy ({_reason(exc)}): another process holds a lock this needs "
            "(an import? a migration?); try again when it finishes"
        )
    return None


def unavailable_error(exc: BaseException) -> DatabaseUnavailable | None:
    """``exc`` as the one-line DatabaseUnavailable of a database that cannot be reached just
    now (None for any other error): on PostgreSQL a connection that could not be made or was
    dropped (no SQLSTATE, class 08, 57P01-57P03, 53300: the server down or restarting,
    ``pg_terminate_backend``, ``CONNECTION LIMIT``, too many connections); on SQLite a file it
    cannot open (its directory gone, or out of file descriptors). A busy database is not one
    (:func:`busy_error`)."""
    if not isinstance(exc, OperationalError) or busy_error(exc) is not None:
        return None
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _unavailable(exc) if code & 0xFF == SQLITE_CANTOPEN else None
    if not hasattr(orig, "sqlstate"):  # neither SQLite's nor psycopg's: not ours to judge
        return _unavailable(exc) if exc.connection_invalidated else None
    state = getattr(orig, "sqlstate", None)
    if state is None or state.startswith("08") or state in POSTGRES_UNAVAILABLE:
        return _unavailable(exc)
    return None


def _unavailable(exc: OperationalError) -> DatabaseUnavailable:
    reason = " ".join(_reason(exc).split())  # libpq pads "FATAL:  too many connections"
    return DatabaseUnavailable(
        f"the database cannot be reached just now ({reason}); nothing was stored: try again "
        "in a minute",
        reason=reason,
    )


def _reason(exc: Exception) -> str:
    """The driver's own message, first line (and PostgreSQL's detail), without the SQL."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines() or [type(exc).__name__]
    detail = getattr(getattr(orig, "diag", None), "message_detail", None)
    return lines[0] + (f" ({detail})" if detail else "")


def connect(engine: Engine) -> Connection:
    """A connection; a database that cannot be reached is a ConfigurationError naming where it
    was looked for (never the password): at start-up a refused connection is as likely a wrong
    URL as a server that is down. One the server refuses for now (too many connections, starting
    up or shutting down: :data:`POSTGRES_NOT_NOW`) is a DatabaseUnavailable instead."""
    try:
        return engine.connect()
    except DatabaseError as exc:  # OperationalError, or a file that is no SQLite database
        url = engine.url
        where = (
            f"SQLite file {url.database!r}"
            if url.get_backend_name() == "sqlite"
            else f"{url.database!r} at {url.host or 'localhost'}:{url.port or 5432}"
        )
        said = str(exc.orig).lower()
        if unavailable_error(exc) is not None and any(m in said for m in POSTGRES_NOT_NOW):
            reason = " ".join(_reason(exc).split())
            raise DatabaseUnavailable(
                f"the database {where} cannot be reached just now ({reason}); nothing was "
                "changed: try again in a minute",
                reason=reason,
            ) from None
        raise ConfigurationError(
            f"cannot connect to the database {where}: {_reason(exc)}; check DATABASE_URL"
        ) from None


# The tables whose size changes with labeling, and that the per-click queries join.
HOT_TABLES = (
    "examples",
    "annotations",
    "assignments",
    "predictions",
    "labels",
    "flags",
    "multi_label_requests",
)


def refresh_statistics(engine: Engine, tables: tuple[str, ...] = HOT_TABLES) -> None:
    """Give PostgreSQL's planner fresh row counts after bulk writes (an import, a model's
    predictions): ``ANALYZE``, as its manual advises after loading data ("Populating a
    Database"). Without it, tables filled since the last analysis look empty, and the per-click
    "examples still free" count was planned as a nested loop over every annotation: 1.8-2.2 s
    per click on 1,000 examples vs 1.5 ms after ANALYZE (autovacuum, where it is on, does this
    too, but only once a minute and past its thresholds). It takes no lock that blocks reads or
    writes. SQLite: nothing (its planner does not use row counts for these queries).
    """
    if is_sqlite(engine):
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE " + ", ".join(tables))
        connection.commit()


def alembic_config(engine: Engine, *, migrations: Path | None = None) -> Any:
    """Alembic's configuration for ``engine``: the migrations in ``migrations``, labelbot's own
    (:data:`MIGRATIONS_DIR`) unless given (a test's stand-in for a newer labelbot's)."""
    config = _script_config(migrations)
    # "%%": the option is a ConfigParser value, where a bare "%" (a URL-encoded password, a
    # ?options=-csearch_path%3D... query) fails as "invalid interpolation syntax"
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# Any constant will do: the key of the PostgreSQL advisory lock that makes migrations take turns.
MIGRATION_LOCK_KEY = 0x6C61_6265_6C62  # "labelb"
# PostgreSQL: how long a migration's statement waits for a table lock (0019's DROP INDEX takes
# ACCESS EXCLUSIVE, which waits for every open transaction that read the table: a long export,
# a training snapshot). Every other replica's reads of that table queue behind the waiting
# DDL, so an unbounded wait froze every click; past this the migration gives up, rolled back.
MIGRATION_LOCK_TIMEOUT_MS = 3_000

# Beside alembic's version, the oldest labelbot schema revision whose code can run on the
# database's schema: one row (revision, oldest_compatible), written in the transaction of each
# upgrade and downgrade from the migrations' ``compatible_with`` (:func:`oldest_compatible`).
# A labelbot that does not know the database's revision reads it (:func:`upgrade`'s
# ``run_on_newer``). Created by migration 0020; like alembic_version it is the migrations'
# bookkeeping: no model, not copied by `db copy` (the target's upgrade writes its own).
COMPAT_TABLE = "labelbot_schema_compat"
COMPAT_SINCE = "0020"  # the migration that creates it
_COMPAT = Table(
    COMPAT_TABLE,
    MetaData(),
    Column("revision", String(32), primary_key=True),
    Column("oldest_compatible", String(32), nullable=False),
)


def bookkeeping_table(name: str | None, type_: str, _parents: Any = None) -> bool:
    """False for the migrations' own tables, which no model describes (alembic's
    ``include_name`` hook, for a comparison of the models with the schema)."""
    return not (type_ == "table" and name == COMPAT_TABLE)


@dataclass(frozen=True)
class SchemaChange:
    """A migration that ran: the schema's revision ``before`` (None: a database without one,
    created now) and ``after``; ``kept_open_from``, on an upgrade that only added to a schema
    that already carried :data:`COMPAT_TABLE`, the oldest revision whose code still runs on it
    (code at ``before`` among them), else None."""

    before: str | None
    after: str
    kept_open_from: str | None = None


@dataclass(frozen=True)
class NewerSchema:
    """A schema at ``revision``, newer than this code's ``newest``, that the newer labelbot
    marked as one code from ``oldest_compatible`` on can run on (its migrations since only
    added to it): this code runs on it and leaves it as it is."""

    revision: str
    newest: str
    oldest_compatible: str


def revisions(*, migrations: Path | None = None) -> list[str]:
    """Every migration's revision, oldest first (the history is linear)."""
    from alembic.script import ScriptDirectory

    return _order(ScriptDirectory.from_config(_script_config(migrations)))


def _order(script: Any) -> list[str]:
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def oldest_compatible(revision: str, *, migrations: Path | None = None) -> str:
    """The oldest revision whose code can run on the schema at ``revision``, as
    :data:`COMPAT_TABLE` records it: the latest that the migrations up to ``revision`` declare
    in their ``compatible_with``, so that a migration that only adds, after one that did not,
    claims no more than that one allows. A migration that declares none, or one it cannot (a
    revision unknown or after its own), counts as its own revision: only code that knows it
    runs on it. Migrations before 0020 declare none."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_script_config(migrations))
    return _oldest_compatible(script, _order(script), revision)


def _oldest_compatible(script: Any, order: list[str], revision: str) -> str:
    oldest = 0
    for index, name in enumerate(order[: order.index(revision) + 1]):
        declared = getattr(script.get_revision(name).module, "compatible_with", name)
        if not isinstance(declared, str) or declared not in order[: index + 1]:
            declared = name
        oldest = max(oldest, order.index(declared))
    return order[oldest]


def migration_titles(
    engine: Engine, *, since: str, migrations: Path | None = None
) -> list[tuple[str, str]]:
    """(revision, its docstring's first paragraph, :data:`TITLE_CHARS` at most) of each
    migration after ``since`` up to the database's, newest first: what a downgrade to
    ``since`` undoes. Checked as :func:`downgrade` checks it (an unknown revision, one newer
    than the database's)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(engine, migrations=migrations))
    current = _checked_downgrade(current_revision(engine), since, script, engine)
    if current is None:
        return []
    order = _order(script)
    undone = reversed(order[order.index(since) + 1 : order.index(current) + 1])
    titles = []
    for name in undone:
        doc = " ".join((script.get_revision(name).doc or "").split("\n\n")[0].split())
        titles.append((name, _shortened(doc)))
    return titles


def _shortened(text: str) -> str:
    """``text`` in :data:`TITLE_CHARS` at most: cut after its last whole word that fits, then
    "…" (a cut at the width ended mid-word: "so it is no l…")."""
    if len(text) <= TITLE_CHARS:
        return text
    head = text[:TITLE_CHARS]  # one more than is kept: a space there ends a whole word
    kept = head[: head.rfind(" ")] if " " in head else head[: TITLE_CHARS - 1]
    return kept.rstrip(" ,;:") + "…"


TITLE_CHARS = 100  # a migration's title: its docstring's first paragraph, cut to one line


def upgrade(
    engine: Engine,
    revision: str = "head",
    *,
    run_on_newer: bool = False,
    migrations: Path | None = None,
) -> SchemaChange | NewerSchema | None:
    """Create or upgrade the schema to ``revision`` with Alembic (idempotent): what changed, or
    None when the schema was at ``revision`` already.

    - A schema that is current already (every command's start-up, nearly always) locks
      nothing: its revision is read in a read transaction, which on SQLite waits for no writer,
      so `labelbot status` still answers while a long import holds the write lock.
    - An upgrade takes the lock and reads the revision again under it: replicas starting
      together take turns (a PostgreSQL advisory lock for the transaction; SQLite's BEGIN
      IMMEDIATE already serialises), and the second one finds the work done.
    - On SQLite, foreign keys are off while tables are rebuilt (batch mode copies a table and
      drops the old one, which referencing rows would otherwise forbid), and checked before the
      commit: Alembic's documented recipe. Each AUTOINCREMENT table's counter is kept as it
      was (a rebuild drops it: :func:`_keep_id_counters`), so no id is handed out twice.
    - On PostgreSQL a statement waits at most :data:`MIGRATION_LOCK_TIMEOUT_MS` for a table's
      lock, so other replicas' queries do not queue behind it for as long as a long read lasts.
    - :data:`COMPAT_TABLE` is written in the migration's transaction.
    - A database at a revision this code does not know (migrated by a newer labelbot) is a
      one-line ConfigurationError, unless ``run_on_newer`` and the newer labelbot recorded that
      code from a revision this code knows can run on it: then it is left as it is, and the
      NewerSchema returned says so. A migration that fails is a ConfigurationError too (it is
      rolled back whole); a database too busy to take the lock a one-line ConflictError
      (:func:`busy_error`).

    ``migrations``: another directory of migrations than labelbot's (tests: a newer labelbot's).
    """
    from alembic.script import ScriptDirectory

    config = alembic_config(engine, migrations=migrations)
    script = ScriptDirectory.from_config(config)
    newest = script.get_current_head()
    if newest is None:  # else "ready" on a database without a table
        raise ConfigurationError(
            f"no schema migrations in {Path(script.dir) / 'versions'}: labelbot was installed "
            "without its data files; reinstall it (pip install . or the wheel)"
        )
    order = _order(script)
    reader = engine.execution_options(sqlite_begin="DEFERRED") if is_sqlite(engine) else engine
    with connect(reader) as connection:
        current = _revision(connection)
        newer = _newer(connection, current, order, run_on_newer=run_on_newer)
    if newer is not None:
        return newer
    if current == newest and revision in ("head", newest):
        return None

    def check(before: str | None, connection: Connection) -> None:
        # again, under the lock: another process may have upgraded it since the read
        found = _newer(connection, before, order, run_on_newer=run_on_newer)
        if found is not None:
            raise _Done(found)

    target = newest if revision == "head" else revision
    try:
        return _migrate(engine, config, script, target, check=check, direction="upgrade")
    except _Done as done:
        return done.result


def downgrade(
    engine: Engine, revision: str, *, migrations: Path | None = None
) -> SchemaChange | None:
    """Bring the schema back to ``revision`` with the migrations' own downgrade steps, for an
    older labelbot to run on it: what changed, or None when it is at ``revision`` already.
    Locked and checked as :func:`upgrade` is, :data:`COMPAT_TABLE` rewritten as ``revision``'s
    migrations declare it (or dropped with 0020). An unknown revision, or one newer than the
    database's, is an InvalidInputError; a database at a revision this code does not know a
    ConfigurationError (the newer labelbot that made it downgrades it)."""
    from alembic.script import ScriptDirectory

    config = alembic_config(engine, migrations=migrations)
    script = ScriptDirectory.from_config(config)
    if _checked_downgrade(current_revision(engine), revision, script, engine) is None:
        return None

    def check(before: str | None, connection: Connection) -> None:
        if _checked_downgrade(before, revision, script, connection) is None:
            raise _Done(None)

    try:
        change = _migrate(engine, config, script, revision, check=check, direction="downgrade")
    except _Done:  # another process downgraded it meanwhile
        return None
    assert not isinstance(change, NewerSchema)
    return change


class _Done(Exception):
    """The work is done already, or is not this code's to do (found under the lock)."""

    def __init__(self, result: NewerSchema | None) -> None:
        super().__init__()
        self.result = result


def _checked_downgrade(
    current: str | None, revision: str, script: Any, bind: Engine | Connection
) -> str | None:
    """The database's revision when a downgrade to ``revision`` has work to do, None when it
    is there already; the errors of :func:`downgrade` (``bind``: the database, read for one)."""
    order = _order(script)
    if revision not in order:
        raise InvalidInputError(
            f"unknown schema revision {revision!r}: this labelbot knows {order[0]} to "
            f"{order[-1]} (a labelbot release's newest revision is the one to give)"
        )
    if current is None:
        raise InvalidInputError(
            "the database has no labelbot schema yet: there is nothing to downgrade"
        )
    if current not in order:
        raise _unknown_revision(bind, current, order[-1])
    if order.index(revision) > order.index(current):
        raise InvalidInputError(
            f"the database schema is at revision {current}, older than {revision}: a downgrade "
            f"only goes back (`labelbot init` upgrades it)"
        )
    return None if revision == current else current


def _migrate(
    engine: Engine,
    config: Any,
    script: Any,
    revision: str,
    *,
    check: Callable[[str | None, Connection], None],
    direction: str,
) -> SchemaChange | None:
    """Run Alembic's ``direction`` ("upgrade", "downgrade") to ``revision`` in one transaction
    under the migration lock (see :func:`upgrade`), :data:`COMPAT_TABLE` written in it;
    ``check(before, connection)`` first, under the lock."""
    from alembic import command
    from alembic.util import CommandError

    doing = "upgrading" if direction == "upgrade" else "downgrading"
    with connect(engine) as connection:
        raw = connection.connection.dbapi_connection if is_sqlite(engine) else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction does it apply
        try:
            with connection.begin():
                if not is_sqlite(engine):
                    connection.exec_driver_sql(
                        f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
                    )
                    # after the advisory lock: a replica waits for another's whole migration
                    connection.exec_driver_sql(
                        f"SET LOCAL lock_timeout = {MIGRATION_LOCK_TIMEOUT_MS}"
                    )
                before = _revision(connection)
                check(before, connection)
                config.attributes["connection"] = connection
                counters = _id_counters(connection) if raw is not None else {}
                try:
                    getattr(command, direction)(config, revision)
                    if raw is not None:
                        _keep_id_counters(connection, counters)
                    after = _revision(connection)
                    if after is not None:
                        _record_compat(connection, script, after)
                except (CommandError, SQLAlchemyError) as exc:
                    raise _migration_error(exc, doing=doing, revision=revision) from exc
                if raw is not None:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise ConfigurationError(
                            f"{doing} the database schema left {len(broken)} rows referring "
                            f"to missing rows (first in table {broken[0][0]!r}); nothing was "
                            "changed"
                        )
        except OperationalError as exc:  # the lock, not taken in time
            busy = busy_error(exc)
            if busy is not None:
                raise busy from exc
            raise
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")
    if after is None or after == before:
        return None
    return SchemaChange(
        before=before, after=after, kept_open_from=_kept_open(script, before, after)
    )


def _id_counters(connection: Connection) -> dict[str, int]:
    """SQLite's AUTOINCREMENT counters (``sqlite_sequence``: the highest id each table ever
    handed out), by table; none before the first AUTOINCREMENT table."""
    if not _has_sqlite_sequence(connection):
        return {}
    rows = connection.exec_driver_sql("SELECT name, seq FROM sqlite_sequence").all()
    return {str(name): int(seq) for name, seq in rows if seq is not None}


def _has_sqlite_sequence(connection: Connection) -> bool:
    return (
        connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
        ).first()
        is not None
    )


def _keep_id_counters(connection: Connection, counters: dict[str, int]) -> None:
    """Set each AUTOINCREMENT table's counter back to at least what ``counters`` held before
    the migration. A migration that rebuilds a table (Alembic's batch mode on SQLite: copy it,
    drop the old one, rename the copy) drops the old table's counter, and the copy's starts at
    the highest id left: the ids of rows deleted before (a deleted project's proposals, whose
    Approve buttons stay in Slack) were handed out again, which 0016 made never happen. A table
    the migration dropped, or left without AUTOINCREMENT, gets no counter."""
    if not counters:
        return
    tables = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'"
    ).all()
    autoincrement = {str(name) for name, sql in tables if "AUTOINCREMENT" in str(sql).upper()}
    now = _id_counters(connection)
    for table, seq in counters.items():
        if table not in autoincrement or now.get(table, -1) >= seq:
            continue
        if table in now:
            connection.exec_driver_sql(
                "UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (seq, table)
            )
        else:  # a rebuilt table left empty has no counter yet
            connection.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, seq)
            )


def _kept_open(script: Any, before: str | None, after: str) -> str | None:
    """The oldest revision whose code runs on the schema at ``after``, when an upgrade from
    ``before`` left code at ``before`` able to (it reads :data:`COMPAT_TABLE`: ``before`` is at
    or past :data:`COMPAT_SINCE`); None otherwise, downgrades included."""
    order = _order(script)
    if before not in order or COMPAT_SINCE not in order:
        return None
    if order.index(before) < order.index(COMPAT_SINCE) or order.index(after) <= order.index(before):
        return None
    oldest = _oldest_compatible(script, order, after)
    return oldest if order.index(oldest) <= order.index(before) else None


def _record_compat(connection: Connection, script: Any, revision: str) -> None:
    """Write :data:`COMPAT_TABLE`'s row for the schema at ``revision``; nothing before
    :data:`COMPAT_SINCE`, whose downgrade drops the table."""
    order = _order(script)
    if COMPAT_SINCE not in order or order.index(revision) < order.index(COMPAT_SINCE):
        return
    connection.execute(delete(_COMPAT))
    connection.execute(
        insert(_COMPAT).values(
            revision=revision, oldest_compatible=_oldest_compatible(script, order, revision)
        )
    )


def _migration_error(exc: Exception, *, doing: str, revision: str) -> LabelbotError:
    """A migration's failure as one line: a table lock not granted within
    :data:`MIGRATION_LOCK_TIMEOUT_MS` (PostgreSQL's lock_not_available), another busy
    database, or the migration's own error; each rolled back whole."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == "55P03":
        return ConflictError(
            f"the database is busy: {doing} its schema to {revision} needs a table that "
            "another process's long transaction (an export? a training?) is reading, and it "
            f"waited {MIGRATION_LOCK_TIMEOUT_MS / 1000:g} s so as not to hold up the bot's "
            "other processes; nothing was changed: try again when it finishes"
        )
    busy = busy_error(exc)
    if busy is not None:
        return busy
    return ConfigurationError(
        f"{doing} the database schema to {revision} failed, and nothing was changed: {_reason(exc)}"
    )


def _script_config(migrations: Path | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations or MIGRATIONS_DIR))
    return config


def _revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _newer(
    connection: Connection, current: str | None, order: list[str], *, run_on_newer: bool
) -> NewerSchema | None:
    """None when this code knows the revision ``current`` (or there is no schema yet). When it
    does not (a newer labelbot upgraded it): a NewerSchema where ``run_on_newer`` and the
    database's :data:`COMPAT_TABLE` says code from a revision this code knows can run on it,
    else the ConfigurationError naming the way out."""
    if current is None or current in order:
        return None
    oldest = _recorded_compat(connection, current) if run_on_newer else None
    if oldest is None or oldest not in order:
        raise _unknown_revision(connection, current, order[-1])
    return NewerSchema(revision=current, newest=order[-1], oldest_compatible=oldest)


def _recorded_compat(connection: Connection, current: str) -> str | None:
    """The oldest revision whose code can run on the schema, as :data:`COMPAT_TABLE` records
    it for the revision ``current``; None without the table, without one row for ``current``
    (a migration run by other means than labelbot's left it behind), or when it cannot be
    read as this code knows it (a newer labelbot changed it)."""
    try:
        if not inspect(connection).has_table(COMPAT_TABLE):
            return None
        rows = connection.execute(select(_COMPAT.c.revision, _COMPAT.c.oldest_compatible)).all()
    except SQLAlchemyError as exc:
        known = busy_error(exc) or unavailable_error(exc)
        if known is not None:
            raise known from exc
        return None
    if len(rows) != 1 or rows[0][0] != current or not isinstance(rows[0][1], str):
        return None
    return str(rows[0][1])


def _unknown_revision(bind: Engine | Connection, current: str, newest: str) -> ConfigurationError:
    """The error of a database at a revision this code does not know: one a newer labelbot
    upgraded, or (no labelbot schema in it) another Alembic-managed application's, whose
    revision sits in the same table, alembic_version (:func:`_foreign_schema`)."""
    if _foreign_schema(bind):
        postgres = bind.dialect.name == "postgresql"
        where = "database schema" if postgres else "database"
        own = (
            "a database of labelbot's own, or a schema of its own in this database (CREATE "
            "SCHEMA labelbot, then ?options=-csearch_path%3Dlabelbot at the end of the URL)"
            if postgres
            else "a SQLite file of labelbot's own (sqlite:///labelbot.db)"
        )
        return ConfigurationError(
            f"the database holds another application's schema, not labelbot's: no "
            f"{COMPAT_TABLE} table (every labelbot since {COMPAT_SINCE} has one), and an "
            f"Alembic revision {current} that is none of labelbot's (its newest "
            f"is {newest}); labelbot keeps its revision in the same table, alembic_version, so "
            f"it cannot share a {where} with another Alembic-managed application: point "
            f"DATABASE_URL at {own}; nothing was changed"
        )
    return ConfigurationError(
        f"the database schema is at revision {current}, which this labelbot does not know "
        f"(its newest is {newest}): it was upgraded by a newer labelbot; upgrade labelbot, "
        f"or roll the database back with that newer labelbot (`labelbot db downgrade "
        f"{newest}`), or point DATABASE_URL at another database"
    )


# What tells a labelbot schema from another application's: COMPAT_TABLE, which every labelbot
# newer than 0019 has (migration 0020 makes it; a newer one keeps it, as what its older releases
# read), so that any labelbot that could write a revision this code does not know left it. Or, in
# a schema without it (labelbot before 0020, whose alembic_version something else rewrote), all
# of the tables labelbot has had since 0001: one `projects` table alone is common elsewhere.
LABELBOT_FIRST_TABLES = ("projects", "examples", "labels", "annotations", "assignments")


def _foreign_schema(bind: Engine | Connection) -> bool:
    """Whether the database (on PostgreSQL its current schema) is none of labelbot's: neither
    :data:`COMPAT_TABLE` nor all of :data:`LABELBOT_FIRST_TABLES` in it. A revision this code
    does not know there is not a newer labelbot's. False when it cannot tell (a busy or
    unreachable database is its error)."""
    if isinstance(bind, Engine):
        reader = bind.execution_options(sqlite_begin="DEFERRED") if is_sqlite(bind) else bind
        with connect(reader) as connection:
            return _foreign_schema(connection)
    try:
        tables = set(inspect(bind).get_table_names())
    except SQLAlchemyError as exc:
        known = busy_error(exc) or unavailable_error(exc)
        if known is not None:
            raise known from exc
        return False
    return COMPAT_TABLE not in tables and not tables.issuperset(LABELBOT_FIRST_TABLES)


def current_revision(engine: Engine) -> str | None:
    """The schema's revision (None: no labelbot schema), read in a read transaction: on SQLite
    it waits for no writer."""
    reader = engine.execution_options(sqlite_begin="DEFERRED") if is_sqlite(engine) else engine
    with connect(reader) as connection:
        return _revision(connection)
