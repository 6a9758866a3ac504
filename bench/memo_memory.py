"""What a long-running worker and `labelbot serve` keep in memory as a project is retrained.

Each process keeps models and pool graphs in its workspace memo (``engine.workspace.Memo``),
to read them once. A blend model holds its pool's label-spreading distributions (n x C floats)
and, read from its file (as `labelbot serve` reads each new active model to answer the predict
API), its own copy of the pool's vectors (n x 384 floats). Until 2026-12-03 the memo was
bounded by a count only (64 entries), so a process that saw 64 retrains of a large project kept
64 such models. It is now bounded by the bytes of the arrays it holds too
(``engine.workspace.MEMO_BYTES``).

The bench builds a project of ``--pool`` examples (20 labels; the fake encoder of
bench/predict_memory.py, so that a large pool takes seconds to embed, not hours), then
``--retrains`` times: ``--per-round`` more labels by import, a retrain of kind ``--kind`` (the
worker: the training process's own memo), and a prediction through the predict API's code in a
second workspace (a serve replica: the new active model read from its file). Every entry either
memo receives is also set in a memo bounded by the count alone (the behaviour before), so both
are measured on the same models in the same run. "MB held" is the bytes of the numpy arrays
the memo keeps alive, each array counted once (``engine.workspace.footprint``).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/memo_memory.py [--pool 100000] [--retrains 12]
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/, the script's folder; it puts the checkout on sys.path for the engine imports below
from predict_memory import LABELS, _text, open_ws

MB = 1 << 20


def _labels_file(data: Path, texts: list[str], start: int, n: int) -> Path:
    path = data / f"labels-{start}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        for i in range(start, min(start + n, len(texts))):
            writer.writerow([f"P{i}", texts[i], texts[i].split("about ")[1].split()[0]])
    return path


def _mirror(source: Any, shadow: Any) -> None:
    """Set in ``shadow`` every entry of ``source`` it does not hold yet (same objects)."""
    for key, value in source.items():
        if key not in shadow:
            shadow[key] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=100_000, help="examples in the project")
    parser.add_argument("--retrains", type=int, default=12)
    parser.add_argument("--per-round", type=int, default=100, help="labels added per retrain")
    parser.add_argument(
        "--kind",
        default="blend",
        help="classifier kind trained (default blend: what `auto` picks on real text from ~200 "
        "labels, `labelbot demo`; on the fake encoder's vectors it picks linear)",
    )
    args = parser.parse_args()

    from engine import predicting, projects, training
    from engine.workspace import MEMO_BYTES, MEMO_LIMIT, Memo

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        worker = open_ws(data)
        serve = open_ws(data)
        rng = random.Random(0)
        texts = [_text(rng, i, "ticket") for i in range(args.pool)]
        projects.create_project(worker, name="bench", labels=LABELS)
        projects.update_settings(worker, project="bench", audit_share=0.0, multi_label_share=0.0)
        pool_path = data / "pool.csv"
        with pool_path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text"])
            writer.writerows([f"P{i}", t] for i, t in enumerate(texts))
        projects.import_file(worker, project="bench", path=pool_path)
        before_worker = Memo(max_bytes=1 << 62)  # the count alone bounds it, as before
        before_serve = Memo(max_bytes=1 << 62)
        print(
            f"\n## Memo memory: {args.pool:,} examples, {len(LABELS)} labels, "
            f"{args.per_round} labels a retrain; bounds {MEMO_LIMIT} entries, "
            f"{MEMO_BYTES / MB:.0f} MB\n"
        )
        print("| retrain | labels | kind | train s | worker MB held: count only / now "
              "| serve MB held: count only / now |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        labeled = 0
        for round_ in range(1, args.retrains + 1):
            path = _labels_file(data, texts, labeled, args.per_round)
            projects.import_file(worker, project="bench", path=path)
            labeled += args.per_round
            start = time.perf_counter()
            run = training.train_project(worker, "bench", kind=args.kind)
            seconds = time.perf_counter() - start
            _mirror(worker.memo, before_worker)
            predicting.answer(serve, "bench", ["a question about intent_3"])
            _mirror(serve.memo, before_serve)
            print(
                f"| {round_} | {labeled:,} | {run.kind} | {seconds:.1f} "
                f"| {before_worker.nbytes / MB:,.0f} / {worker.memo.nbytes / MB:,.0f} "
                f"| {before_serve.nbytes / MB:,.0f} / {serve.memo.nbytes / MB:,.0f} |",
                flush=True,
            )
        worker.close()
        serve.close()


if __name__ == "__main__":
    main()
