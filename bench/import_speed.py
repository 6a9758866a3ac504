"""How fast is an import? Storing a labeled CSV on SQLite and PostgreSQL, embedding left out.

A generated CSV of ``--rows`` rows (two thirds labeled, ids and one metadata column, as a
ticket dump would be) goes through ``projects.import_file(embed=False)`` three times into a
fresh project of a fresh database:

1. ``fresh``: every text new, every label a new annotation;
2. ``again``: the same file once more: every text a duplicate, every label already stored
   (its idempotency key), so nothing is written;
3. ``relabel``: the same texts with every label swapped: one new vote each.

The encoder is not counted (``embed=False``; `labelbot import` embeds afterwards, cached on
disk): this is the transaction that holds SQLite's write lock. Seconds are wall time of one
run; the machine's other load adds to them.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/import_speed.py [--rows 20000] [--db sqlite,postgres]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fresh_db import fresh_workspace  # noqa: E402  (bench/, the script's own folder)

# fmt: off
WORDS = ("card", "pin", "atm", "cash", "transfer", "refund", "charge", "fee", "pending", "declined",
         "wallet", "account", "balance", "limit", "rate", "exchange", "top-up", "app", "verify",
         "identity", "stolen", "lost", "payment")
# fmt: on


def write_csv(path: Path, rows: int, *, swap: bool = False, seed: int = 0) -> int:
    """A CSV of ``rows`` distinct texts, two thirds labeled pos/neg (swapped with ``swap``);
    returns how many rows carry a label."""
    rng = random.Random(seed)
    labeled = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "text", "label", "channel"])
        for i in range(rows):
            text = " ".join(rng.choices(WORDS, k=rng.randint(5, 20))) + f" ref {i}"
            label = rng.choice(["pos", "neg", ""])
            if label and swap:
                label = "neg" if label == "pos" else "pos"
            labeled += bool(label)
            writer.writerow([f"b{i}", text, label, rng.choice(["web", "app"])])
    return labeled


def run(db: str, files: dict[str, Path]) -> list[tuple[str, float, int, int]]:
    """(scenario, seconds, examples inserted, annotations stored) on a fresh database."""
    from engine import projects

    with fresh_workspace(db) as (ws, _):
        projects.create_project(ws, name="bench", labels=["pos", "neg"])
        out = []
        for scenario, path in files.items():
            start = time.perf_counter()
            report = projects.import_file(ws, project="bench", path=path, embed=False)
            seconds = time.perf_counter() - start
            out.append((scenario, seconds, report.inserted, report.annotations))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = {"fresh": Path(tmp) / "fresh.csv", "relabel": Path(tmp) / "relabel.csv"}
        labeled = write_csv(files["fresh"], args.rows)
        write_csv(files["relabel"], args.rows, swap=True)
        files = {"fresh": files["fresh"], "again": files["fresh"], "relabel": files["relabel"]}
        print(f"\n## Import of {args.rows:,} CSV rows, {labeled:,} labeled (embedding off)\n")
        print(f"| {'database':<10} | {'import':<8} | {'seconds':>8} | {'new examples':>12} "
              f"| {'new labels':>10} | {'ms/label':>8} |")  # fmt: skip
        print(f"|{'-' * 12}|{'-' * 10}|{'-' * 10}|{'-' * 14}|{'-' * 12}|{'-' * 10}|")
        for db in args.db.split(","):
            for scenario, seconds, inserted, labels in run(db.strip(), files):
                per = f"{seconds * 1000 / labels:.2f}" if labels else "-"
                print(f"| {db:<10} | {scenario:<8} | {seconds:>8.2f} | {inserted:>12,} "
                      f"| {labels:>10,} | {per:>8} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
