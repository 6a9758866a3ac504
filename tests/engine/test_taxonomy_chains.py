"""Chains of taxonomy changes, checked across what each reader of the labels says, on SQLite and
PostgreSQL: the export, `labelbot status`, `labelbot disagreements` and the agreement figures
must tell the same story after a change and after its undo."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from engine import consensus, exporting, labeling, projects, taxonomy, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import ConflictError
from storage.repositories import projects as project_repo
from storage.repositories import taxonomy as taxonomy_repo
from tests.helpers import store_vote

TEXTS = [f"question number {i} about the account" for i in range(4)]


@pytest.fixture
def p(ws: Workspace, tmp_path: Path) -> Workspace:
    """Project "p": labels A, B, D and four texts, unlabeled."""
    projects.create_project(ws, name="p", labels=["A", "B", "D"])
    path = tmp_path / "p.csv"
    path.write_text("text\n" + "".join(f"{t}\n" for t in TEXTS), encoding="utf-8")
    projects.import_file(ws, project="p", path=path, embed=False)
    return ws


def _ids(ws: Workspace) -> list[int]:
    by_text = {r["text"]: int(r["id"]) for r in exporting.export_records(ws, "p")}
    return [by_text[t] for t in TEXTS]


def _vote(ws: Workspace, example_id: int, label: str, who: str) -> None:
    store_vote(ws, "p", example_id, label, who)


def _disputed(ws: Workspace) -> dict[int, bool]:
    return {int(r["id"]): r["disputed"] for r in exporting.export_records(ws, "p")}


@pytest.mark.parametrize("change", ["split", "retire"])
def test_a_dispute_stays_open_when_one_side_is_split_or_retired(p: Workspace, change: str) -> None:
    """ana chose A, bob then B: a tie, B counts (the latest), and the team has it to settle.
    Splitting A (or retiring it without a mapping) does not answer the question: ana's example
    is no more bob's B than before (she would pick A1 or A2, not B). It used to drop out of
    `labelbot disagreements`, the export's `disputed` and status's count, and train as B
    unquestioned; an undo brought it back."""
    tied, agreed_a = _ids(p)[:2]
    _vote(p, tied, "A", "ana")
    _vote(p, tied, "B", "bob")
    _vote(p, agreed_a, "A", "ana")  # no dispute: one expert
    assert [d.example_id for d in consensus.disagreements(p, "p")] == [tied]

    if change == "split":
        taxonomy.split_label(p, project="p", label="A", into=["A1", "A2"], actor="adm",
                             rescore=False)  # fmt: skip
    else:
        taxonomy.retire_label(p, project="p", label="A", actor="adm", rescore=False)

    labels = {int(r["id"]): r["label"] for r in exporting.export_records(p, "p")}
    assert labels[tied] == "B" and labels[agreed_a] is None  # the rules of the agreed label hold
    [found] = consensus.disagreements(p, "p")
    assert found.example_id == tied and found.agreed == "B"
    assert [(v.annotator, v.label) for v in found.votes] == [("ana", "A"), ("bob", "B")]
    assert _disputed(p)[tied] is True and _disputed(p)[agreed_a] is False
    assert consensus.agreement_report(p, "p").disagreements == 1

    # settled: B it is (the team's decision sets nothing aside, it decides)
    consensus.adjudicate(p, project="p", example_id=tied, label="B", actor="adm")
    assert consensus.disagreements(p, "p") == [] and _disputed(p)[tied] is False
    assert consensus.agreement_report(p, "p").disagreements == 0


def test_a_relabel_after_the_change_sets_the_old_vote_aside(p: Workspace) -> None:
    """Once someone labels the example again after the split, ana's vote for the split label is
    set aside (it no longer decides anything), so it no longer disagrees either."""
    tied = _ids(p)[0]
    _vote(p, tied, "A", "ana")
    _vote(p, tied, "B", "bob")
    taxonomy.split_label(p, project="p", label="A", into=["A1", "A2"], actor="adm", rescore=False)
    _vote(p, tied, "B", "cy")
    assert consensus.disagreements(p, "p") == [] and _disputed(p)[tied] is False
    _vote(p, tied, "A1", "ana")  # ana's own answer in today's labels disagrees again
    [found] = consensus.disagreements(p, "p")
    assert {(v.annotator, v.label) for v in found.votes} == {("ana", "A1"), ("bob", "B"),
                                                              ("cy", "B")}  # fmt: skip


def test_an_example_waiting_to_be_relabeled_is_no_dispute(p: Workspace) -> None:
    """bob and cy chose A over ana's D: A counts. A is split: the example waits to be labeled
    again (the queue settles it), so it is not listed as a dispute meanwhile."""
    outvoted = _ids(p)[0]
    _vote(p, outvoted, "D", "ana")
    _vote(p, outvoted, "A", "bob")
    _vote(p, outvoted, "A", "cy")
    taxonomy.split_label(p, project="p", label="A", into=["A1", "A2"], actor="adm", rescore=False)
    assert {int(r["id"]): r["label"] for r in exporting.export_records(p, "p")}[outvoted] is None
    assert consensus.disagreements(p, "p") == [] and _disputed(p)[outvoted] is False


def _readers_agree(ws: Workspace) -> dict[str, int]:
    """What `labelbot status`, the export and the next model's training pool say each active
    label has, checked to be the same story; the counts per label."""
    status = projects.project_status(ws, "p")
    records = exporting.export_records(ws, "p")
    pool = training.load_pool(ws, "p")
    counts = {lb["name"]: lb["count"] for lb in status["labels"] if lb["active"]}
    assert all(lb["count"] == 0 for lb in status["labels"] if not lb["active"])
    exported = Counter(r["label"] for r in records)
    assert {k: v for k, v in exported.items() if k is not None} == {
        k: v for k, v in counts.items() if v
    }
    assert exported.get(None, 0) == status["unlabeled"] == status["queue"]
    assert sorted(pool.classes) == sorted(counts)
    by_id = {int(r["id"]): r["label"] for r in records}
    trained = {
        int(i): pool.classes[y] if y >= 0 else None
        for i, y in zip(pool.example_ids, pool.y, strict=True)
    }
    assert trained == by_id
    with session_scope(ws.db, read_only=True) as s:
        project_id = int(project_repo.get_project(session=s, name="p").id or 0)
        waiting = set(taxonomy_repo.examples_to_relabel(session=s, project_id=project_id))
    assert waiting <= {i for i, label in by_id.items() if label is None}
    disputed = {int(r["id"]) for r in records if r["disputed"]}
    assert disputed == {d.example_id for d in consensus.disagreements(ws, "p")}
    assert consensus.agreement_report(ws, "p").disagreements == len(disputed)
    return counts


def test_chains_of_changes_keep_every_reader_in_step(p: Workspace) -> None:
    """merge then split, relabel, undo twice; rename then merge into the freed old name, undo
    twice; split then retire both parts (one mapped), undo three times: after every step the
    status, the export, the training pool, the relabel list and the disputes agree, and every
    undo restores the counts before its change."""
    a, b, c, d = _ids(p)
    _vote(p, a, "A", "ana")
    _vote(p, a, "B", "bob")  # a tie, B the latest: disputed
    _vote(p, b, "A", "ana")
    _vote(p, c, "B", "ana")
    _vote(p, d, "D", "ana")
    start = _readers_agree(p)
    assert start == {"A": 1, "B": 2, "D": 1}

    def change(kind: str, **kw: object) -> dict[str, int]:
        call = {"merge": taxonomy.merge_labels, "split": taxonomy.split_label,
                "retire": taxonomy.retire_label, "rename": taxonomy.rename_label}[kind]  # fmt: skip
        call(p, project="p", actor="adm", rescore=False, **kw)  # type: ignore[operator]
        return _readers_agree(p)

    def undo() -> dict[str, int]:
        taxonomy.undo_last(p, project="p", actor="adm", rescore=False)
        return _readers_agree(p)

    assert change("merge", labels=["A", "B"], into="C") == {"C": 3, "D": 1}
    assert change("split", label="C", into=["C1", "C2"]) == {"D": 1, "C1": 0, "C2": 0}
    labeling.submit_label(p, project="p", example_id=b, label="C1", annotator="cy",
                          source="slack", key="cy:b")  # fmt: skip
    assert _readers_agree(p) == {"D": 1, "C1": 1, "C2": 0}
    assert undo() == {"C": 3, "D": 1}  # cy's C1 counts as the label it came from
    with pytest.raises(ConflictError, match="'C' has been used since"):
        undo()  # C1 counts as C now: undoing the merge would lose cy's label
    assert _readers_agree(p) == {"C": 3, "D": 1}

    assert change("rename", label="D", new_name="X") == {"C": 3, "X": 1}
    assert change("merge", labels=["X", "C"], into="D") == {"D": 4}  # the old name, a new label
    assert undo() == {"C": 3, "X": 1}
    assert undo() == {"C": 3, "D": 1}

    assert change("split", label="D", into=["D1", "D2"]) == {"C": 3, "D1": 0, "D2": 0}
    assert change("retire", label="D1") == {"C": 3, "D2": 0}
    assert change("retire", label="D2", map_to="C") == {"C": 3}
    assert undo() == {"C": 3, "D2": 0}
    assert undo() == {"C": 3, "D1": 0, "D2": 0}
    assert undo() == {"C": 3, "D": 1}


def _answer(ws: Workspace, who: str, label: str) -> int | None:
    """``who`` takes their next task and answers it with ``label``; the example id (None: none)."""
    task = labeling.next_task(ws, project="p", annotator=who)
    if task is None:
        return None
    key = f"{who}:{task.assignment_id}"
    labeling.submit_label(ws, project="p", example_id=task.example_id, label=label,
                          annotator=who, source="slack", key=key)  # fmt: skip
    return task.example_id


def test_a_second_opinion_asked_again_after_a_split_reaches_the_other_expert(p: Workspace) -> None:
    """Every example goes to two experts (k=2). ana and bob both labeled one A; A is split. It
    is labeled again into A1 by one of them, and still wants a second opinion that counts
    (status: "1 example waits for a 2nd expert"). The other, whose only vote is for the split
    label, is the one to ask: it used to be asked of nobody (an expert with any vote of it was
    passed over), so the request waited for ever and the agreement never measured it."""
    projects.update_settings(p, project="p", multi_label_share=1.0, multi_label_k=2,
                             audit_share=0.0)  # fmt: skip
    first = _answer(p, "ana", "A")
    assert first is not None and _answer(p, "bob", "A") == first
    taxonomy.split_label(p, project="p", label="A", into=["A1", "A2"], actor="adm", rescore=False)
    assert consensus.agreement_report(p, "p").waiting == 1

    assert _answer(p, "ana", "A1") == first  # back first, to be labeled again
    assert consensus.agreement_report(p, "p").waiting == 1
    assert _answer(p, "bob", "A2") == first  # the second opinion, in today's labels
    report = consensus.agreement_report(p, "p")
    assert report.waiting == 0 and report.examples == 1 and report.disagreements == 1
    assert [d.example_id for d in consensus.disagreements(p, "p")] == [first]
