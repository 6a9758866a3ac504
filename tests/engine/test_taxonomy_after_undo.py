"""What an undone taxonomy change leaves behind, on SQLite and PostgreSQL: the id of a label it
removed (a button still on screen carries it), the note on an example back in the queue, and an
example out with an expert that the undo settled."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlmodel import select

from engine import labeling, projects, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import StaleActionError
from storage.models import Assignment, Label


def _project(ws: Workspace, tmp_path: Path, labels: list[str], rows: list[tuple[str, str]]) -> None:
    """Project "p": ``rows`` (text, label or "") imported; no audit picks, no second opinions."""
    projects.create_project(ws, name="p", labels=labels)
    projects.update_settings(ws, project="p", audit_share=0.0, multi_label_share=0.0)
    path = tmp_path / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    projects.import_file(ws, project="p", path=path)


def _click(ws: Workspace, task: labeling.Task, label_id: int, key: str) -> labeling.LabelResult:
    """A click on a button, which carries the label's id (bot.flow.apply_label stores it)."""
    return labeling.submit_label(ws, project="p", example_id=task.example_id, label=label_id,
                                 annotator="ana", source="slack", key=key)  # fmt: skip


def test_the_id_of_a_label_an_undo_removed_is_never_given_to_another(ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SQLite handed the removed label's id to the next label: a button of the removed label
    still on screen then stored a vote for that unrelated label."""
    _project(ws, tmp_path, ["A", "B"], [("first text", "A"), ("second text", "")])
    added = taxonomy.add_labels(ws, project="p", names=["C"], actor="admin")
    removed_id = int(added.details["labels"][0]["id"])
    task = labeling.next_task(ws, project="p", annotator="ana")
    assert task is not None and removed_id in [c.id for c in task.labels]
    taxonomy.undo_last(ws, project="p", actor="admin")  # C was never used: removed

    later = taxonomy.add_labels(ws, project="p", names=["D"], actor="admin")

    assert int(later.details["labels"][0]["id"]) > removed_id
    with pytest.raises(StaleActionError, match="no longer exists"):
        _click(ws, task, removed_id, key="old-button")
    assert _click(ws, task, int(later.details["labels"][0]["id"]), key="new").label == "D"


def test_a_label_retired_after_an_undone_split_is_not_said_to_be_split(ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The undone split was read: "since split: is it Q?" named an unrelated label on SQLite
    (Q took a removed part's id), and an empty list of parts on PostgreSQL."""
    _project(ws, tmp_path, ["S", "T"], [("first text", "S"), ("second text", "T")])
    taxonomy.split_label(ws, project="p", label="S", into=["P1", "P2"], actor="admin")
    taxonomy.undo_last(ws, project="p", actor="admin")  # P1 and P2 unused: removed
    taxonomy.add_labels(ws, project="p", names=["Q"], actor="admin")
    taxonomy.retire_label(ws, project="p", label="S", actor="admin")  # unmapped: back to relabel

    task = labeling.next_task(ws, project="p", annotator="ana")

    assert task is not None and task.text == "first text"
    assert [(e.label, e.into) for e in task.earlier] == [("S", None)]
    with session_scope(ws.db, read_only=True) as session:
        retired = session.exec(select(Label).where(Label.name == "S")).one()
        note = taxonomy.stale_label_note(session=session, label=retired)
    assert note.startswith("the label 'S' was retired; pick another")


def test_an_example_an_undo_settled_is_let_go_of(ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """ana held an example waiting to be labeled again when the retire that sent it back was
    undone: next_task handed it back every time, and every click on it was refused."""
    rows = [("first text", "S"), ("second text", ""), ("third text", "")]
    _project(ws, tmp_path, ["S", "T"], rows)
    taxonomy.retire_label(ws, project="p", label="S", actor="admin")
    held = labeling.next_task(ws, project="p", annotator="ana")
    assert held is not None and held.text == "first text"  # relabels come first
    taxonomy.add_labels(ws, project="p", names=["U"], actor="admin")
    again = labeling.next_task(ws, project="p", annotator="ana")
    assert again is not None and again.assignment_id == held.assignment_id  # still hers
    taxonomy.undo_last(ws, project="p", actor="admin")  # the add
    taxonomy.undo_last(ws, project="p", actor="admin")  # the retire: it counts as S again

    task = labeling.next_task(ws, project="p", annotator="ana")

    assert task is not None and task.text != "first text"
    t = next(c.id for c in task.labels if c.name == "T")
    assert _click(ws, task, int(t or 0), key="k1").created
    with session_scope(ws.db, read_only=True) as session:
        first = session.get(Assignment, held.assignment_id)
        assert first is not None and first.status == "released"
    nxt = labeling.next_task(ws, project="p", annotator="ana")
    assert nxt is not None and nxt.text not in ("first text", task.text)
