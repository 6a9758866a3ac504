"""A split (or a retire without ``--map-to``) of an example's *agreed* label sends the example back
to the queue, even when another, outvoted or overruled, vote of it still counts: the agreed label
is decided from every live vote first, and only then mapped through the taxonomy. The count the
change reports, the relabel list, the export and the next model's pool say the same, on SQLite
and PostgreSQL. (It used to drop the split label's votes first, so the outvoted vote, or the vote
an adjudication had overruled, became the example's label and trained the next model.)"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine import consensus, exporting, labeling, projects, taxonomy, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import feedback
from storage.repositories import projects as project_repo
from storage.repositories import taxonomy as taxonomy_repo
from tests.helpers import store_vote

LABELS = ["age_limit", "change_pin", "exchange_rate"]
TEXTS = [
    "How old do I need to be to open an account?",
    "I want to change the PIN of my card",
    "What exchange rate do you use for euros?",
    "Is there an age requirement for this card?",
    "Where can I reset my PIN number?",
    "Why was I charged a bad rate abroad?",
]


@pytest.fixture
def bank(ws: Workspace, tmp_path: Path) -> Workspace:
    """Project "bank": the six texts, unlabeled, no model."""
    projects.create_project(ws, name="bank", labels=LABELS)
    path = tmp_path / "bank.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in TEXTS)
    projects.import_file(ws, project="bank", path=path, embed=False)
    return ws


def _ids(ws: Workspace) -> list[int]:
    by_text = {r["text"]: int(r["id"]) for r in exporting.export_records(ws, "bank")}
    return [by_text[t] for t in TEXTS]


def _vote(ws: Workspace, example_id: int, label: str, who: str) -> None:
    """A live vote as stored by any path (a click, an import, a second opinion)."""
    store_vote(ws, "bank", example_id, label, who, source="cli")


def _agreed(ws: Workspace) -> dict[int, str]:
    with session_scope(ws.db, read_only=True) as s:
        project = project_repo.get_project(session=s, name="bank")
        return feedback.current_labels(session=s, project_id=project.id)


def _to_relabel(ws: Workspace) -> list[int]:
    with session_scope(ws.db, read_only=True) as s:
        project = project_repo.get_project(session=s, name="bank")
        return taxonomy_repo.examples_to_relabel(session=s, project_id=project.id)


def _exported(ws: Workspace) -> dict[int, str | None]:
    return {int(r["id"]): r["label"] for r in exporting.export_records(ws, "bank")}


def _trained_as(ws: Workspace) -> dict[int, str | None]:
    """What the next model's pool trains each example as (None: not trained on)."""
    pool = training.load_pool(ws, "bank")
    return {
        int(i): pool.classes[int(y)] if y >= 0 else None
        for i, y in zip(pool.example_ids, pool.y, strict=True)
    }


def _everywhere(ws: Workspace, example_id: int) -> list[str | None]:
    """The example's label as the agreed labels, the export and the next model see it."""
    return [
        _agreed(ws).get(example_id),
        _exported(ws)[example_id],
        _trained_as(ws)[example_id],
    ]


def _split(ws: Workspace, into: list[str]) -> taxonomy.TaxonomyChange:
    """Split change_pin into ``into`` as admin ana, without re-scoring (there is no model)."""
    return taxonomy.split_label(
        ws, project="bank", label="change_pin", into=into, actor="ana", rescore=False
    )


def test_a_split_of_the_majority_label_requeues_the_example_despite_an_outvoted_vote(
    bank: Workspace,
) -> None:
    ws = bank
    outvoted, kept, only, unlabeled = _ids(ws)[:4]
    for who, label in (("U1", "change_pin"), ("U2", "change_pin"), ("U3", "age_limit")):
        _vote(ws, outvoted, label, who)  # change_pin 2:1
    for who, label in (("U1", "age_limit"), ("U2", "age_limit"), ("U3", "change_pin")):
        _vote(ws, kept, label, who)  # age_limit 2:1: change_pin was the outvoted one here
    _vote(ws, only, "change_pin", "U1")
    assert _agreed(ws) == {outvoted: "change_pin", kept: "age_limit", only: "change_pin"}

    change = _split(ws, ["pin_new", "pin_reset"])
    assert change.requeued == 2  # outvoted's and only's: the split label was their label
    assert "2 examples" in change.summary
    assert _to_relabel(ws) == sorted([outvoted, only])
    assert _everywhere(ws, outvoted) == [None, None, None]  # not the outvoted age_limit
    assert _everywhere(ws, kept) == ["age_limit"] * 3
    assert _everywhere(ws, unlabeled) == [None, None, None]
    with session_scope(ws.db, read_only=True) as s:  # the queue says why it asks again
        earlier = taxonomy.earlier_labels(session=s, example_id=outvoted)
    assert [(e.label, e.annotators, e.into) for e in earlier] == [
        ("change_pin", ("U1", "U2"), ("pin_new", "pin_reset"))
    ]

    # Labeled again into a new label: that label counts, the old votes are set aside
    _vote(ws, outvoted, "pin_reset", "U4")
    assert _everywhere(ws, outvoted) == ["pin_reset"] * 3
    assert _to_relabel(ws) == [only]

    # Undo: the used part counts as the label it came from, and change_pin is agreed again
    undo = taxonomy.undo_last(ws, project="bank", actor="ana", rescore=False)
    assert undo.details["restored_examples"] == 1  # only
    assert _agreed(ws) == {outvoted: "change_pin", kept: "age_limit", only: "change_pin"}
    assert _to_relabel(ws) == []


def test_a_tie_goes_to_the_latest_vote_before_the_split_maps_it(bank: Workspace) -> None:
    ws = bank
    latest_split, latest_kept = _ids(ws)[:2]
    _vote(ws, latest_split, "age_limit", "U1")
    _vote(ws, latest_split, "change_pin", "U2")  # 1:1, the latest: change_pin
    _vote(ws, latest_kept, "change_pin", "U1")
    _vote(ws, latest_kept, "age_limit", "U2")  # 1:1, the latest: age_limit
    assert _agreed(ws) == {latest_split: "change_pin", latest_kept: "age_limit"}

    change = _split(ws, ["pin_new", "pin_reset"])
    assert change.requeued == 1
    assert _to_relabel(ws) == [latest_split]
    assert _agreed(ws) == {latest_kept: "age_limit"}


def test_a_split_of_the_adjudicated_label_does_not_bring_back_an_overruled_vote(
    bank: Workspace,
) -> None:
    ws = bank
    eid = _ids(ws)[1]
    _vote(ws, eid, "age_limit", "U1")
    _vote(ws, eid, "exchange_rate", "U2")
    consensus.adjudicate(ws, project="bank", example_id=eid, label="change_pin", actor="lead")
    assert _agreed(ws) == {eid: "change_pin"}

    change = _split(ws, ["pin_a", "pin_b"])
    assert change.requeued == 1
    assert _to_relabel(ws) == [eid]
    assert _everywhere(ws, eid) == [None, None, None]  # not exchange_rate, the overruled vote

    _vote(ws, eid, "pin_a", "U3")  # labeled again: the new label, not one of the old votes
    assert _everywhere(ws, eid) == ["pin_a"] * 3
    assert _to_relabel(ws) == []


def test_retire_without_a_mapping_requeues_its_majority_examples(bank: Workspace) -> None:
    ws = bank
    eid = _ids(ws)[1]
    for who, label in (("U1", "change_pin"), ("U2", "change_pin"), ("U3", "age_limit")):
        _vote(ws, eid, label, who)

    change = taxonomy.retire_label(ws, project="bank", label="change_pin", actor="ana",
                                   rescore=False)  # fmt: skip
    assert change.requeued == 1
    assert _to_relabel(ws) == [eid]
    assert _everywhere(ws, eid) == [None, None, None]

    undo = taxonomy.undo_last(ws, project="bank", actor="ana", rescore=False)
    assert undo.details["restored_examples"] == 1
    assert _agreed(ws) == {eid: "change_pin"} and _to_relabel(ws) == []

    # with --map-to the majority follows the mapping, as before
    change = taxonomy.retire_label(ws, project="bank", label="change_pin", map_to="exchange_rate",
                                   actor="ana", rescore=False)  # fmt: skip
    assert change.requeued == 0 and change.mapped == 1
    assert _everywhere(ws, eid) == ["exchange_rate"] * 3


def test_votes_merged_into_the_split_label_count_with_it(bank: Workspace) -> None:
    """A merge folds age_limit's vote into change_pin's (2:1 over exchange_rate); a split of
    change_pin then sends the example back, and a relabel sets both old votes aside."""
    ws = bank
    eid = _ids(ws)[0]
    _vote(ws, eid, "age_limit", "U1")
    _vote(ws, eid, "exchange_rate", "U2")
    _vote(ws, eid, "change_pin", "U3")
    taxonomy.merge_labels(ws, project="bank", labels=["change_pin", "age_limit"], actor="ana",
                          rescore=False)  # fmt: skip
    assert _agreed(ws) == {eid: "change_pin"}

    change = _split(ws, ["pin", "age"])
    assert change.requeued == 1
    assert _everywhere(ws, eid) == [None, None, None]

    _vote(ws, eid, "age", "U4")  # one new vote, against exchange_rate's old one: the latest
    assert _everywhere(ws, eid) == ["age"] * 3
    assert _to_relabel(ws) == []


def test_the_queue_asks_again_for_an_example_whose_majority_label_was_split(
    bank: Workspace,
) -> None:
    ws = bank
    projects.update_settings(ws, project="bank", audit_share=0.0, multi_label_share=0.0)
    eid = _ids(ws)[1]
    for who, label in (("U1", "change_pin"), ("U2", "change_pin"), ("U3", "age_limit")):
        _vote(ws, eid, label, who)
    _split(ws, ["pin_new", "pin_reset"])
    task = labeling.next_task(ws, project="bank", annotator="U4")
    assert task is not None and task.example_id == eid  # relabels come first
    result = labeling.submit_label(
        ws, project="bank", example_id=eid, label="pin_new", annotator="U4", source="slack",
        key="relabel:U4",
    )  # fmt: skip
    assert result.created and result.counts_as == "pin_new"
    assert _agreed(ws)[eid] == "pin_new"
