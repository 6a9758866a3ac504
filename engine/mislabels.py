"""Annotations the model confidently disagrees with: candidates for a second expert's review.

Confident learning (Northcutt, Jiang & Chuang 2021, "Confident learning: estimating uncertainty in
dataset labels", JAIR 70), written here on numpy (cleanlab, the authors' library, is AGPL and only
ever a bench-only comparison):

1. Out-of-fold probabilities: every labeled example is scored by a head that never saw it, so a
   memorised wrong label cannot vouch for itself.
2. Per-class thresholds ``t_j``: the mean probability of class j over the examples labeled j. A
   class the model is unsure of everywhere gets a low bar, so it is not flagged wholesale (one
   global cut would flag every example of a hard class).
3. The confident joint ``C[i, j]``: examples labeled i whose probability of j clears ``t_j`` (the
   most probable such j). Calibrated to the label counts, its off-diagonal estimates how many
   examples of each given label are wrong.
4. Prune by noise rate: for each off-diagonal cell (i, j), flag that many examples labeled i with
   the largest normalised margin ``p_j - p_i``, and only where the model's top class is not i.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.classifier import (
    PRIOR_TEMPERATURE,
    absent_classes,
    fit_linear,
    linear_logits,
    shrunk_temperature,
    softmax,
    stratified_folds,
)
from storage.errors import InvalidInputError

__all__ = [
    "MIN_CLASS_COUNT",
    "Suspect",
    "confident_joint",
    "detect_mislabels",
    "find_mislabels",
    "out_of_fold_proba",
]

OOF_FOLDS = 5  # Northcutt et al. use 4-5 folds: each head sees 80% of the labels
MIN_CLASS_COUNT = 3  # a label with fewer examples is rare, not wrong: its folds barely see it


@dataclass(frozen=True)
class Suspect:
    """A likely mislabel: labeled-set row ``index``, labeled ``given``, probably ``suggested``.

    ``confidence`` is the out-of-fold probability of ``suggested``; ``margin`` is
    ``p(suggested) - p(given)``, the ranking key (higher = more surely wrong).
    """

    index: int
    given: int
    suggested: int
    confidence: float
    margin: float


def out_of_fold_proba(
    X: np.ndarray, y: np.ndarray, *, n_classes: int, folds: int = OOF_FOLDS, seed: int = 0
) -> np.ndarray:
    """(n, n_classes) probabilities, each row from a linear head trained on the other folds.

    Folds are stratified (:func:`engine.classifier.stratified_folds`); one temperature is fit on the
    pooled out-of-fold logits (Guo et al. 2017) so ``confidence`` reads as a probability, as the
    product's classifier fits it: on the rows whose class their fold's head was trained on (a
    class's only example is absent from its own fold, and such rows' loss pushed T to 8-20:
    every probability near uniform, no review ever confident), shrunk towards the classifier's
    prior when they are few, and classes a head never saw stay at ``ABSENT_LOGIT``. No unseen
    share is added: every row here is of a labeled class, and the question is whether its
    label is right, not whether its class has labels.
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    _check_labels(y, n_classes)
    if X.ndim != 2 or len(X) != len(y):
        raise InvalidInputError(f"need an (n, d) X for n={len(y)} labels; got {X.shape}")
    splits = stratified_folds(y, folds=folds, seed=seed, X=X)
    if not splits:
        raise InvalidInputError(f"need at least two labeled examples for {folds}-fold scores")
    logits = np.empty((len(y), n_classes), dtype=np.float32)
    fixed = np.zeros((len(y), n_classes), dtype=bool)  # classes the row's head never saw
    seen = np.zeros(len(y), dtype=bool)  # rows whose own class their head saw
    for train, test in splits:
        weight, bias = fit_linear(X[train], y[train], n_classes=n_classes)
        logits[test] = linear_logits(X[test], weight, bias)
        fixed[test] = absent_classes(bias, weight)
        seen[test] = np.isin(y[test], y[train])
    temperature = shrunk_temperature(
        logits[seen], y[seen], fixed=fixed[seen], prior=PRIOR_TEMPERATURE
    )
    return softmax(np.where(fixed, logits, logits / temperature))


def confident_joint(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(C, C) counts: rows the given label, columns the label the model is confident of.

    Examples clearing no class's threshold are left out (Northcutt et al. 2021, eq. 1).
    """
    probs, y = _check(probs, y)
    confident, true_label = _confident_labels(probs, y)
    n_classes = probs.shape[1]
    joint = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(joint, (y[confident], true_label[confident]), 1)
    return joint


def find_mislabels(
    probs: np.ndarray, y: np.ndarray, *, min_class_count: int = MIN_CLASS_COUNT
) -> list[Suspect]:
    """Likely mislabels from out-of-fold ``probs`` and given labels ``y``, most surely wrong first.

    Labels with fewer than ``min_class_count`` examples are never judged: their out-of-fold head
    saw too few (or none) of them to disagree meaningfully.
    """
    probs, y = _check(probs, y)
    n_classes = probs.shape[1]
    counts = np.bincount(y, minlength=n_classes)
    joint = confident_joint(probs, y)
    rows = joint.sum(axis=1, keepdims=True)
    # calibrate each row to the given label's count (eq. 2): examples that cleared no threshold
    # are assumed to be wrong in the same proportions as those that did
    to_prune = _round_rows(joint / np.maximum(rows, 1) * counts[:, None])
    np.fill_diagonal(to_prune, 0)
    rivals = probs.copy()
    rivals[np.arange(len(y)), y] = -np.inf
    suggested = rivals.argmax(axis=1)
    p_given = probs[np.arange(len(y)), y]
    p_suggested = probs[np.arange(len(y)), suggested]
    disagrees = probs.argmax(axis=1) != y
    flagged = np.zeros(len(y), dtype=bool)
    for given, true in zip(*np.nonzero(to_prune), strict=True):
        if counts[given] < min_class_count:
            continue
        # prune by noise rate (section 3.2): per off-diagonal cell (i, j), the n*Q[i, j] examples
        # labeled i with the largest normalised margin p_j - p_i; an example may win several cells
        members = np.flatnonzero(y == given)
        margin = probs[members, true] - p_given[members]
        flagged[members[np.argsort(-margin, kind="stable")[: to_prune[given, true]]]] = True
    # a label the model itself predicts is not one it confidently disagrees with
    flagged &= disagrees
    margin = p_suggested - p_given
    out = [
        Suspect(index=i, given=int(y[i]), suggested=int(suggested[i]),
                confidence=float(p_suggested[i]), margin=float(margin[i]))
        for i in np.flatnonzero(flagged).tolist()
    ]  # fmt: skip
    out.sort(key=lambda s: (-s.margin, s.index))
    return out


def detect_mislabels(
    X: np.ndarray, y: np.ndarray, *, n_classes: int, folds: int = OOF_FOLDS, seed: int = 0
) -> list[Suspect]:
    """:func:`find_mislabels` on :func:`out_of_fold_proba`: the after-retrain check in one call."""
    probs = out_of_fold_proba(X, y, n_classes=n_classes, folds=folds, seed=seed)
    return find_mislabels(probs, y)


def _confident_labels(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask of examples confident of some class, that class: the most probable one clearing)."""
    n_classes = probs.shape[1]
    counts = np.bincount(y, minlength=n_classes)
    sums = np.zeros(n_classes, dtype=np.float64)
    np.add.at(sums, y, probs[np.arange(len(y)), y])
    # a label nobody used has no threshold: nothing can be confidently of it
    thresholds = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    clears = probs >= thresholds - 1e-6  # tolerance: an example at exactly the mean clears it
    masked = np.where(clears, probs, -np.inf)
    confident = np.asarray(clears.any(axis=1), dtype=bool)
    label: np.ndarray = masked.argmax(axis=1)
    return confident, label


def _round_rows(values: np.ndarray) -> np.ndarray:
    """Round to integers keeping each row's (rounded) total: largest remainders round up.

    Rounding cells one by one would lose a label's estimated wrong count when it is spread over
    several rival labels (three cells of 0.4 are one wrong example, not none).
    """
    floor = np.floor(values)
    remainder = values - floor
    short = np.rint(values.sum(axis=1)) - floor.sum(axis=1)
    order = np.argsort(-remainder, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(values.shape[1])[None, :], axis=1)
    out: np.ndarray = (floor + (rank < short[:, None])).astype(np.int64)
    return out


def _check(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if probs.ndim != 2 or len(probs) != len(y) or len(y) == 0:
        raise InvalidInputError(
            f"need non-empty (n, C) probabilities and (n,) labels; got {probs.shape}, {y.shape}"
        )
    _check_labels(y, probs.shape[1])
    return probs, y


def _check_labels(y: np.ndarray, n_classes: int) -> None:
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise InvalidInputError(f"labels must lie in [0, {n_classes}); got {y.min()}..{y.max()}")
