"""Between a merge or rename (applied with rescore=False, as the CLI and the bot apply it) and
the queue's re-score, the export's predictions name today's labels, as predict answers them: a
merged label as its merge target at the merged classes' summed probability, a renamed one
under its new name (audit 34). Real SQLite and PostgreSQL, the real encoder and model."""

from __future__ import annotations

from pathlib import Path

from engine import exporting, predicting, taxonomy, training
from tests.helpers import label_next, load_slice


def test_export_and_predict_name_todays_labels_before_the_rescore(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 40)
    training.train_project(ws, "bank", kind="linear")
    before = {r["text"]: r["prediction"] for r in exporting.export_records(ws, "bank")}
    taxonomy.merge_labels(ws, project="bank", labels=["exchange_rate", "atm_support"],
                          into="money", actor="admin", rescore=False)  # fmt: skip
    taxonomy.rename_label(ws, project="bank", label="card_arrival", new_name="card_delivery",
                          actor="admin", rescore=False)  # fmt: skip
    records = list(exporting.export_records(ws, "bank"))
    shown = [(r["prediction"]["label"], r["prediction"]["confidence"]) for r in records]
    said = predicting.predict_texts(ws, "bank", [r["text"] for r in records])
    assert [(p.label, p.confidence) for p in said] == shown
    names = {label for label, _ in shown}
    assert not names & {"exchange_rate", "atm_support", "card_arrival"}
    assert {"money", "card_delivery"} <= names
    # a text once predicted a merged label answers the merge target, at no less probability
    moved = [(before[r["text"]], r["prediction"]) for r in records
             if before[r["text"]]["label"] in ("exchange_rate", "atm_support")]  # fmt: skip
    assert moved and all(now["label"] == "money" for _, now in moved)
    assert all(now["confidence"] >= then["confidence"] for then, now in moved)
