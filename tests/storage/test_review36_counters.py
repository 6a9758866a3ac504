"""review36: the settled second opinions of migration 0023 (``multi_label_requests.pending``),
checked where a request can want more votes again: an undo overlapping a click that settles
the request, in both orders. Real PostgreSQL (SQLite's writers take turns: no overlap to get
wrong). Each failed while the annotations trigger skipped the pending requests (``AND NOT
pending``): the undo neither held the request's row (a click's SKIP LOCKED could not pass it
over) nor waited for the click's lock to make it pending again."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from engine import labeling
from storage.db import session_scope
from storage.models import Label
from storage.repositories import assignments, feedback, taxonomy
from storage.repositories import projects as projects_repo
from tests.storage import test_click_counters as counters

ON_POSTGRES = pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)


def _answered_unsettled(ws: Any) -> tuple[int, int, int]:
    """ann and ben answer an example asked of two experts; no click has settled it yet.
    (project id, example id, ben's annotation)."""
    pid = counters._project(ws, multi_label_share=1.0, multi_label_k=2)
    first, _ = counters._label(ws, "ann")
    second, ben = counters._label(ws, "ben")
    assert second == first and counters._pending(ws, first)
    return pid, first, ben


def _until_blocked_or_done(ws: Any, backend: int, done: threading.Event) -> None:
    """Wait until another transaction waits for a lock ``backend`` holds, or ``done`` is set."""
    while not done.is_set():
        with ws.db.connect() as probe:
            blocked = probe.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE :me = ANY("
                        "pg_blocking_pids(pid))"),
                {"me": backend},
            ).scalar_one()  # fmt: skip
        if blocked:
            return
        done.wait(0.05)


def _in_thread(work: Callable[[], object]) -> tuple[threading.Thread, threading.Event, list[Any]]:
    """Run ``work`` in a thread; (the thread, set when it ends, its result or exception)."""
    done = threading.Event()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # noqa: BLE001 - the test asserts on it
            outcome.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, done, outcome


def _retire_a(session: Session, project_id: int) -> None:
    """Retire label A without a mapping, as ``taxonomy.retire_label`` does (the project's row
    locked, then the label's), uncommitted: both votes stop counting."""
    session.execute(sa.text("SET LOCAL lock_timeout = '60s'"))  # never hang the suite
    taxonomy.lock_taxonomy(session=session, project_id=project_id)
    label = session.exec(
        select(Label).where(Label.project_id == project_id, Label.name == "A")
    ).one()
    taxonomy.map_label(session=session, label=label, to_label_id=None)


def _undo(session: Session, project_id: int, example_id: int, ben: int) -> None:
    """ben's undo, as ``labeling.undo`` makes it (its locks, then the retraction), uncommitted."""
    feedback.lock_for_vote(session=session, project_id=project_id)
    feedback.lock_votes(session=session, example_id=example_id)
    assert feedback.retract_annotation(session=session, annotation_id=ben, annotator="ben")


@ON_POSTGRES
@pytest.mark.postgres
def test_a_vote_undone_while_a_click_settles_is_asked_again(ws) -> None:  # type: ignore[no-untyped-def]
    """ben's undo (not yet committed) and cat's click overlap: the click settles the request
    (ben's vote still live in its snapshot); the undo commits after. Settled with one opinion,
    the queue never asks for the second again."""
    pid, example_id, ben = _answered_unsettled(ws)
    with Session(ws.db) as undo:
        _undo(undo, pid, example_id, ben)
        task = labeling.next_task(ws, project="p", annotator="cat")  # settles on the way
        assert task is not None and task.example_id != example_id
        undo.commit()
    task = labeling.next_task(ws, project="p", annotator="dan")
    assert task is not None and task.example_id == example_id  # the second opinion, again


@ON_POSTGRES
@pytest.mark.postgres
def test_a_vote_undone_after_a_click_settled_uncommitted_is_asked_again(ws) -> None:  # type: ignore[no-untyped-def]
    """The other order: a click settles the answered request (not yet committed), then ben's
    undo runs (in another thread: it may wait for the click's locks), then the click commits."""
    pid, example_id, ben = _answered_unsettled(ws)
    done = threading.Event()
    failed: list[BaseException] = []

    def undo_and_commit() -> None:
        try:
            with Session(ws.db) as undo:
                undo.execute(sa.text("SET LOCAL lock_timeout = '60s'"))  # never hang the suite
                _undo(undo, pid, example_id, ben)
                undo.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failed.append(exc)
        finally:
            done.set()

    with session_scope(ws.db) as click:
        assert assignments.settle_requests(session=click, project_id=pid) == 1
        backend = int(click.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        worker = threading.Thread(target=undo_and_commit)
        worker.start()
        # let the undo run until it ends or waits for a lock this click holds (a fixed trigger)
        _until_blocked_or_done(ws, backend, done)
    worker.join()
    assert not failed, failed
    task = labeling.next_task(ws, project="p", annotator="dan")
    assert task is not None and task.example_id == example_id  # the second opinion, again


@ON_POSTGRES
@pytest.mark.postgres
def test_a_label_retired_while_a_click_settles_keeps_the_request_pending(ws) -> None:  # type: ignore[no-untyped-def]
    """A retire of the request's label (both votes) in flight while cat's click settles: the
    click waits for it (the project's row) or passes the request over; it stays pending, so
    the queue asks two experts again once one labels it anew."""
    pid, example_id, _ = _answered_unsettled(ws)
    with Session(ws.db) as change:
        _retire_a(change, pid)
        backend = int(change.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        thread, done, outcome = _in_thread(
            lambda: labeling.next_task(ws, project="p", annotator="cat")
        )
        _until_blocked_or_done(ws, backend, done)
        change.commit()
    thread.join()
    assert not isinstance(outcome[0], BaseException), outcome
    assert counters._pending(ws, example_id)


@ON_POSTGRES
@pytest.mark.postgres
def test_a_label_retired_after_a_click_settled_uncommitted_keeps_the_request_pending(ws) -> None:  # type: ignore[no-untyped-def]
    """The other order: a click settles the request (not yet committed), a retire of its
    label starts, then the click stores its delivery (a row referring to the project: the lock
    on the project's row that such a row takes) and commits. Neither may deadlock the other,
    and the request ends pending."""
    pid, example_id, _ = _answered_unsettled(ws)

    def retire() -> None:
        with session_scope(ws.db) as change:
            _retire_a(change, pid)

    with session_scope(ws.db) as click:
        click.execute(sa.text("SET LOCAL lock_timeout = '60s'"))
        assert assignments.settle_requests(session=click, project_id=pid) == 1
        backend = int(click.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        thread, done, outcome = _in_thread(retire)
        _until_blocked_or_done(ws, backend, done)
        projects_repo.share_project_row(session=click, project_id=pid)
    thread.join()
    assert outcome == [None], outcome
    assert counters._pending(ws, example_id)
