"""One predict request, one model: a model promoted while a request is answered (a retrain
finishing, a rollback) answers the next request, not half of this one. The active model was
read twice, once for the texts the project stores a prediction for and once for the others, so
a promotion in between answered the two kinds with two models. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import labeling, predicting, training
from engine.workspace import Workspace
from storage.repositories import models as stored_models
from tests.engine.test_taxonomy import LABELS, _start

NEW_TEXT = "my kid is twelve, can she get a card of her own?"


@pytest.fixture
def two_models(ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Project "bank" with model v1, then 20 more labels and model v2 (active)."""
    _start(ws, banking_slice, tmp_path, LABELS)
    truth = dict(banking_slice)
    for i in range(20):
        task = labeling.next_task(ws, project="bank", annotator="U0MORE")
        assert task is not None
        labeling.submit_label(
            ws, project="bank", example_id=task.example_id, label=truth[task.text],
            annotator="U0MORE", source="cli", key=f"more:{i}",
        )  # fmt: skip
    training.train_project(ws, "bank")
    active = training.active_model(ws, "bank")
    assert active is not None and active[0].version == 2
    pool_text = next(t for t in truth if t != NEW_TEXT)
    return ws, pool_text


def test_a_promotion_during_a_request_answers_the_next_one(  # type: ignore[no-untyped-def]
    two_models, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, pool_text = two_models
    by_v2 = training.predict_texts(ws, "bank", [NEW_TEXT])[0]
    stored_v2 = predicting.predict_texts(ws, "bank", [pool_text])[0]
    training.activate_version(ws, "bank", 1)
    by_v1 = training.predict_texts(ws, "bank", [NEW_TEXT])[0]
    assert (by_v1.label, by_v1.confidence) != (by_v2.label, by_v2.confidence)  # they differ
    training.activate_version(ws, "bank", 2)

    # v1 is promoted right after the request has read the stored predictions, before it
    # predicts the new text afresh (today's label names were read with the model, before)
    promoted = False
    get_predictions_for = stored_models.get_predictions_for

    def reading_stored_then_promote(**kw: Any) -> Any:
        nonlocal promoted
        found = get_predictions_for(**kw)
        if not promoted:
            promoted = True
            training.activate_version(ws, "bank", 1)
        return found

    monkeypatch.setattr(stored_models, "get_predictions_for", reading_stored_then_promote)
    said = predicting.answer(ws, "bank", [pool_text, NEW_TEXT])
    assert promoted  # the promotion did happen mid-request
    stored, fresh = said.predictions
    assert said.version == 2
    assert (stored.label, stored.confidence) == (stored_v2.label, stored_v2.confidence)
    assert (fresh.label, fresh.confidence) == (by_v2.label, by_v2.confidence)
    monkeypatch.undo()
    # the next request: v1's, whole
    after = predicting.answer(ws, "bank", [NEW_TEXT])
    assert after.version == 1
    assert (after.predictions[0].label, after.predictions[0].confidence) == (
        by_v1.label,
        by_v1.confidence,
    )
