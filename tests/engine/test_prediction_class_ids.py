"""Stored predictions record the label each of their classes was (Prediction.class_ids,
migration 0022), so that before the queue's re-score export and predict read them by label,
not by a name that may have moved to another label since; rows without them (written before
0022, or rewritten by a labelbot before it) are read by name as before. Real SQLite and
PostgreSQL, the real encoder and model."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from engine import exporting, predicting, taxonomy, training
from storage.db import downgrade, session_scope, upgrade
from storage.models import Label, Prediction
from tests.conftest import empty_database
from tests.helpers import label_next, load_slice

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _trained(ws, banking_slice, tmp_path: Path) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 40)
    training.train_project(ws, "bank", kind="linear")
    return {r["text"]: r["prediction"] for r in exporting.export_records(ws, "bank")}


def test_each_stored_class_records_its_labels_id(ws, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _trained(ws, banking_slice, tmp_path)
    with session_scope(ws.db, read_only=True) as session:
        ids = {lb.name: lb.id for lb in session.exec(select(Label)).all()}
        rows = [p for p in session.exec(select(Prediction)).all() if p.label is not None]
    assert rows
    for row in rows:
        assert row.class_ids == [[ids[name] for name, _ in row.probs], *row.probs[0]]


def test_rows_without_their_ids_are_read_by_name(ws, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A row written before migration 0022 (no ids) follows a rename by name, as before."""
    before = _trained(ws, banking_slice, tmp_path)
    with session_scope(ws.db) as session:
        session.execute(sa.update(Prediction).values(class_ids=None))
    taxonomy.rename_label(ws, project="bank", label="card_arrival", new_name="card_delivery",
                          actor="admin", rescore=False)  # fmt: skip
    records = list(exporting.export_records(ws, "bank"))
    moved = [r for r in records if before[r["text"]]["label"] == "card_arrival"]
    assert moved and all(r["prediction"]["label"] == "card_delivery" for r in moved)
    said = predicting.predict_texts(ws, "bank", [r["text"] for r in moved])
    assert {p.label for p in said} == {"card_delivery"}


def test_ids_that_no_longer_match_the_rows_classes_are_not_used() -> None:
    """A labelbot before 0022 rewriting a row leaves its ids as they were: ids recorded with
    another top class (name or probability) are not the row's, and it is read by name."""
    probs = [["age_limit", 0.7], ["card_arrival", 0.3]]
    targets = {1: "renamed_one", 2: "renamed_two"}
    stale = [[1, 2], "card_arrival", 0.7]  # an earlier writing's order
    assert predicting.stored_top(probs, {}, stale, targets) == [
        ("age_limit", 0.7),
        ("card_arrival", 0.3),
    ]
    # the same names in the same order, of another writing (its probabilities differ)
    other = [[1, 2], "age_limit", 0.6]
    assert predicting.stored_top(probs, {}, other, targets) == [
        ("age_limit", 0.7),
        ("card_arrival", 0.3),
    ]
    fresh = [[2, 1], "age_limit", 0.7]
    assert predicting.stored_top(probs, {}, fresh, targets) == [
        ("renamed_two", 0.7),
        ("renamed_one", 0.3),
    ]
    # a split or retired label (no target today) keeps the stored name
    assert predicting.stored_top(probs, {}, fresh, {1: None, 2: None}) == [
        ("age_limit", 0.7),
        ("card_arrival", 0.3),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_0022_adds_the_column_and_its_downgrade_takes_it_away(kind: str, tmp_path: Path) -> None:
    with empty_database(kind, tmp_path / "ids.db") as (_, _, engine):
        upgrade(engine, "0021")
        assert "class_ids" not in {c["name"] for c in sa.inspect(engine).get_columns("predictions")}
        upgrade(engine)
        assert "class_ids" in {c["name"] for c in sa.inspect(engine).get_columns("predictions")}
        downgrade(engine, "0021")
        columns = {c["name"] for c in sa.inspect(engine).get_columns("predictions")}
        assert "class_ids" not in columns and "probs" in columns
        indexes = {i["name"] for i in sa.inspect(engine).get_indexes("predictions")}
        assert "ix_predictions_queue" in indexes
        upgrade(engine)


def test_the_labeling_message_guesses_in_todays_labels_before_the_rescore(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """The model's guess on a labeling message (and its runner-up) names the label the model
    meant, after two labels swapped names and before the re-score."""
    from engine import labeling

    before = _trained(ws, banking_slice, tmp_path)
    swapped = {"card_arrival": "age_limit", "age_limit": "card_arrival"}
    for old, new in (("card_arrival", "tmp"), ("age_limit", "card_arrival"), ("tmp", "age_limit")):
        taxonomy.rename_label(ws, project="bank", label=old, new_name=new, actor="admin",
                              rescore=False)  # fmt: skip
    seen = 0
    for i in range(20):
        task = labeling.next_task(ws, project="bank", annotator=f"U{i}")
        assert task is not None
        if task.suggestion is None:  # an audit example is asked blind
            continue
        was = before[task.text]["label"]
        assert task.suggestion[0] == swapped.get(was, was)
        seen += was in swapped
    assert seen


def test_rows_without_ids_name_todays_label_in_messages_and_disagreements(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """A row written before 0022 (no ids), after a rename before the re-score: the labeling
    message's guess and a disagreement's model guess name the label as predict does."""
    from engine import consensus, labeling, projects

    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 40)
    training.train_project(ws, "bank", kind="linear")
    before = {r["text"]: r["prediction"] for r in exporting.export_records(ws, "bank")}
    with session_scope(ws.db) as session:
        session.execute(sa.update(Prediction).values(class_ids=None))
    projects.update_settings(ws, project="bank", multi_label_share=1.0, multi_label_k=2)
    taxonomy.rename_label(ws, project="bank", label="card_arrival", new_name="card_delivery",
                          actor="admin", rescore=False)  # fmt: skip
    names = sorted({*truth.values()} - {"card_arrival"})
    for i in range(30):
        task = labeling.next_task(ws, project="bank", annotator="W1")
        assert task is not None
        if before[task.text]["label"] != "card_arrival" or task.suggestion is None:
            labeling.skip(ws, project="bank", example_id=task.example_id, annotator="W1")
            continue
        assert task.suggestion[0] == "card_delivery"
        first, second = [n for n in names if n != truth[task.text]][:2]
        labeling.submit_label(ws, project="bank", example_id=task.example_id, label=first,
                              annotator="W1", source="slack", key=f"W1:{i}")  # fmt: skip
        if not consensus.disagreements(ws, "bank", example_id=task.example_id):
            labeling.submit_label(ws, project="bank", example_id=task.example_id, label=second,
                                  annotator="W2", source="slack", key=f"W2:{i}")  # fmt: skip
        [found] = consensus.disagreements(ws, "bank", example_id=task.example_id)
        assert found.model is not None and found.model[0] == "card_delivery"
        return
    pytest.fail("no example the model put in the renamed label was handed out")
