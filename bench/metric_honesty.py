"""Are the reported metrics honest? Simulated sessions with an audit stream, scored on the test set.

An oracle labels what the default strategy picks, plus an audit stream: a share of deliveries
(default 10%) drawn uniformly from the unlabeled pool and held out of training (engine/audit.py).
At 200/500/1,000 labels each session reports what a live project would show (accuracy on the audit
labels with its Wilson interval, macro-F1 with a bootstrap interval) and what the product used to
show (5-fold cross-validation on the training labels), next to the model's true test accuracy.
Test labels only score models; nothing is chosen or tuned on them.

    .venv/bin/python bench/metric_honesty.py [--dataset banking77|clinc150|all] [--seeds 5]
        [--share 0.1] [--checkpoints 200,500,1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.audit import audit_report, draw_audit  # noqa: E402
from engine.classifier import Model, PoolGraph, build_pool_graph, choose_kind, train_model  # noqa: E402
from engine.config import get_settings  # noqa: E402
from engine.datasets import dataset_path, load_split  # noqa: E402
from engine.embeddings import cache_for, embed_texts  # noqa: E402
from engine.encoders import get_encoder  # noqa: E402
from engine.evaluation import cross_validate  # noqa: E402
from engine.simulation import RESELECT_EVERY  # noqa: E402
from engine.strategies import DEFAULT_STRATEGY, get_strategy, select_cold_start  # noqa: E402

Round = Callable[
    [int, Model, np.ndarray, np.ndarray, str], None
]  # labels, model, train, audit, kind


def load_data(name: str) -> dict[str, Any]:
    """Pool and test embeddings (through the project's cache) and integer labels."""
    encoder = get_encoder()
    cache = cache_for(get_settings().data_dir, encoder)
    out: dict[str, Any] = {}
    for split in ("train", "test"):
        texts, labels = load_split(dataset_path(name, split), drop_labels=("oos",))
        out[f"{split}_X"] = embed_texts(texts, encoder=encoder, cache=cache)
        out[f"{split}_labels"] = labels
    names = sorted(set(out["train_labels"]))
    ids = {n: i for i, n in enumerate(names)}
    out["names"] = names
    for split in ("train", "test"):
        out[f"{split}_y"] = np.array([ids[n] for n in out[f"{split}_labels"]])
    out["graph"] = build_pool_graph(out["train_X"])
    return out


def audited_session(
    pool_X: np.ndarray,
    pool_y: np.ndarray,
    *,
    n_classes: int,
    graph: PoolGraph,
    budget: int,
    seed: int,
    on_round: Round,
    batch: int = 50,
    share: float = 0.1,
) -> None:
    """One oracle session: cold start, then the default strategy, with audit picks held out.

    Mirrors engine.simulation's loop; ``on_round`` sees every model after it is trained.
    """
    rng = np.random.default_rng(seed)
    strategy = get_strategy(DEFAULT_STRATEGY)
    all_idx = np.arange(len(pool_y))
    train = np.empty(0, np.int64)
    audit = np.empty(0, np.int64)
    model: Model | None = None
    kind = "linear"
    size = math.ceil(n_classes / batch) * batch  # cold start: one label per class, whole batches
    for round_no in range(10**9):
        delivered = len(train) + len(audit)
        candidates = np.setdiff1d(all_idx, np.concatenate([train, audit]), assume_unique=True)
        picks = draw_audit(candidates=candidates, n_delivered=delivered, n=size, rng=rng,
                           share=share)  # fmt: skip
        rest = np.setdiff1d(candidates, picks, assume_unique=True)
        if model is None:
            chosen = select_cold_start(embeddings=pool_X, candidates=rest, n=size - len(picks),
                                       rng=rng)  # fmt: skip
        else:
            probs = model.predict_proba_pool() if model.pool is not None else (
                model.predict_proba(pool_X))  # fmt: skip
            chosen = strategy.select(probs=probs, candidates=rest, n=size - len(picks),
                                     embeddings=pool_X, rng=rng)  # fmt: skip
        train, audit = np.concatenate([train, chosen]), np.concatenate([audit, picks])
        refresh = model is None or round_no % RESELECT_EVERY == 0
        if refresh:
            kind = choose_kind(pool_X[train], pool_y[train], n_classes=n_classes, graph=graph,
                               labeled_idx=train, seed=seed)  # fmt: skip
        model = train_model(
            pool_X[train], pool_y[train], n_classes=n_classes, pool=pool_X, kind=kind, seed=seed,
            graph=graph, labeled_idx=train, warm_start=model,
            temperature=None if refresh else model.temperature,
        )  # fmt: skip
        on_round(len(train) + len(audit), model, train, audit, kind)
        size = batch
        if len(train) + len(audit) + size > budget:
            return


def run_dataset(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    data = load_data(name)
    pool_X, pool_y, graph = data["train_X"], data["train_y"], data["graph"]
    n_classes = len(data["names"])
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    rows: list[dict[str, Any]] = []

    for seed in range(args.seeds):
        t0 = time.perf_counter()

        def record(
            n: int, model: Model, train: np.ndarray, audit: np.ndarray, kind: str, seed: int = seed
        ) -> None:
            if n not in checkpoints:
                return
            rep = audit_report(pool_y[audit], model.predict_proba(pool_X[audit]).argmax(1),
                               n_classes=n_classes, rng=np.random.default_rng(seed))  # fmt: skip
            cv = cross_validate(pool_X[train], pool_y[train], n_classes=n_classes, pool=pool_X,
                                kind=kind, graph=graph, labeled_idx=train, seed=seed)  # fmt: skip
            test_pred = model.predict_proba(data["test_X"]).argmax(1)
            acc = rep.accuracy
            truth = float((test_pred == data["test_y"]).mean())
            # diagnostic only (oracle labels): the population the audit samples, i.e. the pool
            # not labeled yet, scored in full; audit - pool is sampling error, pool - test is bias
            rest = np.setdiff1d(np.arange(len(pool_y)), np.concatenate([train, audit]))
            pool_acc = float((model.predict_proba(pool_X[rest]).argmax(1) == pool_y[rest]).mean())
            rows.append({"dataset": name, "seed": seed, "labels": n, "audit_n": acc.n,
                         "audit_acc": acc.value, "low": acc.low, "high": acc.high,
                         "audit_f1": rep.macro_f1.value, "f1_low": rep.macro_f1.low,
                         "f1_high": rep.macro_f1.high, "cv_acc": cv.accuracy,
                         "pool_acc": pool_acc, "test_acc": truth,
                         "inside": bool(acc.low <= truth <= acc.high)})  # fmt: skip

        audited_session(pool_X, pool_y, n_classes=n_classes, graph=graph, budget=max(checkpoints),
                        seed=seed, on_round=record, share=args.share)  # fmt: skip
        print(f"[{name}] seed {seed}: {time.perf_counter() - t0:.0f}s", flush=True)
    return rows


def print_tables(rows: list[dict[str, Any]]) -> None:
    """Per-session rows, then a summary per checkpoint over all sessions."""
    print("\n| data | seed | labels | audit n | audit acc [90% CI] | audit macro-F1 [90% CI] | "
          "CV acc | unlabeled-pool acc | test acc | inside |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['seed']} | {r['labels']} | {r['audit_n']} | "
              f"{r['audit_acc']:.3f} [{r['low']:.3f}, {r['high']:.3f}] | "
              f"{r['audit_f1']:.3f} [{r['f1_low']:.3f}, {r['f1_high']:.3f}] | {r['cv_acc']:.3f} | "
              f"{r['pool_acc']:.3f} | {r['test_acc']:.3f} | "
              f"{'yes' if r['inside'] else 'NO'} |")  # fmt: skip
    print("\n| labels | sessions | inside 90% CI | mean audit−test | mean |audit−test| | "
          "|audit−test| ≤ 0.03 | mean pool−test | mean CV−test | mean CI width |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sorted({r["labels"] for r in rows}):
        at = [r for r in rows if r["labels"] == n]
        err = np.array([r["audit_acc"] - r["test_acc"] for r in at])
        cv = np.mean([r["cv_acc"] - r["test_acc"] for r in at])
        pool = np.mean([r["pool_acc"] - r["test_acc"] for r in at])
        close = int((np.abs(err) <= 0.03).sum())
        width = np.mean([r["high"] - r["low"] for r in at])
        inside = sum(r["inside"] for r in at)
        print(f"| {n} | {len(at)} | {inside}/{len(at)} | {err.mean():+.3f} | "
              f"{np.abs(err).mean():.3f} | {close}/{len(at)} | {pool:+.3f} | {cv:+.3f} | "
              f"{width:.3f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--dataset", choices=["banking77", "clinc150", "all"], default="all")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--checkpoints", default="200,500,1000")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    names = ["banking77", "clinc150"] if args.dataset == "all" else [args.dataset]
    rows = [r for name in names for r in run_dataset(name, args)]
    print_tables(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
