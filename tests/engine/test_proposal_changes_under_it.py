"""Open proposals whose labels a taxonomy change touched, on SQLite and PostgreSQL: names given
to approve that are a label's former name, proposals about a label that just changed meaning,
suggested names another label has taken, and the note a decided one answers with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import projects, proposing, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import ConflictError
from storage.repositories import projects as project_repo
from storage.repositories import proposals as proposal_repo

LABELS = ["age_limit", "exchange_rate", "change_pin", "card_arrival"]


def _save(ws: Workspace, kind: str, labels: list[str], evidence: dict[str, Any],
          message: str = "", *, key: list[str] | None = None) -> int:  # fmt: skip
    with session_scope(ws.db) as s:
        project = project_repo.get_project(session=s, name="bank")
        assert project.id is not None
        row, _ = proposal_repo.save_open_proposal(
            session=s, project_id=project.id, kind=kind, labels=labels,
            key=proposing.key_text(key or [kind, *labels]), score=0.5, evidence=evidence,
            evidence_strength=10.0, message=message or f"{kind} {', '.join(labels)}",
        )  # fmt: skip
        assert row.id is not None
        return row.id


def _active(ws: Workspace) -> list[str]:
    return [lb.name for lb in projects.list_labels(ws, project="bank", active_only=True)]


def test_a_former_name_given_to_approve_is_refused(ws: Workspace) -> None:
    """The proposal follows a rename; a name the admin read before it (a form, a terminal
    listing) would merge into a new label of the old name, or into whatever label took that
    name since: refused, saying the new name."""
    projects.create_project(ws, name="bank", labels=LABELS)
    merge = _save(ws, "merge", ["age_limit", "exchange_rate"],
                  {"counts": {"age_limit": 3, "exchange_rate": 9}})  # fmt: skip
    taxonomy.rename_label(ws, project="bank", label="exchange_rate", new_name="fx", actor="b")
    with pytest.raises(proposing.RenamedSinceError, match="'exchange_rate' .* now called 'fx'"):
        proposing.approve(ws, "bank", merge, actor="a", actor_is_admin=True,
                          names=["exchange_rate"], rescore=False)  # fmt: skip
    # another label renamed to the freed name is not the one the admin meant either
    taxonomy.rename_label(ws, project="bank", label="change_pin", new_name="exchange_rate",
                          actor="b")  # fmt: skip
    with pytest.raises(ConflictError, match="now called 'fx'"):
        proposing.approve(ws, "bank", merge, actor="a", actor_is_admin=True,
                          names=["exchange_rate"], rescore=False)  # fmt: skip
    assert set(_active(ws)) == {"age_limit", "fx", "exchange_rate", "card_arrival"}
    assert proposing.get_proposal(ws, merge).status == "open"

    done = proposing.approve(ws, "bank", merge, actor="a", actor_is_admin=True, names=["fx"],
                             rescore=False)  # fmt: skip
    assert done.proposal.status == "applied" and "age_limit" not in _active(ws)


def test_a_rare_labels_merge_target_renamed_since_is_refused(ws: Workspace) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    rare = _save(ws, "rare", ["change_pin"],
                 {"suggestion": "merge", "nearest_label": "age_limit", "count": 1})  # fmt: skip
    taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="min_age", actor="b")
    with pytest.raises(proposing.RenamedSinceError, match="now called 'min_age'"):
        proposing.approve(ws, "bank", rare, actor="a", actor_is_admin=True,
                          names=["age_limit"], rescore=False)  # fmt: skip
    assert "age_limit" not in _active(ws)


def test_a_label_added_onto_a_suggested_name_moves_the_suggestion(ws: Workspace) -> None:
    """A split suggests arrival_late; someone adds Arrival_Late by hand: Approve would have
    failed for ever (a split creates new labels). The suggestion moves to a free name, in the
    evidence, the message and the names approving uses, and Approve works."""
    projects.create_project(ws, name="bank", labels=LABELS)
    clusters = [
        {"suggested_name": "arrival_late", "size": 3},
        {"suggested_name": "lost", "size": 2},
    ]
    split = _save(ws, "split", ["card_arrival"], {"clusters": clusters},
                  "Split card_arrival? maybe 'arrival_late' and 'lost'.")  # fmt: skip
    taxonomy.add_labels(ws, project="bank", names=["Arrival_Late", "arrival_late_2"], actor="c")
    row = proposing.get_proposal(ws, split)
    assert row.status == "open"
    assert [c["suggested_name"] for c in row.evidence["clusters"]] == ["arrival_late_3", "lost"]
    assert row.message == "Split card_arrival? maybe 'arrival_late_3' and 'lost'."
    assert proposing.default_names(row) == ["arrival_late_3", "lost"]
    proposing.approve(ws, "bank", split, actor="a", actor_is_admin=True, rescore=False)
    assert {"arrival_late_3", "lost", "Arrival_Late"} <= set(_active(ws))


def test_a_refresh_suggests_no_name_a_label_has_even_retired(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The detectors name new labels by their words, knowing only the active labels: an add of
    a retired label's name, or a split's two clusters named alike, are saved under free names."""
    import engine.proposals
    from engine.proposals import Proposal
    from tests.engine.test_proposing import make_project

    make_project(ws, tmp_path, banking_slice, labeled=6)
    taxonomy.add_labels(ws, project="bank", names=["lost_card"], actor="c")
    taxonomy.retire_label(ws, project="bank", label="lost_card", actor="c")
    split_of = projects.list_labels(ws, project="bank", active_only=True)[0].name
    found = [
        Proposal(kind="add", labels=("lost_card",), score=0.5, evidence={"ids": [1]},
                 key=("add", "card", "lost"), message="Add a label like 'lost_card'?"),
        Proposal(kind="split", labels=(split_of,), score=0.5, key=("split", split_of),
                 evidence={"clusters": [{"suggested_name": "Lost_Card"},
                                        {"suggested_name": "lost_card"}]},
                 message="Split? maybe 'Lost_Card' and 'lost_card'."),
    ]  # fmt: skip
    monkeypatch.setattr(engine.proposals, "propose_all", lambda *a, **k: found)
    saved = {p.kind: p for p in proposing.refresh_proposals(ws, "bank")}
    assert saved["add"].labels == ["lost_card_2"]
    assert saved["add"].message == "Add a label like 'lost_card_2'?"
    assert proposing.default_names(saved["split"]) == ["Lost_Card_2", "lost_card_3"]
    proposing.approve(ws, "bank", int(saved["add"].id or 0), actor="a", actor_is_admin=True,
                      rescore=False)  # fmt: skip
    assert "lost_card_2" in _active(ws)


def test_a_decision_on_an_undone_proposal_names_who_approved_and_who_undid(
    ws: Workspace,
) -> None:
    """An approved change undone since is stored as rejected, with the approver as decider: the
    refusal does not say the approver rejected it."""
    from storage.errors import StaleActionError

    projects.create_project(ws, name="bank", labels=LABELS)
    merge = _save(ws, "merge", ["age_limit", "exchange_rate"], {})
    proposing.approve(ws, "bank", merge, actor="alice", actor_is_admin=True, rescore=False)
    taxonomy.undo_last(ws, project="bank", actor="bob", rescore=False)
    with pytest.raises(StaleActionError) as refused:
        proposing.reject(ws, "bank", merge, actor="carol", actor_is_admin=True)
    assert str(refused.value) == (
        f"proposal {merge} was already approved by alice, and its change undone by bob"
    )
