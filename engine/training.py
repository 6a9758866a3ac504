"""Training, scoring and prediction for a project: the model that learns as labels arrive.

A new model becomes active atomically: it is trained and evaluated outside any transaction, its
artifact is written (atomically) to disk, and only then one transaction marks it active and swaps in
its predictions. A crash midway leaves the previous model active and the database consistent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.classifier import Model, PoolGraph, build_pool_graph, load_model, train_model
from engine.evaluation import cross_validate
from engine.strategies import DEFAULT_STRATEGY, get_strategy, select_cold_start, uncertainty_scores
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import InvalidInputError, NotFoundError
from storage.models import ModelRun
from storage.repositories import examples, feedback, models, projects
from storage.repositories.models import PredictionRow

log = logging.getLogger(__name__)

DEFAULT_BATCH = 20  # examples the strategy ranks first after each model (the next batch asked)
TOP_K = 5  # probabilities stored per example
# The query strategy's batch is asked first: its priorities sit above every uncertainty score.
_BATCH_PRIORITY = 1_000_000.0


@dataclass
class Pool:
    """The project's examples in id order, with their embeddings and agreed labels."""

    project_id: int
    example_ids: np.ndarray
    X: np.ndarray
    classes: list[str]
    y: np.ndarray  # class index per example, -1 when unlabeled

    @property
    def labeled(self) -> np.ndarray:
        return np.flatnonzero(self.y >= 0)

    @property
    def unlabeled(self) -> np.ndarray:
        return np.flatnonzero(self.y < 0)


def load_pool(ws: Workspace, name: str, *, progress: bool = False) -> Pool:
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        rows = examples.list_examples(session=session, project_id=project.id)
        classes = [lb.name for lb in projects.list_labels(session=session, project_id=project.id)]
        agreed = feedback.current_labels(
            session=session, project_id=project.id, active_labels=set(classes)
        )
    if not rows:
        raise InvalidInputError(f"project {name!r} has no examples yet: `labelbot import` some")
    index = {c: i for i, c in enumerate(classes)}
    ids = np.array([r.id for r in rows], dtype=np.int64)
    X = ws.embed([r.text for r in rows], hashes=[r.content_hash for r in rows], progress=progress)
    y = np.array([index.get(agreed.get(int(i), ""), -1) for i in ids], dtype=np.int64)
    return Pool(project_id=project.id, example_ids=ids, X=X, classes=classes, y=y)


def _graph(ws: Workspace, pool: Pool) -> PoolGraph:
    # The kNN graph costs seconds on 10k examples: build it once per pool content.
    key = ("graph", pool.project_id, len(pool.example_ids), int(pool.example_ids[-1]))
    graph = ws.memo.get(key)
    if graph is None:
        graph = build_pool_graph(pool.X)
        ws.memo = {k: v for k, v in ws.memo.items() if k[:2] != key[:2]}
        ws.memo[key] = graph
    return graph


def train_project(
    ws: Workspace, name: str, *, kind: str | None = None, seed: int = 0, progress: bool = False
) -> ModelRun:
    """Train, evaluate (cross-validated on the labeled set), activate and re-score the pool."""
    pool = load_pool(ws, name, progress=progress)
    lab = pool.labeled
    present = np.unique(pool.y[lab])
    if len(lab) < 2 or len(present) < 2:
        raise InvalidInputError(
            f"project {name!r} needs labels in at least 2 classes to train "
            f"(has {len(lab)} labels in {len(present)} classes)"
        )
    with session_scope(ws.db) as session:
        run = models.start_model_run(
            session=session, project_id=pool.project_id, n_labels=len(lab), classes=pool.classes
        )
    assert run.id is not None
    try:
        with session_scope(ws.db, read_only=True) as session:
            project = projects.get_project(session=session, name=name)
        chosen = kind or str(project.settings.get("classifier", "auto"))
        graph = _graph(ws, pool)
        previous = active_model(ws, name)
        warm = previous[1] if previous and previous[0].classes == pool.classes else None
        model = train_model(
            pool.X[lab],
            pool.y[lab],
            n_classes=len(pool.classes),
            pool=pool.X,
            kind=chosen,
            seed=seed,
            graph=graph,
            labeled_idx=lab,
            warm_start=warm,
        )
        metrics = cross_validate(
            pool.X[lab],
            pool.y[lab],
            n_classes=len(pool.classes),
            class_names=pool.classes,
            pool=pool.X,
            kind=model.kind,
            seed=seed,
            graph=graph,
            labeled_idx=lab,
        ).to_dict()
        path = ws.model_dir(name) / f"v{run.version}.npz"
        model.save(path)
        rows = _prediction_rows(ws, pool, model, project.settings)
    except BaseException:
        with session_scope(ws.db) as session:
            models.finish_model_run(session=session, run_id=run.id, status="failed")
        raise
    run_id = run.id
    with session_scope(ws.db) as session:
        run = models.finish_model_run(
            session=session,
            run_id=run_id,
            status="ready",
            metrics=metrics,
            artifact_path=str(path),
            kind=model.kind,
        )
        models.activate_model_run(session=session, project_id=pool.project_id, run_id=run_id)
        models.replace_predictions(
            session=session, project_id=pool.project_id, model_run_id=run_id, rows=rows
        )
    ws.memo[("model", run_id)] = model
    _prune_artifacts(ws, pool.project_id)
    return run


def _prune_artifacts(ws: Workspace, project_id: int) -> None:
    """Delete old model files (the runs and their metrics stay); never the active model's."""
    with session_scope(ws.db) as session:
        for old in models.stale_artifacts(
            session=session, project_id=project_id, keep=ws.settings.keep_models
        ):
            assert old.id is not None and old.artifact_path is not None
            Path(old.artifact_path).unlink(missing_ok=True)
            models.forget_artifact(session=session, run_id=old.id)


def _prediction_rows(
    ws: Workspace, pool: Pool, model: Model | None, settings: dict[str, Any]
) -> list[PredictionRow]:
    """Predictions for every example and the queue order: the strategy's batch first."""
    n = len(pool.example_ids)
    candidates = pool.unlabeled
    batch = int(settings.get("batch_size", DEFAULT_BATCH))
    rng = np.random.default_rng(int(settings.get("seed", 0)) + len(pool.labeled))
    probs: np.ndarray | None = None
    uncertainty = np.zeros(n)
    if model is not None:
        # the blend already holds spread labels for its own pool: no neighbour search needed
        same_pool = model.pool is not None and len(model.pool) == n
        probs = model.predict_proba_pool() if same_pool else model.predict_proba(pool.X)
        uncertainty = uncertainty_scores(probs, "margin")
    picked = np.array([], dtype=np.int64)
    if len(candidates) and (model is None or len(pool.labeled) < len(pool.classes)):
        # Cold start: until there is about one label per class the model's uncertainty says
        # little; diverse, representative examples (k-means) find the rare classes sooner.
        want = min(len(candidates), max(batch, len(pool.classes)))
        picked = select_cold_start(embeddings=pool.X, candidates=candidates, n=want, rng=rng)
    elif len(candidates):
        strategy = get_strategy(str(settings.get("strategy", DEFAULT_STRATEGY)))
        picked = strategy.select(
            probs=probs, candidates=candidates, n=batch, embeddings=pool.X, rng=rng
        )
    if model is None:
        uncertainty = rng.random(n) * 1e-3  # beyond the cold-start batch: random, not file order
    priority = uncertainty.astype(np.float64).copy()
    priority[np.asarray(picked, dtype=np.int64)] = _BATCH_PRIORITY - np.arange(len(picked))
    rows: list[PredictionRow] = []
    for i in range(n):
        label = confidence = None
        top: list[Any] = []
        if probs is not None:
            order = np.argsort(-probs[i])[:TOP_K]
            top = [[pool.classes[j], round(float(probs[i, j]), 4)] for j in order]
            label, confidence = top[0][0], top[0][1]
        rows.append(
            PredictionRow(
                example_id=int(pool.example_ids[i]),
                label=label,
                confidence=confidence,
                probs=top,
                uncertainty=float(uncertainty[i]),
                priority=float(priority[i]),
            )
        )
    return rows


def rescore_project(ws: Workspace, name: str) -> int:
    """Recompute the queue order with the active model (or a cold start without one)."""
    pool = load_pool(ws, name)
    loaded = active_model(ws, name)
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
    model = loaded[1] if loaded and loaded[0].classes == pool.classes else None
    rows = _prediction_rows(ws, pool, model, project.settings)
    with session_scope(ws.db) as session:
        models.replace_predictions(
            session=session,
            project_id=pool.project_id,
            model_run_id=loaded[0].id if model is not None and loaded else None,
            rows=rows,
        )
    return len(rows)


def active_model(ws: Workspace, name: str) -> tuple[ModelRun, Model] | None:
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        run = models.get_active_model_run(session=session, project_id=project.id)
    if run is None or not run.artifact_path:
        return None
    key = ("model", run.id)
    model = ws.memo.get(key)
    if model is None:
        try:
            model = load_model(Path(run.artifact_path))
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"model v{run.version} of {name!r} is missing its file {run.artifact_path}: "
                "retrain with `labelbot train`"
            ) from exc
        ws.memo[key] = model
    return run, model


@dataclass(frozen=True)
class TextPrediction:
    text: str
    label: str
    confidence: float
    top: list[tuple[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "label": self.label,
            "confidence": self.confidence,
            "top": [{"label": lb, "probability": p} for lb, p in self.top],
        }


def predict_texts(
    ws: Workspace, name: str, texts: list[str], *, top_k: int = 3
) -> list[TextPrediction]:
    """Classify new texts with the project's active model."""
    loaded = active_model(ws, name)
    if loaded is None:
        raise NotFoundError(
            f"project {name!r} has no trained model yet: run `labelbot train {name}`"
        )
    run, model = loaded
    if not texts:
        return []
    probs = model.predict_proba(ws.embed(texts))
    out = []
    for text, row in zip(texts, probs, strict=True):
        order = np.argsort(-row)[:top_k]
        top = [(run.classes[j], round(float(row[j]), 4)) for j in order]
        out.append(TextPrediction(text=text, label=top[0][0], confidence=top[0][1], top=top))
    return out
