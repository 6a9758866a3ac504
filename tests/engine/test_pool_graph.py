"""The pool's kNN graph: the same graph as before in bounded memory, kept on disk between
processes and extended for imported rows instead of built again (audit scale.md, finding 3)."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from engine import projects, training
from engine.classifier import KNN_BLOCK_BYTES, PoolGraph, build_pool_graph, knn, knn_block
from engine.pool_graph import extend_neighbours, graph_path, pool_graph, row_keys
from tests.helpers import label_next, load_slice

# --- the reference: knn and build_pool_graph as they were before the fix ----------------------


def reference_knn(
    X: np.ndarray, pool: np.ndarray, *, k: int, block: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    k = min(k, len(pool))
    idx = np.empty((len(X), k), dtype=np.int64)
    sim = np.empty((len(X), k), dtype=np.float32)
    for s in range(0, len(X), block):
        S = X[s : s + block] @ pool.T
        top = np.argpartition(-S, k - 1, axis=1)[:, :k]
        top_sim = np.take_along_axis(S, top, axis=1)
        order = np.argsort(-top_sim, axis=1)
        idx[s : s + block] = np.take_along_axis(top, order, axis=1)
        sim[s : s + block] = np.take_along_axis(top_sim, order, axis=1)
    return idx, sim


def reference_graph(pool: np.ndarray, k: int = 10) -> sparse.csr_matrix:
    pool = np.ascontiguousarray(pool, dtype=np.float32)
    n = len(pool)
    k = min(k, n - 1)
    idx, sim = reference_knn(pool, pool, k=k + 1)
    rows = np.repeat(np.arange(n), k)
    keep = idx != np.arange(n)[:, None]
    keep[keep.sum(axis=1) > k, -1] = False
    cols, vals = idx[keep], np.clip(sim[keep], 0.0, None)
    adj = sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
    adj = adj.maximum(adj.T).tocsr()
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv = sparse.diags(1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)))
    return (inv @ adj @ inv).astype(np.float32).tocsr()


def unit_rows(n: int, d: int = 32, *, seed: int = 0, duplicates: int = 0) -> np.ndarray:
    """Random unit vectors; with ``duplicates``, that many rows copy earlier ones (exact ties)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    if duplicates:
        # few sources, many copies: rows with more equal neighbours than k, and self displaced
        sources = rng.integers(0, 5, size=duplicates)
        X[rng.choice(np.arange(5, n), size=duplicates, replace=False)] = X[sources]
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def same_csr(a: sparse.csr_matrix, b: sparse.csr_matrix) -> bool:
    a, b = a.tocsr(), b.tocsr()
    a.sort_indices()
    b.sort_indices()
    return (
        np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


# --- 1. the same graph, in bounded memory --------------------------------------------------


# OpenBLAS rounds a dot product differently (in the last bit or two) depending on the shape of
# the product it is part of and on the thread count, so "identical" means: for the same blocks
# (the same similarities), the same neighbours in the same order, equal similarities included.
# The old code rounded just as differently on a machine with another number of cores.


@pytest.mark.parametrize("duplicates", [0, 40])
@pytest.mark.parametrize("n", [3, 11, 700, 2500])
def test_knn_is_identical_to_the_reference_ties_included(n: int, duplicates: int) -> None:
    X = unit_rows(n, duplicates=min(duplicates, n - 5) if n > 5 else 0)
    queries = np.vstack([X[: n // 2], unit_rows(50, seed=1)])
    for k in (1, 11):
        for block in (None, 7, 300):  # the default, and blocks that split the rows unevenly
            for q in (X, queries):
                idx, sim = knn(q, X, k=k, block=block)
                ref_idx, ref_sim = reference_knn(q, X, k=k, block=block or knn_block(len(X)))
                assert idx.dtype == ref_idx.dtype and sim.dtype == ref_sim.dtype
                assert np.array_equal(idx, ref_idx)
                assert np.array_equal(sim, ref_sim)


@pytest.mark.parametrize("duplicates", [0, 300])
def test_build_pool_graph_is_identical_to_the_reference(duplicates: int) -> None:
    X = unit_rows(3000, duplicates=duplicates)  # up to 4,096 rows the blocks are as before
    assert knn_block(len(X)) == 2048
    graph = build_pool_graph(X)
    assert graph.k == 10
    assert same_csr(graph.norm_adj, reference_graph(X))
    small = unit_rows(6)
    assert same_csr(build_pool_graph(small).norm_adj, reference_graph(small))


def test_a_large_pool_gets_the_same_neighbours_in_smaller_blocks() -> None:
    X = unit_rows(12_000, d=64, seed=2)
    assert knn_block(len(X)) < 2048
    idx, sim = knn(X, X, k=11)
    ref_idx, ref_sim = reference_knn(X, X, k=11)
    assert np.array_equal(idx, ref_idx)
    np.testing.assert_allclose(sim, ref_sim, rtol=0, atol=2e-6)  # rounding only


def test_knn_memory_stays_near_its_budget_whatever_the_pool() -> None:
    """Before, one 2048-row block held its similarities, their negation and argpartition's int64
    indices at once: 16 bytes x 2048 x n (262 MB at n = 8,000; 1.6 GB at 50k)."""
    X = unit_rows(8000, d=16)
    assert 12 * knn_block(50_000) * 50_000 <= KNN_BLOCK_BYTES
    assert knn_block(100) == 2048 and knn_block(10**9) == 16
    tracemalloc.start()
    try:
        knn(X, X, k=11)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < KNN_BLOCK_BYTES * 1.3, f"peak {peak / 2**20:.0f} MB"


# --- 2. kept on disk and extended ------------------------------------------------------------


def assert_exact_lists(graph_idx: np.ndarray, graph_sim: np.ndarray, X: np.ndarray) -> None:
    """Each row's list holds its k + 1 most similar rows: the similarities match a fresh
    search exactly (which of equally similar rows is kept may differ)."""
    ref_idx, ref_sim = reference_knn(X, X, k=graph_idx.shape[1])
    np.testing.assert_allclose(graph_sim, ref_sim, atol=1e-6)
    np.testing.assert_allclose((X[graph_idx] * X[:, None, :]).sum(axis=2), graph_sim, atol=1e-5)
    assert (np.diff(graph_sim, axis=1) <= 0).all()
    assert all(len(set(row)) == len(row) for row in graph_idx.tolist())


def test_extending_gives_the_lists_a_fresh_search_gives() -> None:
    X = unit_rows(2000)
    idx, sim = knn(X, X, k=11)
    for n_old in (2, 100, 1200, 1999):
        old_idx, old_sim = knn(X[:n_old], X[:n_old], k=min(11, n_old))
        if old_idx.shape[1] < 11:
            continue  # a pool smaller than k + 1 is built again, never extended
        new_idx, new_sim = extend_neighbours(X, old_idx, old_sim)
        assert np.array_equal(new_idx, idx)  # no ties in random data: the very same lists
        np.testing.assert_allclose(new_sim, sim, atol=1e-6)


def test_extending_with_duplicates_stays_exact_and_deterministic() -> None:
    X = unit_rows(1500, duplicates=200, seed=3)
    old_idx, old_sim = knn(X[:900], X[:900], k=11)
    first = extend_neighbours(X, old_idx, old_sim)
    again = extend_neighbours(X, old_idx, old_sim)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert_exact_lists(*first, X)


def _saved(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def test_the_graph_is_saved_loaded_and_extended_for_new_rows(tmp_path: Path) -> None:
    X = unit_rows(3000, seed=5)
    path = graph_path(tmp_path, encoder="enc", project_id=7)
    first = pool_graph(X[:2000], path=path)
    assert same_csr(first.norm_adj, reference_graph(X[:2000]))
    saved = _saved(path)
    assert saved["idx"].dtype == np.int32 and saved["idx"].shape == (2000, 11)
    assert np.array_equal(saved["keys"], row_keys(X[:2000]))
    assert not saved["approximate"]  # a small pool: the exact lists

    # the next process loads the lists: proven by a list the file holds and a search would not
    doctored = dict(saved, sim=np.ones_like(saved["sim"]))
    np.savez(path, **doctored)
    loaded = pool_graph(X[:2000], path=path)
    assert not same_csr(loaded.norm_adj, first.norm_adj)
    np.savez(path, **saved)

    # an import appends rows: the saved lists are extended, and the file with them
    grown = pool_graph(X, path=path)
    assert abs(grown.norm_adj - reference_graph(X)).max() < 1e-6
    assert np.array_equal(_saved(path)["keys"], row_keys(X))


@pytest.mark.parametrize("change", ["an embedding changed", "a row removed", "damaged", "k"])
def test_a_saved_graph_of_other_rows_is_built_again(tmp_path: Path, change: str) -> None:
    X = unit_rows(1200, seed=6, duplicates=50)
    path = graph_path(tmp_path, encoder="enc", project_id=1)
    pool_graph(X, path=path)
    other = X.copy()
    if change == "an embedding changed":
        other[10] = other[11]
    elif change == "a row removed":
        other = np.delete(other, 10, axis=0)
    elif change == "damaged":
        path.write_bytes(b"not a zip file")
    graph = pool_graph(other, path=path, k=5 if change == "k" else 10)
    expected = reference_graph(other, k=5 if change == "k" else 10)
    assert same_csr(graph.norm_adj, expected)  # built from scratch: exactly the reference
    assert np.array_equal(_saved(path)["keys"], row_keys(other))


def test_an_unwritable_data_dir_still_gives_the_graph(tmp_path: Path) -> None:
    blocker = tmp_path / "graphs"
    blocker.write_text("a file where the folder should be")
    X = unit_rows(300, seed=7)
    graph = pool_graph(X, path=graph_path(tmp_path, encoder="enc", project_id=1))
    assert isinstance(graph, PoolGraph) and same_csr(graph.norm_adj, reference_graph(X))


def test_training_keeps_the_graph_across_processes_and_imports(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    truth = load_slice(ws, banking_slice[:100], tmp_path)
    label_next(ws, truth, 30, annotators=("U1",))
    training.train_project(ws, "bank", kind="blend")
    project_id = training.load_pool(ws, "bank").project_id
    path = graph_path(ws.settings.data_dir, encoder=ws.encoder.name, project_id=project_id)
    assert len(_saved(path)["keys"]) == 100

    extra = tmp_path / "more.csv"
    with extra.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text"]] + [[t] for t, _ in banking_slice[100:]])
    projects.import_file(ws, project="bank", path=extra)
    ws.memo.clear()  # another process
    training.train_project(ws, "bank", kind="blend")
    pool = training.load_pool(ws, "bank")
    assert np.array_equal(_saved(path)["keys"], row_keys(pool.X))
    [graph] = [v for key, v in ws.memo.items() if key[0] == "graph"]
    assert abs(graph.norm_adj - reference_graph(pool.X)).max() < 1e-6


def test_a_linear_training_builds_no_graph(ws, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice[:60], tmp_path, project="lin")
    label_next(ws, truth, 20, annotators=("U1",), project="lin")
    ws.memo.clear()
    training.train_project(ws, "lin", kind="linear")
    assert not [key for key in ws.memo if key[0] == "graph"]
