"""Between a taxonomy change and the next model, predictions say what the model cannot answer
yet: a label split or retired since is still answered under its old name, a label added since
never is (finding: predict gave the split label's name with nothing to say it was gone)."""

from __future__ import annotations

from pathlib import Path

from engine import predicting, taxonomy, training
from tests.helpers import label_next, load_slice


def test_notes_name_each_gap_until_the_next_model(ws, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 40)
    training.train_project(ws, "bank")
    assert predicting.answer_notes(ws, "bank") == []

    # a rename and a merge: the model answers in today's names, nothing to say
    taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="minimum_age", actor="a")
    taxonomy.merge_labels(ws, project="bank", labels=["card_arrival", "change_pin"], into="cards",
                          actor="a")  # fmt: skip
    assert predicting.answer_notes(ws, "bank") == []
    (got,) = predicting.predict_texts(ws, "bank", ["How old do you have to be to get a card?"])
    assert {lb for lb, _ in got.top} <= {"minimum_age", "cards", "atm_support", "exchange_rate"}

    taxonomy.split_label(ws, project="bank", label="atm_support", into=["atm_find", "atm_fee"],
                         actor="a")  # fmt: skip
    taxonomy.add_labels(ws, project="bank", names=["lost_card"], actor="a")
    notes = predicting.answer_notes(ws, "bank")
    assert notes == [
        "the label 'atm_support' was split into atm_find, atm_fee since model v1, which still "
        "answers 'atm_support' for it until the next model",
        "model v1 predates a label lost_card: it never answers it until the next model",
    ]
    # what the notes explain: the old name is still an answer
    (got,) = predicting.predict_texts(ws, "bank", ["Where is the nearest cash machine?"])
    assert got.label == "atm_support"

    taxonomy.retire_label(ws, project="bank", label="exchange_rate", actor="a")
    assert (
        "the label 'exchange_rate' was retired since model v1"
        in predicting.answer_notes(ws, "bank")[1]
    )

    training.train_project(ws, "bank")  # on the mapped labels
    # the next model speaks for today's labels, but has no example of the split's halves (its
    # examples went back to the queue) nor of the new label: it never answers them
    assert predicting.answer_notes(ws, "bank") == [
        "model v2 had no labeled examples of atm_find, atm_fee, lost_card: it never answers "
        "them until a model is trained with some"
    ]


def test_fresh_predictions_read_no_database(ws, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Today's label names are read with the model, so predicting new texts afresh (the REST
    API's encoding step, outside its database deadline) sends no statement to the database:
    one stalling there would hold the request past the deadline."""
    from sqlalchemy import event

    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 40)
    training.train_project(ws, "bank")
    taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="minimum_age", actor="a")
    answering = predicting.Answering(ws, "bank")
    sent: list[str] = []

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        sent.append(statement)

    event.listen(ws.db, "before_cursor_execute", seen)
    try:
        (got,) = answering.fresh(["How old must I be to open an account?"])
    finally:
        event.remove(ws.db, "before_cursor_execute", seen)
    assert sent == []
    assert "age_limit" not in {lb for lb, _ in got.top}  # answered under today's name
    assert "minimum_age" in {lb for lb, _ in got.top}
