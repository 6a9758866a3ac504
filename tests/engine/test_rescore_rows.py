"""The queue's rows (each example's top classes, confidence, uncertainty and priority) are
built for the whole pool at once, and are exactly the rows the former one-example-at-a-time
loop built: the same floats (rounded to 4 places as Python's round does) and the same order of
tied classes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine import training
from engine.classifier import Model
from storage.repositories.models import PredictionRow


def _former_rows(
    pool: training.Pool,
    model: Model | None,
    settings: dict[str, Any],
    mapping: np.ndarray | None = None,
) -> list[PredictionRow]:
    """engine/training.py's _prediction_rows before it was vectorised (the reference)."""
    n = len(pool.example_ids)
    rng = np.random.default_rng(int(settings.get("seed", 0)) + len(pool.labeled))
    probs: np.ndarray | None = None
    uncertainty = np.zeros(n)
    if model is not None:
        probs = training._pool_proba(model, pool)
        if mapping is not None:
            probs = probs @ mapping
        uncertainty = training.uncertainty_scores(probs, "margin")
    picked = np.array([], dtype=np.int64)
    reasons: list[dict[str, Any]] = []
    if len(pool.unlabeled):
        picked, reasons = training._next_batch(None, pool, probs, settings, rng)  # type: ignore[arg-type]
    why = dict(zip(picked.tolist(), reasons, strict=True))
    if model is None:
        uncertainty = rng.random(n) * 1e-3
    priority = uncertainty.astype(np.float64).copy()
    priority[np.asarray(picked, dtype=np.int64)] = training._BATCH_PRIORITY - np.arange(len(picked))
    rows: list[PredictionRow] = []
    for i in range(n):
        label = confidence = None
        top: list[Any] = []
        if probs is not None:
            order = np.argsort(-probs[i])[: training.TOP_K]
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
                reason=why.get(i),
            )
        )
    return rows


def _pool(n: int, n_classes: int, seed: int) -> training.Pool:
    """``n`` random unit vectors (every 7th one zero: every class ties there), 1 in 8 labeled."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X[::7] = 0.0
    y = np.full(n, -1)
    y[::8] = np.arange(len(y[::8])) % n_classes
    return training.Pool(
        project_id=1,
        example_ids=np.arange(101, 101 + n),
        X=X,
        classes=[f"label_{c}" for c in range(n_classes)],
        y=y,
        audit=np.zeros(n, dtype=bool),
    )


def _model_with_ties(n_classes: int, seed: int) -> Model:
    """A linear model whose classes 0, 3 and 6 (and 1 and 4; with 3 classes 0 and 2) have the
    same weights: their probabilities are the same floats on every example."""
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((16, n_classes)) * 2
    if n_classes < 7:
        weight[:, 2] = weight[:, 0]
    else:
        weight[:, 3] = weight[:, 6] = weight[:, 0]
        weight[:, 4] = weight[:, 1]
    return Model(kind="linear", n_classes=n_classes, weight=weight, bias=np.zeros(n_classes))


def test_the_rows_are_the_former_ones_ties_and_rounding_included() -> None:
    """With tied classes (equal weights; examples where every class ties), with a model's
    classes mapped onto more labels (the new ones at 0.0, tied), and without a model."""
    settings = {"seed": 3, "batch_size": 10}
    for n, seed in ((3_000, 0), (9_000, 1), (1, 2)):  # more than one block of rows, and one row
        pool = _pool(n, 8, seed)
        model = _model_with_ties(8, seed)
        rows = training._prediction_rows(None, pool, model, settings)  # type: ignore[arg-type]
        assert rows == _former_rows(pool, model, settings)
        if n > 1:
            tops = [[p for _, p in r.probs] for r in rows]
            assert sum(len(set(t)) < len(t) for t in tops) > n // 2  # ties in most top-5s
            assert any(r.reason for r in rows) and any(r.confidence == 0.125 for r in rows)
        # 3 of the model's classes onto 6 labels: the other 3 labels score 0.0, tied
        small = _pool(n, 6, seed)
        mapping = np.zeros((3, 6))
        mapping[[0, 1, 2], [4, 0, 2]] = 1.0
        narrow = _model_with_ties(3, seed)
        rows = training._prediction_rows(None, small, narrow, settings, mapping)  # type: ignore[arg-type]
        assert rows == _former_rows(small, narrow, settings, mapping)
        assert all([lb for lb, _ in r.probs][3:] != [] for r in rows)  # zeros in every top 5
        cold = training._prediction_rows(None, pool, None, settings)  # type: ignore[arg-type]
        assert cold == _former_rows(pool, None, settings)


def test_the_rounding_is_pythons() -> None:
    """Numpy's rounding of every stored probability equals round(v, 4), float for float, at
    the values where multiplying by 10^4 could tip it: each half-way point and its neighbours,
    exact binary halves (0.03125 rounds to even), and float32 values as a model gives them."""
    halves = (np.arange(10_001) + 0.5) / 1e4
    values = np.concatenate(
        [
            halves,
            np.nextafter(halves, 0),
            np.nextafter(halves, 1),
            [0.0, -0.0, 1.0, 0.03125, 0.5, 0.96875, 1e-12, 5e-5, 1.00005, 123456.78905, 1e20],
            np.random.default_rng(0).random(200_000).astype(np.float32).astype(np.float64),
            np.linspace(0, 1, 100_001, dtype=np.float32).astype(np.float64),
        ]
    )
    got = training._rounded(values).tolist()
    want = [round(v, 4) for v in values.tolist()]
    assert [(g, math.copysign(1, g)) for g in got] == [(w, math.copysign(1, w)) for w in want]
