"""How fast does labelbot answer Slack? 20 experts click through 1,000 examples.

A real `labelbot serve` process (uvicorn, FastAPI, Bolt) talks to the local Slack-compatible
Web API (tests/fakes/slack_api.py) through SLACK_API_URL; 20 expert threads send `/label`, then
click a label on each example that arrives, signed exactly as Slack signs, until the queue is
empty. Measured per click:

- ack latency: the HTTP round trip of the click (Slack waits for it; its limit is 3 s);
- click-to-next-example: from sending the click to the next example's chat.postMessage
  arriving at the Web API (what the expert waits for).

Run on SQLite (a file) and PostgreSQL (a fresh schema). By default experts click the moment an
example arrives (a stress test: 20 people with zero reading time); `--think 2` gives each a
mean 2 s of reading first. Targets on 2 cores: ack p99 < 100 ms,
click-to-next p95 < 300 ms, no ack over 3 s.

    .venv/bin/python bench/slack_latency.py [--experts 20] [--examples 1000]
                                            [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import projects  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.datasets import dataset_path  # noqa: E402
from engine.workspace import Workspace  # noqa: E402
from tests.fakes.slack_api import FakeSlackAPI  # noqa: E402
from tests.fakes.slack_client import SlackSim, choices  # noqa: E402

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TOKEN = "xoxb-bench-token"
SECRET = "bench-signing-secret"
N_LABELS = 10  # buttons (a select past 15 labels costs the same on the server)


@dataclass
class Expert:
    user: str
    acks: list[float] = field(default_factory=list)
    to_next: list[float] = field(default_factory=list)
    error: str | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rows(n: int) -> tuple[list[str], list[str]]:
    with dataset_path("banking77", "train").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = sorted({r["label"] for r in rows})[:N_LABELS]
    texts = [r["text"] for r in rows if r["label"] in labels]
    if len(texts) < n:  # repeat with a marker so every text stays distinct
        texts = [
            f"{t} (#{i // len(texts)})" if i >= len(texts) else t
            for i, t in enumerate(texts * (n // len(texts) + 1))
        ]  # noqa: E501
    return labels, texts[:n]


def _database(backend: str, workdir: Path) -> tuple[str, str | None]:
    """(DATABASE_URL, schema to drop afterwards)."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", None
    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return POSTGRES, schema


def _drop(schema: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _load(url: str, schema: str | None, workdir: Path, n: int) -> None:
    labels, texts = _rows(n)
    ws = Workspace.open(
        Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=workdir / "data"), schema=schema
    )
    projects.create_project(ws, name="bench", labels=labels, channel_id="C0BENCH")
    path = workdir / "examples.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    projects.import_file(ws, project="bench", path=path, embed=False)
    ws.close()


def _serve(
    url: str, schema: str | None, api: FakeSlackAPI, workdir: Path, port: int, *, worker: bool
) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LABELBOT_DATA_DIR": str(workdir / "data"),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api.api_url,
        "LABELBOT_OUTBOX_INTERVAL": "5",
    }
    if schema:  # libpq pins the search_path of every connection the server opens
        env["PGOPTIONS"] = f"-csearch_path={schema}"
    cli = [sys.executable, "-c", "from bot.cli import main; main()"]
    cmd = [*cli, "serve", "--port", str(port), "--log-level", "warning"]
    # --worker: retraining, proposals and digests run in a `labelbot worker` process, as the
    # README recommends for busy teams, instead of inside the process that answers Slack
    processes = [subprocess.Popen(cmd + (["--no-scheduler"] if worker else []), env=env, cwd=ROOT)]
    if worker:
        processes.append(subprocess.Popen([*cli, "worker"], env=env, cwd=ROOT))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return processes
        except httpx.HTTPError:
            time.sleep(0.1)
    for process in processes:
        process.kill()
    raise RuntimeError("labelbot serve did not come up")


def _expert(expert: Expert, base: str, api: FakeSlackAPI, seed: int, think: float) -> None:
    rng = random.Random(seed)
    slack = SlackSim(base, api, SECRET)
    channel = api.dm_channel(expert.user)
    try:
        slack.command(expert.user)
        message = api.wait_for_new_message(channel, "0", timeout=30)
        while choices(message):
            if think:  # reading the example before clicking (exponential, mean `think` s)
                time.sleep(rng.expovariate(1 / think))
            label = rng.choice(choices(message)).label
            sent = time.time()
            started = time.perf_counter()
            response = slack.choose(expert.user, message, label)
            expert.acks.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            nxt = api.wait_for_new_message(channel, message["ts"], timeout=30)
            expert.to_next.append(float(nxt["ts"]) - sent)  # the fake's ts is its arrival time
            message = nxt
    except Exception as exc:  # report, do not hang the other experts
        expert.error = f"{type(exc).__name__}: {exc}"
    finally:
        slack.close()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run(
    backend: str, n_experts: int, n_examples: int, think: float = 0.0, worker: bool = False
) -> dict[str, float | int | str]:
    with tempfile.TemporaryDirectory() as tmp, FakeSlackAPI(token=TOKEN) as api:
        workdir = Path(tmp)
        url, schema = _database(backend, workdir)
        try:
            _load(url, schema, workdir, n_examples)
            port = _free_port()
            servers = _serve(url, schema, api, workdir, port, worker=worker)
            try:
                experts = [Expert(f"U{i:04d}BENCH") for i in range(n_experts)]
                threads = [
                    threading.Thread(
                        target=_expert, args=(e, f"http://127.0.0.1:{port}", api, i, think)
                    )
                    for i, e in enumerate(experts)
                ]
                started = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                wall = time.perf_counter() - started
            finally:
                for server in servers:
                    server.terminate()
                    server.wait(timeout=30)
            errors = [e.error for e in experts if e.error][:3]
            answered = [str(c.params.get("text", "")) for c in api.calls("response_url")]
            errors += sorted({f"ephemeral x{answered.count(t)}: {t}" for t in answered})
            acks = [a for e in experts for a in e.acks]
            to_next = [t for e in experts for t in e.to_next]
            settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=workdir / "data")
            ws = Workspace.open(settings, schema=schema)
            status = projects.project_status(ws, "bench")
            ws.close()
        finally:
            if schema:
                _drop(schema)
    return {
        "backend": backend,
        "clicks": len(acks),
        "examples": status["examples"],
        "stored": status["annotations"],
        "ack_p50": _pct(acks, 0.50),
        "ack_p95": _pct(acks, 0.95),
        "ack_p99": _pct(acks, 0.99),
        "ack_max": max(acks) * 1000,
        "next_p50": _pct(to_next, 0.50),
        "next_p95": _pct(to_next, 0.95),
        "mean_next": statistics.mean(to_next) * 1000,
        "wall_s": wall,
        "errors": "\n  ".join(errors) or "-",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )  # noqa: E501
    parser.add_argument("--experts", type=int, default=20)
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--worker", action="store_true",
                        help="the scheduler in a separate `labelbot worker` process")  # fmt: skip
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean seconds an expert reads before clicking"
    )
    args = parser.parse_args()
    print(
        f"{args.experts} experts, {args.examples} examples, think {args.think:g} s, "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}, scheduler "
        + ("in a separate worker process" if args.worker else "inside labelbot serve")
    )
    header = f"{'backend':<9} {'examples':>8} {'clicks':>6} {'stored':>6} | {'ack p50':>7} {'p95':>6} {'p99':>6} {'max':>6} ms | {'next p50':>8} {'p95':>6} ms | {'wall s':>6}"  # noqa: E501
    print(header)
    print("-" * len(header))
    for backend in args.backends.split(","):
        r = run(backend, args.experts, args.examples, args.think, worker=args.worker)
        print(
            f"{r['backend']:<9} {r['examples']:>8} {r['clicks']:>6} {r['stored']:>6} | {r['ack_p50']:>7.1f} {r['ack_p95']:>6.1f} "  # noqa: E501
            f"{r['ack_p99']:>6.1f} {r['ack_max']:>6.1f}    | {r['next_p50']:>8.1f} {r['next_p95']:>6.1f}    | {r['wall_s']:>6.1f}"  # noqa: E501
        )
        if r["errors"] != "-":
            print(f"  errors: {r['errors']}")
    print("targets: ack p99 < 100 ms, click-to-next p95 < 300 ms, no ack over 3,000 ms")


if __name__ == "__main__":
    main()
