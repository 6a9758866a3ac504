"""Predictions for texts, consistent with the ones the project stores (queue, export).

A text already in the project's pool gets the prediction stored for it by the active model: the
one the export shows. Computed afresh it could differ: a blend model scores its own pool with the
label spreading it was trained with (each example's own row of the spread), while a text from
outside takes the spread of its nearest pool neighbours (``engine.classifier``), so a pool text
sent back through predict moved by up to 0.23 in confidence and, rarely, changed label. Texts
the project does not hold, or whose stored prediction is from another model (or holds fewer
classes than ``top_k`` asks for), are predicted by the active model as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine import taxonomy, training
from engine.training import TextPrediction
from engine.workspace import Workspace
from storage.db import session_scope
from storage.hashing import content_hash
from storage.models import ModelRun
from storage.repositories import examples, models, projects

__all__ = ["Answer", "answer", "answer_notes", "predict_texts"]


@dataclass(frozen=True)
class Answer:
    """One request's predictions, all by model v``version``, and what that model cannot
    answer yet (:func:`answer_notes`)."""

    predictions: list[TextPrediction]
    notes: list[str]
    version: int


def answer(ws: Workspace, name: str, texts: list[str], *, top_k: int = 3) -> Answer:
    """Classify ``texts`` with the project's active model; a text already in the project gets
    its stored prediction (what the export shows), the others a fresh one. The active model is
    read once: a model promoted meanwhile (a retrain, a rollback) answers the next request, not
    half of this one, and the notes are of the model that answered."""
    run, model = training.answering_model(ws, name)  # first: no model, its file, its encoder
    stored = _stored(ws, name, texts, run=run, top_k=top_k)
    fresh = iter(
        training.predict_with(
            ws, name, run, model, [t for i, t in enumerate(texts) if i not in stored], top_k=top_k
        )
    )
    return Answer(
        predictions=[stored[i] if i in stored else next(fresh) for i in range(len(texts))],
        notes=taxonomy.model_gaps(ws, project=name, run=run),
        version=run.version,
    )


def predict_texts(
    ws: Workspace, name: str, texts: list[str], *, top_k: int = 3
) -> list[TextPrediction]:
    """:func:`answer`'s predictions alone."""
    return answer(ws, name, texts, top_k=top_k).predictions


def _stored(
    ws: Workspace, name: str, texts: list[str], *, run: ModelRun, top_k: int
) -> dict[int, TextPrediction]:
    """Index in ``texts`` → the stored prediction of ``run``, for texts in the project."""
    if not texts or run.id is None:
        return {}
    hashes = [content_hash(t) for t in texts]
    out: dict[int, TextPrediction] = {}
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        known = examples.existing_hashes(session=session, project_id=project.id, hashes=hashes)
        rows = models.get_predictions_for(session=session, example_ids=known.values())
        for i, (text, digest) in enumerate(zip(texts, hashes, strict=True)):
            example_id = known.get(digest)
            row = None if example_id is None else rows.get(example_id)
            if row is None or row.model_run_id != run.id or row.label is None:
                continue
            if len(row.probs) < min(top_k, len(run.classes)):
                continue  # the stored row keeps only the top classes: more were asked for
            top = [(str(lb), float(p)) for lb, p in row.probs[:top_k]]
            out[i] = TextPrediction(text=text, label=top[0][0], confidence=top[0][1], top=top)
    return out


def answer_notes(ws: Workspace, name: str) -> list[str]:
    """What the active model's answers cannot say yet, after taxonomy changes it predates
    (``taxonomy.model_gaps``): to show beside its predictions until the next model."""
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        run = models.get_active_model_run(session=session, project_id=project.id)
    return [] if run is None else taxonomy.model_gaps(ws, project=name, run=run)
