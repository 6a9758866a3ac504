"""The pool's kNN graph (label spreading's graph): time, peak memory and recall.

Table 1, the exact path (forced at every size with ``exact_max``): for n random unit vectors of
dimension 384, each measured in its own process (peak RSS is the process's VmHWM; "+MB"
is its growth over the RSS once the vectors exist):

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

Table 2, the approximate first build (engine.inverted_file) against the exact one, on MiniLM
embeddings (the product encoder and embedding cache) of the bundled Banking77 + CLINC150 texts,
train and test (33,683 rows); a larger n takes "clustered" vectors made from them (each a point
between a real row and one of its 10 nearest real rows, plus a little noise), and "random" rows
are random unit vectors (the worst case for an inverted file). Recall@10 is tie-aware: the
share of the 10 true neighbours (the row itself aside) matched by a listed row at least as
similar; over all rows where the exact build ran, else over 2,000 sampled rows searched by
brute force ("s"). An exact build past ``--exact-up-to`` is extrapolated (n^2) from the largest
measured. "after an import" extends approximate lists of the first 98% with the last 2%, or
builds them again where that many rows cost more to add (``EXTEND_ROWS_PER_ROOT``).

Table 3, label spreading on each graph (approximate forced with exact_max=0) on a real pool
(a train split): labels given to random pool rows; the share of pool rows whose spread argmax
is the same on both graphs, and each graph's accuracy against the gold labels.

    .venv/bin/python bench/pool_graph.py [--tables exact,approx,spread]
        [--sizes 5000,10000,20000,50000] [--approx-sizes real:20000,real:33683,clustered:50000,...]
"""

from __future__ import annotations

import argparse
import csv
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

from engine.classifier import PoolGraph, build_pool_graph, knn, spread_labels  # noqa: E402
from engine.pool_graph import EXTEND_ROWS_PER_ROOT, graph_path, pool_graph  # noqa: E402

DIM, K = 384, 10
EXACT = 10**12  # exact_max that keeps every size exact
DATASETS = ROOT / "engine/datasets"
SAMPLE = 2000  # rows whose exact lists are searched by brute force where no exact build ran


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
    """This process's peak RSS (MB). VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec,
    so a child of a parent that holds the encoder would report the parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, n: int, folder: Path, new_share: float) -> None:
    """One timed build in this process. ``mode``: old, new, load, prep, extend (exact path), or
    the same with an ``approx-`` prefix on the vectors saved in ``folder/vectors.npy``."""
    approx = mode.startswith("approx-")
    mode = mode.removeprefix("approx-")
    X = np.load(folder / "vectors.npy") if approx else unit_rows(n)
    exact_max = 0 if approx else EXACT
    path = graph_path(folder, encoder="bench", project_id=n)
    n_old = n - int(n * new_share)
    if mode == "prep":  # the lists of the rows before the import (not timed)
        pool_graph(X[:n_old], path=path.with_suffix(".prefix.npz"), exact_max=exact_max)
        print("{}")
        return
    if mode == "extend":
        path.with_suffix(".prefix.npz").replace(path.with_suffix(".ext.npz"))
    before = rss_mb()
    start = time.perf_counter()
    if mode == "old":
        _, idx = old_graph(X)
        np.save(folder / f"old-{n}.npy", idx)
    elif mode == "exact":
        pool_graph(X, path=path.with_suffix(".exact.npz"), exact_max=EXACT)
    elif mode in ("new", "load"):
        pool_graph(X, path=path, exact_max=exact_max)
    elif mode == "extend":
        pool_graph(X, path=path.with_suffix(".ext.npz"), exact_max=exact_max)
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
        idx: np.ndarray = data["idx"].astype(np.int64)
    return idx


def recall(a: np.ndarray, b: np.ndarray) -> float:
    hits = sum(len(set(x) & set(y)) for x, y in zip(a.tolist(), b.tolist(), strict=True))
    return hits / a.size


def lists_and_sims(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as data:
        return data["idx"].astype(np.int64), data["sim"]


def recall_at_k(rows: np.ndarray, idx: np.ndarray, sim: np.ndarray, kth_sim: np.ndarray) -> float:
    """Tie-aware recall@K of ``rows``' lists: listed rows (the row aside) at least as similar as
    the true K-th neighbour, out of K."""
    found = (sim[rows] >= kth_sim[:, None] - 1e-6) & (idx[rows] != rows[:, None])
    return float(np.minimum(found.sum(axis=1), K).mean() / K)


def real_texts(split: str | None = None) -> tuple[list[str], list[str]]:
    """The bundled Banking77 + CLINC150 texts and labels (``split``: train only, else all)."""
    texts, labels = [], []
    for name in ("banking77", "clinc150"):
        for part in (split,) if split else ("train", "test"):
            with open(DATASETS / name / f"{part}.csv", newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    texts.append(row["text"])
                    labels.append(f"{name}:{row['label']}")
    return texts, labels


def embed(texts: list[str]) -> np.ndarray:
    from engine.config import get_settings
    from engine.embeddings import cache_for, embed_texts
    from engine.encoders import get_encoder

    encoder = get_encoder()
    X = embed_texts(texts, encoder=encoder, cache=cache_for(get_settings().data_dir, encoder))
    unit: np.ndarray = np.asarray(X, dtype=np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    return unit


def vectors(kind: str, n: int, real: np.ndarray) -> np.ndarray:
    """``n`` rows of ``kind``: real (a seeded sample), clustered (made from them), random."""
    rng = np.random.default_rng(1)
    if kind == "random":
        return unit_rows(n)
    if kind == "real":
        if n > len(real):
            raise SystemExit(f"only {len(real)} real rows")
        return real[np.sort(rng.choice(len(real), size=n, replace=False))]
    # a point between a real row and one of its 10 nearest, plus noise of norm ~0.1
    nbrs = build_pool_graph(real, exact_max=0).norm_adj.tolil().rows
    src = rng.integers(0, len(real), size=n)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    for s in range(0, n, 50_000):
        part = src[s : s + 50_000]
        other = np.array([nbrs[i][rng.integers(len(nbrs[i]))] for i in part])
        u = rng.random((len(part), 1), dtype=np.float32)
        noise = rng.standard_normal((len(part), real.shape[1]), dtype=np.float32) * (0.1 / 20)
        out[s : s + len(part)] = real[part] + u * (real[other] - real[part]) + noise
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def cell(r: dict[str, float]) -> str:
    return f"{r['wall']:.2f} s, {r['peak']:.0f} MB (+{r['peak'] - r['before']:.0f})"


def exact_table(sizes: list[int], new_share: float) -> None:
    print(
        "| n | old | new, first build | new, next process | new, after an import "
        f"({new_share:.0%} new rows) | same lists as old | recall@{K + 1} extended |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            runs = {m: measure(m, n, folder, new_share) for m in ("old", "new", "load")}
            measure("prep", n, folder, new_share)
            runs["extend"] = measure("extend", n, folder, new_share)
            path = graph_path(folder, encoder="bench", project_id=n)
            old, new, ext = (
                np.load(folder / f"old-{n}.npy"),
                lists(path),
                lists(path.with_suffix(".ext.npz")),
            )
            same = float((old == new).all(axis=1).mean())
            cells = [cell(runs[m]) for m in ("old", "new", "load", "extend")]
            print(f"| {n:,} | " + " | ".join(cells) + f" | {same:.4f} | {recall(ext, new):.4f} |")
            sys.stdout.flush()


def approx_table(specs: list[tuple[str, int]], new_share: float, exact_up_to: int) -> None:
    real = embed(real_texts()[0])
    print(
        "| n | vectors | exact first build | approximate first build | speed-up | recall@10 "
        f"| approximate, after an import ({new_share:.0%} new rows) | recall@10 extended |"
    )
    print("|---|---|---|---|---|---|---|---|")
    largest: tuple[int, float] | None = None
    for kind, n in specs:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            X = vectors(kind, n, real)
            np.save(folder / "vectors.npy", X)
            path = graph_path(folder, encoder="bench", project_id=n)
            runs = {"approx": measure("approx-new", n, folder, new_share)}
            measure("approx-prep", n, folder, new_share)
            runs["extend"] = measure("approx-extend", n, folder, new_share)
            idx, sim = lists_and_sims(path)
            ext_idx, ext_sim = lists_and_sims(path.with_suffix(".ext.npz"))
            if n <= exact_up_to:
                runs["exact"] = measure("approx-exact", n, folder, new_share)
                largest = (n, runs["exact"]["wall"])
                rows = np.arange(n)
                kth = lists_and_sims(path.with_suffix(".exact.npz"))[1][:, K]
                exact_cell, mark = cell(runs["exact"]), ""
                exact_wall = runs["exact"]["wall"]
            else:
                rows = np.sort(np.random.default_rng(2).choice(n, size=SAMPLE, replace=False))
                kth = knn(X[rows], X, k=K + 1)[1][:, K]
                mark = " s"
                if largest is None:
                    exact_cell, exact_wall = "not run", float("nan")
                else:
                    exact_wall = largest[1] * (n / largest[0]) ** 2
                    exact_cell = f"~{exact_wall:.0f} s (extrapolated)"
            speed = exact_wall / runs["approx"]["wall"]
            n_new = int(n * new_share)
            rebuilt = " (built again)" if n_new > EXTEND_ROWS_PER_ROOT * np.sqrt(n) else ""
            print(
                f"| {n:,} | {kind} | {exact_cell} | {cell(runs['approx'])} | {speed:.1f}x "
                f"| {recall_at_k(rows, idx, sim, kth):.4f}{mark} | {cell(runs['extend'])}{rebuilt} "
                f"| {recall_at_k(rows, ext_idx, ext_sim, kth):.4f}{mark} |"
            )
            sys.stdout.flush()


def spread_table(budgets: list[int], seeds: int) -> None:
    print(
        "| pool | labels | recall@10 | same spread argmax | accuracy, exact graph "
        "| accuracy, approximate graph |"
    )
    print("|---|---|---|---|---|---|")
    for name in ("banking77", "clinc150"):
        texts, labels = [], []
        with open(DATASETS / name / "train.csv", newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row["label"] != "oos":
                    texts.append(row["text"])
                    labels.append(row["label"])
        X = embed(texts)
        names = sorted(set(labels))
        y = np.array([names.index(label) for label in labels])
        exact = build_pool_graph(X, exact_max=EXACT)
        approx = build_pool_graph(X, exact_max=0)
        e_idx, e_sim = knn(X, X, k=K + 1)
        from engine.inverted_file import ivf_neighbours

        a_idx, a_sim = ivf_neighbours(X, k=K + 1)
        rec = recall_at_k(np.arange(len(X)), a_idx, a_sim, e_sim[:, K])
        del e_idx
        for budget in budgets:
            same, acc_e, acc_a = [], [], []
            for seed in range(seeds):
                lab = np.random.default_rng(seed).choice(len(X), size=budget, replace=False)
                pe = spread_labels(exact, lab, y[lab], n_classes=len(names)).argmax(axis=1)
                pa = spread_labels(approx, lab, y[lab], n_classes=len(names)).argmax(axis=1)
                same.append((pe == pa).mean())
                acc_e.append((pe == y).mean())
                acc_a.append((pa == y).mean())
            print(
                f"| {name} train ({len(X):,}) | {budget:,} | {rec:.4f} | {np.mean(same):.4f} "
                f"| {np.mean(acc_e):.4f} | {np.mean(acc_a):.4f} |"
            )
            sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="exact,approx,spread")
    parser.add_argument("--sizes", default="5000,10000,20000,50000")
    parser.add_argument(
        "--approx-sizes",
        default="real:20000,real:33683,random:50000,clustered:50000,clustered:100000,"
        "clustered:300000",
    )
    parser.add_argument("--exact-up-to", type=int, default=100_000)
    parser.add_argument("--budgets", default="100,500,2000")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--new-share", type=float, default=0.02)
    parser.add_argument("--child", nargs=4, metavar=("MODE", "N", "DIR", "SHARE"))
    args = parser.parse_args()
    if args.child:
        mode, n, folder, share = args.child
        child(mode, int(n), Path(folder), float(share))
        return
    tables = args.tables.split(",")
    if "exact" in tables:
        exact_table([int(s) for s in args.sizes.split(",")], args.new_share)
    if "approx" in tables:
        specs = [(kind, int(n)) for kind, n in (s.split(":") for s in args.approx_sizes.split(","))]
        approx_table(specs, args.new_share, args.exact_up_to)
    if "spread" in tables:
        spread_table([int(b) for b in args.budgets.split(",")], args.seeds)


if __name__ == "__main__":
    main()
