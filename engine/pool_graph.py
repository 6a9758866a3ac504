"""The project's kNN pool graph, kept on disk and extended as examples are imported.

Building the graph compares every pool row with every other: quadratic, about a minute at 50k
examples on 2 cores. Every process used to build it again (each ``labelbot train``, each worker
or server start, each training after an import). The graph's neighbour lists are now saved
beside the embedding cache, ``<data_dir>/graphs/<encoder>/project-<id>.npz``, with a fingerprint
of each row's embedding. A later build whose pool starts with the same rows loads them. It then
computes only what the m new rows change: their own neighbours (m x n) and whether they enter the
old rows' lists (n_old x m). So an import costs O(m n d) instead of O(n^2 d).

The result is the exact kNN graph, as a fresh build gives. Where two candidates have exactly the
same similarity at the k-th place, the one kept may differ from a fresh build's (both are
exact). It is deterministic: the same pools in the same order give the same graph.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from engine.classifier import (
    PoolGraph,
    graph_from_neighbours,
    graph_k,
    knn,
    knn_block,
    top_k_negated,
)

__all__ = ["DEFAULT_K", "TEMP_NAME", "extend_neighbours", "graph_path", "pool_graph", "row_keys"]

log = logging.getLogger(__name__)

DEFAULT_K = 10  # build_pool_graph's default: what train_model and cross-validation build
# The temporary file _save writes beside a graph (".project-7.npz.<8 random characters>.tmp",
# tempfile.mkstemp's): a process killed while writing leaves it (engine.training.remove_leftovers)
TEMP_NAME = re.compile(r"\.project-\d+\.npz\.[a-z0-9_]{8}\.tmp")


def graph_path(data_dir: Path, *, encoder: str, project_id: int) -> Path:
    """Where a project's graph is kept: one file per project and encoder."""
    return Path(data_dir) / "graphs" / encoder / f"project-{project_id}.npz"


def pool_graph(pool: np.ndarray, *, path: Path, k: int = DEFAULT_K) -> PoolGraph:
    """The kNN graph of ``pool`` (unit rows), reusing and updating the lists saved at ``path``."""
    pool = np.ascontiguousarray(pool, dtype=np.float32)
    width = graph_k(len(pool), k) + 1  # each row's list holds the row itself
    keys = row_keys(pool)
    stored = _load(path)
    if stored is not None and _extends(stored, keys, width):
        old_keys, idx, sim = stored
        if len(old_keys) < len(pool):
            idx, sim = extend_neighbours(pool, idx, sim)
            _save(path, keys, idx, sim)
    else:
        idx, sim = knn(pool, pool, k=width)
        _save(path, keys, idx, sim)
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


Stored = tuple[np.ndarray, np.ndarray, np.ndarray]  # row keys, neighbour indices, similarities


def _extends(stored: Stored, keys: np.ndarray, width: int) -> bool:
    """Whether the saved lists are of the first rows of this pool, and as long as it needs."""
    old_keys, idx, _ = stored
    return (
        len(old_keys) <= len(keys)
        and idx.shape == (len(old_keys), width)
        and bool(np.array_equal(old_keys, keys[: len(old_keys)]))
    )


def _load(path: Path) -> Stored | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            keys, idx, sim = data["keys"], data["idx"], data["sim"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("ignoring unreadable pool graph %s: %s", path, exc)
        return None
    if idx.ndim != 2 or idx.shape != sim.shape or len(idx) != len(keys):
        log.warning("ignoring pool graph %s: %d keys, lists %s", path, len(keys), idx.shape)
        return None
    return keys, idx.astype(np.int64), sim.astype(np.float32)


def _save(path: Path, keys: np.ndarray, idx: np.ndarray, sim: np.ndarray) -> None:
    """Write atomically (temporary file + os.replace): a reader sees a whole file or none.

    Not synced: after a power loss a torn file is unreadable, and the graph is built again.
    Indices are stored as int32 (half the size); a pool past 2**31 rows keeps int64.
    """
    small = idx.astype(np.int32) if len(idx) < 2**31 else idx
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # a read-only or full data dir: the graph is only a cache
        log.warning("cannot save the pool graph %s: %s", path, exc)
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, keys=keys, idx=small, sim=sim)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        log.warning("cannot save the pool graph %s: %s", path, exc)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
