"""Imports and exports across taxonomy changes (found by an audit), on SQLite and PostgreSQL:
- a file imported again after its label was renamed (or the project's export after a merge)
  added a second vote for the same label, and could change the agreed label;
- a label that differs from one of the project's only in case was called unknown, with advice
  (`labels add`) that is then refused;
- after a label is added, the export's predictions are all empty: `predictions_note` says why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine import exporting, projects, taxonomy, training
from storage.errors import InvalidInputError
from tests.helpers import label_next, load_slice
from tests.helpers import labeled_csv as _csv

TENANT = "The tenant shall pay rent monthly"


def _votes(ws: Any, project: str, text: str) -> tuple[str | None, list[str]]:
    (record,) = [r for r in exporting.export_records(ws, project) if r["text"] == text]
    return record["label"], [a["label"] for a in record["annotations"]]


def test_a_file_imported_again_after_a_rename_adds_no_second_vote(ws: Any, tmp_path: Path) -> None:
    projects.create_project(ws, name="p", labels=["Lease", "NDA"])
    a = _csv(tmp_path / "a.csv", [(TENANT, "Lease"), ("Both parties keep it secret", "NDA")])
    b = _csv(tmp_path / "b.csv", [(TENANT, "NDA")])
    projects.import_file(ws, project="p", path=a, embed=False)
    projects.import_file(ws, project="p", path=b, embed=False)
    assert _votes(ws, "p", TENANT) == ("NDA", ["Lease", "NDA"])  # a tie: the latest vote

    taxonomy.rename_label(ws, project="p", label="Lease", new_name="Tenancy", actor="ops")
    again = projects.import_file(ws, project="p", path=a, embed=False)

    assert again.annotations == 0 and again.relabeled == 0
    assert _votes(ws, "p", TENANT) == ("NDA", ["Tenancy", "NDA"])  # as it was


def test_the_export_imported_after_a_merge_adds_no_second_vote(ws: Any, tmp_path: Path) -> None:
    projects.create_project(ws, name="p", labels=["card_lost", "card_stolen", "pin"])
    rows = [("I lost my card", "card_lost"), ("my card was stolen", "card_stolen"),
            ("change my pin", "pin")]  # fmt: skip
    projects.import_file(ws, project="p", path=_csv(tmp_path / "a.csv", rows), embed=False)
    taxonomy.merge_labels(ws, project="p", labels=["card_lost", "card_stolen"], into="card",
                          actor="ops")  # fmt: skip
    exported = tmp_path / "export.jsonl"
    exported.write_text(
        "".join(json.dumps(r) + "\n" for r in exporting.export_records(ws, "p")), encoding="utf-8"
    )

    report = projects.import_file(ws, project="p", path=exported, embed=False)

    assert report.annotations == 0
    assert _votes(ws, "p", "I lost my card") == ("card", ["card_lost"])
    # a label the example did not have yet is still a new vote
    more = _csv(tmp_path / "more.csv", [("I lost my card", "pin")])
    assert projects.import_file(ws, project="p", path=more, embed=False).annotations == 1


def test_a_label_that_differs_only_in_case_is_named(ws: Any, tmp_path: Path) -> None:
    projects.create_project(ws, name="p", labels=["Lease", "NDA"])
    path = _csv(tmp_path / "case.csv", [("text one", "Lease"), ("text two", "lease")])
    with pytest.raises(InvalidInputError) as refused:
        projects.import_file(ws, project="p", path=path, embed=False)
    assert str(refused.value) == (
        f"{path}:3: unknown label 'lease': did you mean 'Lease'? (it differs only in case or "
        "width; use the label's name as it is)"
    )
    assert exporting.export_records(ws, "p") == []  # nothing stored


def test_the_export_says_why_its_predictions_are_empty_after_a_label_is_added(
    ws: Any, banking_slice: Any, tmp_path: Path
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 30)
    run = training.train_project(ws, "bank")
    assert exporting.predictions_note(ws, "bank") is None
    assert all(r["prediction"] for r in exporting.export_records(ws, "bank"))

    taxonomy.add_labels(ws, project="bank", names=["refund_request"], actor="ops")

    assert not any(r["prediction"] for r in exporting.export_records(ws, "bank"))
    note = exporting.predictions_note(ws, "bank")
    assert note is not None and f"since model v{run.version} was trained" in note
    training.train_project(ws, "bank")
    assert exporting.predictions_note(ws, "bank") is None
