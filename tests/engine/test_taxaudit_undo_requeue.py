"""An undo that sends examples back to the queue says how many, as the change it takes back
did: undoing a merge that closed a split reopens the split, and its examples wait to be
labeled again (the history line and the CLI's first line count them), on SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from engine import projects, taxonomy


def test_undoing_a_merge_that_closed_a_split_counts_the_examples_sent_back(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path
) -> None:
    projects.create_project(ws, name="p", labels=["fx", "card", "atm"])
    path = tmp_path / "p.csv"
    rows = [f"rate question {i},fx" for i in range(6)] + [f"card question {i},card" for i in (1, 2)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    projects.import_file(ws, project="p", path=path, embed=False)
    taxonomy.split_label(ws, project="p", label="fx", into=["fx_a", "fx_b"], actor="ana")
    taxonomy.merge_labels(ws, project="p", labels=["fx_a", "fx_b"], into="rates", actor="ana")

    undo = taxonomy.undo_last(ws, project="p", actor="ana", rescore=False)

    assert undo.requeued == 6
    assert undo.summary.endswith("; 6 examples back in the queue"), undo.summary
    entry = taxonomy.label_history(ws, project="p")[-1]
    assert entry.kind == "undo" and entry.summary == undo.summary


def test_an_undo_that_sends_nothing_back_says_nothing_of_the_queue(ws) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="p", labels=["fx", "card"])
    taxonomy.rename_label(ws, project="p", label="fx", new_name="rates", actor="ana")
    undo = taxonomy.undo_last(ws, project="p", actor="ana", rescore=False)
    assert undo.summary == "undid #1 (renamed fx to rates)"
