"""Metrics come from held-out folds, never from training-set predictions."""

from __future__ import annotations

import json

import numpy as np

from engine.classifier import stratified_folds, train_model
from engine.evaluation import cross_validate, evaluate
from tests.engine.test_classifier import blobs


def test_noise_labels_score_near_chance_in_cv() -> None:
    X, _ = blobs(60, 4, spread=1.0)
    y = np.random.default_rng(0).integers(0, 4, len(X))  # pure noise
    train_acc = (
        train_model(X, y, n_classes=4, kind="linear").predict_proba(X).argmax(1) == y
    ).mean()
    assert train_acc > 0.9  # 384-d: the head memorises noise...
    metrics = cross_validate(X, y, n_classes=4, class_names=list("abcd"), kind="linear")
    assert metrics.accuracy < 0.4  # ...but cross-validation shows chance (0.25)


def test_metrics_shape_and_json() -> None:
    X, y = blobs(20, 3)
    names = ["billing", "card", "other"]
    metrics = cross_validate(X, y, n_classes=3, class_names=names, folds=5)
    d = json.loads(json.dumps(metrics.to_dict()))
    assert set(d) == {
        "accuracy",
        "macro_f1",
        "per_class",
        "confusion",
        "labels",
        "n_labels",
        "folds",
    }
    assert d["accuracy"] > 0.9 and d["n_labels"] == 60 and d["folds"] == 5
    assert set(d["per_class"]["card"]) == {"precision", "recall", "f1", "support"}
    assert d["per_class"]["card"]["support"] == 20
    assert np.array(d["confusion"]).sum() == 60 and d["labels"] == names


def test_rare_classes_and_blend_cv() -> None:
    X, y = blobs(30, 3)
    keep = np.concatenate([np.flatnonzero(y < 2), np.flatnonzero(y == 2)[:1]])  # class 2: one
    folds = stratified_folds(y[keep], folds=5, seed=0)
    assert len(folds) == 5
    tested = np.concatenate([t for _, t in folds])
    assert sorted(tested.tolist()) == list(range(len(keep)))  # every example tested exactly once
    m = cross_validate(X[keep], y[keep], n_classes=3, pool=X, kind="blend", folds=5)
    assert m.per_class["2"]["support"] == 1 and m.accuracy > 0.8


def test_evaluate_held_out() -> None:
    X, y = blobs(40, 4)
    model = train_model(X[::2], y[::2], n_classes=4, kind="linear")
    m = evaluate(model, X[1::2], y[1::2], class_names=list("wxyz"))
    assert m.n_labels == 80 and m.accuracy > 0.9 and m.folds == 0
