"""An export after merges undone and a merge across them (Merges.exact_rows with a merged label
no stored column gives alone) says what predict says, and what the re-score then writes."""

from __future__ import annotations

from pathlib import Path

from engine import exporting, predicting, taxonomy, training
from engine.workspace import Workspace
from tests.engine import test_review34b_findings as review34b


def test_export_after_undone_merges_matches_predict_and_the_rescore(
    ws: Workspace, tmp_path: Path
) -> None:
    review34b._seven_labeled(ws, tmp_path)
    x, y, z, w = review34b.SEVEN[:4]
    taxonomy.merge_labels(ws, project="seven", labels=[x, y], into="p", actor="admin")
    taxonomy.merge_labels(ws, project="seven", labels=[z, w], into="q", actor="admin")
    taxonomy.undo_last(ws, project="seven", actor="admin", rescore=False)
    taxonomy.undo_last(ws, project="seven", actor="admin", rescore=False)
    taxonomy.merge_labels(ws, project="seven", labels=[x, z], into="a", actor="admin",
                          rescore=False)  # fmt: skip
    unscored = list(exporting.export_records(ws, "seven"))
    said = predicting.predict_texts(ws, "seven", [r["text"] for r in unscored])
    assert [(r["prediction"]["label"], r["prediction"]["confidence"]) for r in unscored] == [
        (a.label, a.confidence) for a in said
    ]
    assert any(r["prediction"]["label"] == "a" for r in unscored)
    training.rescore_project(ws, "seven")
    rescored = list(exporting.export_records(ws, "seven"))
    assert [r["prediction"] for r in unscored] == [r["prediction"] for r in rescored]
