"""How good is the model? Cross-validated metrics on the labeled set, and held-out evaluation.

Training-set predictions flatter a model (a linear head on 384-d embeddings can memorise noise), so
every number reported for a project comes from folds the model did not see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from engine.classifier import Model, PoolGraph, build_pool_graph, stratified_folds, train_model
from storage.errors import InvalidInputError

__all__ = [
    "Metrics",
    "cross_validate",
    "cv_estimable",
    "cv_metrics",
    "cv_summary",
    "evaluate",
    "metrics_from_predictions",
]

# A class's only example is never in a training fold, so it is always missed: with one label per
# class every held-out example's class is unknown to its fold's model, and the accuracy is 0
# whatever the labels are. Cross-validation says something once two classes have two labels each.
MIN_PER_CLASS = 2
TOO_FEW_TO_ESTIMATE = (
    f"not enough labels to estimate (need {MIN_PER_CLASS} per class, in 2 classes or more)"
)


@dataclass(frozen=True)
class Metrics:
    """Accuracy, macro-F1, per-class scores and the confusion matrix (rows true, cols predicted)."""

    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    labels: list[str]
    n_labels: int
    folds: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": self.per_class,
            "confusion": self.confusion,
            "labels": self.labels,
            "n_labels": self.n_labels,
            "folds": self.folds,
        }


def metrics_from_predictions(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    n_classes: int,
    class_names: Sequence[str] | None = None,
    folds: int = 0,
) -> Metrics:
    """Metrics over the classes that occur in ``y_true`` (macro-F1 ignores classes never seen)."""
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    if len(names) != n_classes:
        raise InvalidInputError(f"{len(names)} class names for {n_classes} classes")
    present = np.unique(y_true)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=present, zero_division=0)
    per_class = {
        names[c]: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, c in enumerate(present)
    }
    cm = confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))
    return Metrics(
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        per_class=per_class,
        confusion=cm.tolist(),
        labels=names,
        n_labels=int(len(y_true)),
        folds=folds,
    )


def cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    class_names: Sequence[str] | None = None,
    pool: np.ndarray | None = None,
    kind: str = "linear",
    folds: int = 5,
    seed: int = 0,
    graph: PoolGraph | None = None,
    labeled_idx: np.ndarray | None = None,
) -> Metrics:
    """K-fold metrics on the labeled set; each example is predicted by a model that never saw it.

    Folds are stratified where a class has enough examples; a class with fewer than ``folds``
    examples is spread over as many folds as it has (a singleton is tested once, trained never).
    For the blend, the held-out fold's labels are hidden from the spreading.
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    splits = stratified_folds(y, folds=folds, seed=seed)
    if not splits:
        raise InvalidInputError(f"need at least 2 labeled examples to cross-validate; got {len(y)}")
    if kind != "linear" and pool is not None:
        graph = graph if graph is not None else build_pool_graph(pool)
        if labeled_idx is None:
            labeled_idx = graph.locate(X)
    pred = np.empty(len(y), dtype=np.int64)
    for train, test in splits:
        model = train_model(
            X[train],
            y[train],
            n_classes=n_classes,
            pool=pool,
            kind=kind,
            seed=seed,
            graph=graph,
            labeled_idx=None if labeled_idx is None else labeled_idx[train],
            temperature=1.0,  # argmax does not depend on the temperature: skip fitting it
        )
        pred[test] = model.predict_proba(X[test]).argmax(axis=1)
    return metrics_from_predictions(
        y, pred, n_classes=n_classes, class_names=class_names, folds=len(splits)
    )


def cv_estimable(y: np.ndarray) -> bool:
    """Whether cross-validated metrics of labels ``y`` mean anything (see MIN_PER_CLASS)."""
    counts = np.bincount(np.asarray(y, dtype=np.int64))
    return int((counts >= MIN_PER_CLASS).sum()) >= 2


def cv_metrics(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    class_names: Sequence[str],
    **options: Any,
) -> dict[str, Any]:
    """:func:`cross_validate`'s metrics as a model run stores them; with too few labels, only the
    counts and ``cv_skipped`` (no "accuracy" or "macro_f1": readers show "-", not 0)."""
    if not cv_estimable(y):
        return {
            "n_labels": int(len(y)),
            "folds": 0,
            "labels": list(class_names),
            "cv_skipped": TOO_FEW_TO_ESTIMATE,
        }
    metrics = cross_validate(X, y, n_classes=n_classes, class_names=class_names, **options)
    return metrics.to_dict()


def cv_summary(metrics: Mapping[str, Any]) -> str:
    """One phrase for a stored run's cross-validated scores, honest when there are none."""
    if metrics.get("accuracy") is None:
        return f"accuracy: {metrics.get('cv_skipped') or TOO_FEW_TO_ESTIMATE}"
    return (
        f"cross-validated accuracy {float(metrics['accuracy']):.3f}, "
        f"macro-F1 {float(metrics.get('macro_f1') or 0.0):.3f}"
    )


def evaluate(
    model: Model,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
) -> Metrics:
    """Metrics of ``model`` on held-out data."""
    pred = model.predict_proba(np.asarray(X_test, np.float32)).argmax(axis=1)
    return metrics_from_predictions(
        np.asarray(y_test, np.int64), pred, n_classes=model.n_classes, class_names=class_names
    )
