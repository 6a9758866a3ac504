"""Help for rare labels: mix their likely examples into each batch until each has a few.

A label with one or two examples is nearly invisible to uncertainty sampling: the head gives it
little probability mass, so its examples are rarely uncertain *between it and something else*.
:class:`RareClassBoost` wraps any query strategy and gives up to ``share`` of each batch to the
labels under ``minimum`` examples, alternating two sources per label:

* nearest unlabeled neighbours of the label's examples (cosine on the embeddings), which works
  from the first example, before the model knows the label (the kNN view of Attenberg & Provost
  2010, "Why label when you can search?", who find guided search beats uncertainty for rare
  classes);
* the candidates the model scores highest for the label (Attenberg & Provost's "guided learning":
  ask for examples of the class rather than about the boundary).

Labels with no example at all are left to the cold start: there is nothing to search from and
the head's score for them is flat. Once every label reaches ``minimum``, the wrapper is the base.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from storage.errors import InvalidInputError

if TYPE_CHECKING:
    from engine.strategies import QueryStrategy

__all__ = ["MIN_EXAMPLES", "RARE_SHARE", "RareClassBoost", "rare_labels"]

MIN_EXAMPLES = 5  # as engine/proposals/rare.py: under 5, a 5-fold estimate has empty folds
RARE_SHARE = 0.3  # at most this share of a batch goes to rare labels; the rest to the base
SIM_CHUNK = 32_768  # candidate rows per similarity block: 32k x 500 examples is 64 MB


def rare_labels(counts: np.ndarray, minimum: int = MIN_EXAMPLES) -> np.ndarray:
    """Label ids with fewer than ``minimum`` examples (zero included), rarest first."""
    counts = np.asarray(counts, dtype=np.int64)
    rare = np.flatnonzero(counts < minimum)
    return rare[np.argsort(counts[rare], kind="stable")]


@dataclass
class RareClassBoost:
    """``base`` (a strategy or its registered name) plus rare-label picks; see the module doc.

    Called like any strategy; pass ``labeled_idx`` / ``labeled_y`` (pool rows and label ids of the
    labeled examples) to get the help; without them it is the base strategy.
    """

    base: QueryStrategy | str = "diverse_margin"
    minimum: int = MIN_EXAMPLES
    share: float = RARE_SHARE
    name: str = "rare_boost"

    def select(
        self,
        *,
        probs: np.ndarray | None,
        candidates: np.ndarray,
        n: int,
        embeddings: np.ndarray | None,
        rng: np.random.Generator,
        labeled_idx: np.ndarray | None = None,
        labeled_y: np.ndarray | None = None,
        n_classes: int | None = None,
    ) -> np.ndarray:
        candidates = np.asarray(candidates, dtype=np.int64)
        if n < 1:
            raise InvalidInputError(f"n must be at least 1; got {n}")
        if len(candidates) == 0:
            raise InvalidInputError("no unlabeled candidates left in the pool")
        if not 0.0 <= self.share <= 1.0:
            raise InvalidInputError(f"share must lie in [0, 1]; got {self.share}")
        n = min(n, len(candidates))
        boost = np.empty(0, dtype=np.int64)
        if labeled_idx is not None and labeled_y is not None and len(labeled_y):
            boost = self._rare_picks(
                probs=probs, candidates=candidates, embeddings=embeddings, n=n, rng=rng,
                labeled_idx=np.asarray(labeled_idx, np.int64),
                labeled_y=np.asarray(labeled_y, np.int64), n_classes=n_classes,
            )  # fmt: skip
        rest = n - len(boost)
        if rest == 0:
            return boost
        remaining = (
            np.setdiff1d(candidates, boost, assume_unique=True) if len(boost) else candidates
        )
        picks = self._base().select(probs=probs, candidates=remaining, n=rest,
                                    embeddings=embeddings, rng=rng)  # fmt: skip
        return np.concatenate([boost, np.asarray(picks, np.int64)])

    def _base(self) -> QueryStrategy:
        if isinstance(self.base, str):
            from engine.strategies import get_strategy  # lazy: strategies may register this class

            return get_strategy(self.base)
        return self.base

    def _rare_picks(
        self,
        *,
        probs: np.ndarray | None,
        candidates: np.ndarray,
        embeddings: np.ndarray | None,
        n: int,
        rng: np.random.Generator,
        labeled_idx: np.ndarray,
        labeled_y: np.ndarray,
        n_classes: int | None,
    ) -> np.ndarray:
        """Up to ``share * n`` picks, a label at a time (rarest first), until each has enough."""
        if n_classes is None:
            n_classes = probs.shape[1] if probs is not None else int(labeled_y.max()) + 1
        counts = np.bincount(labeled_y, minlength=n_classes)
        rare = rare_labels(counts, self.minimum)
        rare = rare[counts[rare] > 0]  # no example to search from; cold start covers those
        if len(rare) == 0 or (probs is None and embeddings is None):
            return np.empty(0, dtype=np.int64)  # drawn nothing: the base sees the same rng
        # stochastic rounding: a batch of 5 at 30% gets 1 or 2 picks, 1.5 on average
        exact = self.share * n
        slots = min(n, math.floor(exact) + int(rng.random() < exact - math.floor(exact)))
        if slots == 0:
            return np.empty(0, dtype=np.int64)
        need = self.minimum - counts[rare]
        depth = int(need.max()) + slots  # enough ranked rows per label to survive collisions
        sources: list[np.ndarray] = []  # (depth, len(rare)) candidate positions, best first
        if embeddings is not None:
            sources.append(_nearest(embeddings, candidates, labeled_idx, labeled_y, rare, depth))
        if probs is not None:
            sources.append(_top_rows(lambda rows: np.asarray(probs[rows][:, rare], np.float32),
                                     candidates, depth))  # fmt: skip
        taken: set[int] = set()
        picks: list[int] = []
        cursor = np.zeros((len(sources), len(rare)), dtype=np.int64)
        for step in range(int(need.max())):  # round-robin: every rare label gets its 1st, 2nd...
            for j in np.flatnonzero(need > step):
                source = step % len(sources)  # alternate neighbours and model scores
                ranked = sources[source][:, j]
                while cursor[source, j] < len(ranked):
                    pos = int(ranked[cursor[source, j]])
                    cursor[source, j] += 1
                    if pos >= 0 and pos not in taken:
                        taken.add(pos)
                        picks.append(pos)
                        break
                if len(picks) == slots:
                    return candidates[np.array(picks, dtype=np.int64)]
        return candidates[np.array(picks, dtype=np.int64)]


def _nearest(
    embeddings: np.ndarray,
    candidates: np.ndarray,
    labeled_idx: np.ndarray,
    labeled_y: np.ndarray,
    rare: np.ndarray,
    depth: int,
) -> np.ndarray:
    """(depth, len(rare)) candidate positions, ranked by max cosine to each label's examples."""
    members = [labeled_idx[labeled_y == c] for c in rare]
    owner = np.repeat(np.arange(len(rare)), [len(m) for m in members])
    examples = np.asarray(embeddings[np.concatenate(members)], np.float32)
    examples /= np.maximum(np.linalg.norm(examples, axis=1, keepdims=True), 1e-12)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])

    def similarity(rows: np.ndarray) -> np.ndarray:
        block = np.asarray(embeddings[rows], np.float32)
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        out: np.ndarray = np.maximum.reduceat(block @ examples.T, starts, axis=1)
        return out

    return _top_rows(similarity, candidates, depth)


def _top_rows(
    score: Callable[[np.ndarray], np.ndarray], candidates: np.ndarray, depth: int
) -> np.ndarray:
    """Per column of ``score``, positions in ``candidates`` of the ``depth`` highest, best first.

    Scores a block of candidates at a time so a 1M pool needs no (pool x labels) matrix; -1 pads.
    """
    best_pos: np.ndarray | None = None
    best_val: np.ndarray | None = None
    for s in range(0, len(candidates), SIM_CHUNK):
        vals = score(candidates[s : s + SIM_CHUNK])
        pos = np.broadcast_to(np.arange(s, s + len(vals))[:, None], vals.shape)
        if best_val is not None and best_pos is not None:
            vals = np.concatenate([best_val, vals])
            pos = np.concatenate([best_pos, pos])
        k = min(depth, len(vals))
        top = np.argpartition(-vals, k - 1, axis=0)[:k]
        best_val = np.take_along_axis(vals, top, axis=0)
        best_pos = np.take_along_axis(pos, top, axis=0)
    if best_val is None or best_pos is None:
        return np.empty((0, 0), dtype=np.int64)
    order = np.argsort(-best_val, axis=0, kind="stable")
    ranked = np.take_along_axis(best_pos, order, axis=0)
    pad = np.full((depth - len(ranked), ranked.shape[1]), -1, dtype=np.int64)
    return np.concatenate([ranked.astype(np.int64), pad])
