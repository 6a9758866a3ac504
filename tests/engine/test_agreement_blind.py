"""Agreement pairs only blind expert labels: those of the examples asked of several experts, and
never an imported label (the README: agreement comes from the examples sent blind to
``multi_label_k`` experts). On real stored annotations, SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine import consensus, digest, labeling, projects
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import assignments, examples, feedback
from storage.repositories import projects as projects_repo
from storage.repositories import taxonomy as taxonomy_repo

LABELS = ["NDA", "Tenancy", "Employment"]
TEXTS = [
    "The receiving party shall keep the disclosed information confidential.",
    "The tenant shall pay the rent on the first day of each month.",
    "The employee is entitled to 25 days of paid leave per year.",
]


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def contracts(ws: Workspace, tmp_path: Path) -> dict[str, int]:
    """The project with three unlabeled clauses; their example ids by text."""
    projects.create_project(ws, name="contracts", labels=LABELS)
    projects.import_file(
        ws,
        project="contracts",
        path=_write(tmp_path / "clauses.csv", [{"text": t} for t in TEXTS]),
        embed=False,
    )
    with session_scope(ws.db, read_only=True) as session:
        found = projects_repo.get_project(session=session, name="contracts")
        listed = examples.list_examples(session=session, project_id=int(found.id or 0))
        return {e.text: int(e.id or 0) for e in listed}


def _label(ws: Workspace, who: str, example_id: int, label: str) -> None:
    labeling.submit_label(
        ws, project="contracts", example_id=example_id, label=label, annotator=who,
        source="cli", key=f"{who}:{example_id}",
    )  # fmt: skip


def _import_vote(ws: Workspace, tmp_path: Path, text: str, label: str) -> None:
    vote = _write(tmp_path / "vote.csv", [{"text": text, "label": label}])
    report = projects.import_file(ws, project="contracts", path=vote, embed=False)
    assert report.annotations == 1 and report.inserted == 0  # a label on the stored text


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_an_imported_label_is_not_paired_with_an_experts(
    share: float, ws: Workspace, contracts: dict[str, int], tmp_path: Path
) -> None:
    """The audit's repro: alice labels a clause, then a file gives the same text another
    label. Whether or not the clause was asked of several experts, that is no agreement."""
    projects.update_settings(ws, project="contracts", multi_label_share=share)
    _label(ws, "alice", contracts[TEXTS[0]], "NDA")
    _import_vote(ws, tmp_path, TEXTS[0], "Tenancy")

    report = consensus.agreement_report(ws, "contracts")
    assert report.examples == 0 and report.kappa is None and report.alpha is None
    assert report.describe().startswith("agreement: not measured yet")
    assert projects.project_status(ws, "contracts")["agreement"]["examples"] == 0
    # the two labels still disagree: that is said (status, digest), as a question to settle
    assert report.disagreements == 1 and "; 1 disagreement to settle" in report.describe()
    assert report.describe() in digest.build_digest(ws, "contracts").summary()
    # the import is no expert's opinion: a clause asked of two experts still waits for one
    assert report.waiting == (1 if share else 0)


def test_a_blind_pair_counts_and_the_import_beside_it_does_not(
    ws: Workspace, contracts: dict[str, int], tmp_path: Path
) -> None:
    projects.update_settings(ws, project="contracts", multi_label_share=1.0, multi_label_k=2)
    clause = contracts[TEXTS[0]]
    _label(ws, "alice", clause, "NDA")
    _import_vote(ws, tmp_path, TEXTS[0], "Tenancy")
    task = labeling.next_task(ws, project="contracts", annotator="bob")
    assert task is not None and task.example_id == clause  # the second opinion is still wanted
    _label(ws, "bob", clause, "Employment")

    report = consensus.agreement_report(ws, "contracts")
    assert (report.examples, report.experts, report.waiting) == (1, 2, 0)
    assert report.observed == 0.0  # alice and bob disagree; the import is not a third rater
    assert {row["label"] for row in report.per_label} == {"NDA", "Employment"}
    assert "over 1 example labeled blind by both experts" in report.describe()


def test_two_labels_on_an_example_nobody_asked_twice_are_no_pair(
    ws: Workspace, contracts: dict[str, int]
) -> None:
    """Two experts' labels that meet on an example without a multi-label request (the second
    was not asked blind) are not a measurement; the same labels on a requested example are."""
    clause = contracts[TEXTS[1]]
    with session_scope(ws.db) as session:
        found = projects_repo.get_project(session=session, name="contracts")
        pid = int(found.id or 0)
        for who, name in (("alice", "Tenancy"), ("bob", "Tenancy")):
            label = taxonomy_repo.get_clicked_label(session=session, project_id=pid, name=name)
            feedback.add_annotation(
                session=session, example_id=clause, label_id=int(label.id or 0),
                annotator=who, source="slack", key=f"{who}:{clause}",
            )  # fmt: skip
    assert consensus.agreement_report(ws, "contracts").examples == 0

    with session_scope(ws.db) as session:
        assignments.request_more_labels(session=session, project_id=pid, example_id=clause, k=2)
    report = consensus.agreement_report(ws, "contracts")
    assert (report.examples, report.experts, report.observed) == (1, 2, 1.0)
