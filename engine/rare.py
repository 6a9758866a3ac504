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

A label with no example at all (one just added, or one the cold start missed) has nothing to
search from and a flat score from the head. Given ``label_vectors`` (each label's name and
description embedded like the examples: :func:`label_query`), such a label is searched from its
own words instead: the candidates nearest its name are asked first, until an expert gives it an
example (Attenberg & Provost's search, started from the class description as in zero-shot
retrieval), or until ``NAME_TRIES`` of the examples nearest its name went to other labels.
Without them, labels with no example are left to the cold start. Once every label
reaches ``minimum``, the wrapper is the base.
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

__all__ = ["MIN_EXAMPLES", "RARE_SHARE", "RareClassBoost", "label_query", "rare_labels"]

MIN_EXAMPLES = 5  # as engine/proposals/rare.py: under 5, a 5-fold estimate has empty folds
RARE_SHARE = 0.3  # at most this share of a batch goes to rare labels; the rest to the base
SIM_CHUNK = 32_768  # candidate rows per similarity block: 32k x 500 examples is 64 MB
# A label searched by its name gives up once this many labeled examples read more like its name
# than any unlabeled one still does, none of them labeled as it: the examples nearest the name
# were asked, and experts put them elsewhere (a label the data may not hold, or a name that says
# little). Its neighbours take over from its first example; until then the cold start covers it.
NAME_TRIES = 20
# An unlabeled text this close (cosine) to a rare label's labeled example is a copy of it (the
# encoder ignores case: "What are the exchange rates?" and its lower-case twin read 1.0): asking
# it gathers nothing new, so it is not picked for the label.
NEAR_COPY = 0.99


def label_query(name: str, description: str = "") -> str:
    """The text a label with no examples is searched from: its name in words, and its
    description (the guidelines labelers see) when it has one."""
    words = " ".join(name.replace("_", " ").replace("-", " ").split())
    return f"{words}: {description.strip()}" if description.strip() else words


def rare_labels(counts: np.ndarray, minimum: int = MIN_EXAMPLES) -> np.ndarray:
    """Label ids with fewer than ``minimum`` examples (zero included), rarest first."""
    counts = np.asarray(counts, dtype=np.int64)
    rare = np.flatnonzero(counts < minimum)
    return rare[np.argsort(counts[rare], kind="stable")]


@dataclass
class RareClassBoost:
    """``base`` (a strategy or its registered name) plus rare-label picks; see the module doc.

    Called like any strategy; pass ``labeled_idx`` / ``labeled_y`` (pool rows and label ids of the
    labeled examples) to get the help; without them it is the base strategy. ``label_vectors``
    (n_classes x d, in the embeddings' space) lets labels with no example yet be searched from
    their names.
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
        label_vectors: np.ndarray | None = None,
    ) -> np.ndarray:
        picks, _ = self.select_explained(
            probs=probs, candidates=candidates, n=n, embeddings=embeddings, rng=rng,
            labeled_idx=labeled_idx, labeled_y=labeled_y, n_classes=n_classes,
            label_vectors=label_vectors,
        )  # fmt: skip
        return picks

    def select_explained(
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
        label_vectors: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`select`, and for each pick the label it was asked for: the rare label whose
        help picked it, or -1 for the base strategy's picks (what a labeler is told: "asked to
        find more examples of X")."""
        candidates = np.asarray(candidates, dtype=np.int64)
        if n < 1:
            raise InvalidInputError(f"n must be at least 1; got {n}")
        if len(candidates) == 0:
            raise InvalidInputError("no unlabeled candidates left in the pool")
        if not 0.0 <= self.share <= 1.0:
            raise InvalidInputError(f"share must lie in [0, 1]; got {self.share}")
        n = min(n, len(candidates))
        boost = for_label = np.empty(0, dtype=np.int64)
        if labeled_idx is not None and labeled_y is not None and len(labeled_y):
            boost, for_label = self._rare_picks(
                probs=probs, candidates=candidates, embeddings=embeddings, n=n, rng=rng,
                labeled_idx=np.asarray(labeled_idx, np.int64),
                labeled_y=np.asarray(labeled_y, np.int64), n_classes=n_classes,
                label_vectors=label_vectors,
            )  # fmt: skip
        rest = n - len(boost)
        if rest == 0:
            return boost, for_label
        remaining = (
            np.setdiff1d(candidates, boost, assume_unique=True) if len(boost) else candidates
        )
        picks = self._base().select(probs=probs, candidates=remaining, n=rest,
                                    embeddings=embeddings, rng=rng)  # fmt: skip
        picks = np.asarray(picks, np.int64)
        return np.concatenate([boost, picks]), np.concatenate([for_label, np.full(len(picks), -1)])

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
        label_vectors: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``share * n`` picks, a label at a time (rarest first), until each has enough:
        (candidate rows, the label each was picked for)."""
        if n_classes is None:
            n_classes = probs.shape[1] if probs is not None else int(labeled_y.max()) + 1
        counts = np.bincount(labeled_y, minlength=n_classes)
        rare = rare_labels(counts, self.minimum)
        names = None  # what a label with no example is searched from, when it can be
        if embeddings is not None and label_vectors is not None:
            if len(label_vectors) != n_classes:
                raise InvalidInputError(
                    f"label_vectors has {len(label_vectors)} rows for {n_classes} labels"
                )
            names = _unit(np.array(label_vectors, np.float32))  # a copy: the caller keeps theirs
        if names is None:
            rare = rare[counts[rare] > 0]  # nothing to search from; the cold start covers those
        elif embeddings is not None and (counts[rare] == 0).any():
            unnamed = rare[counts[rare] == 0]
            tried = _tried_by_name(embeddings, candidates, labeled_idx, names[unnamed])
            rare = rare[~np.isin(rare, unnamed[tried >= NAME_TRIES])]
        if len(rare) == 0 or (probs is None and embeddings is None):
            return _no_picks()  # drawn nothing: the base sees the same rng
        # stochastic rounding: a batch of 5 at 30% gets 1 or 2 picks, 1.5 on average
        exact = self.share * n
        slots = min(n, math.floor(exact) + int(rng.random() < exact - math.floor(exact)))
        if slots == 0:
            return _no_picks()
        if embeddings is not None:
            candidates = _without_copies(embeddings, candidates,
                                         labeled_idx[np.isin(labeled_y, rare)])  # fmt: skip
            if len(candidates) == 0:
                return _no_picks()
        need = self.minimum - counts[rare]
        depth = int(need.max()) + slots  # enough ranked rows per label to survive collisions
        sources: list[np.ndarray] = []  # (depth, len(rare)) candidate positions, best first
        if embeddings is not None:
            # what each rare label is searched from: its examples, else its name
            anchors = [
                np.asarray(embeddings[labeled_idx[labeled_y == c]], np.float32)
                if counts[c] or names is None
                else names[c : c + 1]
                for c in rare.tolist()
            ]
            sources.append(_nearest(embeddings, candidates, anchors, depth))
        if probs is not None:
            sources.append(_top_rows(lambda rows: np.asarray(probs[rows][:, rare], np.float32),
                                     candidates, depth))  # fmt: skip
        taken: set[int] = set()
        picks: list[int] = []
        owners: list[int] = []
        cursor = np.zeros((len(sources), len(rare)), dtype=np.int64)
        for step in range(int(need.max())):  # round-robin: every rare label gets its 1st, 2nd...
            for j in np.flatnonzero(need > step):
                # alternate neighbours and model scores; a label with no example yet has no
                # score of its own from the head, so it is searched by its name only
                source = step % len(sources) if counts[rare[j]] else 0
                ranked = sources[source][:, j]
                while cursor[source, j] < len(ranked):
                    pos = int(ranked[cursor[source, j]])
                    cursor[source, j] += 1
                    if pos >= 0 and pos not in taken:
                        taken.add(pos)
                        picks.append(pos)
                        owners.append(int(rare[j]))
                        break
                if len(picks) == slots:
                    return candidates[np.array(picks, np.int64)], np.array(owners, np.int64)
        return candidates[np.array(picks, np.int64)], np.array(owners, np.int64)


def _no_picks() -> tuple[np.ndarray, np.ndarray]:
    """No rare-label picks: (rows, the label each was picked for), both empty."""
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)


def _without_copies(
    embeddings: np.ndarray, candidates: np.ndarray, labeled: np.ndarray
) -> np.ndarray:
    """``candidates`` less those within ``NEAR_COPY`` of an embedding of ``labeled`` rows."""
    if len(labeled) == 0 or len(candidates) == 0:
        return candidates
    examples = _unit(np.asarray(embeddings[labeled], np.float32))
    keep = np.ones(len(candidates), dtype=bool)
    for s in range(0, len(candidates), SIM_CHUNK):
        block = _unit(np.asarray(embeddings[candidates[s : s + SIM_CHUNK]], np.float32))
        keep[s : s + len(block)] = (block @ examples.T).max(axis=1) < NEAR_COPY
    return candidates[keep]


def _nearest(
    embeddings: np.ndarray, candidates: np.ndarray, anchors: list[np.ndarray], depth: int
) -> np.ndarray:
    """(depth, len(anchors)) candidate positions, ranked by max cosine to each label's anchors
    (its examples' embeddings, or its name's)."""
    owner = np.repeat(np.arange(len(anchors)), [len(a) for a in anchors])
    examples = _unit(np.concatenate(anchors).astype(np.float32))
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])

    def similarity(rows: np.ndarray) -> np.ndarray:
        block = _unit(np.asarray(embeddings[rows], np.float32))
        out: np.ndarray = np.maximum.reduceat(block @ examples.T, starts, axis=1)
        return out

    return _top_rows(similarity, candidates, depth)


def _tried_by_name(
    embeddings: np.ndarray, candidates: np.ndarray, labeled_idx: np.ndarray, names: np.ndarray
) -> np.ndarray:
    """Per unit name vector: how many labeled examples lie nearer it (cosine) than the nearest
    unlabeled candidate does -- the examples a search by that name has already had asked."""

    def cosine(rows: np.ndarray) -> np.ndarray:
        out: np.ndarray = _unit(np.asarray(embeddings[rows], np.float32)) @ names.T
        return out

    best = np.full(len(names), -np.inf, dtype=np.float32)
    for s in range(0, len(candidates), SIM_CHUNK):
        best = np.maximum(best, cosine(candidates[s : s + SIM_CHUNK]).max(axis=0))
    tried = np.zeros(len(names), dtype=np.int64)
    for s in range(0, len(labeled_idx), SIM_CHUNK):
        tried += (cosine(labeled_idx[s : s + SIM_CHUNK]) > best).sum(axis=0)
    return tried


def _unit(X: np.ndarray) -> np.ndarray:
    """X's rows scaled to unit length, in place (X is a float32 copy); zero rows stay zero."""
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    return X


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
