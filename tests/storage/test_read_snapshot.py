"""A read-only session scope reads one consistent snapshot, on SQLite and PostgreSQL.

SQLite's deferred read transaction is one snapshot by nature. PostgreSQL's default (READ
COMMITTED) takes a new snapshot per statement, so a multi-statement read such as
``training.load_pool`` (the labels, then the votes) could see a taxonomy change half-way: a label
renamed between the two statements was in the pool's classes with none of its examples, and the
next model never predicted it. Read-only scopes are REPEATABLE READ, READ ONLY there.

The interleaving is forced, not hoped for: the rename runs, and commits, inside the pool's read.
"""

from __future__ import annotations

import csv
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine import projects, taxonomy, training
from engine.workspace import Workspace
from storage.db import is_sqlite, session_scope
from storage.repositories import projects as projects_repo
from tests.storage.test_labeling_races import (
    WAIT,
    backend_pid,
    blocks_someone,
    pause_after,
    wait_until,
)

LABELS = ["age_limit", "change_pin", "exchange_rate"]
TEXTS = {
    "age_limit": ["How old must I be to open an account?", "Is there a minimum age?"],
    "change_pin": ["How do I change my PIN?", "I want a new PIN for my card"],
    "exchange_rate": ["What rate do you use for dollars?", "Why was the exchange rate bad?"],
}


def _settings(session: Any) -> tuple[str, str]:
    connection = session.connection()
    return (
        str(connection.exec_driver_sql("SHOW transaction_isolation").scalar()),
        str(connection.exec_driver_sql("SHOW transaction_read_only").scalar()),
    )


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_read_only_scopes_are_one_snapshot_and_write_scopes_are_unchanged(db: Any) -> None:
    with session_scope(db, read_only=True) as s:
        reader = backend_pid(s)
        assert _settings(s) == ("repeatable read", "on")
    with session_scope(db) as s:  # the same pooled connection, back to the defaults
        assert backend_pid(s) == reader
        assert _settings(s) == ("read committed", "off")
        s.connection().exec_driver_sql("CREATE TEMP TABLE scratch (x int)")  # it may write


def test_a_read_only_scope_does_not_see_a_commit_made_during_it(db: Any) -> None:
    """Both backends: a label added (and committed) between two reads of one read-only scope is
    not in the second read."""
    with session_scope(db) as s:
        project = projects_repo.create_project(session=s, name="p", labels=["a"])
        pid = int(project.id or 0)
    with session_scope(db, read_only=True) as s:
        first = [lb.name for lb in projects_repo.list_labels(session=s, project_id=pid)]
        with session_scope(db) as other:  # commits while the read is open
            projects_repo.add_labels(session=other, project_id=pid, names=["b"])
        second = [lb.name for lb in projects_repo.list_labels(session=s, project_id=pid)]
    assert first == second == ["a"]
    with session_scope(db, read_only=True) as s:
        assert [lb.name for lb in projects_repo.list_labels(session=s, project_id=pid)] == [
            "a",
            "b",
        ]


@pytest.fixture
def bank(ws: Workspace, tmp_path: Path) -> Workspace:
    """Project "bank": two labeled texts per label (imported), no model."""
    projects.create_project(ws, name="bank", labels=LABELS)
    path = tmp_path / "bank.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([t, label] for label, texts in TEXTS.items() for t in texts)
    projects.import_file(ws, project="bank", path=path, embed=False)
    return ws


def test_a_rename_committed_while_the_pool_is_read_is_not_half_seen(
    bank: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool is read as it was when its read began (the rename makes the next retrain due)."""
    ws = bank
    reader = threading.current_thread()
    renamed = threading.Event()
    outcome: dict[str, Any] = {}

    def rename() -> None:
        try:
            outcome["rename"] = taxonomy.rename_label(
                ws, project="bank", label="age_limit", new_name="minimum_age", actor="ana",
                rescore=False,
            )  # fmt: skip
        except Exception as exc:  # the outcome, for the test to look at
            outcome["rename"] = exc
        finally:
            renamed.set()

    def rename_meanwhile(session: Any) -> None:
        # in load_pool's read, the labels read and the votes not yet: the rename commits now
        if threading.current_thread() is not reader or "started" in outcome:
            return
        outcome["started"] = True
        pid = None if is_sqlite(ws.db) else backend_pid(session)
        threading.Thread(target=rename).start()
        wait_until(
            lambda: renamed.is_set() or (pid is not None and blocks_someone(ws.db, pid)),
            "the rename to commit (or to wait for the pool's read)",
        )

    pause_after(monkeypatch, training.projects, "list_labels", rename_meanwhile)
    pool = training.load_pool(ws, "bank")
    assert renamed.wait(WAIT)
    assert not isinstance(outcome["rename"], Exception), outcome["rename"]
    assert outcome.get("started")

    labeled = Counter(pool.classes[int(c)] for c in pool.y[pool.labeled])
    assert pool.classes == LABELS  # as the read began ...
    assert labeled == {"age_limit": 2, "change_pin": 2, "exchange_rate": 2}  # ... all of it
    # and the rename did commit: the next read sees it
    assert training.load_pool(ws, "bank").classes == ["minimum_age", "change_pin", "exchange_rate"]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_a_write_in_a_read_only_scope_is_refused(db: Any) -> None:
    """PostgreSQL enforces READ ONLY: a write slipped into a read-only scope fails loudly."""
    with session_scope(db) as s:
        projects_repo.create_project(session=s, name="p", labels=["a"])
    refused = pytest.raises(DBAPIError, match="read-only transaction")
    with refused, session_scope(db, read_only=True) as s:
        s.execute(text("UPDATE projects SET description = 'x'"))
    with session_scope(db, read_only=True) as s:
        assert projects_repo.get_project(session=s, name="p").description == ""
