"""Query strategies: which unlabeled examples to ask an expert about next.

Plain array code behind a one-method interface (``select``), registered by name, in the style of
small-text and cleanlab. Strategies never see the database or Slack. Every strategy returns up to
``n`` distinct indices from ``candidates``, most useful first; with no model yet (``probs is None``)
the uncertainty strategies fall back to :func:`select_cold_start`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import entr
from threadpoolctl import threadpool_limits

from engine.rare import RareClassBoost
from storage.errors import InvalidInputError

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "QueryStrategy",
    "get_strategy",
    "queue_method",
    "select_cold_start",
    "uncertainty_scores",
]

UNCERTAINTY_METHODS = ("least_confidence", "margin", "entropy")
DIVERSITY_POOL_FACTOR = 10  # the diversity wrapper clusters the top n*10 most uncertain candidates
COLD_START_SAMPLE = 20_000  # k-means for cold start runs on at most this many candidates
SCORE_CHUNK = 65_536  # rows scored at a time: a 77-class chunk is 20 MB


class QueryStrategy(Protocol):
    """Picks the next examples to label."""

    name: str

    def select(
        self,
        *,
        probs: np.ndarray | None,
        candidates: np.ndarray,
        n: int,
        embeddings: np.ndarray | None,
        rng: np.random.Generator,
    ) -> np.ndarray: ...


def uncertainty_scores(
    probs: np.ndarray, method: str = "margin", rows: np.ndarray | None = None
) -> np.ndarray:
    """Per-row uncertainty, higher = more uncertain (for ranking and for stored priorities).

    ``rows`` scores only those rows of ``probs``. Works in chunks of 64k rows, so a 1M x C pool
    needs no full-size temporary.
    """
    if method not in UNCERTAINTY_METHODS:
        raise InvalidInputError(
            f"unknown method {method!r}; valid: {', '.join(UNCERTAINTY_METHODS)}"
        )
    rows = np.arange(len(probs)) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.empty(len(rows), dtype=np.float32)
    for s in range(0, len(rows), SCORE_CHUNK):
        out[s : s + SCORE_CHUNK] = _scores(
            np.asarray(probs[rows[s : s + SCORE_CHUNK]], np.float32), method
        )
    return out


def _scores(p: np.ndarray, method: str) -> np.ndarray:
    top_idx = p.argmax(axis=1)
    top = p[np.arange(len(p)), top_idx]
    if method == "least_confidence":
        # Lewis & Gale 1994, "A sequential algorithm for training text classifiers".
        out: np.ndarray = 1.0 - top
    elif method == "margin":
        # Scheffer et al. 2001, "Active hidden Markov models for information extraction":
        # a small gap between the top two classes means the model cannot decide between them.
        p[np.arange(len(p)), top_idx] = -1.0  # p is a chunk-sized copy: safe to overwrite
        second = p.max(axis=1) if p.shape[1] > 1 else np.zeros_like(top)
        out = 1.0 - (top - np.maximum(second, 0.0))
    else:
        # Shannon entropy of the prediction (Settles 2009, "Active learning literature survey").
        out = entr(p).sum(axis=1)
    return out


def _check(candidates: np.ndarray, n: int) -> np.ndarray:
    candidates = np.asarray(candidates, dtype=np.int64)
    if n < 1:
        raise InvalidInputError(f"n must be at least 1; got {n}")
    if len(candidates) == 0:
        raise InvalidInputError("no unlabeled candidates left in the pool")
    return candidates


def _kmeans_medoids(
    X: np.ndarray, k: int, rng: np.random.Generator, weights: np.ndarray | None = None
) -> list[np.ndarray]:
    """k-means (sklearn, k-means++ init) on X; returns each cluster's member row indices."""
    from sklearn.cluster import KMeans

    seed = int(rng.integers(2**31 - 1))
    km = KMeans(n_clusters=k, n_init=1, max_iter=50, random_state=seed)
    with threadpool_limits(limits=1):  # small k-means: threads cost more than they save
        labels = km.fit_predict(X, sample_weight=weights)
    dist = ((X - km.cluster_centers_[labels]) ** 2).sum(axis=1)
    members = [np.flatnonzero(labels == c) for c in range(k)]
    return [m[np.argsort(dist[m], kind="stable")] for m in members if len(m)]


def select_cold_start(
    *, embeddings: np.ndarray, candidates: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Diverse, representative picks: the candidate nearest each of n k-means centres.

    Representativeness + diversity before any model is useful finds rare classes early
    (Zhdanov 2019, "Diverse mini-batch active learning"; Chang et al. 2021, "On training instance
    selection for few-shot neural text generation" use k-means centres the same way).
    """
    candidates = _check(candidates, n)
    if n >= len(candidates):
        return rng.permutation(candidates)
    sample = candidates
    if len(sample) > COLD_START_SAMPLE:
        sample = np.sort(rng.choice(candidates, COLD_START_SAMPLE, replace=False))
    clusters = _kmeans_medoids(np.asarray(embeddings[sample], np.float32), n, rng)
    # biggest clusters first: the most representative examples are the most useful first labels
    clusters.sort(key=len, reverse=True)
    return sample[np.array([m[0] for m in clusters], dtype=np.int64)]


@dataclass
class RandomSampling:
    """Uniform random sampling: the baseline every strategy must beat."""

    name: str = "random"

    def select(
        self,
        *,
        probs: np.ndarray | None,
        candidates: np.ndarray,
        n: int,
        embeddings: np.ndarray | None,
        rng: np.random.Generator,
    ) -> np.ndarray:
        candidates = _check(candidates, n)
        return rng.choice(candidates, min(n, len(candidates)), replace=False)


@dataclass
class UncertaintySampling:
    """Most uncertain first by ``method``; cold start (given embeddings) while there is no model."""

    name: str
    method: str

    def select(
        self,
        *,
        probs: np.ndarray | None,
        candidates: np.ndarray,
        n: int,
        embeddings: np.ndarray | None,
        rng: np.random.Generator,
    ) -> np.ndarray:
        candidates = _check(candidates, n)
        if probs is None:
            if embeddings is not None:
                return select_cold_start(embeddings=embeddings, candidates=candidates, n=n, rng=rng)
            return rng.choice(candidates, min(n, len(candidates)), replace=False)
        scores = uncertainty_scores(probs, self.method, rows=candidates)
        n = min(n, len(candidates))
        # random tie-break, then argpartition: O(pool) rather than a full sort of a 1M pool
        jitter = rng.random(len(scores), dtype=np.float32) * 1e-6
        top = np.argpartition(-(scores + jitter), n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return candidates[top]


@dataclass
class DiverseUncertainty:
    """k-means on the ``n*10`` most uncertain candidates; the most uncertain of each cluster.

    A batch of k is then not k near-duplicates of one confusing example (Zhdanov 2019, "Diverse
    mini-batch active learning"; cf. Settles 2009 on density-weighted methods).
    """

    name: str
    method: str

    def select(
        self,
        *,
        probs: np.ndarray | None,
        candidates: np.ndarray,
        n: int,
        embeddings: np.ndarray | None,
        rng: np.random.Generator,
    ) -> np.ndarray:
        base = UncertaintySampling(name=self.name, method=self.method)
        candidates = _check(candidates, n)
        if probs is None or embeddings is None or n == 1 or len(candidates) <= n:
            return base.select(
                probs=probs, candidates=candidates, n=n, embeddings=embeddings, rng=rng
            )
        m = min(len(candidates), n * DIVERSITY_POOL_FACTOR)
        top = base.select(probs=probs, candidates=candidates, n=m, embeddings=None, rng=rng)
        scores = uncertainty_scores(probs, self.method, rows=top)
        clusters = _kmeans_medoids(np.asarray(embeddings[top], np.float32), n, rng)
        picks = np.array([m_[np.argmax(scores[m_])] for m_ in clusters], dtype=np.int64)
        picks = picks[np.argsort(-scores[picks], kind="stable")]
        if len(picks) < n:  # k-means merged duplicates: top up with the next most uncertain
            rest = np.setdiff1d(np.arange(len(top)), picks, assume_unique=True)
            picks = np.concatenate([picks, rest[: n - len(picks)]])
        return top[picks]


_REGISTRY: dict[str, QueryStrategy] = {
    "random": RandomSampling(),
    "least_confidence": UncertaintySampling("least_confidence", "least_confidence"),
    "margin": UncertaintySampling("margin", "margin"),
    "entropy": UncertaintySampling("entropy", "entropy"),
    "diverse_margin": DiverseUncertainty("diverse_margin", "margin"),
    # diverse_margin plus help for labels with < 5 examples (engine/rare.py); the labeling queue
    # applies this help by default (project setting `rare_boost`)
    "rare_boost": RareClassBoost(),
}
STRATEGIES: tuple[str, ...] = tuple(_REGISTRY)
DEFAULT_STRATEGY = "diverse_margin"  # fewest labels to 95% of ceiling on both bench sets


def get_strategy(name: str) -> QueryStrategy:
    """The registered strategy called ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}"
        ) from None


def queue_method(name: str) -> str | None:
    """The uncertainty (one of ``UNCERTAINTY_METHODS``) that orders the queue past strategy
    ``name``'s batch, higher first: the strategy's own (margin for ``diverse_margin``, entropy
    for ``entropy``; its base's for ``rare_boost``); None for ``random``, whose queue is in a
    random order."""
    strategy = get_strategy(name)
    while isinstance(strategy, RareClassBoost):
        base = strategy.base
        strategy = get_strategy(base) if isinstance(base, str) else base
    method = getattr(strategy, "method", None)
    return str(method) if method is not None else None


# Past this many unlabeled candidates a query round looks at a uniform random subset: scoring a
# 1M pool is a 30-GFLOP matmul (seconds on 2 cores), while the most uncertain examples of a 200k
# random subset are, for picking a batch of tens, as useful (Ertekin et al. 2007, "Learning on the
# border: active learning in imbalanced data classification", sample 59 of a pool for the same
# reason). Batch predictions over the whole pool are a separate, scheduled pass.
MAX_QUERY_CANDIDATES = 200_000


def query_candidates(
    candidates: np.ndarray, rng: np.random.Generator, limit: int = MAX_QUERY_CANDIDATES
) -> np.ndarray:
    """``candidates``, or a sorted uniform sample of ``limit`` of them when there are more."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) <= limit:
        return candidates
    return np.sort(rng.choice(candidates, size=limit, replace=False))
