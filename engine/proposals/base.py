"""What every proposal detector shares: the input (:class:`LabeledData`), the output
(:class:`Proposal`) and the out-of-fold probabilities the merge and rare-label checks read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.classifier import fit_linear, fit_temperature, linear_logits, softmax, stratified_folds
from storage.errors import InvalidInputError

OOF_FOLDS = 5
POOL_BLOCK = 65_536  # pool rows scored per matrix product
SAMPLE_EXAMPLES = 3  # example texts shown per side of a proposal: enough to judge, short to read

Key = tuple[str, ...]


@dataclass(frozen=True)
class Proposal:
    """A suggested taxonomy change with the evidence an admin needs to approve or reject it.

    ``key`` identifies the change across runs (``("merge", "A", "B")``, names sorted), so a
    rejected proposal can be held back until ``evidence_strength`` (a count of supporting
    examples) has grown; see :func:`engine.proposals.filter_rejected`.
    """

    kind: str  # "merge" | "split" | "add" | "rare"
    labels: tuple[str, ...]
    score: float  # 0..1, higher = stronger; proposals are ranked by it
    evidence: dict[str, Any]
    key: Key
    message: str
    evidence_strength: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "kind": self.kind,
            "labels": list(self.labels),
            "score": self.score,
            "evidence": self.evidence,
            "key": list(self.key),
            "message": self.message,
            "evidence_strength": self.evidence_strength,
        }


# Where a proposal's message names labels: ``evidence[MESSAGE_NAMES]`` lists ``[offset, name]``
# for each label name the detector put in its message, ``[offset, name, "suggested"]`` for each
# new label's name it suggests. A rename (or a suggestion given a free name) rewrites those
# spans only (storage.repositories.proposals), never the detector's own words around them:
# "closer to each other than to any label" stays as it is when a label "other" is renamed.
MESSAGE_NAMES = "message_names"
SUGGESTED = "suggested"

Part = str | tuple[str] | tuple[str, str]  # text, a label's name, (a suggested name, SUGGESTED)


def spelled(*parts: Part) -> tuple[str, list[list[Any]]]:
    """A message joined from ``parts`` (text, and names as tuples) and where it names them
    (:data:`MESSAGE_NAMES`): ``spelled("Merge ", ("a",), "?")`` gives
    ``("Merge a?", [[6, "a"]])``."""
    text, names = "", []
    for part in parts:
        if isinstance(part, tuple):
            names.append([len(text), *part])
            text += part[0]
        else:
            text += part
    return text, names


def quoted(name: str) -> tuple[Part, ...]:
    """A suggested name as the detectors quote it (``{name!r}``), marked where the quotes hold
    it whole."""
    return ("'", (name, SUGGESTED), "'") if repr(name) == f"'{name}'" else (repr(name),)


@dataclass(frozen=True)
class LabeledData:
    """The labeled examples of a project, as the detectors read them.

    ``embeddings`` (n, d) and ``labels`` (n,) ids into ``label_names`` describe the labeled
    examples; ``texts`` (n) are shown as evidence; ``example_ids`` (default: row numbers) are what
    evidence cites. ``oof_proba`` (n, C) are out-of-fold probabilities; computed by
    :func:`out_of_fold_proba` when not given.
    ``pool_embeddings`` (m, d), with optional ``pool_texts`` and ``pool_ids``, are the project's
    unlabeled examples: the split check also reads each label with the pool examples a linear
    head on the labeled ones assigns to it (:meth:`pool_members`).
    """

    embeddings: np.ndarray
    labels: np.ndarray
    label_names: Sequence[str]
    texts: Sequence[str] | None = None
    example_ids: np.ndarray | None = None
    oof_proba: np.ndarray | None = None
    pool_embeddings: np.ndarray | None = None
    pool_texts: Sequence[str] | None = None
    pool_ids: np.ndarray | None = None
    _unit: np.ndarray = field(init=False, repr=False, compare=False)
    _pool: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        X = np.asarray(self.embeddings, dtype=np.float32)
        y = np.asarray(self.labels, dtype=np.int64)
        n_classes = len(self.label_names)
        if X.ndim != 2 or len(X) != len(y):
            raise InvalidInputError(
                f"need (n, d) embeddings and (n,) labels; got {X.shape}, {y.shape}"
            )
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise InvalidInputError(f"label ids must lie in [0, {n_classes})")
        if self.texts is not None and len(self.texts) != len(y):
            raise InvalidInputError(f"{len(self.texts)} texts for {len(y)} examples")
        if self.oof_proba is not None and np.shape(self.oof_proba) != (len(y), n_classes):
            raise InvalidInputError(f"oof_proba must be ({len(y)}, {n_classes})")
        object.__setattr__(self, "embeddings", X)
        object.__setattr__(self, "labels", y)
        object.__setattr__(self, "_unit", unit_rows(X))
        object.__setattr__(self, "_pool", {})
        if self.pool_embeddings is not None:
            P = np.asarray(self.pool_embeddings, dtype=np.float32).reshape(-1, X.shape[1])
            if self.pool_texts is not None and len(self.pool_texts) != len(P):
                raise InvalidInputError(f"{len(self.pool_texts)} texts for {len(P)} pool rows")
            if self.pool_ids is not None and len(self.pool_ids) != len(P):
                raise InvalidInputError(f"{len(self.pool_ids)} ids for {len(P)} pool rows")
            object.__setattr__(self, "pool_embeddings", P)

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    @property
    def unit(self) -> np.ndarray:
        """Embeddings scaled to unit length (cosine geometry)."""
        return self._unit

    def counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.n_classes)

    def ids(self, rows: np.ndarray) -> list[int]:
        """The ids evidence cites for these rows."""
        ids = self.example_ids if self.example_ids is not None else np.arange(len(self.labels))
        return [int(i) for i in np.asarray(ids)[rows]]

    def samples(self, rows: np.ndarray, n: int = SAMPLE_EXAMPLES) -> list[dict[str, Any]]:
        """Up to n cited examples ({"id", "text"}) from ``rows``, in the given order."""
        return _cite(rows, n, ids=self.example_ids, texts=self.texts)

    @property
    def has_pool(self) -> bool:
        return self.pool_embeddings is not None and len(self.pool_embeddings) > 0

    def pool_members(self, c: int, *, limit: int, seed: int = 0) -> np.ndarray:
        """Unlabeled pool rows a linear head on the labeled examples assigns to label ``c``
        (a seeded sample of at most ``limit``; empty without a pool)."""
        if not self.has_pool:
            return np.zeros(0, dtype=np.int64)
        assert self.pool_embeddings is not None
        if "predicted" not in self._pool:
            w, b = fit_linear(self.embeddings, self.labels, n_classes=self.n_classes)
            predicted = np.empty(len(self.pool_embeddings), dtype=np.int64)
            for s in range(0, len(predicted), POOL_BLOCK):
                block = self.pool_embeddings[s : s + POOL_BLOCK]
                predicted[s : s + POOL_BLOCK] = linear_logits(block, w, b).argmax(axis=1)
            self._pool["predicted"] = predicted
        rows = np.flatnonzero(self._pool["predicted"] == c)
        if len(rows) > limit:
            rows = np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))
        return rows

    def pool_unit(self, rows: np.ndarray) -> np.ndarray:
        assert self.pool_embeddings is not None
        return unit_rows(self.pool_embeddings[rows])

    def pool_samples(self, rows: np.ndarray, n: int = SAMPLE_EXAMPLES) -> list[dict[str, Any]]:
        """Like :meth:`samples`, for pool rows (unlabeled examples)."""
        return [
            {**cited, "unlabeled": True}
            for cited in _cite(rows, n, ids=self.pool_ids, texts=self.pool_texts)
        ]

    def proba(self, *, seed: int = 0) -> np.ndarray:
        """The given out-of-fold probabilities, or freshly computed ones."""
        if self.oof_proba is not None:
            return np.asarray(self.oof_proba, dtype=np.float32)
        return out_of_fold_proba(self.embeddings, self.labels, n_classes=self.n_classes, seed=seed)


def _cite(
    rows: np.ndarray, n: int, *, ids: np.ndarray | None, texts: Sequence[str] | None
) -> list[dict[str, Any]]:
    """{"id", "text"} of the first n of ``rows`` (ids default to the row numbers)."""
    return [
        {
            "id": int(ids[r]) if ids is not None else r,
            "text": texts[r] if texts is not None else None,
        }
        for r in np.asarray(rows, dtype=np.int64)[:n].tolist()
    ]


def unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    out: np.ndarray = X / np.where(norms > 0, norms, 1.0)
    return out


def label_means(data: LabeledData) -> np.ndarray:
    """(C, d) mean of each label's unit embeddings; zero rows for labels without examples."""
    sums = np.zeros((data.n_classes, data.unit.shape[1]), dtype=np.float64)
    np.add.at(sums, data.labels, data.unit)
    out: np.ndarray = sums / np.maximum(data.counts(), 1)[:, None]
    return out


def centroids(data: LabeledData) -> np.ndarray:
    """(C, d) unit mean direction of each label; zero rows for labels without examples."""
    return unit_rows(label_means(data)).astype(np.float32)


def out_of_fold_proba(
    X: np.ndarray, y: np.ndarray, *, n_classes: int, folds: int = OOF_FOLDS, seed: int = 0
) -> np.ndarray:
    """(n, C) probabilities of each example from a linear head that never saw it.

    Confident learning needs held-out probabilities (Northcutt et al. 2021, "Confident learning:
    estimating uncertainty in dataset labels"): a head predicts its own training labels almost
    perfectly, which would hide every confusion. One temperature, fit on the pooled out-of-fold
    logits (Guo et al. 2017), makes the soft confusion mass meaningful. Rows of examples in a
    class too small to hold out are the uniform distribution.
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    logits = np.zeros((len(y), n_classes), dtype=np.float32)
    done = np.zeros(len(y), dtype=bool)
    for train, test in stratified_folds(y, folds=folds, seed=seed, X=X):
        w, b = fit_linear(X[train], y[train], n_classes=n_classes)
        logits[test] = linear_logits(X[test], w, b)
        done[test] = True
    if not done.any():
        return np.full((len(y), n_classes), 1.0 / max(n_classes, 1), dtype=np.float32)
    t = fit_temperature(logits[done], y[done])
    out = softmax(logits / t)
    out[~done] = 1.0 / n_classes
    return out
