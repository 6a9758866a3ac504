"""Out-of-fold scores never come from a model that trained on the same point: examples whose
embeddings are identical (texts the encoder reads alike: letter case, accents, invisible
characters) share a fold in cross-validation, the mislabel scan and the proposals' confusion."""

from __future__ import annotations

import numpy as np
import pytest

from engine import mislabels
from engine.classifier import stratified_folds
from engine.proposals import base


def _twinned(n: int = 60, d: int = 16, classes: int = 3, seed: int = 0):  # type: ignore[no-untyped-def]
    """Random points (no signal in them) with random labels, each point stored twice."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.integers(0, classes, size=n)
    return np.vstack([X, X]), np.concatenate([y, y]), classes


def test_rows_with_one_embedding_share_a_fold() -> None:
    X, y, _ = _twinned()
    splits = stratified_folds(y, folds=5, seed=0, X=X)
    assert len(splits) >= 2
    half = len(y) // 2
    for train, test in splits:
        tested = set(test.tolist())
        assert all((i + half) % len(y) in tested for i in test), "a twin was left in training"
        assert not tested & set(train.tolist())
    # without the embeddings the folds are dealt by label alone, twins apart
    assert any(
        any((i + half) % len(y) in set(train.tolist()) for i in test)
        for train, test in stratified_folds(y, folds=5, seed=0)
    )


@pytest.mark.parametrize("oof", [mislabels.out_of_fold_proba, base.out_of_fold_proba])
def test_an_out_of_fold_probability_is_not_the_twins_label_repeated(oof) -> None:  # type: ignore[no-untyped-def]
    """Labels here are noise: a head that never saw a point's twin gives its label about a
    third; one that trained on the twin gives it most of the mass."""
    X, y, classes = _twinned()
    probs = oof(X, y, n_classes=classes)
    given = probs[np.arange(len(y)), y]
    assert given.mean() < 0.5, given.mean()
