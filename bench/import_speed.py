"""How fast is an import? Storing a labeled CSV on SQLite and PostgreSQL, embedding left out.

A generated CSV of ``--rows`` rows (two thirds labeled, ids and one metadata column, as a
ticket dump would be) goes through ``projects.import_file(embed=False)`` four times into a
fresh project of a fresh database:

1. ``fresh``: every text new, every label a new annotation;
2. ``again``: the same file once more: every text a duplicate, every label already stored
   (its idempotency key), so nothing is written;
3. ``relabel``: the same texts with every label swapped: one new vote each;
4. ``texts``: as many other texts, none labeled: the examples' insert alone.

The encoder is not counted (``embed=False``; `labelbot import` embeds afterwards, cached on
disk): this is the transaction that holds SQLite's write lock. Seconds are wall time of one
run; the machine's other load adds to them. Each database runs the three imports with the code
of ``--speed-baseline`` (a commit, extracted with `git archive`; "" for none) and then with
this tree's, each in its own process, so one run shows before and after side by side.

Then memory: a CSV of ``--memory-rows`` rows (default 300,000) imported once into a fresh
database by this tree's code and by the code of ``--baseline`` (a commit, extracted with `git
archive` into a temporary folder), each in its own process; the table shows each process's
resident memory before the import and at its peak (``ru_maxrss``), and the import's seconds.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/import_speed.py [--rows 20000] [--db sqlite,postgres]
        [--speed-baseline 9d49973] [--memory-rows 300000] [--memory-db sqlite] [--baseline e0494f6]
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
# the last commit before PostgreSQL's labels went as arrays (multi-row INSERTs of 1,000 rows, an
# IN list of each chunk's example ids, each scanned anew by psycopg); 2e3b599: before its
# examples did
SPEED_BASELINE = "9d49973"

from baseline import extract  # noqa: E402  (bench/, as fresh_db)
from fresh_db import fresh_workspace  # noqa: E402  (bench/, the script's own folder)

# fmt: off
WORDS = ("card", "pin", "atm", "cash", "transfer", "refund", "charge", "fee", "pending", "declined",
         "wallet", "account", "balance", "limit", "rate", "exchange", "top-up", "app", "verify",
         "identity", "stolen", "lost", "payment")
# fmt: on


def write_csv(
    path: Path, rows: int, *, swap: bool = False, seed: int = 0, labels: bool = True
) -> int:
    """A CSV of ``rows`` distinct texts, two thirds labeled pos/neg (swapped with ``swap``;
    none without ``labels``, and other texts); returns how many rows carry a label."""
    rng = random.Random(seed)
    labeled = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "text", "label", "channel"])
        for i in range(rows):
            text = " ".join(rng.choices(WORDS, k=rng.randint(5, 20)))
            text += f" ref {i}" if labels else f" unlabeled {i}"
            label = rng.choice(["pos", "neg", ""]) if labels else ""
            if label and swap:
                label = "neg" if label == "pos" else "pos"
            labeled += bool(label)
            writer.writerow([f"b{i}", text, label, rng.choice(["web", "app"])])
    return labeled


def run(db: str, files: dict[str, Path]) -> list[tuple[str, float, float, int, int]]:
    """(scenario, seconds, this process's CPU seconds, examples inserted, annotations stored)
    on a fresh database. The CPU seconds leave out the database server's work and the other
    jobs' load, which wall time on a busy machine does not."""
    from engine import projects

    with fresh_workspace(db) as (ws, _):
        projects.create_project(ws, name="bench", labels=["pos", "neg"])
        out = []
        for scenario, path in files.items():
            start, cpu = time.perf_counter(), time.process_time()
            report = projects.import_file(ws, project="bench", path=path, embed=False)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            out.append((scenario, seconds, cpu, report.inserted, report.annotations))
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


def _speed_child(code: Path, db: str, folder: Path) -> list[tuple[str, float, float, int, int]]:
    """:func:`run` of the files in ``folder`` by the code at ``code``, in a child process."""
    out = subprocess.run(
        [sys.executable, __file__, "--speed", str(folder), "--memory-db", db, "--code-root",
         str(code)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return [tuple(row) for row in json.loads(out.stdout.strip().splitlines()[-1])]  # type: ignore[misc]


def _speed_files(folder: Path) -> dict[str, Path]:
    return {"fresh": folder / "fresh.csv", "again": folder / "fresh.csv",
            "relabel": folder / "relabel.csv", "texts": folder / "texts.csv"}  # fmt: skip


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
    parser.add_argument(
        "--speed-baseline",
        default=SPEED_BASELINE,
        help='the commit to compare speed with ("": none)',
    )
    parser.add_argument("--memory-rows", type=int, default=300_000, help="0: no memory table")
    parser.add_argument("--memory-db", default="sqlite", help="sqlite, postgres or both")
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare memory with")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # a child's file
    parser.add_argument("--speed", type=Path, help=argparse.SUPPRESS)  # a child's folder
    parser.add_argument("--code-root", type=Path, help=argparse.SUPPRESS)  # read above
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure_memory(args.memory_db, args.measure)))
        return
    if args.speed is not None:
        print(json.dumps(run(args.memory_db, _speed_files(args.speed))))
        return
    if args.rows:
        speed_table(args.rows, args.db.split(","), args.speed_baseline)
    if args.memory_rows:
        memory_table(args.memory_rows, args.memory_db.split(","), args.baseline)


def speed_table(rows: int, dbs: list[str], baseline: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        labeled = write_csv(folder / "fresh.csv", rows)
        write_csv(folder / "relabel.csv", rows, swap=True)
        write_csv(folder / "texts.csv", rows, seed=1, labels=False)
        codes = {"this tree": ROOT}
        old = (
            extract(ROOT, baseline, folder / "baseline", ("engine", "storage"))
            if baseline
            else None
        )
        if old is not None:
            codes = {f"{baseline} (before)": old, **codes}
        print(f"\n## Import of {rows:,} CSV rows, {labeled:,} labeled (embedding off)\n")
        print(f"| {'database':<10} | {'code':<18} | {'import':<8} | {'seconds':>8} "
              f"| {'CPU s':>6} | {'new examples':>12} | {'new labels':>10} "
              f"| {'ms/label':>8} |")  # fmt: skip
        print(f"|{'-' * 12}|{'-' * 20}|{'-' * 10}|{'-' * 10}|{'-' * 8}|{'-' * 14}|{'-' * 12}"
              f"|{'-' * 10}|")  # fmt: skip
        for db in (each.strip() for each in dbs):
            for name, code in codes.items():
                for scenario, seconds, cpu, inserted, labels in _speed_child(code, db, folder):
                    per = f"{seconds * 1000 / labels:.2f}" if labels else "-"
                    print(f"| {db:<10} | {name:<18} | {scenario:<8} | {seconds:>8.2f} "
                          f"| {cpu:>6.2f} | {inserted:>12,} | {labels:>10,} | {per:>8} |",
                          flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
