"""What a click on an old button of a label changed since is told, on SQLite and PostgreSQL: the
label as the button named it, and where its examples went through the chain of changes (merged
into a label that was split: the split's parts)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlmodel import select

from engine import labeling, projects, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import StaleActionError
from storage.models import Label

LABELS = ["card_arrival", "atm_support", "age_limit", "change_pin"]


def _project(ws: Workspace, tmp_path: Path) -> None:
    projects.create_project(ws, name="p", labels=LABELS)
    projects.update_settings(ws, project="p", audit_share=0.0, multi_label_share=0.0)
    path = tmp_path / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([("where is my card", ""), ("atm ate it", "")])
    projects.import_file(ws, project="p", path=path)


def _note(ws: Workspace, name: str, clicked: str | None = None) -> str:
    with session_scope(ws.db, read_only=True) as session:
        label = session.exec(select(Label).where(Label.name == name)).one()
        return taxonomy.stale_label_note(session=session, label=label, clicked=clicked)


def _chain(ws: Workspace) -> None:
    """card_arrival renamed arrival, merged with atm_support into card_and_atm, split."""
    taxonomy.rename_label(ws, project="p", label="card_arrival", new_name="arrival", actor="a")
    taxonomy.merge_labels(ws, project="p", labels=["arrival", "atm_support"],
                          into="card_and_atm", actor="a")  # fmt: skip
    taxonomy.split_label(ws, project="p", label="card_and_atm", into=["cards", "atms"], actor="a")


def test_an_old_button_after_rename_merge_split_names_the_split_parts(
    ws: Workspace, tmp_path: Path
) -> None:
    _project(ws, tmp_path)
    task = labeling.next_task(ws, project="p", annotator="ana")
    assert task is not None
    _chain(ws)

    assert _note(ws, "arrival", clicked="card_arrival") == (
        "the label 'card_arrival' (renamed arrival) was merged into card_and_atm, which was "
        "split into cards, atms: pick one of those"
    )
    # without the clicked name (a button carries the label's id): every name it had
    assert _note(ws, "arrival") == (
        "the label 'arrival' (formerly card_arrival) was merged into card_and_atm, which was "
        "split into cards, atms: pick one of those"
    )
    assert _note(ws, "atm_support") == (
        "the label 'atm_support' was merged into card_and_atm, which was split into cards, "
        "atms: pick one of those"
    )
    assert _note(ws, "card_and_atm") == (
        "the label 'card_and_atm' was split into cards, atms: pick one of those"
    )
    # the click itself, by the name on the old button (the CLI's and an import's path)
    with pytest.raises(StaleActionError) as caught:
        labeling.submit_label(ws, project="p", example_id=task.example_id, label="card_arrival",
                              annotator="ana", source="cli", key="old")  # fmt: skip
    assert "card_and_atm, which was split into cards, atms: pick one of those" in str(caught.value)
    assert "was retired" not in str(caught.value)


def test_merged_then_retired_and_an_undone_split(ws: Workspace, tmp_path: Path) -> None:
    _project(ws, tmp_path)
    taxonomy.merge_labels(ws, project="p", labels=["card_arrival", "atm_support"],
                          into="cards", actor="a")  # fmt: skip
    taxonomy.split_label(ws, project="p", label="cards", into=["c1", "c2"], actor="a")
    taxonomy.undo_last(ws, project="p", actor="a")  # the split never happened
    taxonomy.retire_label(ws, project="p", label="cards", actor="a")  # unmapped
    assert _note(ws, "card_arrival") == (
        "the label 'card_arrival' was merged into cards, which was retired; pick another "
        "(age_limit, change_pin)"
    )
    assert _note(ws, "cards") == (
        "the label 'cards' was retired; pick another (age_limit, change_pin)"
    )
