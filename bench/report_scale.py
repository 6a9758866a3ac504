"""Do the per-visit and whole-project reads grow with the project? Audit 36's projects at two sizes.

Each size gets a fresh database holding one project built as tests/engine/test_audit36_scale.py
builds it (60 labels, half the examples labeled by 20 experts, a tenth of those twice, every
example scored), its second opinions settled (tests/engine/test_audit36_reports_scale.py). Then,
each called once to warm up and timed ``--repeat`` times (median milliseconds): an App Home
visit's summary of the project (``progress.project_summary``), `labelbot status`
(``projects.project_status``), the digest (``digest.build_digest``), the first record of the
export (``exporting.iter_export_records``: its first page of 2,000 examples) and whether a
proposals refresh is due (``proposing.refresh_due``, asked for each project at every scheduler
poll). "x": the time over the smallest size's.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/report_scale.py [--sizes 2000,100000] [--repeat 3]
                                                           [--db sqlite,postgres]

Measured 2026-12-05 (2 shared cores, the first run of this script):

milliseconds (x: over 2,000's)   home visit     status         digest   export 1st  proposals due
sqlite      2,000                 33.3        72.4          58.7        33.3       2.1
sqlite    100,000             2276.9 (68x) 2641.3 (36x)  3088.0 (53x)  87.1 (2.6x) 33.8 (16x)
postgres    2,000                 50.7        73.5          56.0        54.7       3.0
postgres  100,000             2194.0 (43x) 3103.5 (42x)  2996.1 (54x) 114.5 (2.1x) 38.4 (13x)

An App Home visit summarizes up to 20 projects this way, each one read whole.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from click_scale import print_table  # noqa: E402  (bench/, the script's own folder)
from fresh_db import fresh_workspace  # noqa: E402


def paths(ws: Any) -> dict[str, Callable[[], object]]:
    from engine import digest, exporting, progress, projects, proposing

    return {
        "home visit": lambda: progress.project_summary(ws, "p"),
        "status": lambda: projects.project_status(ws, "p"),
        "digest": lambda: digest.build_digest(ws, "p"),
        "export 1st": lambda: next(iter(exporting.iter_export_records(ws, "p"))),
        "proposals due": lambda: proposing.refresh_due(ws, "p"),
    }


def run(db: str, size: int, repeat: int) -> dict[str, float]:
    """Median milliseconds of each read in a project of ``size`` examples."""
    from tests.engine.test_audit36_reports_scale import _project

    out: dict[str, float] = {}
    with fresh_workspace(db) as (ws, _):
        start = time.perf_counter()
        _project(ws, "p", size)
        print(f"  built {db} {size:,} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        for name, call in paths(ws).items():
            call()
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                call()
                times.append((time.perf_counter() - start) * 1000)
            out[name] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", default="sqlite,postgres")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print_table(args.db.split(","), sizes, list(paths(None)),
                lambda db, size: run(db, size, args.repeat))  # fmt: skip


if __name__ == "__main__":
    main()
