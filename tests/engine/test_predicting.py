"""A text already in the project predicts as the export shows it (finding: the blend scored pool
texts with their own spread, new texts with their neighbours')."""

from __future__ import annotations

from pathlib import Path

from engine import exporting, predicting, training
from tests.helpers import label_next, load_slice


def test_a_pool_text_predicts_as_exported(ws, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 40)
    run = training.train_project(ws, "bank", kind="blend")
    assert run.kind == "blend"
    records = list(exporting.export_records(ws, "bank"))
    texts = [r["text"] for r in records]
    got = predicting.predict_texts(ws, "bank", texts + ["a text the project never saw"])
    for record, answer in zip(records, got, strict=False):
        assert record["prediction"] is not None
        stored = (record["prediction"]["label"], record["prediction"]["confidence"])
        assert (answer.label, answer.confidence) == stored, record["text"]
        assert answer.top[0] == stored and len(answer.top) == 3
    # a new text is predicted by the model, as before
    (new,) = training.predict_texts(ws, "bank", ["a text the project never saw"])
    assert got[-1] == new
