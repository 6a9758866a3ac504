"""Predictions for texts, consistent with the ones the project stores (queue, export).

A text already in the project's pool gets the prediction stored for it by the active model: the
one the export shows. Computed afresh it could differ: a blend model scores its own pool with the
label spreading it was trained with (each example's own row of the spread), while a text from
outside takes the spread of its nearest pool neighbours (``engine.classifier``), so a pool text
sent back through predict moved by up to 0.23 in confidence and, rarely, changed label. Texts
the project does not hold, or whose stored prediction is from another model (or holds fewer
classes than ``top_k`` asks for), are predicted by the active model as before.

Many texts (`labelbot predict` on a file) are answered a chunk at a time by :class:`Answering`,
every chunk by the model it read first: after a promotion meanwhile, the stored predictions are
the new model's, so the rest of the file's pool texts are predicted afresh by the first.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from engine import taxonomy, training
from engine.training import TextPrediction
from engine.workspace import Workspace
from storage.db import session_scope
from storage.hashing import content_hash
from storage.models import ModelRun
from storage.repositories import examples, models, projects

__all__ = ["CHUNK", "Answer", "Answering", "answer", "answer_notes", "predict_texts"]


# Texts answered at a time when a caller streams many (`labelbot predict` on a file): one
# chunk's rows, vectors (2,000 x 384 float32: 3 MB) and predictions in memory, not the file's.
CHUNK = 2_000

_T = TypeVar("_T")


@dataclass(frozen=True)
class Answer:
    """One request's predictions, all by model v``version``, and what that model cannot
    answer yet (:func:`answer_notes`)."""

    predictions: list[TextPrediction]
    notes: list[str]
    version: int


class Answering:
    """The project's active model, read once, answering any number of texts a chunk at a time:
    a model promoted meanwhile (a retrain, a rollback) answers the next request, not the rest
    of this one. Raises as :func:`training.answering_model` does (no model yet: a conflict)."""

    def __init__(self, ws: Workspace, name: str, *, top_k: int = 3) -> None:
        self._ws, self._name, self._top_k = ws, name, top_k
        self.run, self._model = training.answering_model(ws, name)  # its file, its encoder

    @property
    def version(self) -> int:
        return self.run.version

    def answer(self, texts: list[str]) -> list[TextPrediction]:
        """``texts`` classified: a text already in the project gets its stored prediction of
        this model (what the export shows), the others a fresh one."""
        ws, name, run, top_k = self._ws, self._name, self.run, self._top_k
        stored = _stored(ws, name, texts, run=run, top_k=top_k)
        todo = [t for i, t in enumerate(texts) if i not in stored]
        fresh = iter(training.predict_with(ws, name, run, self._model, todo, top_k=top_k))
        return [stored[i] if i in stored else next(fresh) for i in range(len(texts))]

    def in_chunks(
        self, items: Iterable[_T], *, text: Callable[[_T], str], chunk: int | None = None
    ) -> Iterator[list[tuple[_T, TextPrediction]]]:
        """Each item with the prediction for ``text(item)``, ``chunk`` (default :data:`CHUNK`)
        items at a time, read from ``items`` as they are answered: memory for one chunk,
        however many items there are."""
        it = iter(items)
        while batch := list(itertools.islice(it, chunk or CHUNK)):
            yield list(zip(batch, self.answer([text(x) for x in batch]), strict=True))

    def notes(self) -> list[str]:
        """What this model cannot answer yet, after taxonomy changes it predates."""
        return taxonomy.model_gaps(self._ws, project=self._name, run=self.run)


def answer(ws: Workspace, name: str, texts: list[str], *, top_k: int = 3) -> Answer:
    """Classify ``texts`` with the project's active model; a text already in the project gets
    its stored prediction (what the export shows), the others a fresh one. The active model is
    read once (:class:`Answering`), and the notes are of the model that answered."""
    answering = Answering(ws, name, top_k=top_k)  # first: no model, its file, its encoder
    predictions = answering.answer(texts)
    return Answer(predictions=predictions, notes=answering.notes(), version=answering.version)


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
