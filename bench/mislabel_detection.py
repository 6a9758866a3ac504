"""Does the mislabel check find wrong labels? Banking77, random labeled sets with 10% flipped.

For each labeled-set size and seed: a random sample of the training split (gold labels), 10% of
it flipped uniformly to another class, out-of-fold probabilities from the product's linear head
(5 folds, :func:`engine.mislabels.out_of_fold_proba`), then precision and recall of the flagged set
against the flipped rows, for labelbot's detector (:func:`engine.mislabels.find_mislabels`) and,
on the same probabilities in the same run, cleanlab's ``find_label_issues`` (defaults). The
detector's configuration is fixed in the engine; nothing here was tuned on these flips.

cleanlab is AGPL and a bench-only extra: ``pip install -e '.[bench]'`` (or ``pip install
cleanlab``); the product never imports it.

    .venv/bin/python bench/mislabel_detection.py [--sizes 1000,2000] [--seeds 3]
        [--noise 0.1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import get_settings  # noqa: E402
from engine.datasets import dataset_path, load_split  # noqa: E402
from engine.embeddings import cache_for, embed_texts  # noqa: E402
from engine.encoders import get_encoder  # noqa: E402
from engine.mislabels import find_mislabels, out_of_fold_proba  # noqa: E402
from engine.reviews import MIN_REVIEW_CONFIDENCE  # noqa: E402

TARGET = 0.6  # precision and recall, from issue 6
TOP = 50


def cleanlab_issues(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Rows cleanlab's ``find_label_issues`` flags (defaults: prune_by_noise_rate), ranked by
    normalised margin like labelbot's suspects."""
    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        raise SystemExit(
            "cleanlab is needed for the comparison (bench only, AGPL): "
            "pip install -e '.[bench]'  or  .venv/bin/pip install cleanlab"
        ) from None
    ranked: np.ndarray = find_label_issues(
        labels=labels, pred_probs=probs, return_indices_ranked_by="normalized_margin"
    )
    return ranked


def flip_labels(
    y: np.ndarray, *, n_classes: int, share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(noisy labels, flipped rows): ``share`` of rows moved uniformly to another class."""
    flipped = np.sort(rng.choice(len(y), round(share * len(y)), replace=False))
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, n_classes, len(flipped))) % n_classes
    return noisy, flipped


def scores(flagged: np.ndarray, flipped: np.ndarray) -> dict[str, float]:
    """Precision and recall of the set; ``p@50``: precision of the 50 top-ranked (a review queue
    shows the most surely wrong first)."""
    hits = len(np.intersect1d(flagged, flipped))
    top = flagged[:TOP]
    return {
        "p@50": len(np.intersect1d(top, flipped)) / len(top) if len(top) else 0.0,
        "flagged": float(len(flagged)),
        "precision": hits / len(flagged) if len(flagged) else 0.0,
        "recall": hits / len(flipped) if len(flipped) else 0.0,
    }


def run_one(X: np.ndarray, y: np.ndarray, *, n_classes: int, size: int, seed: int,
            noise: float) -> dict[str, Any]:  # fmt: skip
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(y), size, replace=False))
    noisy, flipped = flip_labels(y[rows], n_classes=n_classes, share=noise, rng=rng)
    t0 = time.perf_counter()
    probs = out_of_fold_proba(X[rows], noisy, n_classes=n_classes, seed=seed)
    t_oof = time.perf_counter() - t0
    t0 = time.perf_counter()
    suspects = find_mislabels(probs, noisy)
    t_ours = time.perf_counter() - t0
    ours = np.array([s.index for s in suspects], dtype=np.int64)  # most surely wrong first
    # what `review --scan` opens: suspects whose suggestion the model gives at least even odds
    sent = np.array([s.index for s in suspects if s.confidence >= MIN_REVIEW_CONFIDENCE],
                    dtype=np.int64)  # fmt: skip
    theirs = cleanlab_issues(noisy, probs)
    # how often the suggested label is the true one, among correctly flagged rows
    suggested = {s.index: s.suggested for s in suspects}
    truth = y[rows]
    right = [suggested[i] == truth[i] for i in np.intersect1d(ours, flipped)]
    return {
        "size": size, "seed": seed, "flipped": len(flipped),
        "labelbot": scores(ours, flipped), "cleanlab": scores(theirs, flipped),
        "reviewed": scores(sent, flipped),
        "suggestion_accuracy": float(np.mean(right)) if right else 0.0,
        "oof_accuracy": float((probs.argmax(axis=1) == truth).mean()),
        "oof_seconds": t_oof, "detect_seconds": t_ours,
    }  # fmt: skip


def print_table(results: list[dict[str, Any]]) -> None:
    head = ["labels", "seeds", "flipped", "labelbot flagged", "labelbot P", "labelbot R",
            "labelbot P@50", "cleanlab flagged", "cleanlab P", "cleanlab R", "cleanlab P@50",
            "reviews opened", "reviews P", "reviews R", "suggestion right", "OOF acc",
            "OOF s"]  # fmt: skip
    print("\n| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for size in sorted({r["size"] for r in results}):
        rs = [r for r in results if r["size"] == size]

        def cell(tool: str, key: str, rs: list[dict[str, Any]] = rs) -> str:
            vals = [r[tool][key] for r in rs]
            fmt = "{:.0f}" if key == "flagged" else "{:.3f}"
            return (fmt + "±" + fmt).format(np.mean(vals), np.std(vals))

        print("| " + " | ".join([
            str(size), str(len(rs)), f"{np.mean([r['flipped'] for r in rs]):.0f}",
            cell("labelbot", "flagged"), cell("labelbot", "precision"),
            cell("labelbot", "recall"), cell("labelbot", "p@50"), cell("cleanlab", "flagged"),
            cell("cleanlab", "precision"), cell("cleanlab", "recall"), cell("cleanlab", "p@50"),
            cell("reviewed", "flagged"), cell("reviewed", "precision"), cell("reviewed", "recall"),
            f"{np.mean([r['suggestion_accuracy'] for r in rs]):.3f}",
            f"{np.mean([r['oof_accuracy'] for r in rs]):.3f}",
            f"{np.mean([r['oof_seconds'] for r in rs]):.1f}",
        ]) + " |")  # fmt: skip
    print(
        "\nP/R: precision/recall of the flagged rows against the flipped ones, mean±std over "
        "seeds; P@50: precision of the 50 top-ranked by normalised margin; reviews: the "
        f"suspects `review --scan` opens (suggestion probability >= {MIN_REVIEW_CONFIDENCE}); "
        "suggestion right: "
        "share of correctly flagged rows whose suggested label is the gold one; OOF acc: "
        f"out-of-fold accuracy against the gold labels; target P and R >= {TARGET}, no worse "
        "than cleanlab."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,2000", help="labeled-set sizes")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.1, help="share of labels flipped")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cleanlab_issues(np.array([0, 1]), np.array([[0.9, 0.1], [0.1, 0.9]]))  # fail fast if missing
    texts, labels = load_split(dataset_path("banking77", "train"))
    names = sorted(set(labels))
    ids = {n: i for i, n in enumerate(names)}
    encoder = get_encoder()
    X = embed_texts(texts, encoder=encoder, cache=cache_for(get_settings().data_dir, encoder),
                    progress=True)  # fmt: skip
    y = np.array([ids[n] for n in labels], dtype=np.int64)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        for seed in range(args.seeds):
            r = run_one(X, y, n_classes=len(names), size=size, seed=seed, noise=args.noise)
            ours, theirs = r["labelbot"], r["cleanlab"]
            print(f"[banking77] {size} labels, seed {seed}: labelbot P={ours['precision']:.3f}"
                  f" R={ours['recall']:.3f}; cleanlab P={theirs['precision']:.3f}"
                  f" R={theirs['recall']:.3f}", flush=True)  # fmt: skip
            results.append(r)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
