"""What does the delivery lease cost a click? Its two writes against the rest of a click's work.

Every delivery to an expert holds a database lease (``bot.flow._one_delivery_at_a_time``, one
insert-or-update to take it, one delete to let it go) so two of their requests at once post one
example. An answer holds the same lease from its store to its next delivery
(``bot.flow.expert_turn``, re-entrant: the delivery inside takes no second one), so a click
followed by its next example still pays for one lease, as measured here. This bench times, on
SQLite (a file) and PostgreSQL (a fresh schema), alternating in one loop so the machine's load
falls on both alike:

- ``lease``: taking and letting go of the lease, nothing inside;
- ``click``: the database work of a click without Slack: store the label
  (``labeling.submit_label``) and hand out the next example (``labeling.next_task``).

Slack's own round trips (chat.update, chat.postMessage: tens to hundreds of milliseconds) are
left out, so the share printed is an upper bound of what the lease adds to click-to-next.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/delivery_lease.py [--clicks 300] [--db sqlite,postgres]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fresh_db import fresh_workspace  # noqa: E402  (bench/, the script's own folder)

LABELS = ["pos", "neg", "other"]


def run(db: str, clicks: int) -> tuple[list[float], list[float]]:
    """Milliseconds of each lease round and each click, on a fresh database."""
    from bot import flow
    from engine import labeling, projects

    with fresh_workspace(db) as (ws, tmp):
        projects.create_project(ws, name="bench", labels=LABELS)
        projects.update_settings(ws, project="bench", audit_share=0.0, multi_label_share=0.0)
        path = tmp / "in.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text"])
            writer.writerows([f"example number {i} about card {i % 17}"] for i in range(2000))
        projects.import_file(ws, project="bench", path=path, embed=False)
        services = SimpleNamespace(ws=ws)  # all the lease reads of the bot's services
        lease_ms: list[float] = []
        click_ms: list[float] = []
        task = labeling.next_task(ws, project="bench", annotator="U1")
        for i in range(clicks):
            assert task is not None
            start = time.perf_counter()
            with flow._one_delivery_at_a_time(services, user="U1", project="bench"):  # type: ignore[arg-type]
                pass
            lease_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            labeling.submit_label(ws, project="bench", example_id=task.example_id,
                                  label=LABELS[i % 3], annotator="U1", source="slack",
                                  key=f"k{i}")  # fmt: skip
            task = labeling.next_task(ws, project="bench", annotator="U1")
            click_ms.append((time.perf_counter() - start) * 1000)
        return lease_ms, click_ms


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=300)
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    args = parser.parse_args()
    print(f"\n## Delivery lease against a click's database work, {args.clicks} clicks\n")
    print("| database | lease p50 / p95 (ms) | click p50 / p95 (ms) | lease / click (p50) |")
    print("|---|---|---|---|")
    for db in args.db.split(","):
        lease, click = run(db.strip(), args.clicks)
        share = statistics.median(lease) / statistics.median(click)
        print(f"| {db} | {statistics.median(lease):.1f} / {_p(lease, 95):.1f} "
              f"| {statistics.median(click):.1f} / {_p(click, 95):.1f} | {share:.0%} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
