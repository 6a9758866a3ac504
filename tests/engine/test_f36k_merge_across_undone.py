"""An export after merges undone and a merge across them (Merges.exact_rows with a merged label
no stored column gives alone) says what predict says, and what the re-score then writes."""

from __future__ import annotations

from pathlib import Path

from engine import exporting, predicting, training
from engine.workspace import Workspace
from tests.engine import test_review36d as review36d


def test_export_after_undone_merges_matches_predict_and_the_rescore(
    ws: Workspace, tmp_path: Path
) -> None:
    review36d._merged_across_undone(ws, tmp_path)
    unscored = list(exporting.export_records(ws, "seven"))
    said = predicting.predict_texts(ws, "seven", [r["text"] for r in unscored])
    assert [(r["prediction"]["label"], r["prediction"]["confidence"]) for r in unscored] == [
        (a.label, a.confidence) for a in said
    ]
    assert any(r["prediction"]["label"] == "a" for r in unscored)
    training.rescore_project(ws, "seven")
    rescored = list(exporting.export_records(ws, "seven"))
    assert [r["prediction"] for r in unscored] == [r["prediction"] for r in rescored]
