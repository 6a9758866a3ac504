"""Does a click's time grow with the project? Audit 36's projects at several sizes.

Each size gets a fresh database holding one project built as tests/engine/test_audit36_scale.py
builds it (60 labels, half the examples labeled by 20 experts with their done deliveries, a
tenth of those with a complete second opinion, every example scored). Then, for expert "NEW"
after a few clicks: ``--clicks`` clicks as Slack makes them (``labeling.submit_label`` then
``labeling.next_task(reviews=True)``), as many audit picks (the next task with ``audit_share``
1) and one label rename (its transaction, ``rescore=False`` as Slack applies it). Printed: the
median milliseconds of each and its ratio to the smallest size's.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/click_scale.py [--sizes 2000,20000] [--clicks 10]
                                                          [--db sqlite,postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fresh_db import fresh_workspace  # noqa: E402  (bench/, the script's own folder)


def run(db: str, size: int, clicks: int) -> dict[str, float]:
    """Median milliseconds of a click, an audit pick and a rename in a project of ``size``."""
    from engine import labeling, projects, taxonomy
    from tests.engine.test_audit36_scale import LABELS, build

    out: dict[str, float] = {}
    with fresh_workspace(db) as (ws, _):
        build(ws, "p", size)
        task = labeling.next_task(ws, project="p", annotator="NEW", reviews=True)
        times = []
        for i in range(clicks + 3):
            assert task is not None
            start = time.perf_counter()
            labeling.submit_label(ws, project="p", example_id=task.example_id,
                                  label=LABELS[i % 60], annotator="NEW", source="slack",
                                  key=f"c{i}")  # fmt: skip
            task = labeling.next_task(ws, project="p", annotator="NEW", reviews=True)
            if i >= 3:  # the first few warm up
                times.append((time.perf_counter() - start) * 1000)
        out["click"] = statistics.median(times)
        projects.update_settings(ws, project="p", audit_share=1.0)
        times = []
        for i in range(clicks):
            assert task is not None
            labeling.submit_label(ws, project="p", example_id=task.example_id,
                                  label=LABELS[i % 60], annotator="NEW", source="slack",
                                  key=f"a{i}")  # fmt: skip
            start = time.perf_counter()
            task = labeling.next_task(ws, project="p", annotator="NEW", rng=random.Random(i))
            times.append((time.perf_counter() - start) * 1000)
        out["audit pick"] = statistics.median(times)
        start = time.perf_counter()
        taxonomy.rename_label(ws, project="p", label=LABELS[3], new_name="renamed", actor="U00",
                              rescore=False)  # fmt: skip
        out["rename"] = (time.perf_counter() - start) * 1000
    return out


def print_table(
    dbs: list[str], sizes: list[int], heads: list[str],
    measure: Callable[[str, int], dict[str, float]],
) -> None:  # fmt: skip
    """A row per database and size: each of ``heads``' milliseconds (``measure``'s, in that
    order) and its ratio ("x") to the smallest size's."""
    print("| db | size | " + " | ".join(f"{h} ms | x" for h in heads) + " |")
    print("|---|---:|" + "---:|---:|" * len(heads))
    for db in dbs:
        first: dict[str, float] | None = None
        for size in sizes:
            got = measure(db, size)
            first = first or got
            cells = " | ".join(f"{got[k]:.1f} | {got[k] / first[k]:.1f}" for k in heads)
            print(f"| {db} | {size:,} | {cells} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000,20000")
    parser.add_argument("--clicks", type=int, default=10)
    parser.add_argument("--db", default="sqlite,postgres")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print_table(args.db.split(","), sizes, ["click", "audit pick", "rename"],
                lambda db, size: run(db, size, args.clicks))  # fmt: skip


if __name__ == "__main__":
    main()
