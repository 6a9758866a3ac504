"""Does `labelbot serve` hold up under sustained load, and give back what it takes?

A real server (uvicorn, FastAPI, Bolt: bot.api.create_api, in this process so that its
database pool, threads and file descriptors can be read) answers signed Slack requests and
the REST API; Slack's Web API is the local fake (tests/fakes/slack_api.py), as in
bench/slack_latency.py, whose helpers this reuses. Scenarios, each one row:

- clicks: E experts click through examples (ack latency, click-to-next, failures);
- clicks + S stalled exports: S clients start GET /api/projects/bench/export and stop reading
  after the first chunk (a slow download: each holds one database connection), while the same
  experts click;
- leaks: 500 mixed requests (healthz, metrics, status, export read whole or dropped
  mid-body, predict, clicks): threads, open file descriptors and pool connections checked out,
  before and after;
- retrains: R retrains of one project with predict requests running throughout (non-200
  answers), and the size of the workspace's in-process memo (``ws.memo``) after them.

Columns: the worst pool checkout seen, errors logged by the server (e.g. SQLAlchemy's
"QueuePool limit ... reached" after its 30 s wait), and what clients saw fail.

    .venv/bin/python bench/serve_load.py [--backends postgres,sqlite] [--experts 8]
                                         [--clicks 10] [--exports 16] [--retrains 10]
"""

from __future__ import annotations

import argparse
import csv
import gc
import logging
import os
import pickle
import random
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from slack_latency import _database, _drop, _pct, _rows  # noqa: E402

from bot.api import create_api  # noqa: E402
from bot.config import SlackSettings  # noqa: E402
from bot.services import build_services  # noqa: E402
from engine import labeling, projects, training  # noqa: E402
from engine.workspace import Workspace  # noqa: E402
from tests.fakes.server import ServerThread  # noqa: E402
from tests.fakes.slack_api import FakeSlackAPI  # noqa: E402
from tests.fakes.slack_client import SlackSim, choices  # noqa: E402

TOKEN = "xoxb-bench-token"
SECRET = "bench-signing-secret"
API_TOKEN = "bench-api-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
PAD = " and some more words to make the export large" * 120  # ~5.6 KB a text


class Errors(logging.Handler):
    """Counts the server's ERROR records (and keeps the first line of a few)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.pool_timeouts = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        if "QueuePool limit" in text:
            self.pool_timeouts += 1
        if len(self.first) < 3:
            self.first.append(text.splitlines()[0][:160])


@dataclass
class Server:
    ws: Workspace
    url: str
    api: FakeSlackAPI
    errors: Errors
    peak: list[int] = field(default_factory=lambda: [0])


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextmanager
def serving(backend: str, workdir: Path, n_examples: int) -> Iterator[Server]:
    url, schema = _database(backend, workdir)
    errors = Errors()
    for name in ("", "uvicorn"):
        logging.getLogger(name).addHandler(errors)
    try:
        with FakeSlackAPI(token=TOKEN) as api:
            settings = SlackSettings(
                DATABASE_URL=url,
                LABELBOT_DATA_DIR=workdir / "data",
                SLACK_BOT_TOKEN=TOKEN,
                SLACK_SIGNING_SECRET=SECRET,
                SLACK_API_URL=api.api_url,
                LABELBOT_API_TOKEN=API_TOKEN,
                LABELBOT_OUTBOX_INTERVAL=0,
            )
            ws = Workspace.open(settings, schema=schema)
            labels, texts = _rows(n_examples)
            projects.create_project(ws, name="bench", labels=labels, channel_id="C0BENCH")
            path = workdir / "examples.csv"
            with path.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["text"])
                writer.writerows([t + PAD] for t in texts)
            projects.import_file(ws, project="bench", path=path, embed=False)
            services = build_services(settings, ws=ws)
            done = threading.Event()
            server_box: list[Server] = []

            def watch() -> None:  # the worst checkout of the pool
                while not done.wait(0.02):
                    if server_box:
                        s = server_box[0]
                        s.peak[0] = max(s.peak[0], ws.db.pool.checkedout())  # type: ignore[attr-defined]

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            try:
                with ServerThread(create_api(settings, services)) as http:
                    server_box.append(Server(ws, http.url, api, errors))
                    yield server_box[0]
            finally:
                done.set()
                services.listener_executor.shutdown(wait=True)
                services.dispatch_executor.shutdown(wait=True)
                ws.close()
    finally:
        for name in ("", "uvicorn"):
            logging.getLogger(name).removeHandler(errors)
        if schema:
            _drop(schema)


def _reset(server: Server) -> None:
    server.peak[0] = 0
    server.errors.count = server.errors.pool_timeouts = 0
    server.errors.first = []


def _clicks(server: Server, n_experts: int, n_clicks: int, tag: str) -> dict[str, Any]:
    acks: list[float] = []
    to_next: list[float] = []
    failed: list[str] = []

    def expert(i: int) -> None:
        user = f"U{i:04d}{tag}"
        slack = SlackSim(server.url, server.api, SECRET)
        channel = server.api.dm_channel(user)
        rng = random.Random(i)
        try:
            slack.command(user)
            message = server.api.wait_for_new_message(channel, "0", timeout=45)
            for _ in range(n_clicks):
                if not choices(message):
                    break
                sent = time.time()
                started = time.perf_counter()
                response = slack.choose(user, message, rng.choice(choices(message)).label)
                acks.append(time.perf_counter() - started)
                if response.status_code != 200:
                    failed.append(f"ack {response.status_code}")
                    return
                message = server.api.wait_for_new_message(channel, message["ts"], timeout=45)
                to_next.append(float(message["ts"]) - sent)
        except Exception as exc:  # reported, not raised: the other experts go on
            failed.append(f"{type(exc).__name__}: {str(exc)[:80]}")
        finally:
            slack.close()

    threads = [threading.Thread(target=expert, args=(i,)) for i in range(n_experts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"acks": acks, "to_next": to_next, "failed": failed}


@contextmanager
def stalled_exports(server: Server, n: int) -> Iterator[list[str]]:
    """``n`` downloads of the export that read one chunk, then stop reading until the end."""
    release = threading.Event()
    outcome: list[str] = []

    def download() -> None:
        # a raw socket with a small receive buffer: the kernel then holds little of the body
        # for the client, as a slow link would, and the server's writes soon block
        host, port = server.url.removeprefix("http://").split(":")
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(90)
            try:
                sock.connect((host, int(port)))
                sock.sendall(
                    f"GET /api/projects/bench/export HTTP/1.1\r\nHost: {host}\r\n"
                    f"Authorization: Bearer {API_TOKEN}\r\n\r\n".encode()
                )
                outcome.append(sock.recv(4096).split(b" ", 2)[1].decode())
            except Exception as exc:
                outcome.append(type(exc).__name__)
            release.wait()

    threads = [threading.Thread(target=download) for _ in range(n)]
    for t in threads:
        t.start()
    try:
        time.sleep(3)  # they have started, and those that can are streaming
        yield outcome
    finally:
        release.set()
        for t in threads:
            t.join()


def _counts(items: list[str]) -> str:
    return ", ".join(f"{k} x{items.count(k)}" for k in sorted(set(items))) or "none yet"


def _row(name: str, server: Server, result: dict[str, Any], extra: str = "") -> None:
    acks, to_next = result.get("acks", []), result.get("to_next", [])
    failed = result.get("failed", [])
    print(
        f"{name:<28} {len(acks):>6} {_pct(acks, 0.5) if acks else 0:>8.0f} "
        f"{max(acks) * 1000 if acks else 0:>8.0f} {_pct(to_next, 0.95) if to_next else 0:>9.0f} "
        f"{len(failed):>6} {server.peak[0]:>5} {server.errors.count:>6} "
        f"{server.errors.pool_timeouts:>6}  {extra}"
    )
    for line in sorted(set(failed))[:2] + server.errors.first[:2]:
        print(f"    {line}")


def _leaks(server: Server, n: int) -> str:
    gc.collect()
    time.sleep(0.5)
    before = (threading.active_count(), _fds(), server.ws.db.pool.checkedout())  # type: ignore[attr-defined]
    statuses: dict[int, int] = {}
    rng = random.Random(0)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for i in range(n):
            kind = i % 6
            if kind == 0:
                r = client.get("/healthz")
            elif kind == 1:
                r = client.get("/metrics", headers=AUTH)
            elif kind == 2:
                r = client.get("/api/projects/bench/status", headers=AUTH)
            elif kind == 3:
                r = client.get("/api/projects/bench/export?format=csv", headers=AUTH)
            elif kind == 4:  # dropped mid-body: the client hangs up after the first chunk
                with (
                    httpx.Client(base_url=server.url, timeout=60) as once,
                    once.stream("GET", "/api/projects/bench/export", headers=AUTH) as s,
                ):
                    next(s.iter_raw(4096))
                    r = s
            else:
                r = client.post(
                    "/api/projects/bench/predict", json={"texts": [f"card {rng.random()}"]},
                    headers=AUTH,
                )  # fmt: skip
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
    time.sleep(2)
    gc.collect()
    time.sleep(0.5)
    after = (threading.active_count(), _fds(), server.ws.db.pool.checkedout())  # type: ignore[attr-defined]
    return (
        f"threads {before[0]}->{after[0]}, fds {before[1]}->{after[1]}, "
        f"checked out {before[2]}->{after[2]}; answers {dict(sorted(statuses.items()))}"
    )


def _small_project(ws: Workspace, workdir: Path, n: int = 200, labeled: int = 40) -> None:
    """A project of ``n`` short Banking77 texts (embedded), ``labeled`` of them labeled."""
    from engine.datasets import dataset_path

    with dataset_path("banking77", "train").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = sorted({r["label"] for r in rows})[:5]
    rows = [r for r in rows if r["label"] in labels]
    random.Random(0).shuffle(rows)
    rows = rows[:n]
    truth = {r["text"]: r["label"] for r in rows}
    projects.create_project(ws, name="small", labels=labels)
    path = workdir / "small.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([r["text"]] for r in rows)
    projects.import_file(ws, project="small", path=path)
    for i in range(labeled):
        task = labeling.next_task(ws, project="small", annotator="U0SEED")
        assert task is not None
        labeling.submit_label(
            ws, project="small", example_id=task.example_id, label=truth[task.text],
            annotator="U0SEED", source="cli", key=f"seed:{i}",
        )  # fmt: skip


def _retrains(server: Server, n: int, workdir: Path) -> str:
    ws = server.ws
    _small_project(ws, workdir)
    stop = threading.Event()
    statuses: dict[int, int] = {}
    models_seen: set[int] = set()

    def predictor() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while not stop.is_set():
                r = client.post(
                    "/api/projects/small/predict", json={"texts": ["my card has not arrived"]},
                    headers=AUTH,
                )  # fmt: skip
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    training.train_project(ws, "small")
    memo_before = len(ws.memo)
    threads = [threading.Thread(target=predictor) for _ in range(2)]
    for t in threads:
        t.start()
    started = time.perf_counter()
    try:
        for i in range(n):
            run = training.train_project(ws, "small", seed=i)
            models_seen.add(int(run.id or 0))
    finally:
        stop.set()
        for t in threads:
            t.join()
    took = time.perf_counter() - started
    memo_bytes = sum(len(pickle.dumps(v)) for v in ws.memo.values())
    return (
        f"{n} retrains in {took:.0f} s; predict answers {dict(sorted(statuses.items()))}; "
        f"ws.memo {memo_before}->{len(ws.memo)} entries, {memo_bytes / 1e6:.1f} MB pickled"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--clicks", type=int, default=10)
    parser.add_argument("--exports", type=int, default=16)
    parser.add_argument("--examples", type=int, default=4000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--retrains", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; {args.experts} "
        f"experts x {args.clicks} clicks; {args.exports} stalled exports of {args.examples} "
        "examples"
    )
    for backend in args.backends.split(","):
        print(f"\n== {backend}")
        header = (
            f"{'scenario':<28} {'clicks':>6} {'ack p50':>8} {'ack max':>8} {'next p95':>9} "
            f"{'failed':>6} {'pool':>5} {'errors':>6} {'pool-to':>6}  (ms; pool: most checked out)"
        )
        print(header)
        print("-" * len(header))
        with (
            tempfile.TemporaryDirectory() as tmp,
            serving(backend, Path(tmp), args.examples) as server,
        ):
            _reset(server)
            _row("clicks", server, _clicks(server, args.experts, args.clicks, "A"))
            _reset(server)
            with stalled_exports(server, args.exports) as outcome:
                held = server.ws.db.pool.checkedout()  # type: ignore[attr-defined]
                result = _clicks(server, args.experts, args.clicks, "B")
                answered = sorted(outcome)
            _row(
                f"clicks + {args.exports} stalled exports", server, result,
                f"exports answered {_counts(answered)} during the clicks, held {held}",
            )  # fmt: skip
            _reset(server)
            print(f"{'leaks':<28} {_leaks(server, args.requests)}")
            if args.retrains:
                print(f"{'retrains':<28} {_retrains(server, args.retrains, Path(tmp))}")
    print(
        "\npool-to: server errors that are SQLAlchemy's pool timeout; failed: experts whose "
        "next example never came (45 s) or whose click was refused"
    )


if __name__ == "__main__":
    main()
