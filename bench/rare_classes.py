"""How many labels until every class has 5 examples? Banking77 with its real class mix, by oracle.

Banking77's training split is imbalanced (35 to 187 examples per class). Each run labels it by
oracle in batches of 50 from a 100-label start (k-means cold start; random for random sampling),
retraining the linear head after each batch, and records the label count at which every one of the
77 classes first has at least ``--minimum`` examples (capped at ``--cap``). Strategies: random
sampling, the default strategy, and the default wrapped in :class:`engine.rare.RareClassBoost`
(30% of each batch for labels under the minimum), without and with its search by label name for
labels with no example yet (``+names``: the label's name in words, embedded like the examples).
Test accuracy at 1,000 labels shows what the help costs or buys the model.

A second experiment adds a label mid-project: one of ``--added`` seeded random classes is left
out of the taxonomy while the queue labels the first ``--added-at`` labels (the expert skips
its examples), then added; the table counts the labels after the add until the new label has
its first and its 5th example, with and without the search by name.

    .venv/bin/python bench/rare_classes.py [--seeds 3] [--cap 3000] [--minimum 5] [--json out.json]
        [--added 10] [--added-at 500]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.classifier import Model, train_model  # noqa: E402
from engine.config import get_settings  # noqa: E402
from engine.datasets import dataset_path, load_split  # noqa: E402
from engine.embeddings import cache_for, embed_texts  # noqa: E402
from engine.encoders import get_encoder  # noqa: E402
from engine.rare import RareClassBoost, label_query  # noqa: E402
from engine.strategies import DEFAULT_STRATEGY, get_strategy, select_cold_start  # noqa: E402

BATCH = 50
ACCURACY_AT = 1000
CONFIGS = ("random", DEFAULT_STRATEGY, f"{DEFAULT_STRATEGY}+rare_boost",
           f"{DEFAULT_STRATEGY}+rare_boost+names")  # fmt: skip


def labels_until_minimum(order: np.ndarray, y: np.ndarray, *, n_classes: int,
                         minimum: int) -> int | None:  # fmt: skip
    """The label count at which every class first has ``minimum`` examples, or None."""
    seen = np.zeros(n_classes, dtype=np.int64)
    short = n_classes
    for i, row in enumerate(order):
        seen[y[row]] += 1
        if seen[y[row]] == minimum:
            short -= 1
            if short == 0:
                return i + 1
    return None


def run_one(config: str, X: np.ndarray, y: np.ndarray, test_X: np.ndarray, test_y: np.ndarray,
            *, n_classes: int, seed: int, cap: int, minimum: int,
            label_vectors: np.ndarray | None = None) -> dict[str, Any]:  # fmt: skip
    rng = np.random.default_rng(seed)
    all_idx = np.arange(len(y))
    first = math.ceil(n_classes / BATCH) * BATCH
    boost = RareClassBoost(base=DEFAULT_STRATEGY, minimum=minimum) if "+" in config else None
    if config == "random":
        labeled = rng.choice(all_idx, first, replace=False)
    else:
        labeled = select_cold_start(embeddings=X, candidates=all_idx, n=first, rng=rng)
    model: Model | None = None
    accuracy = float("nan")
    reached: int | None = None
    while len(labeled) < cap:
        if config != "random" or len(labeled) == ACCURACY_AT:
            model = train_model(X[labeled], y[labeled], n_classes=n_classes, kind="linear",
                                seed=seed, warm_start=model, temperature=1.0)  # fmt: skip
        if len(labeled) == ACCURACY_AT and model is not None:
            accuracy = float((model.predict_proba(test_X).argmax(axis=1) == test_y).mean())
        reached = labels_until_minimum(labeled, y, n_classes=n_classes, minimum=minimum)
        if reached is not None and len(labeled) >= ACCURACY_AT:
            break
        candidates = np.setdiff1d(all_idx, labeled, assume_unique=True)
        n = min(BATCH, cap - len(labeled))
        if config == "random":
            pick = rng.choice(candidates, n, replace=False)
        elif boost is not None and model is not None:
            pick = boost.select(probs=model.predict_proba(X), candidates=candidates, n=n,
                                embeddings=X, rng=rng, labeled_idx=labeled,
                                labeled_y=y[labeled], n_classes=n_classes,
                                label_vectors=label_vectors if "names" in config else None,
                                )  # fmt: skip
        else:
            pick = get_strategy(config).select(probs=model.predict_proba(X) if model else None,
                                               candidates=candidates, n=n, embeddings=X,
                                               rng=rng)  # fmt: skip
        labeled = np.concatenate([labeled, pick])
    reached = labels_until_minimum(labeled, y, n_classes=n_classes, minimum=minimum)
    counts = np.bincount(y[labeled[: reached or len(labeled)]], minlength=n_classes)
    short = int((counts < minimum).sum()) if reached is None else 0
    return {"config": config, "seed": seed, "labels": reached, "accuracy_at_1000": accuracy,
            "classes_short_at_cap": short}  # fmt: skip


ADDED_SEED = 20_261_201  # the classes added mid-project; fixed before the first run
ADDED_CAP = 1000  # labels after the add before a run gives up


def added_label_runs(X: np.ndarray, y: np.ndarray, vectors: np.ndarray, *, new: int, seed: int,
                     start: int, minimum: int) -> dict[str, Any]:  # fmt: skip
    """Label to ``start`` without class ``new`` (its examples are skipped when asked), add it,
    and count the labels until it has 1 and ``minimum`` examples, without and with names."""
    rng = np.random.default_rng(seed)
    n_classes = int(y.max()) + 1
    all_idx = np.arange(len(y))
    boost = RareClassBoost(base=DEFAULT_STRATEGY, minimum=minimum)
    labeled = select_cold_start(embeddings=X, candidates=all_idx,
                                n=math.ceil(n_classes / BATCH) * BATCH, rng=rng)  # fmt: skip
    skipped = labeled[y[labeled] == new]
    labeled = labeled[y[labeled] != new]
    model: Model | None = None
    while len(labeled) < start:  # the label does not exist yet: nothing searches for it
        model = train_model(X[labeled], y[labeled], n_classes=n_classes, kind="linear",
                            seed=seed, warm_start=model, temperature=1.0)  # fmt: skip
        candidates = np.setdiff1d(all_idx, np.concatenate([labeled, skipped]))
        pick = boost.select(probs=model.predict_proba(X), candidates=candidates, n=BATCH,
                            embeddings=X, rng=rng, labeled_idx=labeled, labeled_y=y[labeled],
                            n_classes=n_classes)  # fmt: skip
        skipped = np.concatenate([skipped, pick[y[pick] == new]])
        labeled = np.concatenate([labeled, pick[y[pick] != new]])
    out: dict[str, Any] = {"class": int(new), "seed": seed, "skipped_before": len(skipped)}
    for config, label_vectors in (("no names", None), ("names", vectors)):
        lab, m, first, fifth = labeled.copy(), model, None, None
        branch = np.random.default_rng(seed + 1)  # the same draws for both configurations
        while len(lab) < len(labeled) + ADDED_CAP and fifth is None:
            m = train_model(X[lab], y[lab], n_classes=n_classes, kind="linear", seed=seed,
                            warm_start=m, temperature=1.0)  # fmt: skip
            candidates = np.setdiff1d(all_idx, np.concatenate([lab, skipped]))
            pick = boost.select(probs=m.predict_proba(X), candidates=candidates, n=BATCH,
                                embeddings=X, rng=branch, labeled_idx=lab, labeled_y=y[lab],
                                n_classes=n_classes, label_vectors=label_vectors)  # fmt: skip
            for i, row in enumerate(pick):
                have = int((y[lab] == new).sum()) + int((y[pick[: i + 1]] == new).sum())
                if y[row] == new and have == 1 and first is None:
                    first = len(lab) - len(labeled) + i + 1
                if y[row] == new and have == minimum and fifth is None:
                    fifth = len(lab) - len(labeled) + i + 1
            lab = np.concatenate([lab, pick])
        out[config] = {"first": first, "fifth": fifth}
    return out


def print_added(results: list[dict[str, Any]], *, minimum: int) -> None:
    print(f"\n### A label added after the first labels: labels until it has 1 and {minimum}\n")
    print("| configuration | runs | to its 1st example (median, max) | to its "
          f"{minimum}th (median, max) | runs capped at {ADDED_CAP} |")  # fmt: skip
    print("|---|---|---|---|---|")
    for config in ("no names", "names"):
        firsts = [r[config]["first"] or ADDED_CAP for r in results]
        fifths = [r[config]["fifth"] or ADDED_CAP for r in results]
        capped = sum(r[config]["fifth"] is None for r in results)
        print(f"| {config} | {len(results)} | {np.median(firsts):.0f}, {max(firsts)} "
              f"| {np.median(fifths):.0f}, {max(fifths)} | {capped} |")  # fmt: skip
    per_class = "; ".join(
        f"{r['class_name']} {r['no names']['first']}/{r['no names']['fifth']} → "
        f"{r['names']['first']}/{r['names']['fifth']}"
        for r in results
    )
    print(f"\nper class (1st / {minimum}th, no names → names; None: capped): {per_class}")


def print_table(results: list[dict[str, Any]], *, cap: int, minimum: int) -> None:
    head = ["strategy", "seeds", f"labels until every class has ≥{minimum}", "per seed",
            f"test acc @{ACCURACY_AT}"]  # fmt: skip
    print("\n| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for config in CONFIGS:
        rs = [r for r in results if r["config"] == config]
        got = [r["labels"] if r["labels"] is not None else cap for r in rs]
        capped = any(r["labels"] is None for r in rs)
        per_seed = ", ".join(str(r["labels"]) if r["labels"] else f">{cap}" for r in rs)
        accs = [r["accuracy_at_1000"] for r in rs]
        mean = f"{'≥' if capped else ''}{np.mean(got):.0f}±{np.std(got):.0f}"
        print(f"| {config} | {len(rs)} | {mean} | {per_seed} | "
              f"{np.mean(accs):.3f}±{np.std(accs):.3f} |")  # fmt: skip
    print(f"\nBatches of {BATCH}; the count is exact within the batch that completes the last "
          f"class. Capped at {cap} labels.")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cap", type=int, default=3000)
    parser.add_argument("--minimum", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--added", type=int, default=10,
                        help="classes tried as a label added mid-project (0: skip)")  # fmt: skip
    parser.add_argument("--added-at", type=int, default=500,
                        help="labels given before the label is added")  # fmt: skip
    args = parser.parse_args()
    (texts, labels), (test_texts, test_labels) = (
        load_split(dataset_path("banking77", "train")),
        load_split(dataset_path("banking77", "test")),
    )
    names = sorted(set(labels))
    ids = {n: i for i, n in enumerate(names)}
    encoder = get_encoder()
    cache = cache_for(get_settings().data_dir, encoder)
    X = embed_texts(texts, encoder=encoder, cache=cache, progress=True)
    test_X = embed_texts(test_texts, encoder=encoder, cache=cache, progress=True)
    y = np.array([ids[n] for n in labels], dtype=np.int64)
    test_y = np.array([ids[n] for n in test_labels], dtype=np.int64)
    # "+names": a label with no example yet is searched from its name (engine/rare.py)
    label_vectors = embed_texts([label_query(n) for n in names], encoder=encoder, cache=cache)
    sizes = np.bincount(y)
    print(f"[banking77] {len(y)} texts, {len(names)} classes, {sizes.min()}..{sizes.max()} each")
    results = []
    for config in CONFIGS:
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            r = run_one(config, X, y, test_X, test_y, n_classes=len(names), seed=seed,
                        cap=args.cap, minimum=args.minimum,
                        label_vectors=label_vectors)  # fmt: skip
            took = time.perf_counter() - t0
            print(f"[banking77] {config} seed {seed}: {r['labels']} labels, acc@{ACCURACY_AT} "
                  f"{r['accuracy_at_1000']:.3f} ({took:.0f}s)", flush=True)  # fmt: skip
            results.append(r)
    if results:
        print_table(results, cap=args.cap, minimum=args.minimum)
    added = []
    tried = np.random.default_rng(ADDED_SEED).permutation(len(names))[: args.added]
    for k, new in enumerate(tried.tolist()):
        r = added_label_runs(X, y, label_vectors, new=int(new), seed=k, start=args.added_at,
                             minimum=args.minimum)  # fmt: skip
        r["class_name"] = names[int(new)]
        print(f"[banking77] added {names[int(new)]}: {r}", flush=True)
        added.append(r)
    if added:
        print_added(added, minimum=args.minimum)
    if args.json:
        args.json.write_text(json.dumps({"runs": results, "added": added}, indent=1))


if __name__ == "__main__":
    main()
