"""Merge proposals: two labels that the model, the embedding space and the experts all mix up.

Three signals, each on a 0..1 scale where 1 means "indistinguishable" and 0 "never mixed":

* **confusion**: of the out-of-fold probability A's examples put on the pair {A, B}, the share on
  B; plus the same for B (Northcutt et al. 2021's off-diagonal of the joint, symmetrised as in
  cleanlab's ``find_overlapping_classes``, but conditioned on the pair). Two halves of one class
  score ~1 (each example is a coin flip between them). Conditioning matters under active learning:
  the labeled examples sit on class boundaries, so even a cut class's examples put only ~60% of
  their mass on the pair; unconditioned, that ranked it below real look-alike pairs on CLINC150.
  The confident-joint counts (examples whose probability of the other label reaches that label's
  mean self-confidence) are reported as the evidence an admin can read.
* **mixing**: a nearest-neighbour two-sample test on the pair's examples alone (Schilling 1986,
  "Multivariate two-sample tests based on nearest neighbors"): the share of A's and B's k nearest
  neighbours *within A and B* that carry the other label, divided by its value if the two labels
  were random halves of one set. ~1 = exchangeable, 0 = separated. On CLINC150 (1,500 oracle
  labels, 8 seeded cuts) this with the conditioned confusion ranked the cut pair first in 3 of the
  6 runs where both halves got labels, vs 1 of 6 for the unconditioned mass and plain kNN mix.
  It is computed for the ``CANDIDATES`` pairs with the most confusion and neighbourhood mix.
* **disagreement** (when given): expert pairs who labeled one example A and B, per example of the
  smaller label.

The score is their mean; a pair at or above ``threshold`` is proposed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.classifier import knn
from engine.proposals.base import LabeledData, Proposal, centroids

MERGE_THRESHOLD = 0.5  # each label puts ~1/4 of its pair mass on the other: hard to tell apart
CANDIDATES = 200  # pairs given the two-sample test; the rest cannot reach the threshold
PAIR_PRIOR = 0.05  # pseudo-mass on the own label: a pair holding < ~5% of the mass is no pair
KNN = 5  # neighbours for mixing: at ~10 labels per class, 5 still mostly lie in the own class

Disagreement = tuple[int, int, int]  # (example id, label id chosen by one expert, by another)


def propose_merges(
    data: LabeledData,
    *,
    disagreements: Sequence[Disagreement] = (),
    threshold: float = MERGE_THRESHOLD,
    limit: int | None = None,
    k: int = KNN,
    seed: int = 0,
) -> list[Proposal]:
    """Pairs of labels to merge, strongest first (at most ``limit``)."""
    counts = data.counts()
    if (counts > 0).sum() < 2:
        return []
    proba = data.proba(seed=seed)
    conf_mass = _mean_by_label(proba, data.labels, data.n_classes)  # [a, b]: mean P(b | a's)
    cj = confident_joint(proba, data.labels, data.n_classes)
    mix_mass = _neighbour_mix(data, k=k)
    confusion = _pair_share(conf_mass)
    prefilter = (confusion + np.minimum(mix_mass + mix_mass.T, 1.0)) / 2
    mixing = np.zeros_like(confusion)
    a_idx, b_idx = np.triu_indices(data.n_classes, k=1)
    for i in np.argsort(-prefilter[a_idx, b_idx], kind="stable")[:CANDIDATES]:
        a, b = int(a_idx[i]), int(b_idx[i])
        mixing[a, b] = mixing[b, a] = two_sample_mixing(data, a, b, k=k)
    dis = _disagreement_matrix(disagreements, data.n_classes)
    smaller = np.minimum.outer(counts, counts).astype(np.float64)
    dis_rate = np.minimum(dis / np.maximum(smaller, 1.0), 1.0)
    signals = [confusion, mixing] + ([dis_rate] if disagreements else [])
    score = np.mean(signals, axis=0)
    present = counts > 0
    score[~present, :] = 0.0
    score[:, ~present] = 0.0
    cos = centroids(data) @ centroids(data).T
    order = np.argsort(-score[a_idx, b_idx], kind="stable")
    out: list[Proposal] = []
    for i in order:
        a, b = int(a_idx[i]), int(b_idx[i])
        if score[a, b] < threshold or (limit is not None and len(out) >= limit):
            break
        out.append(
            _proposal(
                data,
                a,
                b,
                score=float(score[a, b]),
                proba=proba,
                cj=cj,
                confusion=float(confusion[a, b]),
                mixing=float(mixing[a, b]),
                disagreements=int(dis[a, b]) if disagreements else None,
                centroid_cosine=float(cos[a, b]),
            )  # fmt: skip
        )
    return out


def confident_joint(proba: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, C) counts: [a, b] = examples labeled a that confidently belong to b.

    Northcutt et al. 2021: an example counts towards b when P(b) reaches b's threshold (the mean
    self-probability of b's own examples); among several such labels, the most probable wins.
    """
    labels = np.asarray(labels, dtype=np.int64)
    thresholds = np.ones(n_classes, dtype=np.float32)
    for c in np.unique(labels):
        thresholds[c] = proba[labels == c, c].mean()
    above = np.where(proba >= thresholds[None, :], proba, -1.0)
    best = above.argmax(axis=1)
    ok = above.max(axis=1) >= 0
    out = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (labels[ok], best[ok]), 1)
    return out


def two_sample_mixing(data: LabeledData, a: int, b: int, *, k: int = KNN) -> float:
    """Cross-label share of within-pair k-NN, over its expectation for exchangeable labels."""
    rows = np.flatnonzero((data.labels == a) | (data.labels == b))
    n = len(rows)
    n_a = int((data.labels[rows] == a).sum())
    n_b = n - n_a
    if n_a < 2 or n_b < 2:
        return 0.0  # one example cannot show that a label is spread through another
    k = min(k, n - 1)
    S = data.unit[rows] @ data.unit[rows].T
    np.fill_diagonal(S, -np.inf)
    nn = np.argpartition(-S, k - 1, axis=1)[:, :k]
    lab = data.labels[rows]
    cross = float((lab[nn] != lab[:, None]).mean())
    expected = 1.0 - (n_a * (n_a - 1) + n_b * (n_b - 1)) / (n * (n - 1))
    return float(np.clip(cross / expected, 0.0, 1.0))


def _pair_share(mass: np.ndarray) -> np.ndarray:
    """[a, b]: share of a's pair mass on b plus share of b's on a, capped at 1."""
    own = np.diag(mass)[:, None]
    share = mass / (own + mass + PAIR_PRIOR)
    out: np.ndarray = np.minimum(share + share.T, 1.0)
    return out


def _mean_by_label(values: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    sums = np.zeros((n_classes, values.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, values)
    counts = np.bincount(labels, minlength=n_classes)
    out: np.ndarray = sums / np.maximum(counts, 1)[:, None]
    return out


def _neighbour_mix(data: LabeledData, *, k: int) -> np.ndarray:
    """[a, b]: mean share of a's examples' k nearest labeled neighbours that are labeled b."""
    n = len(data.labels)
    k = min(k, n - 1)
    if k < 1:
        return np.zeros((data.n_classes, data.n_classes))
    idx, _ = knn(data.unit, data.unit, k=k + 1)
    keep = idx != np.arange(n)[:, None]  # drop self (or the last neighbour when a twin took it)
    keep[keep.sum(axis=1) > k, -1] = False
    neigh = idx[keep].reshape(n, k)
    shares = np.zeros((n, data.n_classes), dtype=np.float64)
    np.add.at(shares, (np.repeat(np.arange(n), k), data.labels[neigh].ravel()), 1.0 / k)
    return _mean_by_label(shares, data.labels, data.n_classes)


def _disagreement_matrix(disagreements: Sequence[Disagreement], n_classes: int) -> np.ndarray:
    out = np.zeros((n_classes, n_classes), dtype=np.int64)
    seen: set[tuple[int, int, int]] = set()
    for example, a, b in disagreements:
        lo, hi = min(a, b), max(a, b)
        if lo != hi and (example, lo, hi) not in seen:  # one example counts once per pair
            seen.add((example, lo, hi))
            out[lo, hi] += 1
            out[hi, lo] += 1
    return out


def _proposal(
    data: LabeledData,
    a: int,
    b: int,
    *,
    score: float,
    proba: np.ndarray,
    cj: np.ndarray,
    confusion: float,
    mixing: float,
    disagreements: int | None,
    centroid_cosine: float,
) -> Proposal:
    names = data.label_names
    rows_a = np.flatnonzero(data.labels == a)
    rows_b = np.flatnonzero(data.labels == b)
    # the examples most mistaken for the other label are the clearest illustration
    a_like_b = rows_a[np.argsort(-proba[rows_a, b], kind="stable")]
    b_like_a = rows_b[np.argsort(-proba[rows_b, a], kind="stable")]
    evidence = {
        "score": round(score, 3),
        "confusion": round(confusion, 3),
        "mixing": round(mixing, 3),
        "centroid_cosine": round(centroid_cosine, 3),
        "mean_probability_on_other": {
            f"{names[a]}->{names[b]}": round(float(proba[rows_a, b].mean()), 3),
            f"{names[b]}->{names[a]}": round(float(proba[rows_b, a].mean()), 3),
        },
        "confident_joint": {
            f"{names[a]}->{names[b]}": int(cj[a, b]),
            f"{names[b]}->{names[a]}": int(cj[b, a]),
        },  # fmt: skip
        "counts": {names[a]: len(rows_a), names[b]: len(rows_b)},
        "examples": {names[a]: data.samples(a_like_b), names[b]: data.samples(b_like_a)},
    }
    if disagreements is not None:
        evidence["disagreements"] = disagreements
    first, second = sorted((names[a], names[b]))
    strength = float(cj[a, b] + cj[b, a] + (disagreements or 0))
    message = (
        f"Merge {first} and {second}? The model and the nearest neighbours can hardly tell them "
        f"apart (confusion {confusion:.2f}, mixing {mixing:.2f}; 1 = indistinguishable), "
        f"{int(cj[a, b] + cj[b, a])} examples confidently look like the other label"
        + (f", and experts disagreed between them {disagreements} times" if disagreements else "")
        + "."
    )
    return Proposal(kind="merge", labels=(first, second), score=round(score, 4),
                    evidence=evidence, key=("merge", first, second), message=message,
                    evidence_strength=strength)  # fmt: skip
