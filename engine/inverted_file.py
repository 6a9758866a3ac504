"""Approximate neighbour lists of a big pool: an inverted-file (IVF) search in numpy.

The exact lists compare every row with every other, O(n^2 d): 37-47 s at 50k rows on 2 cores,
about half an hour at 300k. Here spherical k-means (fit on a sample) cuts the pool into
``CELLS_PER_ROOT`` * sqrt(n) cells, and each row is compared only with the rows of its ``PROBE``
nearest cells (its own among them): the IVF of Jegou et al. 2011 ("Product quantization for
nearest neighbor search") without quantizing, so similarities are exact dot products and the
only error is a neighbour outside the probed cells. With c sqrt(n) cells the search is O(n^1.5 d
probe / c).

The search runs cell by cell: the rows that probe a cell are multiplied with its members in one
matmul (in blocks of bounded size, ``knn_block``), and each row's running top-k is merged with
the cell's. Fixed seeds, stable sorts and a fixed cell order: the same pool gives the same lists.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse

from engine.classifier import knn, knn_block, top_k_negated

__all__ = ["CELLS_PER_ROOT", "PROBE", "ivf_neighbours", "spherical_kmeans"]

# Chosen in bench/pool_graph.py on MiniLM embeddings of Banking77 + CLINC150, which are clustered
# as text is: recall@10 0.992 on 20k and 33.7k of them (on all 36.8k texts of both sets, 16
# probes gave 0.984, 32 0.991, 48 0.994), 0.998-0.999 on 50k-300k rows made from them. Random
# unit vectors have no clusters for the cells to follow: 0.23 at 50k, a worst case that
# embeddings of text do not come near.
CELLS_PER_ROOT = 2.0
PROBE = 32
KMEANS_SAMPLE_PER_CELL = 48  # k-means is fit on this many rows per cell (all rows if fewer)
KMEANS_ITERS = 8
SEED = 0


def ivf_neighbours(
    pool: np.ndarray, *, k: int, cells: int | None = None, probe: int = PROBE, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and similarities of each pool row's k most similar pool rows (itself included,
    as a rule), most similar first; approximate: a neighbour outside the probed cells is missed."""
    pool = np.ascontiguousarray(pool, dtype=np.float32)
    n = len(pool)
    k = min(k, n)
    n_cells = min(n, cells or max(1, round(CELLS_PER_ROOT * math.sqrt(n))))
    centroids = spherical_kmeans(pool, n_cells, seed=seed)
    probes, _ = knn(pool, centroids, k=min(probe, n_cells))  # (n, probe), nearest cell first
    # the members of each cell (by nearest centroid) and the rows that probe it
    members_order = np.argsort(probes[:, 0], kind="stable")
    members_at = np.searchsorted(probes[members_order, 0], np.arange(n_cells + 1))
    flat = probes.ravel()
    pairs = np.argsort(flat, kind="stable")
    queries_at = np.searchsorted(flat[pairs], np.arange(n_cells + 1))
    queries_order = pairs // probes.shape[1]
    del flat, pairs
    # every row probes its own cell, which holds the row: its list fills before it is read
    idx = np.zeros((n, k), dtype=np.int64)
    sim = np.full((n, k), -np.inf, dtype=np.float32)
    for cell in range(n_cells):
        members = members_order[members_at[cell] : members_at[cell + 1]]
        queries = queries_order[queries_at[cell] : queries_at[cell + 1]]
        if not len(members):
            continue
        members_X = pool[members]
        top_n = min(k, len(members))
        block = knn_block(len(members) + 2 * k)
        for s in range(0, len(queries), block):
            rows = queries[s : s + block]
            top, neg = top_k_negated(np.matmul(pool[rows], members_X.T), top_n)
            cand_idx = np.hstack([idx[rows], members[top]])
            cand_neg = np.hstack([-sim[rows], neg])  # the running lists first: they win ties
            keep = np.argsort(cand_neg, axis=1, kind="stable")[:, :k]
            idx[rows] = np.take_along_axis(cand_idx, keep, axis=1)
            sim[rows] = -np.take_along_axis(cand_neg, keep, axis=1)
    short = np.flatnonzero(np.isneginf(sim[:, -1]))  # probed fewer than k rows: search all
    if len(short):
        idx[short], sim[short] = knn(pool[short], pool, k=k)
    return idx, sim


def spherical_kmeans(
    X: np.ndarray, n_cells: int, *, seed: int = SEED, iters: int = KMEANS_ITERS
) -> np.ndarray:
    """Unit centroids of ``n_cells`` cells of the unit rows ``X`` (k-means on cosine similarity,
    Dhillon & Modha 2001) fit on a seeded sample; a cell left empty keeps its centroid."""
    rng = np.random.default_rng(seed)
    n = len(X)
    size = min(n, KMEANS_SAMPLE_PER_CELL * n_cells)
    sample = X[np.sort(rng.choice(n, size=size, replace=False))] if size < n else X
    centroids = sample[np.sort(rng.choice(len(sample), size=n_cells, replace=False))].copy()
    for _ in range(iters):
        assign, _ = knn(sample, centroids, k=1)
        member = sparse.csr_matrix(
            (np.ones(len(sample), dtype=np.float32), (assign[:, 0], np.arange(len(sample)))),
            shape=(n_cells, len(sample)),
        )
        sums = np.asarray(member @ sample, dtype=np.float32)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        filled = norms[:, 0] > 0
        centroids[filled] = sums[filled] / norms[filled]
    return centroids
