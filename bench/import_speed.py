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

Then memory: a CSV of ``--memory-rows`` rows (default 300,000) imported once into a fresh
database by this tree's code and by the code of ``--baseline`` (a commit, extracted with `git
archive` into a temporary folder), each in its own process; the table shows each process's
resident memory before the import and at its peak (``ru_maxrss``), and the import's seconds.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/import_speed.py [--rows 20000] [--db sqlite,postgres]
        [--memory-rows 300000] [--memory-db sqlite] [--baseline e0494f6]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the code measured: this tree's, or a baseline's (--code-root, in a child process)
CODE = Path(sys.argv[sys.argv.index("--code-root") + 1]) if "--code-root" in sys.argv else ROOT
sys.path.insert(0, str(CODE))
# the last commit before imports streamed (whole file decoded, every row a Record in a list)
BASELINE = "e0494f6"

from baseline import extract  # noqa: E402  (bench/, as fresh_db)
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


def _rss_kib() -> int:
    """This process's resident memory now, in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure_memory(db: str, path: Path) -> dict[str, float]:
    """One import of ``path`` into a fresh database, in this (child) process: resident memory
    before it and this process's peak (KiB), and its seconds."""
    from engine import projects

    with fresh_workspace(db) as (ws, _):
        projects.create_project(ws, name="bench", labels=["pos", "neg"])
        before = _rss_kib()
        start = time.perf_counter()
        report = projects.import_file(ws, project="bench", path=path, embed=False)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"before": before, "peak": peak, "seconds": seconds, "inserted": report.inserted}


def _child(code: Path, db: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(path), "--memory-db", db, "--code-root",
         str(code)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def memory_table(rows: int, dbs: list[str], baseline: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        write_csv(path, rows)
        size = path.stat().st_size / 2**20
        codes = {"this tree": ROOT}
        old = extract(ROOT, baseline, Path(tmp) / "baseline", ("engine", "storage"))
        if old is not None:
            codes = {f"{baseline} (before)": old, **codes}
        print(f"\n## Memory: import of {rows:,} CSV rows ({size:.0f} MiB), embedding off\n")
        print(f"| {'database':<10} | {'code':<18} | {'RSS before':>10} | {'peak RSS':>9} "
              f"| {'import':>8} | {'seconds':>8} |")  # fmt: skip
        print(f"|{'-' * 12}|{'-' * 20}|{'-' * 12}|{'-' * 11}|{'-' * 10}|{'-' * 10}|")
        for db in dbs:
            for name, code in codes.items():
                m = _child(code, db, path)
                grew = (m["peak"] - m["before"]) / 1024
                print(f"| {db:<10} | {name:<18} | {m['before'] / 1024:>7.0f} MB "
                      f"| {m['peak'] / 1024:>6.0f} MB | +{grew:>4.0f} MB | {m['seconds']:>8.1f} |",
                      flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--memory-rows", type=int, default=300_000, help="0: no memory table")
    parser.add_argument("--memory-db", default="sqlite", help="sqlite, postgres or both")
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare memory with")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # a child's file
    parser.add_argument("--code-root", type=Path, help=argparse.SUPPRESS)  # read above
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure_memory(args.memory_db, args.measure)))
        return
    if args.rows:
        speed_table(args.rows, args.db.split(","))
    if args.memory_rows:
        memory_table(args.memory_rows, args.memory_db.split(","), args.baseline)


def speed_table(rows: int, dbs: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = {"fresh": Path(tmp) / "fresh.csv", "relabel": Path(tmp) / "relabel.csv"}
        labeled = write_csv(files["fresh"], rows)
        write_csv(files["relabel"], rows, swap=True)
        files = {"fresh": files["fresh"], "again": files["fresh"], "relabel": files["relabel"]}
        print(f"\n## Import of {rows:,} CSV rows, {labeled:,} labeled (embedding off)\n")
        print(f"| {'database':<10} | {'import':<8} | {'seconds':>8} | {'new examples':>12} "
              f"| {'new labels':>10} | {'ms/label':>8} |")  # fmt: skip
        print(f"|{'-' * 12}|{'-' * 10}|{'-' * 10}|{'-' * 14}|{'-' * 12}|{'-' * 10}|")
        for db in dbs:
            for scenario, seconds, inserted, labels in run(db.strip(), files):
                per = f"{seconds * 1000 / labels:.2f}" if labels else "-"
                print(f"| {db:<10} | {scenario:<8} | {seconds:>8.2f} | {inserted:>12,} "
                      f"| {labels:>10,} | {per:>8} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
