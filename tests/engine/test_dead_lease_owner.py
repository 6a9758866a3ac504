"""A `labelbot train` that dies holding its `train:NAME` lease (a database error: the release
needs the database too) locked the project out for 15 minutes, blaming a process that no longer
existed. Now a lease whose owner is a process of this machine that has ended is taken over at
once; one whose owner may be alive (running here, or elsewhere: nothing here can tell) is not,
and the refusal says until when it is held; the release is tried again after a database error.
The owner is a real second process (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC

import pytest

import storage.db
from engine import jobs
from engine.config import Settings
from engine.workspace import Workspace
from storage.db import make_engine, session_scope
from storage.errors import ConflictError, NotFoundError
from storage.repositories import leases
from tests.helpers import python_child
from tests.storage.write_lock import SqliteWriteLock

LEASE = "train:bank"

# `labelbot train`'s lease, taken by another process: it says who it is, then (told to) dies
# holding it, as the one killed by a database error did.
TRAINER = """
import os, sys
from engine import jobs
from engine.config import Settings
from engine.workspace import Workspace
from storage.db import make_engine
ws = Workspace(settings=Settings(), db=make_engine(sys.argv[1], schema=sys.argv[2] or None))
with jobs.claim(ws, "train:bank", ttl=jobs.TRAIN_LEASE) as got:
    print(jobs.thread_owner() if got else "refused", flush=True)
    sys.stdin.readline()
    os._exit(1)
"""


@pytest.fixture
def ws(db_url_and_schema) -> Iterator[Workspace]:  # type: ignore[no-untyped-def]
    """A workspace without an encoder: leases need only the database."""
    url, schema = db_url_and_schema
    workspace = Workspace(settings=Settings(DATABASE_URL=url), db=make_engine(url, schema=schema))
    yield workspace
    workspace.close()


@pytest.fixture
def trainer(db_url_and_schema) -> Iterator[subprocess.Popen[str]]:  # type: ignore[no-untyped-def]
    url, schema = db_url_and_schema
    with python_child("-c", TRAINER, url, schema or "") as process:
        yield process


def _holder(ws: Workspace) -> str | None:
    with session_scope(ws.db, read_only=True) as s:
        return leases.holder(session=s, name=LEASE)


def _hold(ws: Workspace, owner: str) -> None:
    with session_scope(ws.db) as s:
        assert leases.try_acquire(session=s, name=LEASE, owner=owner, ttl=jobs.TRAIN_LEASE)


def test_the_lease_of_a_trainer_that_died_here_is_taken_over(  # type: ignore[no-untyped-def]
    ws, trainer, caplog: pytest.LogCaptureFixture
) -> None:
    assert trainer.stdout is not None and trainer.stdin is not None
    owner = trainer.stdout.readline().strip()
    host, pid, _token, _thread = owner.split(":")
    assert (host, int(pid)) == (socket.gethostname(), trainer.pid)
    # alive: kept out, told by whom and until when
    with pytest.raises(ConflictError) as refused:
        jobs.train_now(ws, "bank")
    with session_scope(ws.db, read_only=True) as s:
        lease = leases.held(session=s, name=LEASE)
    assert lease is not None and lease.owner == owner
    until = lease.expires_at.astimezone(UTC)
    assert str(refused.value) == (
        f"training of 'bank' already running in another process ({owner}); try again when it "
        f"finishes, or after {until:%H:%M:%S} UTC if that process has died"
    )
    with jobs.claim(ws, LEASE, ttl=jobs.TRAIN_LEASE) as got:
        assert not got
    assert _holder(ws) == owner

    trainer.stdin.write("die\n")
    trainer.stdin.flush()
    assert trainer.wait(timeout=30) == 1
    assert _holder(ws) == owner  # it died holding the lease
    # dead: taken over at once (here training then finds no project 'bank': past the lease)
    with (
        caplog.at_level(logging.WARNING, logger="engine.jobs"),
        pytest.raises(NotFoundError, match="no project named 'bank'"),
    ):
        jobs.train_now(ws, "bank")
    assert f"took lease {LEASE} over from {owner}: that process has ended" in caplog.text
    assert _holder(ws) is None  # and released again on the way out
    _hold(ws, owner)
    with jobs.claim(ws, LEASE, ttl=jobs.TRAIN_LEASE) as got:
        assert got and _holder(ws) == jobs.thread_owner()


def test_a_dead_pid_elsewhere_is_not_taken_over(ws, trainer) -> None:  # type: ignore[no-untyped-def]
    """Another machine, or another container that shares this host's name (its own PID
    namespace: the PID means nothing here), may run that PID: its lease is waited out."""
    assert trainer.stdout is not None and trainer.stdin is not None
    trainer.stdout.readline()
    trainer.stdin.write("die\n")
    trainer.stdin.flush()
    trainer.wait(timeout=30)
    dead = trainer.pid
    mark = jobs._PROCESS_TOKEN[:4]
    other_mark = "0000" if mark != "0000" else "1111"
    here = socket.gethostname()
    for owner in (
        f"elsewhere:{dead}:{jobs._PROCESS_TOKEN}",  # another machine
        f"{here}:{dead}:{other_mark}abcd",  # another PID namespace on a host of this name
        f"{here}:{dead}",  # an owner of some other shape
    ):
        before = _holder(ws)
        with session_scope(ws.db) as s:
            leases.release(session=s, name=LEASE, owner=before or "")
        _hold(ws, owner)
        with pytest.raises(ConflictError, match=re.escape(f"({owner}); try again when")):
            jobs.train_now(ws, "bank")
        assert _holder(ws) == owner
    assert jobs.owner_ended(f"{here}:{dead}:{jobs._PROCESS_TOKEN}")  # the same, here: ended


@pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)
def test_a_release_that_meets_a_busy_database_is_tried_again(  # type: ignore[no-untyped-def]
    db_url_and_schema, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write lock is held past the busy timeout when the lease is released (an import),
    and let go once the first try has failed: the second try releases it."""
    monkeypatch.setattr(storage.db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    monkeypatch.setattr(jobs, "RELEASE_RETRY_S", 0.1)
    url, _ = db_url_and_schema
    ws = Workspace(settings=Settings(DATABASE_URL=url), db=make_engine(url))
    path = ws.db.url.database
    assert path is not None
    locks: list[SqliteWriteLock] = []

    class LetGoAfterTheFirstTry(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith(f"releasing lease {LEASE} failed"):
                locks[0].release()

    handler = LetGoAfterTheFirstTry()
    logging.getLogger("engine.jobs").addHandler(handler)
    try:
        with jobs.claim(ws, LEASE, ttl=jobs.TRAIN_LEASE) as got:
            assert got
            locks.append(SqliteWriteLock(path))  # from now until the first try fails
        assert not locks[0].held, "the first try did not fail"
        assert _holder(ws) is None
    finally:
        logging.getLogger("engine.jobs").removeHandler(handler)
        for lock in locks:
            lock.close()
        ws.close()
