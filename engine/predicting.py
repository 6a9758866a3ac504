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

from engine import taxonomy, training
from engine.training import TextPrediction
from engine.workspace import Workspace
from storage.db import session_scope
from storage.hashing import content_hash
from storage.repositories import examples, models, projects

__all__ = ["answer_notes", "predict_texts"]


def predict_texts(
    ws: Workspace, name: str, texts: list[str], *, top_k: int = 3
) -> list[TextPrediction]:
    """Classify ``texts`` with the project's active model; a text already in the project gets
    its stored prediction (what the export shows), the others a fresh one."""
    stored = _stored(ws, name, texts, top_k=top_k)
    # only the texts without a stored prediction go through the model; it is called even when
    # there are none, for the same checks and errors (no model, a missing file, another
    # encoder): training.predict_texts makes them before it looks at the texts
    fresh = iter(
        training.predict_texts(
            ws, name, [t for i, t in enumerate(texts) if i not in stored], top_k=top_k
        )
    )
    return [stored[i] if i in stored else next(fresh) for i in range(len(texts))]


def _stored(ws: Workspace, name: str, texts: list[str], *, top_k: int) -> dict[int, TextPrediction]:
    """Index in ``texts`` → the active model's stored prediction, for texts in the project."""
    if not texts:
        return {}
    hashes = [content_hash(t) for t in texts]
    out: dict[int, TextPrediction] = {}
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        run = models.get_active_model_run(session=session, project_id=project.id)
        if run is None or run.id is None:
            return {}
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
