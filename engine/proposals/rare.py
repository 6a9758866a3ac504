"""Labels too rare to learn: too few examples, or few examples and a poor out-of-fold F1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.forecast import counted
from engine.proposals.base import MESSAGE_NAMES, LabeledData, Part, Proposal, centroids, spelled

MIN_EXAMPLES = 5  # below this a 5-fold estimate has empty folds and the head sees ~4 examples
FEW_EXAMPLES = 15  # under this, a poor F1 is blamed on rarity rather than on the label itself
MIN_F1 = 0.5
MERGE_COSINE = 0.7  # nearest centroid this close: merging is the better suggestion


def rare_labels(
    data: LabeledData,
    *,
    min_examples: int = MIN_EXAMPLES,
    few_examples: int = FEW_EXAMPLES,
    min_f1: float = MIN_F1,
    seed: int = 0,
) -> list[Proposal]:
    """Labels with under ``min_examples`` examples, or under ``few_examples`` and an out-of-fold
    F1 below ``min_f1``, once the median label has ``min_examples``; each suggests "gather
    more" or merging into its nearest label."""
    counts = data.counts()
    if counts.sum() == 0 or np.median(counts) < min_examples:
        # While most labels are this rare (a project's seed labels, its first clicks) the queue
        # is gathering them all, and "gather more" would be said of nearly every label: one
        # post per label, superseded within minutes (bench/soak.py saw 10 in its first 9 s). A
        # label is called too rare once it lags behind: the median label has min_examples.
        return []
    f1 = _per_class_f1(data, seed=seed) if len(data.labels) > 1 else np.zeros(data.n_classes)
    cent = centroids(data)
    cos = cent @ cent.T
    np.fill_diagonal(cos, -np.inf)
    cos[:, counts == 0] = -np.inf
    out: list[Proposal] = []
    for c, name in enumerate(data.label_names):
        n = int(counts[c])
        if not (n < min_examples or (n < few_examples and f1[c] < min_f1)):
            continue
        nearest = int(cos[c].argmax()) if n and np.isfinite(cos[c].max()) else -1
        near_cos = float(cos[c, nearest]) if nearest >= 0 else None
        # merging one of two labels would leave a single class: nothing left to learn
        merge = near_cos is not None and near_cos >= MERGE_COSINE and data.n_classes > 2
        suggestion = "merge" if merge else "gather_more"
        near_name = data.label_names[nearest] if nearest >= 0 else None
        advice: tuple[Part, ...] = (
            ("merge it into ", (str(near_name),), f" (centroid cosine {near_cos:.2f})") if merge
            else ("gather more examples of ", (name,))
        )  # fmt: skip
        message, named = spelled(*_parts(name, n, float(f1[c]), advice, min_examples=min_examples))
        out.append(Proposal(
            kind="rare", labels=(name,),
            score=round(1.0 - min(n / few_examples, 1.0) * max(f1[c], 0.0), 4),
            evidence={"count": n, "f1": round(float(f1[c]), 3) if n else None,
                      "min_examples": min_examples,
                      "suggestion": suggestion,
                      "nearest_label": near_name,
                      "nearest_label_cosine": None if near_cos is None else round(near_cos, 3),
                      "examples": data.samples(np.flatnonzero(data.labels == c)),
                      MESSAGE_NAMES: named},
            key=("rare", name),
            message=message,
            evidence_strength=float(counts.sum()),  # re-ask once the project has grown
        ))  # fmt: skip
    out.sort(key=lambda p: (-p.score, p.labels))
    return out


def _message(name: str, n: int, f1: float, advice: str, *, min_examples: int) -> str:
    return spelled(*_parts(name, n, f1, (advice,), min_examples=min_examples))[0]


def _parts(
    name: str, n: int, f1: float, advice: Sequence[Part], *, min_examples: int
) -> tuple[Part, ...]:
    """The message's parts, label names as 1-tuples (``base.spelled``); ``advice``: its own."""
    if not n:
        return ((name,), " has no examples yet: ", *advice, ".")
    if n < min_examples:
        return ((name,), f" has {counted(n, 'example')} (out-of-fold F1 {f1:.2f}), too few to "
                "learn: ", *advice, ".")  # fmt: skip
    # enough examples to count as learnable elsewhere (status' rare labels): the model is poor
    # at it with this few, which is a different complaint
    return ((name,), f" is hard to learn from {counted(n, 'example')} (out-of-fold F1 "
            f"{f1:.2f}): ", *advice, ".")  # fmt: skip


def _per_class_f1(data: LabeledData, *, seed: int) -> np.ndarray:
    pred = data.proba(seed=seed).argmax(axis=1)
    y = data.labels
    f1 = np.zeros(data.n_classes)
    for c in range(data.n_classes):
        tp = float(((pred == c) & (y == c)).sum())
        denom = float((pred == c).sum() + (y == c).sum())
        f1[c] = 2 * tp / denom if denom else 0.0
    return f1
