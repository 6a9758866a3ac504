"""Scheduler jobs at the edges the replica audit found, on SQLite and PostgreSQL: a digest in
the hour a DST fall-back repeats goes out once; a run left ``training`` by a process killed in
its first minutes is marked failed by the next training; a retrain or proposals refresh that
another replica did between this one's read and its lease is not done a second time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine import jobs, projects, proposing
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import leases, models
from storage.repositories import projects as project_repo
from tests.helpers import label_next, load_slice


@pytest.fixture
def loaded(ws: Workspace, banking_slice, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The bank slice with 20 labels: a retrain is due (the default threshold)."""
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 20)
    return truth


def _runs(ws: Workspace) -> list[tuple[int, str]]:
    with session_scope(ws.db, read_only=True) as session:
        found = project_repo.get_project(session=session, name="bank")
        runs = models.list_model_runs(session=session, project_id=int(found.id or 0))
        return [(r.version, r.status) for r in runs]


# --- a digest in the repeated hour of a DST fall-back ------------------------------------------


def test_a_digest_in_the_hour_the_clocks_go_back_is_sent_once(ws: Workspace) -> None:
    """Berlin, 2026-10-25: 02:00-03:00 comes twice (CEST, then CET). A 02:30 digest goes out at
    the first 02:30, not again an hour later; the next night's goes out as usual."""
    berlin = "Europe/Berlin"
    projects.create_project(ws, name="night", labels=["a", "b"])
    projects.update_settings(ws, project="night", digest_cron="30 2 * * *", timezone=berlin,
                             last_digest_at="2026-10-24T00:30:00+00:00")  # fmt: skip
    sent: list[datetime] = []
    now = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 00:00 CEST on the night of the change
    while now < datetime(2026, 10, 26, 3, 0, tzinfo=UTC):  # 04:00 CET the night after
        if jobs.digest_cycle(ws, lambda name: None, owner="w1", now=now):
            sent.append(now)
        now += timedelta(minutes=5)
    assert [t.isoformat() for t in sent] == [
        "2026-10-25T00:30:00+00:00",  # 02:30 CEST
        "2026-10-26T01:30:00+00:00",  # 02:30 CET, the next night
    ]


# --- a run left "training" by a process killed early -------------------------------------------


def test_a_run_killed_in_its_first_minutes_is_failed_by_the_next_training(
    ws: Workspace, loaded: dict[str, str]
) -> None:
    """Replica A took ``train:bank``, recorded its run and was killed before its first lease
    renewal; the lease has just lapsed. Replica B retrains: A's run, though started less than
    a lease ago, was abandoned (B holds the lease: nobody else trains) and is marked failed."""
    with session_scope(ws.db) as session:
        found = project_repo.get_project(session=session, name="bank")
        clock = leases.database_now(session)
        taken = clock - jobs.TRAIN_LEASE - timedelta(seconds=5)  # lapsed 5 s ago
        assert leases.try_acquire(session=session, name="train:bank", owner="A",
                                  ttl=jobs.TRAIN_LEASE, now=taken)  # fmt: skip
        killed = models.start_model_run(
            session=session, project_id=int(found.id or 0), n_labels=20, classes=["a"]
        )
        killed.created_at = taken + timedelta(seconds=10)  # A read the pool for 10 s
        session.add(killed)
    (outcome,) = jobs.retrain_cycle(ws, owner="B")
    assert outcome.version == 2
    assert _runs(ws) == [(1, "failed"), (2, "ready")]


# --- decisions read again under the lease ------------------------------------------------------


def _stalled_after_reading(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, meanwhile: Any
) -> list[Any]:
    """Patch ``module.name`` so that its first call reads as usual, then runs ``meanwhile()``
    (another replica's whole cycle) before answering: as when this replica stalls between its
    read and its lease (a GC pause, a slow round trip). Returns what ``meanwhile`` returned."""
    real = getattr(module, name)
    done: list[Any] = []

    def read(*args: Any, **kw: Any) -> Any:
        answer = real(*args, **kw)
        if not done:
            done.append(None)
            done[0] = meanwhile()
        return answer

    monkeypatch.setattr(module, name, read)
    return done


def test_a_retrain_another_replica_did_after_the_read_is_not_done_again(
    ws: Workspace, replica: Workspace, loaded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = _stalled_after_reading(
        monkeypatch, jobs, "retrain_decision", lambda: jobs.retrain_cycle(replica, owner="A")
    )
    assert jobs.retrain_cycle(ws, owner="B") == []  # B read "due", then found v1 under the lease
    assert [o.version for o in other[0]] == [1]
    assert _runs(ws) == [(1, "ready")]  # the 20 labels trained once


def test_a_proposals_refresh_another_replica_did_after_the_read_is_not_done_again(
    ws: Workspace, replica: Workspace, loaded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [o.version for o in jobs.retrain_cycle(ws, owner="A")] == [1]
    refreshed: list[tuple[str, str]] = []
    other = _stalled_after_reading(
        monkeypatch, proposing, "refresh_due",
        lambda: jobs.proposal_cycle(replica, owner="A",
                                    on_refreshed=lambda name, _: refreshed.append(("A", name))),
    )  # fmt: skip
    mine = jobs.proposal_cycle(
        ws, owner="B", on_refreshed=lambda name, _: refreshed.append(("B", name))
    )
    assert other == [["bank"]] and mine == []
    assert refreshed == [("A", "bank")]
    assert not proposing.refresh_due(ws, "bank")
