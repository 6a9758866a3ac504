"""Does int8 cost accuracy? Banking77 accuracy and throughput of each encoder precision.

Embeds Banking77 train and test with every precision, fits a logistic regression on (a) all train
labels and (b) 1,000 random train labels (3 seeds), and prints one row per precision. int8 may be
the CPU default only if both accuracies stay within 0.5 points of fp32.

"int8-batched" is the int8 model run on whole batches, as labelbot did until 2026-12-01: the
baseline for the default int8, which runs each text alone so that its vector does not depend on
its batch-mates. The "batch drift" column measures that: the smallest cosine between a test
text's vector from the batched call and from a call with that text alone (500 texts).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/encoder_precision.py [--data DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import get_settings  # noqa: E402
from engine.encoders import Encoder, OnnxEncoder, _resolve, get_encoder  # noqa: E402

DATA_DIRS = [ROOT / "engine" / "datasets" / "banking77", ROOT.parent / "shared/data/banking77"]
SEEDS = (0, 1, 2)
SMALL = 1000  # train texts of the "acc 1k" column


def read_split(data: Path, split: str) -> tuple[list[str], list[str]]:
    with open(data / f"{split}.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def accuracy(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray) -> float:
    clf = LogisticRegression(C=10, max_iter=2000)
    clf.fit(train, y_train)
    return float((clf.predict(test) == y_test).mean() * 100)


DRIFT_TEXTS = 500


def make_encoder(precision: str) -> Encoder:
    if precision == "int8-batched":
        model_id, source = _resolve("all-MiniLM-L6-v2")
        return OnnxEncoder(model_id, source, data_dir=get_settings().data_dir, alone=False)
    return get_encoder(device="cpu", precision=precision)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="directory with train.csv and test.csv")
    parser.add_argument("--limit", type=int, help="use only the first N train/test texts")
    parser.add_argument("--precisions", default="fp32,int8-batched,int8")
    args = parser.parse_args()
    if args.limit is not None and args.limit < SMALL:
        parser.error(f"--limit must be at least {SMALL:,}: the 1k column trains on {SMALL:,} "
                     "random train texts")  # fmt: skip
    data = args.data or next((d for d in DATA_DIRS if (d / "train.csv").exists()), None)
    if data is None:
        sys.exit(f"no Banking77 data in {', '.join(map(str, DATA_DIRS))}; pass --data")
    x_train, y_train = read_split(data, "train")
    x_test, y_test = read_split(data, "test")
    if args.limit:
        x_train, y_train, x_test, y_test = (
            s[: args.limit] for s in (x_train, y_train, x_test, y_test)
        )
    y_tr, y_te = np.array(y_train), np.array(y_test)
    print(f"Banking77 from {data}: {len(x_train)} train, {len(x_test)} test texts")

    header = (
        f"{'precision':<13} {'sentences/s':>12} {'acc full':>9} {'acc 1k (3 seeds)':>18} "
        f"{'batch drift (min cos)':>22}"
    )
    rows = [header, "-" * len(header)]
    for precision in args.precisions.split(","):
        encoder = make_encoder(precision)
        encoder.encode(x_train[:64])  # warm-up: first-call allocations are not throughput
        start = time.perf_counter()
        train = encoder.encode(x_train)
        test = encoder.encode(x_test)
        speed = (len(x_train) + len(x_test)) / (time.perf_counter() - start)
        full = accuracy(train, y_tr, test, y_te)
        small = []
        for seed in SEEDS:
            pick = np.random.default_rng(seed).choice(len(x_train), SMALL, replace=False)
            small.append(accuracy(train[pick], y_tr[pick], test, y_te))
        alone = np.vstack([encoder.encode([t]) for t in x_test[:DRIFT_TEXTS]])
        drift = float((test[:DRIFT_TEXTS] * alone).sum(axis=1).min())
        rows.append(
            f"{precision:<13} {speed:>12.0f} {full:>9.2f} "
            f"{np.mean(small):>11.2f} ± {np.std(small):.2f} {drift:>22.4f}"
        )
        print(rows[-1], file=sys.stderr)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
