"""Merge proposals: two labels that the model, the embedding space and the experts all mix up.

Four signals, each on a 0..1 scale where 1 means "indistinguishable" and 0 "never mixed":

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
* **inseparability**: a linear probe trained on the pair's examples alone, scored out of sample
  (ridge regression with leave-one-out predictions, the AUC of telling A from B), compared with
  the same probe on the pair's examples under random reshufflings of the two names: z = (AUC -
  shuffled mean) / shuffled SD. Two halves of one class are a reshuffling, so their z is noise
  around 0; two real look-alikes, however often confused, carry *some* signal the probe finds, and
  the more examples they have, the larger their z. 1 - z / ``SEPARABILITY_Z``, clipped to 0..1.
  The shuffle also calibrates away the size effects of leave-one-out (a small pair's AUC swings
  far from 0.5 by chance). On CLINC150 (oracle labels under active learning, 16 cuts, seeds
  disjoint from the bench's) adding it, with ``MIN_SUPPORT``, ranked the cut pair first in 13/16
  trials at 1,500 labels (6/16 without), and 7/16 on a held-back set at 1,000 (4/16 without),
  where most labels have under 10 examples.
* **one label** (when the project has unlabeled examples): the pair read as one label, the way
  the split check reads a label (:func:`engine.proposals.splits.glued_z`: both labels' labeled
  examples and the unlabeled examples the model puts under either, 2-means in the split check's
  space), and the distance between its two best groups as a z-score against the project's real
  labels. A class cut at random is one label: z near 0. Two real look-alikes are two intents,
  however their hard cases mix: under active learning the labeled examples are the boundary,
  where two intents look like a random cut to the first three signals, while the unlabeled
  examples show both whole. 1 - z / ``ONE_LABEL_Z``, clipped to 0..1. On four CLINC150
  development sets (oracle labels under active learning, 16 cuts each, seeds disjoint from the
  bench's; the same cached rows for both) it ranked the cut pair first in 44 of 64 trials
  against 35 without it (51 of the 64 cuts gave both halves ``MIN_SUPPORT`` labels): random
  pairs at 1,000 labels 8 vs 5, at 1,500 11 vs 8; same-domain at 1,500 9 vs 6; 60 intents at
  800 16 vs 16. A scale of 2 did as well (44), 4 and 6 a little worse (42, 41); reading it in
  the whole embedding instead of the between-label directions, 40.
  It is silent where the project's candidate pairs typically read as one group too (their
  median z under ``ONE_LABEL_Z``): Banking77's look-alike intents are that close (candidate
  median z 1.7-2.4, against 2.1-19 on CLINC150), and there the signal cost 2 of 11 cut pairs
  ranked first on 16 Banking77 cuts drawn with other seeds than the bench's. That check came
  after the choice above, so the silence rule is not blind to Banking77: with it, 43 of 64 on
  the development sets (random pairs at 1,000 labels: 7) and Banking77 as without the signal.
* **disagreement** (when given): expert pairs who labeled one example A and B, per example of the
  smaller label. It only ever raises the score: it closes ``DISAGREEMENT_WEIGHT`` x rate of the
  gap between the mean of the other three and 1 (averaged in, a pair nobody argued about would
  lose a quarter of its score as soon as experts disagreed anywhere in the project).

The score is the mean of the first three (four with the pool), raised by disagreement; a pair
at or above ``threshold`` is proposed, when both labels have at least ``MIN_SUPPORT`` examples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from engine.classifier import knn
from engine.forecast import times
from engine.proposals.base import LabeledData, Proposal, centroids
from engine.proposals.splits import SplitViews, glued_z, split_views
from engine.proposals.words import confidently_look

MERGE_THRESHOLD = 0.5  # each label puts ~1/4 of its pair mass on the other: hard to tell apart
CANDIDATES = 200  # pairs given the two-sample test; the rest cannot reach the threshold
PAIR_PRIOR = 0.05  # pseudo-mass on the own label: a pair holding < ~5% of the mass is no pair
KNN = 5  # neighbours for mixing: at ~10 labels per class, 5 still mostly lie in the own class
MIN_SUPPORT = 4  # examples each label needs before a merge is judged: fewer leave the shuffle
#                  test without power (3 + 3 examples have 20 distinct labelings); rare-label
#                  proposals speak for such labels
PROBE_RIDGE = 1.0  # ridge penalty of the pair probe, on unit-length embeddings
PERMUTATIONS = 200  # shuffled namings that make the probe's null distribution
DISAGREEMENT_WEIGHT = 0.5  # experts disagreeing on every example close half the gap to 1
SEPARABILITY_Z = 3.0  # probe z at which two labels count as fully separable
ONE_LABEL_Z = 3.0  # the same for the pair read as one label: groups that far apart are two labels

Disagreement = tuple[int, int, int]  # (example id, label id chosen by one expert, by another)


def propose_merges(
    data: LabeledData,
    *,
    disagreements: Sequence[Disagreement] = (),
    threshold: float = MERGE_THRESHOLD,
    limit: int | None = None,
    k: int = KNN,
    seed: int = 0,
    views: SplitViews | None = None,
) -> list[Proposal]:
    """Pairs of labels to merge, strongest first (at most ``limit``). ``views``: the split
    check's :func:`split_views` of ``data`` when the caller has them (else computed here)."""
    counts = data.counts()
    # a merge must leave two labels: with only two, it would leave nothing to tell apart
    if (counts > 0).sum() < 2 or data.n_classes < 3:
        return []
    proba = data.proba(seed=seed)
    conf_mass = _mean_by_label(proba, data.labels, data.n_classes)  # [a, b]: mean P(b | a's)
    cj = confident_joint(proba, data.labels, data.n_classes)
    mix_mass = _neighbour_mix(data, k=k)
    confusion = _pair_share(conf_mass)
    prefilter = (confusion + np.minimum(mix_mass + mix_mass.T, 1.0)) / 2
    mixing = np.zeros_like(confusion)
    insep = np.zeros_like(confusion)
    probe: dict[tuple[int, int], tuple[float, float]] = {}
    supported = counts >= MIN_SUPPORT
    a_idx, b_idx = np.triu_indices(data.n_classes, k=1)
    for i in np.argsort(-prefilter[a_idx, b_idx], kind="stable")[:CANDIDATES]:
        a, b = int(a_idx[i]), int(b_idx[i])
        if not (supported[a] and supported[b]):
            continue
        mixing[a, b] = mixing[b, a] = two_sample_mixing(data, a, b, k=k)
        probe[a, b] = auc, z = pair_separability(data, a, b, seed=seed + a * data.n_classes + b)
        insep[a, b] = insep[b, a] = float(np.clip(1.0 - z / SEPARABILITY_Z, 0.0, 1.0))
    score = np.mean([confusion, mixing, insep], axis=0)
    if views is None and data.has_pool:
        views = split_views(data, seed=seed)
    one_z = _one_label_z(views, list(probe), seed=seed, n_classes=data.n_classes)
    if one_z:
        one_label = np.zeros_like(confusion)
        for (a, b), z in one_z.items():
            one_label[a, b] = one_label[b, a] = float(np.clip(1.0 - z / ONE_LABEL_Z, 0.0, 1.0))
        score = (3 * score + one_label) / 4
    dis = _disagreement_matrix(disagreements, data.n_classes)
    smaller = np.minimum.outer(counts, counts).astype(np.float64)
    dis_rate = np.minimum(dis / np.maximum(smaller, 1.0), 1.0)
    score += (1.0 - score) * dis_rate * DISAGREEMENT_WEIGHT  # can only raise it
    score[~supported, :] = 0.0
    score[:, ~supported] = 0.0
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
                probe=probe.get((a, b), (0.5, 0.0)),
                one_label_z=one_z.get((a, b)),
                dims=None if views is None or views.basis is None else len(views.basis[1]),
                disagreements=int(dis[a, b]) if disagreements else None,
                centroid_cosine=float(cos[a, b]),
            )  # fmt: skip
        )
    return out


def _one_label_z(
    views: SplitViews | None, pairs: list[tuple[int, int]], *, seed: int, n_classes: int
) -> dict[tuple[int, int], float]:
    """Each candidate pair's z read as one label (:func:`glued_z` in the split check's whole
    view), or {} when the signal has nothing to say here: no unlabeled examples, or a project
    whose candidate pairs typically read as one group too (median z under ``ONE_LABEL_Z``), as
    Banking77's look-alike intents do, where "reads as one" no longer tells a cut from a pair."""
    if views is None or not views.whole.stats or not pairs:
        return {}
    z = {(a, b): glued_z(views.whole, a, b, np.random.default_rng(seed + a * n_classes + b))
         for a, b in pairs}  # fmt: skip
    z = {pair: v for pair, v in z.items() if np.isfinite(v)}  # NaN: a label the view lacks
    return z if z and float(np.median(list(z.values()))) >= ONE_LABEL_Z else {}


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


def pair_separability(
    data: LabeledData,
    a: int,
    b: int,
    *,
    ridge: float = PROBE_RIDGE,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> tuple[float, float]:
    """(AUC, z): how well a linear probe on labels a and b alone tells them apart out of sample.

    Ridge regression of +1/-1 on the pair's unit embeddings with an unpenalised intercept; its
    leave-one-out predictions come in closed form from the hat matrix H (Hastie, Tibshirani &
    Friedman, ESL 7.10: loo_i = (yhat_i - H_ii y_i) / (1 - H_ii)), and H does not depend on the
    names, so all ``permutations`` reshufflings cost one matrix product. z compares the AUC of the
    real names with the reshuffled ones: ~N(0, 1) when the names are exchangeable (a class cut
    at random), large when they carry signal. (0.5, 0.0) when a side has under two examples.
    """
    rows = np.flatnonzero((data.labels == a) | (data.labels == b))
    t = np.where(data.labels[rows] == a, 1.0, -1.0)
    n = len(rows)
    if min(int((t > 0).sum()), int((t < 0).sum())) < 2:
        return 0.5, 0.0
    Z = data.unit[rows].astype(np.float64)
    Zc = Z - Z.mean(axis=0)
    K = Zc @ Zc.T
    H = K @ np.linalg.inv(K + ridge * np.eye(n)) + 1.0 / n  # the intercept's share: J / n
    rng = np.random.default_rng(seed)
    T = np.stack([t] + [rng.permutation(t) for _ in range(permutations)], axis=1)
    h = np.clip(np.diag(H), None, 1.0 - 1e-9)[:, None]
    loo = (H @ T - h * T) / (1.0 - h)
    auc = _column_auc(loo, T > 0)
    null = auc[1:]
    z = (auc[0] - float(null.mean())) / max(float(null.std()), 1e-6)
    return float(auc[0]), float(z)


def _column_auc(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """AUC of each column of ``scores`` against the same column of ``positive`` (ties count 1/2:
    the Mann-Whitney U with average ranks)."""
    ranks = rankdata(scores, axis=0)
    n_pos = positive.sum(axis=0)
    n_neg = len(scores) - n_pos
    rank_sum = (ranks * positive).sum(axis=0)
    out: np.ndarray = (rank_sum - n_pos * (n_pos + 1) / 2) / np.maximum(n_pos * n_neg, 1)
    return out


def _probe_words(z: float) -> str:
    if z < 1.0:
        return "no better than chance"
    if z < SEPARABILITY_Z:
        return "only a little better than chance"
    return "clearly"


def _one_label_words(z: float, dims: int | None) -> str:
    if z < 1.0:
        how = "no further apart than one label's typically do"
    elif z < ONE_LABEL_Z:
        how = "only a little further apart than one label's typically do"
    else:
        how = "as far apart as two different labels'"
    where = f" in the {dims} directions that tell this project's labels apart" if dims else ""
    return (f"Read as one label, with the unlabeled examples the model puts under them, their "
            f"two best groups stand {how}{where} (z = {z:.1f}).")  # fmt: skip


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
    probe: tuple[float, float],
    one_label_z: float | None,
    dims: int | None,
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
        "probe_auc": round(probe[0], 3),
        "probe_z": round(probe[1], 2),
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
    if one_label_z is not None:
        evidence["one_label_z"] = round(one_label_z, 2)
    if disagreements is not None:
        evidence["disagreements"] = disagreements
    first, second = sorted((names[a], names[b]))
    strength = float(cj[a, b] + cj[b, a] + (disagreements or 0))
    message = (
        f"Merge {first} and {second}? The model and the nearest neighbours can hardly tell them "
        f"apart (confusion {confusion:.2f}, mixing {mixing:.2f}; 1 = indistinguishable), "
        f"a probe trained on the two alone separates them {_probe_words(probe[1])} (held-out "
        f"AUC {probe[0]:.2f}, z = {probe[1]:.1f} against shuffled names), "
        f"{confidently_look(int(cj[a, b] + cj[b, a]))} like the other label"
        + (f", and experts disagreed between them {times(disagreements)}" if disagreements else "")
        + "."
        + (f" {_one_label_words(one_label_z, dims)}" if one_label_z is not None else "")
    )
    return Proposal(kind="merge", labels=(first, second), score=round(score, 4),
                    evidence=evidence, key=("merge", first, second), message=message,
                    evidence_strength=strength)  # fmt: skip
