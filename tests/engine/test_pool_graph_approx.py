"""The approximate first build of a big pool's kNN graph (engine.inverted_file): recall on
clustered data, determinism, small pools still exact, extension after an import, old files."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from engine.classifier import (
    EXACT_MAX_ROWS,
    KNN_BLOCK_BYTES,
    build_pool_graph,
    knn,
    pool_neighbours,
)
from engine.inverted_file import ivf_neighbours
from engine.pool_graph import EXTEND_ROWS_PER_ROOT, graph_path, pool_graph, row_keys
from tests.engine.test_pool_graph import reference_graph, same_csr, unit_rows


def clustered_rows(n: int, d: int = 48, *, clusters: int = 40, seed: int = 0) -> np.ndarray:
    """Unit rows around ``clusters`` centres of uneven sizes and spreads, as text embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    which = rng.choice(clusters, size=n, p=rng.dirichlet(np.ones(clusters)))
    spread = rng.uniform(0.3, 0.8, size=clusters).astype(np.float32)
    X = centres[which] + spread[which, None] * rng.standard_normal((n, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def recall(idx: np.ndarray, sim: np.ndarray, X: np.ndarray) -> float:
    """Tie-aware recall of the lists (the row itself aside) against a brute-force search."""
    k = idx.shape[1] - 1
    _, exact_sim = knn(X, X, k=k + 1)
    found = (sim >= exact_sim[:, -1:] - 1e-6) & (idx != np.arange(len(X))[:, None])
    return float(np.minimum(found.sum(axis=1), k).mean() / k)


def saved(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def assert_true_similarities(idx: np.ndarray, sim: np.ndarray, X: np.ndarray) -> None:
    """The listed similarities are the rows' dot products, sorted, with no row listed twice."""
    np.testing.assert_allclose((X[idx] * X[:, None, :]).sum(axis=2), sim, atol=1e-5)
    assert (np.diff(sim, axis=1) <= 0).all()
    assert all(len(set(row)) == len(row) for row in idx.tolist())


# --- the search -------------------------------------------------------------------------------


def test_clustered_rows_keep_their_neighbours() -> None:
    X = clustered_rows(4000)
    idx, sim = ivf_neighbours(X, k=11)
    assert_true_similarities(idx, sim, X)
    assert recall(idx, sim, X) >= 0.99
    assert (idx[:, 0] == np.arange(len(X))).mean() > 0.99  # each row first in its own list


def test_the_search_only_looks_in_the_probed_cells() -> None:
    """With one probe, rows near a cell's border lose neighbours (random rows: most of them);
    probing every cell is the exact search. Proof that the cells, not a full scan, are used."""
    X = unit_rows(2000, seed=4)
    one = ivf_neighbours(X, k=11, cells=20, probe=1)
    assert recall(*one, X) < 0.8
    every = ivf_neighbours(X, k=11, cells=20, probe=20)
    exact_idx, exact_sim = knn(X, X, k=11)
    np.testing.assert_allclose(every[1], exact_sim, atol=1e-6)
    assert (every[0] == exact_idx).mean() > 0.999  # the same rows, up to equal similarities


def test_rows_that_probe_fewer_than_k_rows_are_searched_exactly() -> None:
    X = unit_rows(300, seed=8)
    idx, sim = ivf_neighbours(X, k=11, cells=300, probe=2)  # a cell per row: 2 candidates
    assert np.isfinite(sim).all()
    np.testing.assert_allclose(sim, knn(X, X, k=11)[1], atol=1e-6)


def test_the_same_pool_gives_the_same_lists() -> None:
    X = clustered_rows(3000, seed=2)
    X[100:150] = X[:50]  # exact duplicates: equal similarities everywhere
    first, again = ivf_neighbours(X, k=11), ivf_neighbours(X.copy(), k=11)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert_true_similarities(*first, X)
    graph, graph_again = build_pool_graph(X, exact_max=0), build_pool_graph(X, exact_max=0)
    assert same_csr(graph.norm_adj, graph_again.norm_adj)


def test_the_search_memory_stays_bounded() -> None:
    X = unit_rows(8000, d=16, seed=9)
    tracemalloc.start()
    try:
        ivf_neighbours(X, k=11)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < KNN_BLOCK_BYTES * 1.3, f"peak {peak / 2**20:.0f} MB"


# --- exact below the threshold ----------------------------------------------------------------


def test_pools_up_to_the_threshold_are_exact_to_the_bit(tmp_path: Path) -> None:
    # the label-efficiency pools (Banking77 10k, CLINC150 15k train rows) stay exact
    assert EXACT_MAX_ROWS >= 20_000
    X = clustered_rows(1500, seed=3)
    assert same_csr(build_pool_graph(X, exact_max=len(X)).norm_adj, reference_graph(X))
    above = pool_neighbours(X, width=11, exact_max=len(X) - 1)
    assert all(np.array_equal(a, b) for a, b in zip(above, ivf_neighbours(X, k=11), strict=True))
    path = graph_path(tmp_path, encoder="enc", project_id=1)
    assert same_csr(pool_graph(X, path=path, exact_max=len(X)).norm_adj, reference_graph(X))
    assert not saved(path)["approximate"]


def test_an_approximate_file_is_not_kept_for_a_small_pool(tmp_path: Path) -> None:
    X = clustered_rows(1500, seed=5)
    path = graph_path(tmp_path, encoder="enc", project_id=1)
    pool_graph(X, path=path, exact_max=0)
    assert saved(path)["approximate"]
    graph = pool_graph(X, path=path, exact_max=len(X))  # e.g. a higher threshold since
    assert same_csr(graph.norm_adj, reference_graph(X))
    assert not saved(path)["approximate"]


# --- saved, loaded, extended ------------------------------------------------------------------


def test_an_approximate_graph_is_saved_marked_and_loaded(tmp_path: Path) -> None:
    X = clustered_rows(2000, seed=6)
    path = graph_path(tmp_path, encoder="enc", project_id=1)
    first = pool_graph(X, path=path, exact_max=0)
    data = saved(path)
    assert data["approximate"] and np.array_equal(data["keys"], row_keys(X))
    idx, sim = pool_neighbours(X, width=11, exact_max=0)
    assert np.array_equal(data["idx"], idx) and np.array_equal(data["sim"], sim)
    doctored = np.ones_like(data["sim"])  # loaded, not searched again:
    np.savez(path, keys=data["keys"], idx=data["idx"], sim=doctored, approximate=True)
    assert not same_csr(pool_graph(X, path=path, exact_max=0).norm_adj, first.norm_adj)


def test_extending_an_approximate_graph_adds_the_new_rows_exactly(tmp_path: Path) -> None:
    X = clustered_rows(3000, seed=7)
    n_old = 2900
    path = graph_path(tmp_path, encoder="enc", project_id=1)
    pool_graph(X[:n_old], path=path, exact_max=0)
    old = saved(path)
    pool_graph(X, path=path, exact_max=0)
    data = saved(path)
    assert data["approximate"] and np.array_equal(data["keys"], row_keys(X))
    idx, sim = data["idx"].astype(np.int64), data["sim"]
    assert_true_similarities(idx, sim, X)
    # the new rows' lists are exact (searched against the whole pool)
    new_idx, new_sim = knn(X[n_old:], X, k=11)
    np.testing.assert_allclose(sim[n_old:], new_sim, atol=1e-6)
    # each old row keeps its best of: its saved list and every new row
    to_new = X[:n_old] @ X[n_old:].T
    best = -np.sort(-np.hstack([old["sim"], to_new]), axis=1)[:, :11]
    np.testing.assert_allclose(sim[:n_old], best, atol=1e-6)
    assert recall(idx, sim, X) >= 0.99
    # extended, not built again: similarities the saved lists claim survive the extension
    np.savez(path, keys=old["keys"], idx=old["idx"], sim=np.ones_like(old["sim"]), approximate=True)
    pool_graph(X, path=path, exact_max=0)
    assert (saved(path)["sim"][:n_old] == 1).all()


def test_a_big_import_into_an_approximate_graph_builds_it_again(tmp_path: Path) -> None:
    X = clustered_rows(3000, seed=10)
    n_old = 3000 - int(EXTEND_ROWS_PER_ROOT * np.sqrt(3000)) - 1  # just too many new rows
    path = graph_path(tmp_path, encoder="enc", project_id=1)
    pool_graph(X[:n_old], path=path, exact_max=0)
    graph = pool_graph(X, path=path, exact_max=0)
    idx, sim = pool_neighbours(X, width=11, exact_max=0)
    assert np.array_equal(saved(path)["idx"], idx) and np.array_equal(saved(path)["sim"], sim)
    assert same_csr(graph.norm_adj, build_pool_graph(X, exact_max=0).norm_adj)


def test_a_file_saved_before_the_marker_is_read_as_exact(tmp_path: Path) -> None:
    X = clustered_rows(2000, seed=11)
    path = graph_path(tmp_path, encoder="enc", project_id=1)
    idx, sim = knn(X[:1900], X[:1900], k=11)
    path.parent.mkdir(parents=True)
    np.savez(path, keys=row_keys(X[:1900]), idx=idx.astype(np.int32), sim=sim)  # the old format
    graph = pool_graph(X, path=path, exact_max=len(X))  # small: only exact lists are reused
    assert abs(graph.norm_adj - reference_graph(X)).max() < 1e-6
    data = saved(path)
    assert not data["approximate"] and np.array_equal(data["keys"], row_keys(X))
    # the old lists were extended, not thrown away: a doctored one survives
    np.savez(path, keys=row_keys(X[:1900]), idx=idx.astype(np.int32), sim=np.ones_like(sim))
    doctored = pool_graph(X, path=path, exact_max=len(X))
    assert not same_csr(doctored.norm_adj, graph.norm_adj)


@pytest.mark.parametrize("exact_max", [0, 10**6])
def test_a_tiny_pool_gets_all_its_rows(exact_max: int) -> None:
    X = unit_rows(5, seed=12)
    graph = build_pool_graph(X, exact_max=exact_max)
    assert graph.k == 4 and abs(graph.norm_adj - reference_graph(X)).max() < 1e-6
