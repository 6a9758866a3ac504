"""Approving a proposal is one transaction, on SQLite and PostgreSQL: a process killed while it
applies the change leaves the proposal open (approvable again, its Slack buttons still live),
one killed in the re-score that follows leaves the change and the proposal applied; never a
proposal decided with its change missing.

The approval runs in a real child process that dies with ``os._exit`` (what an OOM kill or a
deploy does: no ``except``, no ``finally``, no rollback sent) at one of two points:

- ``transaction``: inside the change's transaction, after the change and the proposal's new
  status were written, before the commit (the last step there, superseding the proposals the
  change made moot, is where it dies);
- ``rescore``: after the commit, while the queue is re-scored.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine import projects, proposing, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import StaleActionError
from storage.repositories import projects as project_repo
from storage.repositories import proposals as proposal_repo
from tests.engine.test_proposing import make_project

ROOT = Path(__file__).resolve().parents[2]
PARTS = ["card_arrival_late", "card_arrival_tracking"]

CHILD = """
import os, sys
from engine import proposing, training
from engine.config import Settings
from engine.workspace import Workspace
from storage.repositories import proposals as proposal_repo

url, schema, data_dir, proposal_id, where = sys.argv[1:]
settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=data_dir)
ws = Workspace.open(settings, schema=schema or None, migrate=False)

def die(*args, **kwargs):
    os._exit(9)

if where == "transaction":  # engine.taxonomy calls it through the module, before its commit
    proposal_repo.supersede_outdated = die
else:  # the re-score after the commit (engine.taxonomy.refresh_queue)
    training.rescore_project = die
proposing.approve(ws, "bank", int(proposal_id), actor="ana", actor_is_admin=True)
sys.exit(0)
"""


def _split_proposal(ws: Workspace) -> int:
    """An open, posted proposal to split card_arrival into ``PARTS`` (as a refresh saves it)."""
    with session_scope(ws.db) as s:
        project = project_repo.get_project(session=s, name="bank")
        row, _ = proposal_repo.save_open_proposal(
            session=s, project_id=project.id, kind="split", labels=["card_arrival"],
            key=proposing.key_text(("split", "card_arrival")), score=0.8,
            evidence={"clusters": [{"suggested_name": n, "ids": []} for n in PARTS]},
            evidence_strength=12.0, message="Split card_arrival?",
        )  # fmt: skip
    proposing.record_message(ws, int(row.id or 0), channel="C1", message_ts="1.0")
    return int(row.id or 0)


def _approve_and_die(ws: Workspace, schema: str | None, proposal_id: int, where: str) -> int:
    url = ws.settings.database_url
    args = [url, schema or "", str(ws.settings.data_dir), str(proposal_id), where]
    done = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=ROOT, timeout=300)
    return done.returncode


def _active(ws: Workspace) -> set[str]:
    return {lb.name for lb in projects.list_labels(ws, project="bank", active_only=True)}


@pytest.fixture
def posted(ws: Workspace, banking_slice, tmp_path: Path) -> int:  # type: ignore[no-untyped-def]
    make_project(ws, tmp_path, banking_slice, labeled=3)
    return _split_proposal(ws)


def test_killed_inside_the_change_the_proposal_stays_open_and_approvable(
    ws: Workspace, db_url_and_schema, posted: int
) -> None:  # type: ignore[no-untyped-def]
    assert _approve_and_die(ws, db_url_and_schema[1], posted, "transaction") == 9

    row = proposing.get_proposal(ws, posted)
    assert (row.status, row.decided_by, row.label_event_id) == ("open", None, None)
    assert taxonomy.label_history(ws, project="bank") == []  # nothing of the change committed
    assert "card_arrival" in _active(ws) and not set(PARTS) & _active(ws)
    # the channel message keeps its buttons (it is synced as an open proposal) ...
    assert posted in {p.id for p in proposing.posted_to_sync(ws, "bank")}
    # ... and they work: approving again applies it
    decision = proposing.approve(ws, "bank", posted, actor="ana", actor_is_admin=True)
    assert decision.change is not None
    assert decision.proposal.status == "applied" and decision.proposal.decided_by == "ana"
    assert decision.proposal.label_event_id == decision.change.event_id
    assert set(PARTS) <= _active(ws) and "card_arrival" not in _active(ws)


def test_killed_in_the_rescore_the_change_and_the_proposal_are_applied(
    ws: Workspace, db_url_and_schema, posted: int
) -> None:  # type: ignore[no-untyped-def]
    assert _approve_and_die(ws, db_url_and_schema[1], posted, "rescore") == 9

    (event,) = taxonomy.label_history(ws, project="bank")
    assert event.kind == "split" and event.actor == "ana"
    assert set(PARTS) <= _active(ws) and "card_arrival" not in _active(ws)
    row = proposing.get_proposal(ws, posted)
    assert (row.status, row.decided_by, row.label_event_id) == ("applied", "ana", event.id)
    with pytest.raises(StaleActionError, match="already applied by ana"):
        proposing.approve(ws, "bank", posted, actor="bo", actor_is_admin=True)
    # the proposal knows its change: undoing it counts the proposal as rejected
    taxonomy.undo_last(ws, project="bank", actor="ana")
    assert proposing.get_proposal(ws, posted).status == "rejected"


def test_an_approval_that_loses_to_a_rejection_changes_nothing(
    ws: Workspace, posted: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another admin rejects the proposal after this approval checked it was open and before
    its change commits: the change (which would apply cleanly) is rolled back."""
    real_split = taxonomy.split_label

    def split_after_a_rejection(*args, **kwargs):  # type: ignore[no-untyped-def]
        proposing.reject(ws, "bank", posted, actor="bo", actor_is_admin=True, reason="no")
        return real_split(*args, **kwargs)

    monkeypatch.setattr(taxonomy, "split_label", split_after_a_rejection)
    with pytest.raises(StaleActionError, match="already rejected by bo"):
        proposing.approve(ws, "bank", posted, actor="ana", actor_is_admin=True)
    assert taxonomy.label_history(ws, project="bank") == []
    assert "card_arrival" in _active(ws) and not set(PARTS) & _active(ws)
    row = proposing.get_proposal(ws, posted)
    assert (row.status, row.decided_by, row.label_event_id) == ("rejected", "bo", None)
