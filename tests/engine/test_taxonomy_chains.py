"""Chains of taxonomy changes, checked across what each reader of the labels says, on SQLite and
PostgreSQL: the export, `labelbot status`, `labelbot disagreements` and the agreement figures
must tell the same story after a change and after its undo."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import consensus, exporting, projects, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import feedback
from storage.repositories import projects as project_repo

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
    with session_scope(ws.db) as s:
        project = project_repo.get_project(session=s, name="p")
        label_id = project_repo.get_label(session=s, project_id=project.id, name=label).id
        feedback.add_annotation(
            session=s, example_id=example_id, label_id=label_id, annotator=who, source="slack",
            key=f"{who}:{example_id}:{label}",
        )  # fmt: skip


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
