"""A text already in the project predicts as the export shows it (finding: the blend scored pool
texts with their own spread, new texts with their neighbours')."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import exporting, predicting, training
from engine.workspace import Workspace
from storage.errors import ConfigurationError, ConflictError, NotFoundError
from storage.repositories import models
from tests.engine.test_training_recovery import RotatedEncoder
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


def test_only_texts_without_a_stored_prediction_go_through_the_model(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 40)
    training.train_project(ws, "bank")
    records = list(exporting.export_records(ws, "bank"))[:3]
    pool = [r["text"] for r in records]
    new = ["a text the project never saw", "another one"]
    asked: list[list[str]] = []
    real, with_model = training.predict_texts, training.predict_with

    def spy(ws_, name, run, model, texts, **kw):  # type: ignore[no-untyped-def]
        asked.append(list(texts))
        return with_model(ws_, name, run, model, texts, **kw)

    monkeypatch.setattr(training, "predict_with", spy)
    one_by_one = models.get_prediction
    monkeypatch.setattr(models, "get_prediction", lambda **kw: pytest.fail("one query per text"))
    got = predicting.predict_texts(ws, "bank", [new[0], pool[0], pool[1], new[1], pool[2]])
    assert asked == [new]  # the pool texts' answers are the stored ones: not computed
    assert [p.text for p in got] == [new[0], pool[0], pool[1], new[1], pool[2]]
    for record, answer in zip(records, [got[1], got[2], got[4]], strict=True):
        assert (answer.label, answer.confidence) == (
            record["prediction"]["label"],
            record["prediction"]["confidence"],
        )
    monkeypatch.setattr(models, "get_prediction", one_by_one)
    assert [got[0], got[3]] == real(ws, "bank", new)
    asked.clear()
    assert predicting.predict_texts(ws, "bank", pool) == [got[1], got[2], got[4]]
    assert asked == [[]]  # every text stored: the model is still asked, for its checks


def test_stored_predictions_still_refuse_without_a_usable_model(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """Every text in the pool, so none goes through the model: still the same errors as a new
    text gets (no model yet, its file lost, another encoder)."""
    truth = load_slice(ws, banking_slice, tmp_path)
    pool = [text for text, _ in banking_slice[:2]]
    with pytest.raises(ConflictError, match="has no trained model yet"):
        predicting.predict_texts(ws, "bank", pool)
    label_next(ws, truth, 40)
    run = training.train_project(ws, "bank")
    assert len(predicting.predict_texts(ws, "bank", pool)) == 2
    other = Workspace(settings=ws.settings, db=ws.db, _encoder=RotatedEncoder(ws.encoder))
    with pytest.raises(ConfigurationError, match="the encoder now is"):
        predicting.predict_texts(other, "bank", pool)
    assert run.artifact_path
    Path(run.artifact_path).unlink()
    ws.memo.clear()
    with pytest.raises(NotFoundError, match="missing its file"):
        predicting.predict_texts(ws, "bank", pool)
    with pytest.raises(NotFoundError, match="missing its file"):
        predicting.predict_texts(ws, "bank", [])


def test_a_model_file_deleted_under_a_running_process_is_missed_at_once(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """A server that had read the model kept answering from memory after its file was deleted,
    while `labelbot status` (and every other replica) said the file was missing; after a
    restart it started refusing. It now refuses at once, and answers again once retrained."""
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 40)
    run = training.train_project(ws, "bank")
    new = ["how long until my card arrives"]
    assert len(predicting.predict_texts(ws, "bank", new)) == 1  # read, and kept in memory
    assert run.artifact_path
    Path(run.artifact_path).unlink()
    with pytest.raises(NotFoundError, match="missing its file"):
        predicting.predict_texts(ws, "bank", new)
    training.train_project(ws, "bank")
    assert len(predicting.predict_texts(ws, "bank", new)) == 1
