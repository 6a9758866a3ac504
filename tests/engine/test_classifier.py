"""The classifier learns, is calibrated, copes with empty classes, is deterministic and saves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.classifier import build_pool_graph, load_model, train_model
from storage.errors import InvalidInputError


def blobs(
    n_per: int, classes: int, *, spread: float = 0.9, d: int = 384, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Unit-normalised Gaussian blobs in d dimensions, overlapping enough to be imperfect."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d))
    y = np.repeat(np.arange(classes), n_per)
    X = centres[y] / np.sqrt(d) + spread * rng.normal(size=(len(y), d)) / np.sqrt(d)
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), y


def test_linear_head_learns_and_is_calibrated() -> None:
    X, y = blobs(60, 8, spread=1.6, seed=1)
    Xt, yt = blobs(60, 8, spread=1.6, seed=1)[0][1::2], y[1::2]
    X, y = X[::2], y[::2]
    model = train_model(X, y, n_classes=8, kind="linear")
    proba = model.predict_proba(Xt)
    assert proba.shape == (len(yt), 8)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    acc = float((proba.argmax(1) == yt).mean())
    assert acc > 0.6  # chance is 0.125
    # calibrated: mean confidence within 0.1 of accuracy on held-out points
    assert abs(float(proba.max(1).mean()) - acc) < 0.1


def test_classes_with_zero_or_one_example() -> None:
    X, y = blobs(20, 4)
    keep = np.concatenate(
        [np.flatnonzero(y == 0), np.flatnonzero(y == 1), [np.flatnonzero(y == 2)[0]]]
    )
    model = train_model(X[keep], y[keep], n_classes=6, kind="auto")  # classes 3, 4, 5: no examples
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 6)
    # one singleton in 41 labels: Good's estimate of the chance a text is of an unseen class,
    # shared evenly by the three never-labeled classes, none of which is ever the top guess
    assert model.unseen == pytest.approx(1 / 41)
    np.testing.assert_allclose(proba[:, 3:], model.unseen / 3, rtol=1e-5)
    assert proba.argmax(1).max() < 3
    assert model.predict_proba(X[y == 0]).argmax(1).tolist().count(0) > 15


def test_single_class_and_bad_input() -> None:
    X, y = blobs(5, 1)
    proba = train_model(X, y, n_classes=3).predict_proba(X)
    assert (proba.argmax(1) == 0).all()
    with pytest.raises(InvalidInputError):
        train_model(X, y + 5, n_classes=3)
    with pytest.raises(InvalidInputError, match="kind"):
        train_model(X, y, n_classes=3, kind="forest")


def test_deterministic_under_seed() -> None:
    X, y = blobs(30, 5)
    pool, _ = blobs(40, 5, seed=3)
    pool = np.concatenate([X, pool])
    a = train_model(X, y, n_classes=5, pool=pool, kind="blend", seed=4).predict_proba(pool)
    b = train_model(X, y, n_classes=5, pool=pool, kind="blend", seed=4).predict_proba(pool)
    np.testing.assert_array_equal(a, b)


def test_blend_uses_the_pool_and_round_trips(tmp_path: Path) -> None:
    X, y = blobs(100, 5, spread=1.2)
    labeled = np.random.default_rng(0).choice(len(y), 15, replace=False)
    graph = build_pool_graph(X, k=10)
    model = train_model(
        X[labeled], y[labeled], n_classes=5, pool=X, kind="blend", graph=graph
    )  # labeled rows found in the pool by exact match
    assert model.kind == "blend"
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(model.predict_proba_pool(), proba, atol=0.15)
    path = tmp_path / "m" / "model.npz"
    model.save(path)
    loaded = load_model(path)
    assert (loaded.kind, loaded.n_classes) == ("blend", 5)
    np.testing.assert_allclose(loaded.predict_proba(X), proba, atol=1e-6)
    assert [p.name for p in path.parent.iterdir()] == ["model.npz"]  # no temporary left behind


def test_warm_start_matches_cold_fit() -> None:
    X, y = blobs(50, 6)
    first = train_model(X[:200], y[:200], n_classes=6, kind="linear")
    warm = train_model(X, y, n_classes=6, kind="linear", warm_start=first, temperature=1.0)
    cold = train_model(X, y, n_classes=6, kind="linear", temperature=1.0)
    agree = (warm.predict_proba(X).argmax(1) == cold.predict_proba(X).argmax(1)).mean()
    assert agree > 0.97


def test_first_model_with_singletons_keeps_its_probability_on_labeled_classes() -> None:
    """A project's first labels, [2, 1, 1, 1, 1, 1] of 40 classes: the singletons' out-of-fold
    rows (their class absent from the fold) must not inflate the temperature (it flattened the
    labeled classes towards uniform and gave the never-labeled ones 63% of each row at 77
    classes); the never-labeled classes get the unseen share, evenly, never the top guess."""
    X, y = blobs(20, 6, spread=1.2, seed=2)
    keep = np.concatenate([np.flatnonzero(y == c)[: 2 if c == 0 else 1] for c in range(6)])
    model = train_model(X[keep], y[keep], n_classes=40, kind="linear")
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert model.unseen == pytest.approx(5 / 7)  # 5 of 7 labels are their class's only one
    np.testing.assert_allclose(proba[:, 6:].sum(axis=1), model.unseen, rtol=1e-4)
    assert np.ptp(proba[:, 6:]) < 1e-6
    acc = float((proba.argmax(1) == y).mean())
    assert acc > 0.5  # chance among the six labeled classes is 0.17
    within = proba[:, :6] / (1 - model.unseen)
    assert float(within.max(1).mean()) > 0.3  # not spread near-uniformly (1/6)
    assert model.temperature <= 1.0


def test_temperature_counts_only_rows_whose_class_the_fold_knew() -> None:
    """Enough labels to fit T (3 per class) plus singletons: T is fit and stays moderate, and a
    confident head is not flattened towards uniform by the singletons' rows."""
    X, y = blobs(30, 8, spread=1.2, seed=3)
    keep = np.concatenate([np.flatnonzero(y == c)[: 1 if c >= 5 else 4] for c in range(8)])
    model = train_model(X[keep], y[keep], n_classes=30, kind="linear")
    assert model.temperature < 2.0
    proba = model.predict_proba(X)
    assert model.unseen == pytest.approx(3 / 23)  # 3 singletons among 23 labels
    np.testing.assert_allclose(proba[:, 8:].sum(axis=1), model.unseen, rtol=1e-4)
    assert float((proba[:, :8] / (1 - model.unseen)).max(1).mean()) > 0.4
