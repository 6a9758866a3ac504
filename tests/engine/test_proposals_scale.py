"""The proposals refresh at scale: the same proposals, in less time and memory.

At 50,000 examples the split check's hundreds of small SVDs ran on two BLAS threads that waited
on each other on busy cores (25 of 40 s), every label's silhouette (all pairwise differences at
once) was computed though only proposed labels show it, and the pool was projected in one
65,536-row float64 block. Each change must leave the proposals as they were: the former code is
kept here, verbatim, as the reference (bench/proposals_scale.py compares whole refreshes with
the former tree's at 2k-50k examples).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
from threadpoolctl import threadpool_info

from engine.proposals import LabeledData, propose_all, propose_splits
from engine.proposals.base import unit_rows
from engine.proposals.splits import project, silhouette, split_stats, split_views
from tests.engine.test_proposals import _blobs, _phrased


def former_silhouette(Z: np.ndarray, assign: np.ndarray) -> float:
    """engine.proposals.splits.silhouette before: every pair's differences at once."""
    if assign.min() == assign.max():
        return 0.0
    D = np.sqrt(np.maximum(((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2), 0.0))
    s = np.zeros(len(Z))
    for g in (0, 1):
        own, other = assign == g, assign != g
        n_own = own.sum()
        if n_own < 2:
            continue
        a = D[np.ix_(own, own)].sum(axis=1) / (n_own - 1)
        b = D[np.ix_(own, other)].mean(axis=1)
        s[own] = (b - a) / np.maximum(np.maximum(a, b), 1e-12)
    return float(s.mean())


def former_project_pool(pool: np.ndarray, centre: np.ndarray, V: np.ndarray) -> np.ndarray:
    """The pool part of engine.proposals.splits.project before: 65,536-row blocks, stacked."""
    block = 65_536
    return np.vstack(
        [(unit_rows(pool[s : s + block]) - centre) @ V.T for s in range(0, len(pool), block)]
    )


def _peak_mb(fn, *args):  # type: ignore[no-untyped-def]
    """(result, peak MB numpy allocated while ``fn`` ran; numpy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        out = fn(*args)
        return out, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_silhouette_in_row_blocks_is_the_former_value_in_a_tenth_of_the_memory() -> None:
    rng = np.random.default_rng(0)
    for n, d in [(12, 3), (37, 5), (120, 40), (301, 106)]:
        Z = rng.normal(size=(n, d))
        assign = (rng.random(n) < 0.4).astype(np.int64)
        assert silhouette(Z, assign) == former_silhouette(Z, assign)  # to the bit
    assert silhouette(Z, np.zeros(len(Z), dtype=np.int64)) == 0.0
    # ~300 examples of a label in 106 between-label directions: 74 MB of differences before
    _, peak = _peak_mb(silhouette, Z, assign)
    _, former_peak = _peak_mb(former_silhouette, Z, assign)
    assert former_peak > 60 and peak < 15


def test_the_pool_projected_in_small_blocks_has_the_former_coordinates_and_less_memory() -> None:
    rng = np.random.default_rng(1)
    d, k = 384, 24
    pool = rng.normal(size=(40_003, d)).astype(np.float32)  # not a multiple of the block
    labeled = rng.normal(size=(50, d)).astype(np.float32)
    centre = rng.normal(scale=0.05, size=d)
    V = np.linalg.qr(rng.normal(size=(d, k)))[0].T  # k orthonormal rows
    data = LabeledData(embeddings=labeled, labels=np.arange(50) % 5, label_names=list("abcde"),
                       pool_embeddings=pool)  # fmt: skip
    projected, peak = _peak_mb(project, data, (centre, V))
    expected, former_peak = _peak_mb(former_project_pool, pool, centre, V)
    assert projected.pool_embeddings is not None
    assert np.array_equal(projected.pool_embeddings, expected.astype(np.float32))
    assert former_peak > 150 and peak < 70  # the float64 centring of 40k x 384 at once: 123 MB


def test_only_proposed_labels_get_a_silhouette_and_it_is_the_former_one() -> None:
    """Both views, in the whole embedding and in the between-label directions (with a pool):
    no label's statistics carry a silhouette until it is proposed, and a proposal's is the one
    split_stats gives on the same rows."""
    X, truth = _phrased(n_labels=48, per=30)
    y = np.where(truth == 1, 0, truth)
    names = ["fused", "unused", *(f"l{c}" for c in range(2, 48))]
    labeled = np.flatnonzero(np.arange(len(y)) % 30 < 12)
    pool = np.setdiff1d(np.arange(len(y)), labeled)
    between = LabeledData(embeddings=X[labeled], labels=y[labeled], label_names=names,
                          pool_embeddings=X[pool])  # fmt: skip
    Xb, yb, texts, _ = _blobs(n_classes=10, per=60, d=128, seed=3)
    yb = np.where(yb == 1, 0, yb)
    whole = LabeledData(embeddings=Xb[::2], labels=yb[::2], texts=texts[::2],
                        label_names=["fused", "unused", *(f"l{c}" for c in range(2, 10))],
                        pool_embeddings=Xb[1::2], pool_texts=texts[1::2])  # fmt: skip
    seen = set()
    for data in (between, whole):
        views = split_views(data)
        for view in (views.labeled, views.whole):
            assert view.stats and all("silhouette" not in st for st in view.stats.values())
        found = propose_splits(data, views=views)
        assert [p.labels for p in found] == [("fused",)]
        for p in found:
            ev = p.evidence
            view = views.whole if ev["view"] == "all examples" else views.labeled
            c = list(data.label_names).index(p.labels[0])
            former = split_stats(np.vstack(view.parts[c]), seed=c)["silhouette"]
            assert ev["silhouette"] == round(former, 3) and ev["silhouette"] > 0
            seen.add(ev["space"].split()[-1])
    assert seen == {"labels", "embedding"}  # both spaces were exercised


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


class _ThreadProbe(LabeledData):
    """LabeledData that records the BLAS threads its probabilities are read under (the merge
    and rare-label checks read them)."""

    threads: list[int] = []

    def proba(self, *, seed: int = 0) -> np.ndarray:
        self.threads.append(max(_blas_threads()))
        return super().proba(seed=seed)


def test_the_detectors_run_on_one_blas_thread() -> None:
    """Hundreds of small matrices: a second thread cost far more than it saved (25 s of 40 at
    50,000 examples on 2 busy cores). The caller's setting is back afterwards."""
    X, y, texts, _ = _blobs(n_classes=6, per=20, d=32)
    data = _ThreadProbe(embeddings=X, labels=y, label_names=[f"l{c}" for c in range(6)],
                        texts=texts, pool_embeddings=X[:40])  # fmt: skip
    before = _blas_threads()
    propose_all(data)
    assert _ThreadProbe.threads and set(_ThreadProbe.threads) == {1}
    assert _blas_threads() == before
