"""Does a click slow down as a project grows? The queue's next example at 2k and 50k examples.

Every click hands the expert their next example (``labeling.next_task``: claim the most useful
free one). Until 2026-12-02 that was one query sorting every example of the project by "back for
a relabel first, then priority"; now it is three small queries, the main one walking the
predictions' priority index. This bench builds a project of ``--sizes`` examples (1,000 of them
labeled by import, every example scored with a random priority, as a trained model leaves it),
then times ``--clicks`` clicks, each the database work of one: store a label
(``labeling.submit_label``) and claim the next example (``labeling.next_task``, which also
counts the queue left for the message), alternating the former query (kept here as the
reference) and today's in one loop, on SQLite (a file) and PostgreSQL (a fresh schema); then as
many audit picks (a uniform draw over the free examples), former and today's alternating; then
as many counts of the queue left ("N left in the queue" on every labeling message), each after
one more label: the former count over the whole project and today's (what was stored since the
last count), both in one transaction.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/queue_scale.py [--sizes 2000,50000] [--clicks 40]
                                                          [--db sqlite,postgres]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fresh_db import fresh_workspace  # noqa: E402  (bench/, the script's own folder)

LABELS = [f"intent_{i}" for i in range(20)]
LABELED = 1000


def former_next_free_example(session: Any, project_id: int, annotator: str, *,
                             uniform: bool = False, rng: Any = None) -> Any:  # fmt: skip
    """The single query the queue ran before (ranked picks; audit picks are unchanged). ``rng``:
    today's signature (the audit draw's generator); the former query drew in SQL."""
    from sqlalchemy import case, exists, func
    from sqlmodel import col, select

    from storage.models import Annotation, Assignment, Example, Prediction
    from storage.repositories import assignments as a

    relabel = exists().where(
        col(Annotation.example_id) == Example.id, col(Annotation.retracted_at).is_(None)
    )
    taken = exists().where(
        col(Assignment.example_id) == Example.id, col(Assignment.status) == "open"
    )
    free = ~a._labeled(session, project_id) & ~a._counted_by(project_id, annotator)
    available = free if uniform else (free | a._wanted_by(project_id, annotator))
    ordering = (
        [func.random()]
        if uniform
        else [
            case((relabel, 1), else_=0).desc(),
            col(Prediction.priority).desc().nulls_last(),
            col(Example.id),
        ]
    )
    query = (
        select(Example)
        .outerjoin(Prediction, col(Prediction.example_id) == Example.id)
        .where(
            Example.project_id == project_id,
            available,
            ~a._flagged(),
            ~taken,
            ~a._skipped_by(annotator),
        )  # fmt: skip
        .order_by(*ordering)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Example)
    return session.exec(query).first()


def former_count_free_examples(session: Any, project_id: int) -> int:
    """The queue left as counted until 2026-12-04 (the test's reference, the same code)."""
    from tests.storage.test_queue_left import former_count

    return former_count(session, project_id)


def queue_left_counts(ws: Any, k: int) -> dict[str, list[float]]:
    """Milliseconds of ``k`` counts of the queue left each way, one more label stored before
    each pair (a delivery's count follows a click); the two must agree."""
    from engine import labeling
    from storage.db import session_scope
    from storage.repositories import assignments
    from storage.repositories import projects as projects_repo

    times: dict[str, list[float]] = {"left former": [], "left today": []}
    for i in range(k):
        task = labeling.next_task(ws, project="bench", annotator="U2")
        assert task is not None
        labeling.submit_label(ws, project="bench", example_id=task.example_id,
                              label=LABELS[i % len(LABELS)], annotator="U2", source="slack",
                              key=f"left{i}")  # fmt: skip
        with session_scope(ws.db) as session:
            project_id = int(projects_repo.get_project(session=session, name="bench").id or 0)
            start = time.perf_counter()
            former = former_count_free_examples(session, project_id)
            middle = time.perf_counter()
            today = assignments.count_free_examples(session=session, project_id=project_id)
            end = time.perf_counter()
        assert former == today, (former, today)
        times["left former"].append((middle - start) * 1000)
        times["left today"].append((end - middle) * 1000)
    return times


def build(ws: Any, tmp: Path, size: int) -> None:
    """Project "bench": ``size`` texts, the first ``LABELED`` labeled, all scored at random."""
    from engine import projects
    from storage.db import session_scope
    from storage.repositories import examples, models
    from storage.repositories import projects as projects_repo

    rng = random.Random(size)
    projects.create_project(ws, name="bench", labels=LABELS)
    projects.update_settings(ws, project="bench", audit_share=0.0, multi_label_share=0.0)
    path = tmp / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(size):
            writer.writerow([f"text {i} {rng.random()}", rng.choice(LABELS) if i < LABELED else ""])
    projects.import_file(ws, project="bench", path=path, embed=False)
    with session_scope(ws.db) as session:
        project_id = projects_repo.get_project(session=session, name="bench").id
        assert project_id is not None
        ids = [int(e.id or 0) for e in examples.list_examples(session=session,
                                                            project_id=project_id)]  # fmt: skip
        rows = [
            models.PredictionRow(
                example_id=i,
                label=None,
                confidence=None,
                probs=[],
                uncertainty=0.0,
                priority=rng.random(),
            )  # fmt: skip
            for i in ids
        ]
        models.replace_predictions(session=session, project_id=project_id, model_run_id=None,
                                   rows=rows)  # fmt: skip


def audit_picks(ws: Any, k: int, *, former: Any, today: Any) -> dict[str, list[float]]:
    """Milliseconds of ``k`` audit picks (a uniform draw over the free examples), alternating
    the former query (every free example sorted at random) and today's (rejection sampling)."""
    from storage.db import session_scope
    from storage.repositories import projects as projects_repo

    times: dict[str, list[float]] = {"audit former": [], "audit today": []}
    with session_scope(ws.db) as session:
        project_id = projects_repo.get_project(session=session, name="bench").id
        for i in range(k):
            which, pick = ("audit former", former) if i % 2 == 0 else ("audit today", today)
            start = time.perf_counter()
            assert pick(session, project_id, "U1", uniform=True) is not None
            times[which].append((time.perf_counter() - start) * 1000)
    return times


def run(db: str, size: int, clicks: int) -> dict[str, list[float]]:
    """Milliseconds of each click with the former query and with today's, then of each audit
    pick, on a fresh database."""
    from engine import labeling
    from storage.repositories import assignments

    todays = assignments._next_free_example
    times: dict[str, list[float]] = {"former": [], "today": []}
    with fresh_workspace(db) as (ws, tmp):
        try:
            build(ws, tmp, size)
            task = labeling.next_task(ws, project="bench", annotator="U1")
            for i in range(clicks):
                which = "former" if i % 2 == 0 else "today"
                assignments._next_free_example = (  # type: ignore[assignment]
                    former_next_free_example if which == "former" else todays
                )
                assert task is not None
                start = time.perf_counter()
                labeling.submit_label(ws, project="bench", example_id=task.example_id,
                                      label=LABELS[i % len(LABELS)], annotator="U1",
                                      source="slack", key=f"k{i}")  # fmt: skip
                task = labeling.next_task(ws, project="bench", annotator="U1")
                times[which].append((time.perf_counter() - start) * 1000)
        finally:
            assignments._next_free_example = todays  # type: ignore[assignment]
        times.update(audit_picks(ws, clicks, former=former_next_free_example, today=todays))
        times.update(queue_left_counts(ws, clicks))
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="2000,50000", help="examples per project, comma-separated"
    )
    parser.add_argument("--clicks", type=int, default=40, help="clicks per size (half each query)")
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.clicks < 2:
        parser.error("--clicks must be at least 2: they alternate the former query and today's")
    if min(sizes) <= LABELED + 2 * args.clicks:
        parser.error(f"--sizes: each must be over {LABELED + 2 * args.clicks:,} ({LABELED:,} "
                     "labeled at the start, and two labels per click)")  # fmt: skip
    print(f"\n## A click's database work (store a label, claim the next), {LABELED:,} labeled\n")
    print("| database | examples | what | former p50 / p95 (ms) | today p50 / p95 (ms) "
          "| speed-up (p50) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    p95 = lambda v: sorted(v)[int(0.95 * (len(v) - 1))]  # noqa: E731
    for db in args.db.split(","):
        for size in sizes:
            t = run(db.strip(), size, args.clicks)
            rows = [("click", t["former"], t["today"]),
                    ("audit pick", t["audit former"], t["audit today"]),
                    ("queue left", t["left former"], t["left today"])]  # fmt: skip
            for what, old, new in rows:
                ratio = statistics.median(old) / statistics.median(new)
                print(f"| {db} | {size:,} | {what} | {statistics.median(old):.0f} / {p95(old):.0f} "
                      f"| {statistics.median(new):.0f} / {p95(new):.0f} | {ratio:.1f}x |",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
