"""The project's kNN pool graph, kept on disk and extended as examples are imported.

Building the exact graph compares every pool row with every other: quadratic, 37 s at 50k
examples on 2 cores. Every process used to build it again (each ``labelbot train``, each worker
or server start, each training after an import). The graph's neighbour lists are now saved
beside the embedding cache, ``<data_dir>/graphs/<encoder>/project-<id>.npz``, with a fingerprint
of each row's embedding. A later build whose pool starts with the same rows loads them. It then
computes only what the m new rows change: their own neighbours (m x n) and whether they enter the
old rows' lists (n_old x m). So an import costs O(m n d) instead of O(n^2 d).

Up to ``EXACT_MAX_ROWS`` rows the result is the exact kNN graph, as a fresh build gives. Where
two candidates have exactly the same similarity at the k-th place, the one kept may differ from
a fresh build's (both are exact). It is deterministic: the same pools in the same order give the
same graph.

A bigger pool's first build is approximate (engine.inverted_file, recall@10 >= 0.99 on text
embeddings), and the file says so (``approximate``; a file written before it existed holds exact
lists). Extending approximate lists stays exact in what it adds: the new rows' own lists, and
their entry into the old rows' lists, are searched against the whole pool (m x n), so the
extended lists miss at most what the first build missed. An import too big for that to be
cheaper than a new approximate build (m n > ``EXTEND_ROWS_PER_ROOT`` n^1.5) builds again, and
approximate lists are never kept for a pool of ``EXACT_MAX_ROWS`` rows or fewer.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from engine.classifier import (
    EXACT_MAX_ROWS,
    PoolGraph,
    graph_from_neighbours,
    graph_k,
    is_approximate,
    knn,
    knn_block,
    pool_neighbours,
    shared_temp_file,
    top_k_negated,
)

__all__ = ["DEFAULT_K", "TEMP_NAME", "extend_neighbours", "graph_path", "pool_graph", "row_keys"]

log = logging.getLogger(__name__)

DEFAULT_K = 10  # build_pool_graph's default: what train_model and cross-validation build
# The temporary file _save writes beside a graph (".project-7.npz.<8 random characters>.tmp",
# tempfile.mkstemp's): a process killed while writing leaves it (engine.training.remove_leftovers)
TEMP_NAME = re.compile(r"\.project-\d+\.npz\.[a-z0-9_]{8}\.tmp")
# Above EXACT_MAX_ROWS, an import of m rows into a pool of n is searched exactly (2 m n dot
# products) while m <= this * sqrt(n), about what an approximate build costs (bench/pool_graph.py
# under load: 12 s to add 2,000 rows to 100k vs 21 s to build; 185 s to add 6,000 to 300k vs 77
# s): a bigger import builds the lists again, approximately.
EXTEND_ROWS_PER_ROOT = 5.0


def graph_path(
    data_dir: Path, *, encoder: str, project_id: int, graphs_dir: Path | None = None
) -> Path:
    """Where a project's graph is kept: one file per project and encoder, under ``graphs_dir``
    (Settings.graphs_root), else the data directory's graphs/."""
    root = Path(graphs_dir) if graphs_dir is not None else Path(data_dir) / "graphs"
    return root / encoder / f"project-{project_id}.npz"


def pool_graph(
    pool: np.ndarray, *, path: Path, k: int = DEFAULT_K, exact_max: int = EXACT_MAX_ROWS
) -> PoolGraph:
    """The kNN graph of ``pool`` (unit rows), reusing and updating the lists saved at ``path``;
    a first build of more than ``exact_max`` rows is approximate."""
    pool = np.ascontiguousarray(pool, dtype=np.float32)
    n = len(pool)
    width = graph_k(n, k) + 1  # each row's list holds the row itself
    keys = row_keys(pool)
    stored = _load(path)
    if stored is not None and _reusable(stored, keys, width, exact_max=exact_max):
        old_keys, idx, sim, approx = stored
        if len(old_keys) < n:
            idx, sim = extend_neighbours(pool, idx, sim)
            _save(path, keys, idx, sim, approximate=approx)
    else:
        idx, sim = pool_neighbours(pool, width=width, exact_max=exact_max)
        _save(path, keys, idx, sim, approximate=is_approximate(n, exact_max=exact_max))
    return graph_from_neighbours(pool, idx, sim)


def extend_neighbours(
    pool: np.ndarray, idx: np.ndarray, sim: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour lists of ``pool`` from the lists (``idx``, ``sim``) of its first rows.

    The new rows search the whole pool; each old row's list is merged with its similarities to
    the new rows. The lists keep their length (each row's k + 1 nearest, itself included).
    """
    n_old, width = idx.shape
    new = pool[n_old:]
    new_idx, new_sim = knn(new, pool, k=width)
    out_idx = np.empty((len(pool), width), dtype=np.int64)
    out_sim = np.empty((len(pool), width), dtype=np.float32)
    out_idx[n_old:], out_sim[n_old:] = new_idx, new_sim
    block = knn_block(width + len(new))
    for s in range(0, n_old, block):
        rows = slice(s, min(s + block, n_old))
        # candidates: the row's old list, then every new row
        cand = np.hstack([sim[rows], np.matmul(pool[rows], new.T)])
        top, neg = top_k_negated(cand, width)
        old_top = np.take_along_axis(idx[rows], np.minimum(top, width - 1), axis=1)
        out_idx[rows] = np.where(top < width, old_top, top - width + n_old)
        np.negative(neg, out=out_sim[rows])
    return out_idx, out_sim


def row_keys(pool: np.ndarray) -> np.ndarray:
    """A 64-bit fingerprint of each row's bytes: which rows a saved graph was built on."""
    pool = np.ascontiguousarray(pool, dtype=np.float32)
    digests = b"".join(hashlib.blake2b(row.data, digest_size=8).digest() for row in pool)
    return np.frombuffer(digests, dtype="<u8")


# row keys, neighbour indices, similarities, whether the lists are approximate
Stored = tuple[np.ndarray, np.ndarray, np.ndarray, bool]


def _reusable(stored: Stored, keys: np.ndarray, width: int, *, exact_max: int) -> bool:
    """Whether the saved lists are of the first rows of this pool, as long as it needs, exact if
    it is small, and few enough rows short that extending them beats a new build."""
    old_keys, idx, _, approx = stored
    n, n_new = len(keys), len(keys) - len(old_keys)
    big = is_approximate(n, exact_max=exact_max)
    return (
        n_new >= 0
        and idx.shape == (len(old_keys), width)
        and bool(np.array_equal(old_keys, keys[: len(old_keys)]))
        and (big or not approx)
        and (not big or n_new <= EXTEND_ROWS_PER_ROOT * np.sqrt(n))
    )


def _load(path: Path) -> Stored | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            keys, idx, sim = data["keys"], data["idx"], data["sim"]
            # written before approximate lists existed: exact ones
            approx = bool(data["approximate"]) if "approximate" in data.files else False
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("ignoring unreadable pool graph %s: %s", path, exc)
        return None
    if idx.ndim != 2 or idx.shape != sim.shape or len(idx) != len(keys):
        log.warning("ignoring pool graph %s: %d keys, lists %s", path, len(keys), idx.shape)
        return None
    return keys, idx.astype(np.int64), sim.astype(np.float32), approx


def _save(
    path: Path, keys: np.ndarray, idx: np.ndarray, sim: np.ndarray, *, approximate: bool
) -> None:
    """Write atomically (temporary file + os.replace): a reader sees a whole file or none.

    Not synced: after a power loss a torn file is unreadable, and the graph is built again.
    Indices are stored as int32 (half the size); a pool past 2**31 rows keeps int64.
    """
    small = idx.astype(np.int32) if len(idx) < 2**31 else idx
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = shared_temp_file(path)
    except OSError as exc:  # a read-only or full data dir: the graph is only a cache
        log.warning("cannot save the pool graph %s: %s", path, exc)
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, keys=keys, idx=small, sim=sim, approximate=np.bool_(approximate))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        log.warning("cannot save the pool graph %s: %s", path, exc)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
