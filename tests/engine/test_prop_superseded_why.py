"""Why a proposal a taxonomy change made moot was superseded, as its listing and its Slack
card say it, on SQLite and PostgreSQL: also when no label it names is gone (the label a merge
went into, an add whose examples another add took up) and after the change was undone. Only a
proposal the latest model no longer finds says that it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import projects, proposing, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import proposals as proposal_repo
from tests.engine.test_proposals_follow_renames import _save
from tests.engine.test_proposing import make_project

LABELS = ["age_limit", "exchange_rate", "change_pin", "card_arrival"]
NOT_FOUND = "superseded: the latest model no longer finds it"


def _note(ws: Workspace, proposal_id: int) -> str:
    row = proposing.get_proposal(ws, proposal_id)
    assert row.status == "superseded"
    (note,) = proposing.status_notes(ws, [row])
    return note


def test_a_split_of_the_label_a_merge_went_into_says_its_examples_changed(ws: Workspace) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    clusters = [{"suggested_name": "fx_a"}, {"suggested_name": "fx_b"}]
    split = _save(ws, "split", ["exchange_rate"], {"clusters": clusters})
    taxonomy.merge_labels(ws, project="bank", labels=["age_limit", "exchange_rate"],
                          into="exchange_rate", actor="a", rescore=False)  # fmt: skip
    assert _note(ws, split) == (
        "superseded: exchange_rate's examples are not those it was found on "
        "(a taxonomy change since)"
    )


def test_an_add_whose_examples_another_add_took_up_says_so(ws: Workspace) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    first = _save(ws, "add", ["fees"], {"ids": [1, 2]}, key=["add", "fees"])
    second = _save(ws, "add", ["charges"], {"ids": [2, 3]}, key=["add", "charges"])
    proposing.approve(ws, "bank", first, actor="a", actor_is_admin=True, rescore=False)
    assert _note(ws, second) == (
        f"superseded: proposal {first} took up its examples (a taxonomy change since)"
    )


def test_the_reason_stands_after_the_change_is_undone(ws: Workspace) -> None:
    """The retired label is back: the proposal is still superseded by the retire (the next
    refresh finds it again if the evidence holds), not by a model that no longer finds it."""
    projects.create_project(ws, name="bank", labels=LABELS)
    merge = _save(ws, "merge", ["age_limit", "change_pin"], {})
    taxonomy.retire_label(ws, project="bank", label="age_limit", actor="a", rescore=False)
    said = "superseded: age_limit is no longer a label (a taxonomy change since)"
    assert _note(ws, merge) == said
    taxonomy.undo_last(ws, project="bank", actor="a", rescore=False)
    assert _note(ws, merge) == said


def test_a_proposal_found_again_then_no_longer_found_says_the_model_does_not_find_it(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Superseded by a retire, found again within the hour after its undo (the same row, open
    again, with no reason left), then no longer found by a refresh: that is why it went now."""
    import engine.proposals

    make_project(ws, tmp_path, banking_slice, labeled=6)
    merge = _save(ws, "merge", ["age_limit", "change_pin"], {})
    taxonomy.retire_label(ws, project="bank", label="age_limit", actor="a", rescore=False)
    taxonomy.undo_last(ws, project="bank", actor="a", rescore=False)
    with session_scope(ws.db) as s:  # as a refresh saves it
        again, _ = proposal_repo.save_open_proposal(
            session=s, project_id=proposing.get_proposal(ws, merge).project_id, kind="merge",
            labels=["age_limit", "change_pin"],
            key=proposing.key_text(["merge", "age_limit", "change_pin"]), score=0.5,
            evidence={}, evidence_strength=10.0, message="merge age_limit, change_pin",
            reopen_since=utcnow() - proposing.REOPEN_WITHIN,
        )  # fmt: skip
        assert again.id == merge
    row = proposing.get_proposal(ws, merge)
    assert (row.status, row.reason) == ("open", "")
    monkeypatch.setattr(engine.proposals, "propose_all", lambda *a, **k: [])
    proposing.refresh_proposals(ws, "bank")
    assert _note(ws, merge) == NOT_FOUND
