"""App Home at scale: one visit, the refresh after a promoted model, and how long the retrain job
waits for it, by this tree's code and by ``--baseline``'s (a commit, extracted with `git
archive`), each in its own process on the same database.

Until 2026-12 each visit ran `labelbot status`'s project_status and the whole digest for each of
the (up to 20) projects shown, which read every annotation of a project four times; the refresh
did it all again for each recent viewer, in the retrain job, retrying a rate limit twice. Now a
visit reads each shown project's annotations once and works out only the figures Home shows
(engine.progress.project_summary, engine.digest.home_digest); the refresh works each project
out once for all its viewers, on a listener thread, one try per call.

The database: ``--projects`` projects of ``--labels`` labels, ``--rows`` imported labels per
label and a third as many unlabeled examples, and U1 and U2 each labeling a few examples of every
project (disagreeing). Slack is the tests' fake Web API. Built once (a ``--url`` already holding
projects is used as it is).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/home.py [--projects 24 --labels 150 --rows 2]
        [--viewers 6] [--url postgresql+psycopg://…] [--baseline 8a1c31a]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# the code measured: this tree's, or a baseline's (--code-root, in a child process)
CODE = Path(sys.argv[sys.argv.index("--code-root") + 1]) if "--code-root" in sys.argv else ROOT
sys.path.insert(0, str(CODE))
sys.path.insert(1, str(ROOT))  # tests/fakes: the fake Slack Web API, this tree's
sys.path.insert(0, str(ROOT / "bench"))
from baseline import extract  # noqa: E402  (bench/, as fresh_db)

BASELINE = "8a1c31a"  # the last commit before the App Home fixes
VISITS = 3  # visits timed (the median is shown)


def build(ws: Any, *, n_projects: int, n_labels: int, rows: int, tmp: Path) -> None:
    from engine import labeling, projects

    labels = [f"intent_{i:03d}" for i in range(n_labels)]
    for p in range(n_projects):
        name = f"proj{p:02d}"
        projects.create_project(ws, name=name, labels=labels)
        path = tmp / f"{name}.csv"
        lines = ["text,label"]
        lines += [f"example {j} of {lb} [{p}],{lb}" for lb in labels for j in range(rows)]
        lines += [f"unlabeled {j} [{p}]," for j in range(n_labels * rows // 3)]
        path.write_text("\n".join(lines) + "\n", "utf-8")
        projects.import_file(ws, project=name, path=path, embed=False)
        for k in range(5):  # U1 and U2 label the same examples differently
            for who in ("U1", "U2"):
                task = labeling.next_task(ws, project=name, annotator=who)
                if task is None:
                    break
                labeling.submit_label(
                    ws, project=name, example_id=task.example_id,
                    label=labels[(k + (who == "U2")) % n_labels], annotator=who, source="slack",
                    key=f"{who}:{name}:{k}",
                )  # fmt: skip
        print(f"  built {name}", file=sys.stderr, flush=True)


def measure(url: str, data: Path, *, viewers: int, spec: dict[str, int]) -> dict[str, Any]:
    """One visit (U1's), the refresh for ``viewers`` viewers, and the retrain hook."""
    from sqlalchemy import event

    from bot import flow, scheduling
    from bot.config import SlackSettings
    from bot.services import build_services
    from engine import projects
    from engine.workspace import Workspace
    from tests.fakes.slack_api import FakeSlackAPI

    with FakeSlackAPI(token="xoxb-bench") as api, tempfile.TemporaryDirectory() as tmp:
        settings = SlackSettings(
            DATABASE_URL=url, LABELBOT_DATA_DIR=data, SLACK_BOT_TOKEN="xoxb-bench",
            SLACK_SIGNING_SECRET="s" * 20, SLACK_API_URL=api.api_url, LABELBOT_OUTBOX_INTERVAL=0,
        )  # fmt: skip
        ws = Workspace.open(settings)
        if not projects.list_projects(ws):
            build(ws, n_projects=spec["projects"], n_labels=spec["labels"], rows=spec["rows"],
                  tmp=Path(tmp))  # fmt: skip
        services = build_services(settings, ws=ws)
        queries = [0]

        @event.listens_for(ws.db, "before_cursor_execute")
        def count(*_: Any) -> None:
            queries[0] += 1

        times, counts = [], []
        for _ in range(VISITS):
            queries[0] = 0
            started = time.perf_counter()
            flow.publish_home(services, user="U1")
            times.append(time.perf_counter() - started)
            counts.append(queries[0])
        for i in range(viewers):
            services.home_viewers.saw(f"U{i + 1}")
        api.reset()
        queries[0] = 0
        started = time.perf_counter()
        refreshed = flow.refresh_homes(services)
        refresh = time.perf_counter() - started
        refresh_queries = queries[0]
        # the retrain job's hook after a promoted model: how long the retrain round waits
        run = SimpleNamespace(version=2, is_active=True, metrics={"promotion": {"promoted": True}})
        hook = scheduling.training_notifier(services)
        api.reset()
        started = time.perf_counter()
        hook("proj00", run)  # type: ignore[arg-type]
        held = time.perf_counter() - started
        services.close()  # waits for a refresh queued on the listener pool
        return {
            "visit_s": statistics.median(times),
            "visit_queries": statistics.median(counts),
            "refresh_s": refresh,
            "refreshed": refreshed,
            "refresh_queries": refresh_queries,
            "hook_s": held,
        }


def table(results: dict[str, dict[str, Any]], viewers: int) -> None:
    print(f"\n| code | Home visit (s) | SQL per visit | refresh of {viewers} viewers (s) | "
          "per viewer (s) | SQL per refresh | retrain job held (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for code, r in results.items():
        per = r["refresh_s"] / max(r["refreshed"], 1)
        print(f"| {code} | {r['visit_s']:.2f} | {r['visit_queries']:.0f} | {r['refresh_s']:.1f} "
              f"| {per:.2f} | {r['refresh_queries']} | {r['hook_s']:.2f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=24)
    parser.add_argument("--labels", type=int, default=150)
    parser.add_argument("--rows", type=int, default=2, help="imported labels per label")
    parser.add_argument("--viewers", type=int, default=6)
    parser.add_argument("--url", help="the database (default: a new SQLite file)")
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare with")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code-root", type=Path, help=argparse.SUPPRESS)  # read above
    args = parser.parse_args()
    spec = {"projects": args.projects, "labels": args.labels, "rows": args.rows}
    if args.measure:
        print(json.dumps(measure(args.url, args.data, viewers=args.viewers, spec=spec)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/home.db"
        data = Path(tmp) / "data"
        codes: dict[str, Path] = {}
        old = extract(ROOT, args.baseline, Path(tmp) / "baseline", ("bot", "engine", "storage"))
        if old is not None:
            codes[f"{args.baseline} (before)"] = old
        codes["this tree"] = ROOT
        results = {}
        for name, root in codes.items():  # the baseline first: its schema is the older
            out = subprocess.run(
                [sys.executable, __file__, "--measure", "--url", url, "--data", str(data),
                 "--viewers", str(args.viewers), "--projects", str(args.projects),
                 "--labels", str(args.labels), "--rows", str(args.rows),
                 "--code-root", str(root)],
                check=True, capture_output=True, text=True, cwd=root,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )  # fmt: skip
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{args.projects} projects x {args.labels} labels x {args.rows} imported labels "
              f"each ({url.split('@')[-1]})")  # fmt: skip
        table(results, args.viewers)


if __name__ == "__main__":
    main()
