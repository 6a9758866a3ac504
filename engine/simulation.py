"""Simulated active learning: an oracle labels whatever the strategy picks from a labeled pool.

Used by ``labelbot simulate``, the demo and ``bench/label_efficiency.py`` to show how many labels a
strategy needs. Test labels are only ever used to score a trained model, never to choose anything.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.classifier import Model, PoolGraph, build_pool_graph, choose_kind, train_model
from engine.evaluation import metrics_from_predictions
from engine.rare import RareClassBoost
from engine.strategies import get_strategy, select_cold_start
from storage.errors import InvalidInputError
from storage.hashing import normalize_text

__all__ = [
    "SimulationResult",
    "as_read",
    "check_test_overlap",
    "compare_strategies",
    "labels_to_reach",
    "simulate",
]

Progress = Callable[[int, int, float, float], None]  # (run, labels, accuracy, macro_f1)
RESELECT_EVERY = 5  # rounds between re-choosing the kind (and refitting the temperature)
# A test set this much of which the pool holds too scores memory, not learning: refused.
MAX_TEST_OVERLAP = 0.5


@dataclass
class SimulationResult:
    """Learning curves per seed, their mean, and the all-labels ceiling."""

    strategy: str
    kind: str
    runs: list[list[dict[str, float]]]
    ceiling: dict[str, float]
    curve: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.curve and self.runs:
            self.curve = [
                {
                    "labels": pts[0]["labels"],
                    "accuracy": float(np.mean([p["accuracy"] for p in pts])),
                    "macro_f1": float(np.mean([p["macro_f1"] for p in pts])),
                }
                for pts in zip(*self.runs, strict=True)
            ]

    def to_json(self) -> dict[str, Any]:
        """JSON-able: strategy, kind, mean curve, per-seed runs and the ceiling (label counts
        as whole numbers, as the table shows them)."""
        return {
            "strategy": self.strategy,
            "kind": self.kind,
            "curve": [_counted(p) for p in self.curve],
            "runs": [[_counted(p) for p in run] for run in self.runs],
            "ceiling": _counted(self.ceiling),
        }


def _counted(point: dict[str, float]) -> dict[str, Any]:
    return {**point, "labels": int(point["labels"])} if "labels" in point else dict(point)


def labels_to_reach(
    result: SimulationResult, fraction: float, ceiling: float | None = None
) -> int | None:
    """Fewest labels at which the mean curve reaches ``fraction`` of the ceiling's accuracy."""
    goal = fraction * (result.ceiling["accuracy"] if ceiling is None else ceiling)
    return next((int(p["labels"]) for p in result.curve if p["accuracy"] >= goal), None)


def as_read(text: str) -> str:
    """``text`` as an uncased encoder reads it (the default one's tokenizer: BERT's): the same
    key for texts that differ only in letter case, accents, zero-width or other invisible
    (format and control) characters, or whitespace. Two such texts are one point to the model,
    so a test row that is a training row in capitals is no held-out row."""
    decomposed = unicodedata.normalize("NFD", normalize_text(text).casefold())
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in _UNREAD)
    return " ".join(unicodedata.normalize("NFC", kept).split())


# what an uncased tokenizer drops: accents (combining marks, once decomposed), format characters
# (zero-width spaces and joiners, a BOM, direction marks) and control characters
_UNREAD = frozenset({"Mn", "Cf", "Cc"})


def check_test_overlap(pool_texts: Sequence[str], test_texts: Sequence[str]) -> int:
    """How many test texts are in the pool too (the same text as the encoder reads it: letter
    case, accents and invisible characters aside, :func:`as_read`): the model is scored on
    labels it trained on, and reads better than it is. InvalidInputError when that is
    ``MAX_TEST_OVERLAP`` of the test set or more."""
    pool = {as_read(t) for t in pool_texts}
    shared = sum(1 for t in test_texts if as_read(t) in pool)
    if test_texts and shared / len(test_texts) >= MAX_TEST_OVERLAP:
        raise InvalidInputError(
            f"{shared} of the {len(test_texts)} test rows ({shared / len(test_texts):.0%}) are "
            "in the training file too: the scores would measure what the model memorised, not "
            "how it does on new text; test on held-out rows"
        )
    return shared


def simulate(
    pool_X: np.ndarray,
    pool_y: np.ndarray,
    test_X: np.ndarray,
    test_y: np.ndarray,
    *,
    strategy: str,
    budget: int,
    batch: int = 50,
    seed_size: int | None = None,
    seeds: int = 3,
    first_seed: int = 0,
    kind: str = "auto",
    checkpoints: Sequence[int] | None = None,
    progress: Progress | None = None,
    n_classes: int | None = None,
    graph: PoolGraph | None = None,
    ceiling: dict[str, float] | None = None,
) -> SimulationResult:
    """Run ``seeds`` active-learning simulations of ``strategy`` up to ``budget`` labels.

    The first ``seed_size`` labels (default: one per class, rounded up to a whole batch) come from
    the k-means cold start, or at random for the ``random`` strategy. Test accuracy and macro-F1 are
    recorded after every batch, or only at ``checkpoints`` (label counts) when given. Run ``i``
    draws with seed ``first_seed + i`` (``progress`` is told ``i``): the same arguments give the
    same curves.
    """
    pool_X = np.asarray(pool_X, np.float32)
    pool_y = np.asarray(pool_y, np.int64)
    n_classes = n_classes or int(max(pool_y.max(), np.max(test_y)) + 1)
    if budget < 1 or batch < 1 or seeds < 1:
        raise InvalidInputError("budget, batch and seeds must be at least 1")
    if first_seed < 0:  # numpy refuses a negative seed with a ValueError
        raise InvalidInputError(f"the seed must be at least 0 (got {first_seed})")
    if np.unique(pool_y).size < 2:  # a classifier of one class is right by construction
        raise InvalidInputError(
            f"the pool has labels of {np.unique(pool_y).size} class: a simulation needs at "
            "least 2 (as training does)"
        )
    budget = min(budget, len(pool_y))
    seed_size = seed_size or math.ceil(n_classes / batch) * batch
    seed_size = min(seed_size, budget)
    get_strategy(strategy)  # fail fast on an unknown name
    if kind != "linear" and graph is None:
        graph = build_pool_graph(pool_X)
    if ceiling is None:
        ceiling = ceiling_of(
            pool_X, pool_y, test_X, test_y, n_classes=n_classes, kind=kind, graph=graph,
            seed=first_seed,
        )  # fmt: skip
    runs = [
        _one_run(pool_X, pool_y, test_X, test_y, strategy=strategy, budget=budget, batch=batch,
                 seed_size=seed_size, seed=first_seed + s, run=s, kind=kind,
                 checkpoints=checkpoints, progress=progress, n_classes=n_classes, graph=graph)
        for s in range(seeds)
    ]  # fmt: skip
    return SimulationResult(strategy=strategy, kind=kind, runs=runs, ceiling=ceiling)


def compare_strategies(
    pool_X: np.ndarray,
    pool_y: np.ndarray,
    test_X: np.ndarray,
    test_y: np.ndarray,
    *,
    strategies: Sequence[str],
    kind: str = "auto",
    **kwargs: Any,
) -> list[SimulationResult]:
    """:func:`simulate` for several strategies (e.g. ``["margin", "random"]``), one ceiling."""
    pool_X = np.asarray(pool_X, np.float32)
    graph = kwargs.pop("graph", None)
    if kind != "linear" and graph is None:
        graph = build_pool_graph(pool_X)
    n_classes = kwargs.pop("n_classes", None) or int(max(np.max(pool_y), np.max(test_y)) + 1)
    ceiling = ceiling_of(pool_X, pool_y, test_X, test_y, n_classes=n_classes, kind=kind,
                         graph=graph, seed=kwargs.get("first_seed", 0))  # fmt: skip
    return [
        simulate(pool_X, pool_y, test_X, test_y, strategy=s, kind=kind, graph=graph,
                 n_classes=n_classes, ceiling=ceiling, **kwargs)
        for s in strategies
    ]  # fmt: skip


def ceiling_of(
    pool_X: np.ndarray,
    pool_y: np.ndarray,
    test_X: np.ndarray,
    test_y: np.ndarray,
    *,
    n_classes: int,
    kind: str,
    graph: PoolGraph | None,
    seed: int = 0,
) -> dict[str, float]:
    """Test scores of the same kind of model trained on every pool label."""
    idx = np.arange(len(pool_y))
    model = train_model(pool_X, pool_y, n_classes=n_classes, pool=pool_X, kind=kind, graph=graph,
                        labeled_idx=idx, calibrate=False, seed=seed)  # fmt: skip
    acc, f1 = _score(model, test_X, test_y, n_classes)
    return {"accuracy": acc, "macro_f1": f1, "labels": float(len(pool_y))}


def _one_run(
    pool_X: np.ndarray,
    pool_y: np.ndarray,
    test_X: np.ndarray,
    test_y: np.ndarray,
    *,
    strategy: str,
    budget: int,
    batch: int,
    seed_size: int,
    seed: int,
    run: int,
    kind: str,
    checkpoints: Sequence[int] | None,
    progress: Progress | None,
    n_classes: int,
    graph: PoolGraph | None,
) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    strat = get_strategy(strategy)
    all_idx = np.arange(len(pool_y))
    if strategy == "random":
        labeled = rng.choice(all_idx, seed_size, replace=False)
    else:
        labeled = select_cold_start(embeddings=pool_X, candidates=all_idx, n=seed_size, rng=rng)
    wanted = set(checkpoints) if checkpoints is not None else None
    curve: list[dict[str, float]] = []
    model: Model | None = None
    chosen = kind
    for round_no in range(10**9):
        n = len(labeled)
        last = n >= budget
        record = wanted is None or n in wanted or last
        if record or strategy != "random":  # random needs no model to pick its next batch
            refresh = model is None or round_no % RESELECT_EVERY == 0
            if kind == "auto" and refresh:
                chosen = choose_kind(pool_X[labeled], pool_y[labeled], n_classes=n_classes,
                                     graph=graph, labeled_idx=labeled, seed=seed)  # fmt: skip
            model = train_model(
                pool_X[labeled], pool_y[labeled], n_classes=n_classes, pool=pool_X,
                kind=chosen, seed=seed, graph=graph, labeled_idx=labeled, warm_start=model,
                temperature=None if refresh or model is None else model.temperature,
            )  # fmt: skip
        if record and model is not None:
            acc, f1 = _score(model, test_X, test_y, n_classes)
            curve.append({"labels": float(n), "accuracy": acc, "macro_f1": f1})
            if progress is not None:
                progress(run, n, acc, f1)
        if last:
            return curve
        candidates = np.setdiff1d(all_idx, labeled, assume_unique=True)
        probs = None
        if model is not None and strategy != "random":
            probs = model.predict_proba_pool() if model.pool is not None else (
                model.predict_proba(pool_X))  # fmt: skip
        extra = {}
        if isinstance(strat, RareClassBoost):  # it needs to know what is labeled so far
            extra = {"labeled_idx": labeled, "labeled_y": pool_y[labeled], "n_classes": n_classes}
        pick = strat.select(probs=probs, candidates=candidates, n=min(batch, budget - n),
                            embeddings=pool_X, rng=rng, **extra)  # fmt: skip
        labeled = np.concatenate([labeled, pick])
    raise AssertionError("unreachable")


def _score(model: Model, X: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[float, float]:
    pred = model.predict_proba(np.asarray(X, np.float32)).argmax(axis=1)
    m = metrics_from_predictions(np.asarray(y, np.int64), pred, n_classes=n_classes)
    return m.accuracy, m.macro_f1
