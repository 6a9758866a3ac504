"""Confident-learning mislabel detection on synthetic blobs and hand-made probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from engine.mislabels import (
    Suspect,
    confident_joint,
    detect_mislabels,
    find_mislabels,
    out_of_fold_proba,
)
from storage.errors import InvalidInputError


def _blobs(
    n_classes: int = 6, per: int = 60, d: int = 32, noise: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(n_classes), per)
    X = centres[y] + rng.normal(scale=noise / np.sqrt(d), size=(len(y), d))
    return X.astype(np.float32), y


def _flip(y: np.ndarray, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(y), len(y) // 10, replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, n_classes, len(flipped))) % n_classes
    return noisy, flipped


def test_out_of_fold_rows_come_from_heads_that_never_saw_them() -> None:
    X, y = _blobs()
    noisy, flipped = _flip(y, 6, seed=1)
    probs = out_of_fold_proba(X, noisy, n_classes=6, seed=0)
    assert probs.shape == (len(y), 6)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # a head that had seen the flipped labels would lean towards them; out of fold it does not
    assert (probs[flipped].argmax(axis=1) == y[flipped]).mean() > 0.9


def test_finds_most_flips_on_blobs() -> None:
    X, y = _blobs()
    noisy, flipped = _flip(y, 6, seed=1)
    suspects = detect_mislabels(X, noisy, n_classes=6, seed=0)
    flagged = {s.index for s in suspects}
    hits = len(flagged & set(flipped.tolist()))
    assert hits / len(flagged) > 0.7 and hits / len(flipped) > 0.7
    right = [s.suggested == y[s.index] for s in suspects if s.index in set(flipped.tolist())]
    assert np.mean(right) > 0.9  # the suggested label is the true one
    margins = [s.margin for s in suspects]
    assert margins == sorted(margins, reverse=True)  # most surely wrong first
    s = suspects[0]
    assert isinstance(s, Suspect) and s.given == noisy[s.index] and s.given != s.suggested
    assert s.margin > 0 and 0 < s.confidence <= 1


def test_flags_almost_nothing_without_flips() -> None:
    X, y = _blobs()
    assert len(detect_mislabels(X, y, n_classes=6, seed=0)) <= 2


def test_per_class_thresholds_spare_a_class_the_model_is_unsure_of() -> None:
    # class 2 is hard: its examples get p=0.45 for 2 and 0.35 for class 0, which is a confident
    # class (t_0 ~ 0.9). A global cut at 0.5 would call every class-2 example not-2; per-class
    # thresholds (t_2 = 0.45) count them as confidently 2, so none is flagged.
    easy = np.tile([0.9, 0.05, 0.05], (40, 1))
    easy[20:] = [0.05, 0.9, 0.05]
    hard = np.tile([0.35, 0.2, 0.45], (20, 1))
    wrong = np.array([[0.04, 0.92, 0.04]])  # labeled 0, confidently 1 (t_1 = 0.9)
    probs = np.vstack([easy, hard, wrong])
    y = np.r_[np.zeros(20), np.ones(20), np.full(20, 2), [0]].astype(np.int64)
    joint = confident_joint(probs, y)
    assert joint[2, 2] == 20 and joint[2].sum() == 20
    assert joint[0, 1] == 1
    assert [s.index for s in find_mislabels(probs, y)] == [60]
    global_cut = probs[np.arange(len(y)), y] < 0.5
    assert global_cut[40:60].all()  # what a single global threshold would have flagged


def test_a_class_with_systematically_lower_confidence_is_not_all_flagged() -> None:
    # the same on blobs: class 0 is three times as spread as the others
    X, y = _blobs(noise=0.5, seed=3)
    rng = np.random.default_rng(4)
    centre = X[y == 0].mean(axis=0)
    X[y == 0] = centre + 3 * (X[y == 0] - centre) + rng.normal(scale=0.02, size=(60, 32))
    probs = out_of_fold_proba(X, y, n_classes=6, seed=0)
    assert probs[y == 0, 0].mean() < probs[y != 0].max(axis=1).mean()  # lower confidence
    flagged = [s.index for s in find_mislabels(probs, y) if y[s.index] == 0]
    assert len(flagged) <= 6  # at most a tenth of the hard class


def test_rare_labels_are_not_judged() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.9, 0.1], [0.85, 0.15], [0.9, 0.1]])
    y = np.array([0, 0, 0, 0, 1])  # the only example of label 1 looks like a 0
    assert find_mislabels(probs, y) == []
    assert [s.index for s in find_mislabels(probs, y, min_class_count=1)] == [4]


def test_deterministic_and_input_errors() -> None:
    X, y = _blobs(per=20)
    noisy, _ = _flip(y, 6, seed=2)
    a = out_of_fold_proba(X, noisy, n_classes=6, seed=5)
    b = out_of_fold_proba(X, noisy, n_classes=6, seed=5)
    assert np.array_equal(a, b)
    with pytest.raises(InvalidInputError):
        out_of_fold_proba(X, noisy, n_classes=3)
    with pytest.raises(InvalidInputError):
        out_of_fold_proba(X[:1], noisy[:1], n_classes=6)
    with pytest.raises(InvalidInputError):
        find_mislabels(np.zeros((0, 3)), np.zeros(0, dtype=np.int64))


def test_an_early_project_singletons_and_unseen_labels_do_not_flatten_the_scores() -> None:
    """4 labels with 6 examples, 10 with one, 63 with none (of 77): each singleton sits in a
    fold whose head never saw its class, and those rows' loss fitted T=8.4 -- every probability
    near uniform (12% of each row on never-labeled classes, p(given) 0.18 on the well-labeled
    rows), so the after-retrain scan could doubt nobody. Fit as the classifier fits it now."""
    rng = np.random.default_rng(0)
    n_classes, dim = 77, 32
    centers = rng.normal(size=(n_classes, dim)) * 3
    y = np.array([c for c in range(4) for _ in range(6)] + list(range(4, 14)))
    X = (centers[y] + rng.normal(size=(len(y), dim))).astype(np.float32)
    y_given = y.copy()
    y_given[0] = 1  # one of class 0's six, labeled as class 1
    probs = out_of_fold_proba(X, y_given, n_classes=n_classes)
    never = np.setdiff1d(np.arange(n_classes), np.unique(y))
    assert probs[:, never].sum(axis=1).max() < 0.01
    well = np.flatnonzero(y < 4)[1:]
    assert probs[well, y_given[well]].mean() > 0.8
    suspects = find_mislabels(probs, y_given)
    assert [(s.index, s.given, s.suggested) for s in suspects][:1] == [(0, 1, 0)]
