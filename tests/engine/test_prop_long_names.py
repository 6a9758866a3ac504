"""A proposal about a label with a long name, on SQLite and PostgreSQL: the names approving
uses are names a label may have (200 characters at most), so Approve applies it instead of
being refused: a split's groups named after the label ("<label>_1", as the detector names a
group with no words of its own), an add's name moved off a taken one ("<name>_2")."""

from __future__ import annotations

from engine import projects, proposing, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import proposals as proposal_repo
from tests.engine.test_proposals_follow_renames import _save

LONG = "complaint about a delayed delivery of a replacement card " * 4  # 228 characters
LABEL = LONG.strip()[:200]


def _active(ws: Workspace) -> list[str]:
    return [lb.name for lb in projects.list_labels(ws, project="bank", active_only=True)]


def test_a_split_of_a_label_with_a_long_name_is_approved(ws: Workspace) -> None:
    projects.create_project(ws, name="bank", labels=[LABEL, "age_limit", "exchange_rate"])
    clusters = [{"suggested_name": f"{LABEL}_{g + 1}", "size": 3} for g in range(2)]
    split = _save(ws, "split", [LABEL], {"clusters": clusters})
    names = proposing.default_names(proposing.get_proposal(ws, split))
    assert all(len(n) <= 200 for n in names) and len(set(names)) == 2
    assert [n[-2:] for n in names] == ["_1", "_2"]  # the ends that tell them apart
    decision = proposing.approve(ws, "bank", split, actor="a", actor_is_admin=True,
                                 rescore=False)  # fmt: skip
    assert decision.proposal.status == "applied"
    assert set(names) <= set(_active(ws)) and LABEL not in _active(ws)


def test_an_add_whose_long_name_was_taken_is_approved(ws: Workspace) -> None:
    projects.create_project(ws, name="bank", labels=["age_limit", "exchange_rate", LABEL])
    taxonomy.retire_label(ws, project="bank", label=LABEL, actor="a", rescore=False)
    # found under a retired label's name: a refresh moves it to "<name>_2", 202 characters
    add = _save(ws, "add", [LABEL], {"ids": [1, 2, 3]}, key=["add", "long"])
    with session_scope(ws.db) as s:
        proposal_repo.free_suggested_names(
            session=s, project_id=proposing.get_proposal(ws, add).project_id
        )
    row = proposing.get_proposal(ws, add)
    assert row.status == "open" and row.labels == [f"{LABEL}_2"]
    (name,) = proposing.default_names(row)
    assert len(name) <= 200 and name.endswith("_2") and name != LABEL
    proposing.approve(ws, "bank", add, actor="a", actor_is_admin=True, rescore=False)
    assert name in _active(ws)
