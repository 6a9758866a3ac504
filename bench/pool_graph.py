"""The pool's kNN graph (label spreading's graph): time and peak memory, before and after.

For n random unit vectors of dimension 384, each measured in its own process (peak RSS is the
process's ``ru_maxrss``; "+MB" is its growth over the RSS once the vectors exist):

* old: the graph as built before (2,048-row blocks holding S, -S and argpartition's int64
  indices at once), kept here verbatim as the reference;
* new, first build: ``pool_graph`` with no saved graph (blocks sized to ~96 MB, S negated in
  place), which also saves the lists;
* new, next process: the same pool with the saved lists (a worker or server start, or
  ``labelbot train`` again);
* new, after an import: the lists were saved for the first 98% of the rows; the last 2% are new.

"same lists" is the share of rows whose neighbour lists (order included) equal the old build's;
recall@k compares the sets (1.0 = the exact graph). The extended graph is compared with the
fresh one.

    .venv/bin/python bench/pool_graph.py [--sizes 5000,10000,20000,50000] [--new-share 0.02]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.classifier import PoolGraph  # noqa: E402
from engine.pool_graph import graph_path, pool_graph  # noqa: E402

DIM, K = 384, 10


def unit_rows(n: int) -> np.ndarray:
    # float32 straight away: a float64 draw would set the peak RSS before the graph is built
    X = np.random.default_rng(0).standard_normal((n, DIM), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def old_knn(X: np.ndarray, pool: np.ndarray, *, k: int) -> tuple[np.ndarray, np.ndarray]:
    """engine.classifier.knn before the fix."""
    block = 2048
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


def old_graph(pool: np.ndarray) -> tuple[PoolGraph, np.ndarray]:
    """engine.classifier.build_pool_graph before the fix (and its neighbour lists)."""
    n = len(pool)
    k = min(K, n - 1)
    idx, sim = old_knn(pool, pool, k=k + 1)
    rows = np.repeat(np.arange(n), k)
    keep = idx != np.arange(n)[:, None]
    keep[keep.sum(axis=1) > k, -1] = False
    cols, vals = idx[keep], np.clip(sim[keep], 0.0, None)
    adj = sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
    adj = adj.maximum(adj.T).tocsr()
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv = sparse.diags(1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)))
    norm = (inv @ adj @ inv).astype(np.float32).tocsr()
    return PoolGraph(pool=pool, k=k, norm_adj=norm), idx


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, n: int, folder: Path, new_share: float) -> None:
    X = unit_rows(n)
    path = graph_path(folder, encoder="bench", project_id=n)
    n_old = n - int(n * new_share)
    if mode == "prep":  # the lists of the rows before the import (not timed)
        pool_graph(X[:n_old], path=path.with_suffix(".prefix.npz"))
        print("{}")
        return
    if mode == "extend":
        path.with_suffix(".prefix.npz").replace(path.with_suffix(".ext.npz"))
    before = rss_mb()
    start = time.perf_counter()
    if mode == "old":
        _, idx = old_graph(X)
        np.save(folder / f"old-{n}.npy", idx)
    elif mode in ("new", "load"):
        pool_graph(X, path=path)
    elif mode == "extend":
        pool_graph(X, path=path.with_suffix(".ext.npz"))
    wall = time.perf_counter() - start
    print(json.dumps({"wall": wall, "peak": rss_mb(), "before": before}))


def measure(mode: str, n: int, folder: Path, new_share: float) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(n), str(folder), str(new_share)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def lists(path: Path) -> np.ndarray:
    with np.load(path) as data:
        return data["idx"].astype(np.int64)


def recall(a: np.ndarray, b: np.ndarray) -> float:
    hits = sum(len(set(x) & set(y)) for x, y in zip(a.tolist(), b.tolist(), strict=True))
    return hits / a.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,10000,20000,50000")
    parser.add_argument("--new-share", type=float, default=0.02)
    parser.add_argument("--child", nargs=4, metavar=("MODE", "N", "DIR", "SHARE"))
    args = parser.parse_args()
    if args.child:
        mode, n, folder, share = args.child
        child(mode, int(n), Path(folder), float(share))
        return
    print(
        "| n | old | new, first build | new, next process | new, after an import "
        f"({args.new_share:.0%} new rows) | same lists as old | recall@{K + 1} extended |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            runs = {m: measure(m, n, folder, args.new_share) for m in ("old", "new", "load")}
            measure("prep", n, folder, args.new_share)
            runs["extend"] = measure("extend", n, folder, args.new_share)
            path = graph_path(folder, encoder="bench", project_id=n)
            old, new, ext = (
                np.load(folder / f"old-{n}.npy"),
                lists(path),
                lists(path.with_suffix(".ext.npz")),
            )
            same = float((old == new).all(axis=1).mean())
            cells = [
                f"{r['wall']:.2f} s, {r['peak']:.0f} MB (+{r['peak'] - r['before']:.0f})"
                for r in (runs[m] for m in ("old", "new", "load", "extend"))
            ]
            print(f"| {n:,} | " + " | ".join(cells) + f" | {same:.4f} | {recall(ext, new):.4f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
