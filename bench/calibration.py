"""Does the model's confidence mean what it says? Reliability on held-out texts, old rule vs new.

The training split is the pool (an oracle labels what is picked), the test split is held out: drawn
from the real distribution, so it holds texts of classes with no label yet. For each dataset, pick
mode and seed, labeled sets of 50/100/200/500/1,000 are drawn either at random or by the product's
queue (a k-means cold start of 50, then ``DEFAULT_STRATEGY`` batches of 50 with the ``auto``
classifier, as engine.simulation drives it). Each set trains one model; the previous calibration
(temperature on out-of-fold rows of seen classes, T=1 under 10 of them, nothing for the blend or
for unseen classes) is the same weights with its own temperature. Reported, mean ± std over
seeds: accuracy, mean confidence - accuracy ("gap") and ECE (15 equal-width bins).

The mislabel scan (engine.mislabels) is checked on random labels with 10% of them flipped: the
flags' precision and recall and their median confidence, old temperature rule vs new.

    .venv/bin/python bench/calibration.py [--dataset banking77|clinc150|all] [--seeds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from label_efficiency import dataset_dir, load_split  # noqa: E402

from engine import mislabels  # noqa: E402
from engine.classifier import (  # noqa: E402
    Model,
    PoolGraph,
    absent_classes,
    build_pool_graph,
    choose_kind,
    fit_linear,
    fit_temperature,
    linear_logits,
    stratified_folds,
    train_model,
)
from engine.config import get_settings  # noqa: E402
from engine.embeddings import cache_for, embed_texts  # noqa: E402
from engine.encoders import get_encoder  # noqa: E402
from engine.strategies import DEFAULT_STRATEGY, get_strategy, select_cold_start  # noqa: E402

COUNTS = (50, 100, 200, 500, 1000)
BATCH = 50
BINS = 15
NOISE = 0.1  # share of labels flipped for the mislabel check


def legacy_temperature(X: np.ndarray, y: np.ndarray, *, n_classes: int, seed: int,
                       folds: int = 3) -> float:  # fmt: skip
    """The rule before the fix: seen-class out-of-fold rows only, T=1 under 10 of them."""
    logits, targets, fixed = [], [], []
    for train, test in stratified_folds(y, folds=folds, seed=seed):
        seen = test[np.isin(y[test], y[train])]
        if len(seen):
            w, b = fit_linear(X[train], y[train], n_classes=n_classes)
            logits.append(linear_logits(X[seen], w, b))
            targets.append(y[seen])
            fixed.append(np.broadcast_to(absent_classes(b, w), logits[-1].shape))
    if sum(len(t) for t in targets) < 10:
        return 1.0
    return fit_temperature(np.concatenate(logits), np.concatenate(targets),
                           fixed=np.concatenate(fixed))  # fmt: skip


def reliability(proba: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(accuracy, mean confidence - accuracy, ECE over equal-width confidence bins)."""
    conf, right = proba.max(axis=1), proba.argmax(axis=1) == y
    bins = np.minimum((conf * BINS).astype(int), BINS - 1)
    ece = sum(
        (bins == b).mean() * abs(conf[bins == b].mean() - right[bins == b].mean())
        for b in range(BINS)
        if (bins == b).any()
    )
    return float(right.mean()), float(conf.mean() - right.mean()), float(ece)


def labeled_sets(X: np.ndarray, y: np.ndarray, *, mode: str, seed: int, n_classes: int,
                 graph: PoolGraph) -> dict[int, np.ndarray]:  # fmt: skip
    """Pool rows labeled at each of ``COUNTS``, picked at random or by the product's queue."""
    rng = np.random.default_rng(seed)
    if mode == "random":
        order = rng.permutation(len(y))
        return {n: order[:n] for n in COUNTS}
    strategy = get_strategy(DEFAULT_STRATEGY)
    labeled = select_cold_start(embeddings=X, candidates=np.arange(len(y)), n=BATCH, rng=rng)
    out: dict[int, np.ndarray] = {}
    model: Model | None = None
    kind = "auto"
    for round_no in range(10**6):
        if len(labeled) in COUNTS:
            out[len(labeled)] = labeled.copy()
        if len(labeled) >= COUNTS[-1]:
            return out
        refresh = model is None or round_no % 5 == 0  # as engine.simulation re-chooses
        if refresh:
            kind = choose_kind(X[labeled], y[labeled], n_classes=n_classes, graph=graph,
                               labeled_idx=labeled, seed=seed)  # fmt: skip
        model = train_model(X[labeled], y[labeled], n_classes=n_classes, pool=X, kind=kind,
                            seed=seed, graph=graph, labeled_idx=labeled, warm_start=model,
                            temperature=None if refresh else model.temperature)  # fmt: skip
        candidates = np.setdiff1d(np.arange(len(y)), labeled)
        probs = model.predict_proba_pool() if model.pool is not None else model.predict_proba(X)
        pick = strategy.select(probs=probs, candidates=candidates, n=BATCH, embeddings=X, rng=rng)
        labeled = np.concatenate([labeled, pick])
    raise AssertionError("unreachable")


Row = dict[str, object]


def calibration_rows(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, yt: np.ndarray, *,
                     n_classes: int, seeds: int, graph: PoolGraph) -> list[Row]:  # fmt: skip
    rows: list[dict[str, object]] = []
    for mode in ("random", "queue"):
        for seed in range(seeds):
            for n, lab in labeled_sets(X, y, mode=mode, seed=seed, n_classes=n_classes,
                                       graph=graph).items():  # fmt: skip
                new = train_model(X[lab], y[lab], n_classes=n_classes, pool=X, kind="auto",
                                  seed=seed, graph=graph, labeled_idx=lab)  # fmt: skip
                old_t = legacy_temperature(X[lab], y[lab], n_classes=n_classes, seed=seed)
                old = dataclasses.replace(new, temperature=old_t, blend_temperature=1.0,
                                          unseen=0.0)  # fmt: skip
                p_new = new.predict_proba(Xt)
                never = new.absent()
                rows.append({
                    "mode": mode, "n": n, "seed": seed, "kind": new.kind,
                    "old": reliability(old.predict_proba(Xt), yt),
                    "new": reliability(p_new, yt), "unseen": new.unseen,
                    "truth": float(np.isin(yt, np.flatnonzero(never)).mean()),
                    "absent_argmax": int(never[p_new.argmax(axis=1)].sum()),
                })  # fmt: skip
    return rows


def print_calibration(name: str, rows: list[dict[str, object]]) -> None:
    print(f"\n### {name}: held-out reliability, old vs new (mean ± std over seeds)\n")
    head = ["picks", "labels", "kind", "accuracy", "old gap", "old ECE", "new gap", "new ECE",
            "unseen est. / true", "never-labeled argmax"]  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))

    def ms(values: list[float]) -> str:
        return f"{np.mean(values):+.3f}±{np.std(values):.3f}"

    for mode in ("random", "queue"):
        for n in COUNTS:
            sel = [r for r in rows if r["mode"] == mode and r["n"] == n]
            old = np.array([r["old"] for r in sel])
            new = np.array([r["new"] for r in sel])
            kinds = "/".join(sorted({str(r["kind"]) for r in sel}))
            cells = [mode, str(n), kinds, f"{new[:, 0].mean():.3f}", ms(old[:, 1]),
                     f"{old[:, 2].mean():.3f}", ms(new[:, 1]), f"{new[:, 2].mean():.3f}",
                     f"{np.mean([r['unseen'] for r in sel]):.2f} / "
                     f"{np.mean([r['truth'] for r in sel]):.2f}",
                     str(sum(int(r["absent_argmax"]) for r in sel))]  # type: ignore[call-overload]  # fmt: skip
            print("| " + " | ".join(cells) + " |")


def print_mislabels(name: str, X: np.ndarray, y: np.ndarray, *, n_classes: int,
                    seeds: int) -> None:  # fmt: skip
    print(f"\n### {name}: mislabel scan on random labels, {NOISE:.0%} flipped\n")
    print("| labels | rule | flags | precision | recall | median confidence |")
    print("|---|---|---|---|---|---|")
    for n in (200, 1000):
        stats: dict[str, list[tuple[int, float, float, float]]] = {"old": [], "new": []}
        for seed in range(seeds):
            rng = np.random.default_rng(100 + seed)
            lab = rng.permutation(len(y))[:n]
            given = y[lab].copy()
            flip = rng.random(n) < NOISE
            given[flip] = (given[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
            new_p = mislabels.out_of_fold_proba(X[lab], given, n_classes=n_classes, seed=seed)
            t = legacy_temperature(X[lab], given, n_classes=n_classes, seed=seed,
                                   folds=mislabels.OOF_FOLDS)  # fmt: skip
            old_p = new_p_with(X[lab], given, n_classes=n_classes, seed=seed, temperature=t)
            for rule, probs in (("old", old_p), ("new", new_p)):
                flags = mislabels.find_mislabels(probs, given)
                hit = sum(bool(flip[s.index]) for s in flags)
                conf = float(np.median([s.confidence for s in flags])) if flags else float("nan")
                stats[rule].append((len(flags), hit / max(len(flags), 1),
                                    hit / max(int(flip.sum()), 1), conf))  # fmt: skip
        for rule, got in stats.items():
            a = np.array(got)
            print(f"| {n} | {rule} | {a[:, 0].mean():.1f} | {a[:, 1].mean():.2f} | "
                  f"{a[:, 2].mean():.2f} | {np.nanmean(a[:, 3]):.2f} |")  # fmt: skip


def new_p_with(X: np.ndarray, y: np.ndarray, *, n_classes: int, seed: int,
               temperature: float) -> np.ndarray:  # fmt: skip
    """Out-of-fold probabilities as engine.mislabels makes them, at a given temperature."""
    out = np.empty((len(y), n_classes), dtype=np.float32)
    for train, test in stratified_folds(y, folds=mislabels.OOF_FOLDS, seed=seed):
        w, b = fit_linear(X[train], y[train], n_classes=n_classes)
        z = linear_logits(X[test], w, b)
        z = np.where(absent_classes(b, w), z, z / temperature)
        out[test] = np.exp(z - z.max(axis=1, keepdims=True))
        out[test] /= out[test].sum(axis=1, keepdims=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["banking77", "clinc150", "all"], default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    encoder = get_encoder()
    cache = cache_for(get_settings().data_dir, encoder)
    for name in ["banking77", "clinc150"] if args.dataset == "all" else [args.dataset]:
        directory = dataset_dir(name, args.data_dir)
        (texts, labels), (test_texts, test_labels) = (
            load_split(directory, "train"), load_split(directory, "test"))  # fmt: skip
        ids = {n: i for i, n in enumerate(sorted(set(labels)))}
        X = embed_texts(texts, encoder=encoder, cache=cache)
        Xt = embed_texts(test_texts, encoder=encoder, cache=cache)
        y, yt = np.array([ids[n] for n in labels]), np.array([ids[n] for n in test_labels])
        t0 = time.perf_counter()
        graph = build_pool_graph(X)
        rows = calibration_rows(X, y, Xt, yt, n_classes=len(ids), seeds=args.seeds, graph=graph)
        print_calibration(name, rows)
        print_mislabels(name, X, y, n_classes=len(ids), seeds=args.seeds)
        print(f"\n[{name}] {time.perf_counter() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
