"""How many labels does each query strategy need? Simulated active learning on public intent data.

The training split is the unlabeled pool (an oracle answers with its gold label), the test split is
held out and only ever scores trained models. For each configuration and seed: test accuracy at
100/200/500/1,000/2,000 labels and the labels needed to reach 90% and 95% of the ceiling (the same
classifier trained on every pool label). Embeddings come from the product's encoder and cache.

    .venv/bin/python bench/label_efficiency.py [--dataset banking77|clinc150|all] [--seeds 3]
        [--budget 2000] [--configs margin:auto,random:linear,...] [--json results.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.classifier import build_pool_graph  # noqa: E402
from engine.config import get_settings  # noqa: E402
from engine.embeddings import cache_for, embed_texts  # noqa: E402
from engine.encoders import get_encoder  # noqa: E402
from engine.simulation import SimulationResult, ceiling_of, labels_to_reach, simulate  # noqa: E402
from engine.strategies import DEFAULT_STRATEGY, STRATEGIES  # noqa: E402

REPORT_AT = (100, 200, 500, 1000, 2000)
# every strategy with the product's classifier (auto: linear or blend, chosen by CV on the labeled
# set), plus the plain-logistic-regression anchors for random and margin
DEFAULT_CONFIGS = [f"{s}:auto" for s in STRATEGIES] + ["random:linear", "margin:linear"]


def load_split(data_dir: Path, split: str) -> tuple[list[str], list[str]]:
    with open(data_dir / f"{split}.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] != "oos"]  # CLINC150: in-scope only
    return [r["text"] for r in rows], [r["label"] for r in rows]


def dataset_dir(name: str, override: Path | None) -> Path:
    bases = [ROOT / "engine/datasets", ROOT.parent / "shared/data"]
    for base in ([override] if override else []) + bases:
        if (base / name / "train.csv").is_file():
            return base / name
    raise SystemExit(f"no {name}/train.csv under --data-dir, engine/datasets or ../shared/data")


def run_dataset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    directory = dataset_dir(name, args.data_dir)
    (train_t, train_l), (test_t, test_l) = (
        load_split(directory, "train"),
        load_split(directory, "test"),
    )
    names = sorted(set(train_l))
    ids = {n: i for i, n in enumerate(names)}
    encoder = get_encoder()
    cache = cache_for(get_settings().data_dir, encoder)
    t0 = time.perf_counter()
    pool_X = embed_texts(train_t, encoder=encoder, cache=cache, progress=True)
    test_X = embed_texts(test_t, encoder=encoder, cache=cache, progress=True)
    print(
        f"[{name}] embedded {len(train_t)}+{len(test_t)} texts in {time.perf_counter() - t0:.0f}s"
    )
    pool_y = np.array([ids[n] for n in train_l])
    test_y = np.array([ids[n] for n in test_l])
    graph = build_pool_graph(pool_X)
    checkpoints = sorted(set(range(100, args.budget + 1, 100)) | set(REPORT_AT))
    ceilings: dict[str, dict[str, float]] = {}
    results: list[SimulationResult] = []
    for config in args.configs.split(","):
        strategy, kind = config.split(":")
        if kind not in ceilings:
            ceilings[kind] = ceiling_of(pool_X, pool_y, test_X, test_y, n_classes=len(names),
                                        kind=kind, graph=graph)  # fmt: skip
        t0 = time.perf_counter()
        result = simulate(pool_X, pool_y, test_X, test_y, strategy=strategy, kind=kind,
                          budget=args.budget, batch=args.batch, seeds=args.seeds,
                          checkpoints=checkpoints, n_classes=len(names), graph=graph,
                          ceiling=ceilings[kind])  # fmt: skip
        print(f"[{name}] {config}: {time.perf_counter() - t0:.0f}s", flush=True)
        results.append(result)
    # the bar is the best full-data ceiling of any classifier, not each configuration's own
    print_table(name, results, max(c["accuracy"] for c in ceilings.values()))
    return {"dataset": name, "ceilings": ceilings, "results": [r.to_json() for r in results]}


def print_table(name: str, results: list[SimulationResult], ceiling: float) -> None:
    """A markdown table: mean (± std over seeds) test accuracy and labels to 90%/95% of ceiling."""
    head = ["strategy:classifier", *(f"acc@{n}" for n in REPORT_AT), "→90%", "→95%"]
    print(f"\n### {name}\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in results:
        cells = [
            f"{r.strategy}:{r.kind}"
            + (" (default)" if (r.strategy, r.kind) == (DEFAULT_STRATEGY, "auto") else "")
        ]
        for n in REPORT_AT:
            accs = [p["accuracy"] for run in r.runs for p in run if p["labels"] == n]
            cells.append(f"{np.mean(accs):.3f}±{np.std(accs):.3f}" if accs else "–")
        for frac in (0.9, 0.95):
            got = labels_to_reach(r, frac, ceiling)
            cells.append(str(got) if got is not None else f">{int(r.curve[-1]['labels'])}")
        print("| " + " | ".join(cells) + " |")
    print(f"\n→90%/→95%: labels for the mean curve to reach that share of {ceiling:.3f}")
    for kind, c in {r.kind: r.ceiling for r in results}.items():
        print(f"\nceiling ({kind}, {int(c['labels'])} labels): accuracy {c['accuracy']:.3f}, "
              f"macro-F1 {c['macro_f1']:.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["banking77", "clinc150", "all"], default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                        help="comma-separated strategy:kind pairs")  # fmt: skip
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the curves here")
    args = parser.parse_args()
    names = ["banking77", "clinc150"] if args.dataset == "all" else [args.dataset]
    out = [run_dataset(n, args) for n in names]
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
