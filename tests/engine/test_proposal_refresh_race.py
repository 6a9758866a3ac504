"""A proposal decided while a refresh runs stays decided, on SQLite and PostgreSQL.

A refresh reads the decided proposals and the pool, runs the detectors for seconds with no
transaction open, then saves what they found. An admin who approves or rejects a proposal
meanwhile (another replica) must not see it come back as a new open proposal: for an approved
merge, one naming labels that no longer exist. The interleaving is forced: the decision is made
inside the detectors' call (between the read and the save), or, on PostgreSQL, while the save's
transaction is paused after it read the decided keys again.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from engine import proposing, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import projects as project_repo
from storage.repositories import proposals as proposal_repo
from tests.engine.test_proposing import make_project
from tests.storage.test_labeling_races import blocks_someone

CUT = ("card_arrival_a", "card_arrival_b")  # one intent cut at random in two: a merge to find


@pytest.fixture
def merge(ws: Workspace, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The slice with card_arrival cut at random into two labels; returns the merge proposal
    the first refresh finds for them."""
    rng = np.random.default_rng(0)
    rows = [
        (t, CUT[int(rng.integers(2))] if lb == "card_arrival" else lb) for t, lb in banking_slice
    ]
    make_project(ws, tmp_path, rows, labeled=12)
    found = proposing.refresh_proposals(ws, "bank")
    (proposal,) = [p for p in found if p.kind == "merge" and tuple(p.labels) == CUT]
    return proposal


def _meanwhile(monkeypatch: pytest.MonkeyPatch, action: Any) -> list[Any]:
    """Run ``action()`` once the detectors of the next refresh have run, before it saves (as
    another replica's click would land during their seconds); returns what it returned, in a
    list."""
    import engine.proposals

    real = engine.proposals.propose_all
    done: list[Any] = []

    def detectors(*args: Any, **kw: Any) -> Any:
        found = real(*args, **kw)
        if not done:  # the first refresh only
            done.append(action())
        return found

    monkeypatch.setattr(engine.proposals, "propose_all", detectors)
    return done


def _open_keys(ws: Workspace) -> dict[str, Any]:
    return {p.key: p for p in proposing.list_proposals(ws, "bank")}


def _active(ws: Workspace) -> set[str]:
    with session_scope(ws.db, read_only=True) as s:
        found = project_repo.get_project(session=s, name="bank")
        return {
            lb.name for lb in project_repo.list_labels(session=s, project_id=int(found.id or 0))
        }


def test_a_merge_approved_during_a_refresh_is_not_proposed_again(
    ws: Workspace, replica: Workspace, merge, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    done = _meanwhile(
        monkeypatch,
        lambda: proposing.approve(replica, "bank", merge.id, actor="U0ADMIN", actor_is_admin=True),
    )
    after = proposing.refresh_proposals(ws, "bank")
    assert done and done[0].change is not None and done[0].change.kind == "merge"
    assert proposing.get_proposal(ws, merge.id).status == "applied"
    assert merge.key not in _open_keys(ws)  # not re-opened as a new proposal
    active = _active(ws)
    assert not set(CUT) <= active  # one of the two was merged into the other
    for p in after:  # nothing open names a label that no longer exists
        assert p.kind == "add" or set(p.labels) <= active, (p.kind, p.labels, active)


def test_a_proposal_rejected_during_a_refresh_stays_rejected(
    ws: Workspace, replica: Workspace, merge, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    done = _meanwhile(
        monkeypatch,
        lambda: proposing.reject(replica, "bank", merge.id, actor="U0ADMIN", actor_is_admin=True),
    )
    proposing.refresh_proposals(ws, "bank")
    assert done  # the rejection landed between the refresh's read and its save
    assert proposing.get_proposal(ws, merge.id).status == "rejected"
    assert merge.key not in _open_keys(ws)
    # the next refresh holds it back as any rejected proposal (same evidence)
    proposing.refresh_proposals(ws, "bank")
    assert merge.key not in _open_keys(ws)


def test_a_label_renamed_during_a_refresh_is_not_named_by_open_proposals(
    ws: Workspace, replica: Workspace, merge, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A taxonomy change made outside the proposals (here a rename): the proposals that name
    the old name are not saved, and the open one that did is superseded."""
    _meanwhile(
        monkeypatch,
        lambda: taxonomy.rename_label(
            replica, project="bank", label=CUT[0], new_name="card_arrival_x", actor="U0ADMIN"
        ),  # fmt: skip
    )
    after = proposing.refresh_proposals(ws, "bank")
    active = _active(ws)
    assert CUT[0] not in active and "card_arrival_x" in active
    for p in after:
        assert p.kind == "add" or set(p.labels) <= active, (p.kind, p.labels, active)
    assert proposing.get_proposal(ws, merge.id).status == "superseded"


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_a_decision_while_the_refresh_saves_waits_for_it(
    ws: Workspace, replica: Workspace, merge, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: the refresh's save transaction has locked the taxonomy and read the decided
    keys again when an admin rejects the proposal on another replica. The rejection waits for
    the save (it takes the same lock), so the save updates the open row in place and the
    rejection then decides it; without the wait the save finds no open row for the key and
    inserts a new one."""
    real_save = proposal_repo.save_open_proposal
    paused, go = threading.Event(), threading.Event()
    refresh_pid: list[int] = []

    def save(**kw: Any) -> Any:
        if not paused.is_set():
            refresh_pid.append(
                int(kw["session"].execute(sa.text("SELECT pg_backend_pid()")).scalar())
            )
            paused.set()
            assert go.wait(30), "the test never let the save go on"
        return real_save(**kw)

    monkeypatch.setattr(proposal_repo, "save_open_proposal", save)
    errors: list[BaseException] = []

    def run(target: Any) -> threading.Thread:
        def body() -> None:
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 -- reported by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=body)
        thread.start()
        return thread

    refreshing = run(lambda: proposing.refresh_proposals(ws, "bank"))
    assert paused.wait(60), "the refresh never reached its save"
    rejecting = run(
        lambda: proposing.reject(replica, "bank", merge.id, actor="U0ADMIN", actor_is_admin=True)
    )
    # wait until the rejection is blocked by the refresh's transaction, or has finished. Each
    # poll is its own transaction: PostgreSQL snapshots pg_stat_activity at a transaction's
    # first read, so one long-lived transaction would never see the rejection's backend if it
    # connected after that read.
    deadline = time.monotonic() + 30
    while rejecting.is_alive() and not blocks_someone(ws.db, refresh_pid[0]):
        assert time.monotonic() < deadline, "the rejection neither finished nor waited"
        rejecting.join(0.01)
    go.set()
    refreshing.join(60)
    rejecting.join(60)
    assert not errors, errors
    assert proposing.get_proposal(ws, merge.id).status == "rejected"
    assert merge.key not in _open_keys(ws)
