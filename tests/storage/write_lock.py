"""Another process that holds a database's write lock, as a long import does: SQLite's (BEGIN
IMMEDIATE in a second process) or a PostgreSQL table lock (a second connection)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

# Holds the lock until told (a line on stdin), says so, then waits to be told to exit.
HOLD_SQLITE = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
print("released", flush=True)
sys.stdin.readline()
"""


class SqliteWriteLock:
    """A process holding the write lock of the SQLite file ``path`` until :meth:`release`."""

    def __init__(self, path: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD_SQLITE, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "holding"
        self.held = True

    def release(self) -> None:
        if not self.held:
            return
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("release\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "released"
        self.held = False

    def close(self) -> None:
        self.release()
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@contextmanager
def sqlite_write_lock(path: str) -> Iterator[SqliteWriteLock]:
    lock = SqliteWriteLock(path)
    try:
        yield lock
    finally:
        lock.close()


@contextmanager
def postgres_table_lock(url: str, schema: str, table: str) -> Iterator[None]:
    """A second connection holding ``table`` of ``schema`` in ACCESS EXCLUSIVE mode (what a
    migration or a bulk rewrite takes): every query on it waits."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'LOCK TABLE "{schema}"."{table}" IN ACCESS EXCLUSIVE MODE')
            yield
            connection.rollback()
    finally:
        engine.dispose()
