"""Open proposals whose labels a taxonomy change touched, on SQLite and PostgreSQL: names given
to approve that are a label's former name, proposals about a label that just changed meaning,
suggested names another label has taken, and the note a decided one answers with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import projects, proposing, taxonomy
from engine.workspace import Workspace
from storage.errors import ConflictError
from tests.engine.test_proposals_follow_renames import _save

LABELS = ["age_limit", "exchange_rate", "change_pin", "card_arrival"]


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


def _statuses(ws: Workspace, *ids: int) -> list[str]:
    return [proposing.get_proposal(ws, i).status for i in ids]


def _about_exchange_rate(ws: Workspace) -> tuple[int, int, int, int]:
    """A split of exchange_rate, a merge naming it, a rare label to merge into it and an add
    whose nearest label it is."""
    clusters = [{"suggested_name": "fx_a"}, {"suggested_name": "fx_b"}]
    split = _save(ws, "split", ["exchange_rate"], {"clusters": clusters})
    merge = _save(ws, "merge", ["change_pin", "exchange_rate"], {})
    rare = _save(ws, "rare", ["card_arrival"],
                 {"suggestion": "merge", "nearest_label": "exchange_rate", "count": 1})  # fmt: skip
    add = _save(ws, "add", ["fees"], {"ids": [1], "nearest_label": "exchange_rate"},
                key=["add", "fees"])  # fmt: skip
    return split, merge, rare, add


def test_proposals_about_a_merge_target_are_superseded_with_the_merge(ws: Workspace) -> None:
    """age_limit merged into exchange_rate: a split of exchange_rate (or anything else found on
    the examples it had) would be decided on old evidence; the next refresh finds it again if
    it holds. An add is about its set-aside examples: it stays."""
    projects.create_project(ws, name="bank", labels=[*LABELS, "other"])
    approved = _save(ws, "merge", ["age_limit", "exchange_rate"],
                     {"counts": {"age_limit": 3, "exchange_rate": 9}})  # fmt: skip
    split, merge, rare, add = _about_exchange_rate(ws)
    unrelated = _save(ws, "split", ["other"], {})
    proposing.approve(ws, "bank", approved, actor="a", actor_is_admin=True, rescore=False)
    assert _statuses(ws, split, merge, rare) == ["superseded"] * 3
    assert _statuses(ws, add, unrelated) == ["open", "open"]


def test_proposals_about_a_map_to_target_are_superseded_with_the_retire(ws: Workspace) -> None:
    projects.create_project(ws, name="bank", labels=[*LABELS, "other"])
    split, merge, rare, add = _about_exchange_rate(ws)
    unrelated = _save(ws, "split", ["other"], {})
    taxonomy.retire_label(ws, project="bank", label="age_limit", map_to="exchange_rate",
                          actor="a", rescore=False)  # fmt: skip
    assert _statuses(ws, split, merge, rare) == ["superseded"] * 3
    assert _statuses(ws, add, unrelated) == ["open", "open"]


def test_proposals_about_a_merge_target_are_superseded_when_the_merge_is_undone(
    ws: Workspace,
) -> None:
    """Undone, the merge takes age_limit's examples back out of exchange_rate."""
    projects.create_project(ws, name="bank", labels=LABELS)
    taxonomy.merge_labels(ws, project="bank", labels=["age_limit", "exchange_rate"],
                          into="exchange_rate", actor="a", rescore=False)  # fmt: skip
    split, merge, rare, _ = _about_exchange_rate(ws)
    taxonomy.undo_last(ws, project="bank", actor="a", rescore=False)
    assert _statuses(ws, split, merge, rare) == ["superseded"] * 3
    # a retire without map_to changes no other label: nothing about exchange_rate goes
    again = _save(ws, "split", ["exchange_rate"], {}, key=["split", "exchange_rate"])
    taxonomy.retire_label(ws, project="bank", label="age_limit", actor="a", rescore=False)
    assert _statuses(ws, again) == ["open"]


def test_a_refresh_during_a_merge_does_not_save_what_it_found_about_the_target(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The detectors read the examples before another admin merged into exchange_rate, and
    found a split of it: not saved (the next refresh looks again); one about another label is."""
    import engine.proposals
    from engine.proposals import Proposal
    from tests.engine.test_proposing import make_project

    make_project(ws, tmp_path, banking_slice, labeled=6)
    names = [lb.name for lb in projects.list_labels(ws, project="bank", active_only=True)]
    target, source, other = names[0], names[1], names[2]

    def found(label: str) -> Proposal:
        return Proposal(kind="split", labels=(label,), score=0.5, evidence={},
                        key=("split", label), message=f"split {label}")  # fmt: skip

    def detectors(*args: Any, **kw: Any) -> list[Proposal]:
        taxonomy.merge_labels(ws, project="bank", labels=[source, target], into=target,
                              actor="b", rescore=False)  # fmt: skip
        return [found(target), found(other)]

    monkeypatch.setattr(engine.proposals, "propose_all", detectors)
    saved = proposing.refresh_proposals(ws, "bank")
    assert [p.labels for p in saved] == [[other]]
