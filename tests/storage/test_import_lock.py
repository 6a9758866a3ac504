"""Imports take turns without holding up the project's other writers (audit finding 12).

An import runs in one transaction (a 100k-row file: tens of seconds). Imports into one project
must take turns (the later one counts the earlier one's texts as duplicates, and two files with
the same texts in opposite orders cannot deadlock). That used to be done by locking the
project's row FOR NO KEY UPDATE, which also stalled every settings write (a digest marked
sent, `/label settings` with its 3-second Slack budget) and every pin until the import
committed. Each test holds an import open at a known point and looks at what waits for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from storage.db import make_engine, session_scope
from storage.repositories import examples, projects
from storage.repositories import taxonomy as taxonomy_repo
from storage.repositories.examples import NewExample
from tests.storage.test_settings_races import HUNG, wait_until_done_or_blocked

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True),
]

TEXTS = [f"text number {i}" for i in range(50)]


class Replica:
    """One transaction on its own engine (another bot replica or CLI), run in a thread;
    ``pid`` is its PostgreSQL backend once the transaction has begun."""

    def __init__(self, url: str, schema: str, work: Callable[[Any], object]) -> None:
        self.pid: int | None = None
        self.done = threading.Event()
        self.result: object = None
        self.error: BaseException | None = None
        self._engine = make_engine(url, schema=schema)
        self._work = work
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        try:
            with session_scope(self._engine) as s:
                self.pid = int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
                self.result = self._work(s)
        except BaseException as exc:  # re-raised by finish()
            self.error = exc
        finally:
            self.done.set()

    def finish(self) -> object:
        self._thread.join(HUNG)
        self._engine.dispose()
        if self.error is not None:
            raise self.error
        return self.result


@dataclass
class PausedImport:
    project_id: int
    replica: Replica
    monitor: Engine  # for looking at pg_stat_activity
    release: threading.Event  # set: the import goes on


@pytest.fixture
def paused_import(db_url_and_schema, db, monkeypatch) -> Iterator[PausedImport]:  # type: ignore[no-untyped-def]
    """An import into project "p" stopped inside its transaction, after it took its turn and
    before it reads the stored hashes; it goes on when released, or when the test ends."""
    url, schema = db_url_and_schema
    with session_scope(db) as s:
        pid = projects.create_project(session=s, name="p", labels=["a", "b"]).id
        projects.create_project(session=s, name="q", labels=["a"])
    assert pid is not None
    locked = threading.Event()
    release = threading.Event()
    real = examples.existing_hashes

    def pausing(**kwargs: Any) -> dict[str, int]:
        if not locked.is_set():  # the first import only
            locked.set()
            assert release.wait(HUNG)
        return real(**kwargs)

    monkeypatch.setattr(examples, "existing_hashes", pausing)
    first = Replica(
        url,
        schema,
        lambda s: examples.add_examples(
            session=s, project_id=pid, rows=[NewExample(t) for t in TEXTS]
        ),
    )
    assert locked.wait(HUNG)
    try:
        yield PausedImport(pid, first, db, release)
    finally:
        release.set()
        first.finish()


def test_a_settings_write_does_not_wait_for_an_import(paused_import, db_url_and_schema) -> None:  # type: ignore[no-untyped-def]
    """A digest marked sent (or an admin's settings, or a pin) while an import runs is
    stored at once; before the fix it waited for the whole import."""
    pid, first, monitor = paused_import.project_id, paused_import.replica, paused_import.monitor
    url, schema = db_url_and_schema
    write = Replica(
        url,
        schema,
        lambda s: projects.update_project_settings(session=s, project_id=pid, last_digest_at="t"),
    )
    assert wait_until_done_or_blocked(monitor, pid=lambda: write.pid, done=write.done) == "done"
    write.finish()
    assert not first.done.is_set()  # the import is still open: the write did not wait for it


def test_two_imports_into_one_project_take_turns(paused_import, db_url_and_schema) -> None:  # type: ignore[no-untyped-def]
    """A second import of overlapping texts waits for the first, then counts the first one's
    texts as duplicates."""
    pid, first, monitor = paused_import.project_id, paused_import.replica, paused_import.monitor
    url, schema = db_url_and_schema
    more = TEXTS[25:] + [f"another text {i}" for i in range(10)]
    second = Replica(
        url,
        schema,
        lambda s: examples.add_examples(
            session=s, project_id=pid, rows=[NewExample(t) for t in more]
        ),
    )
    assert (
        wait_until_done_or_blocked(monitor, pid=lambda: second.pid, done=second.done) == "blocked"
    )
    with monitor.connect() as conn:  # it waits for the import lock, not for a row
        waits_for = conn.execute(
            text("SELECT wait_event FROM pg_stat_activity WHERE pid = :pid"), {"pid": second.pid}
        ).scalar()
    assert waits_for == "advisory"
    paused_import.release.set()
    earlier, added = first.finish(), second.finish()
    assert isinstance(earlier, examples.AddedExamples) and earlier.inserted == len(TEXTS)
    assert isinstance(added, examples.AddedExamples)
    assert (added.inserted, added.duplicates) == (10, 25)


def test_imports_into_other_projects_and_taxonomy_changes(paused_import, db_url_and_schema) -> None:  # type: ignore[no-untyped-def]
    """The turn is per project: an import into another project goes ahead. A taxonomy change
    of the importing project still waits for the import (it locks the project's row FOR
    UPDATE; the import holds it FOR KEY SHARE), as it did before."""
    pid, monitor = paused_import.project_id, paused_import.monitor
    url, schema = db_url_and_schema
    with session_scope(monitor, read_only=True) as s:
        other_id = projects.get_project(session=s, name="q").id
    assert other_id is not None
    elsewhere = Replica(
        url,
        schema,
        lambda s: examples.add_examples(
            session=s, project_id=other_id, rows=[NewExample(t) for t in TEXTS]
        ),
    )
    assert (
        wait_until_done_or_blocked(monitor, pid=lambda: elsewhere.pid, done=elsewhere.done)
        == "done"
    )
    added = elsewhere.finish()
    assert isinstance(added, examples.AddedExamples) and added.inserted == len(TEXTS)
    change = Replica(url, schema, lambda s: taxonomy_repo.lock_taxonomy(session=s, project_id=pid))
    assert (
        wait_until_done_or_blocked(monitor, pid=lambda: change.pid, done=change.done) == "blocked"
    )
    paused_import.release.set()
    change.finish()
