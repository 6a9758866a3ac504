"""Soak: several real `labelbot serve` replicas and a `labelbot worker` under experts clicking
for minutes on end, then the invariants that only break across processes.

Set-up, as the README's multi-replica deployment: a throwaway PostgreSQL database (created and
dropped here; `--db sqlite` uses a file), a Banking77 slice imported and trained with the real
CLI, R `labelbot serve --no-scheduler` processes on loopback ports and one `labelbot worker`,
all sharing DATABASE_URL and LABELBOT_DATA_DIR; Slack's Web API is the tests' local fake
(tests/fakes/slack_api.py) through SLACK_API_URL. E expert threads read their DM on the fake
and answer with signed requests, each sent to a random replica: a label (the gold one, or a
wrong one now and then), Skip, Discuss, Undo, Snooze (then `/label` to resume), a review's
Keep, a batch's "5 more", and double clicks (one click sent to two replicas at once). The
worker retrains, reviews and posts digests meanwhile.

Checks, each a line of the table:
- acks: HTTP round trip of every request (Slack's limit is 3 s), non-200 answers;
- clicks stored exactly once: every acked label click (its idempotency key is the message and
  the clicker) has one annotation with the label clicked, none was stored that was not sent,
  no expert holds two live votes on one example, and every acked Undo retracted its label;
- exclusive delivery: no example's labeling message live (buttons showing) in two experts' DMs
  at once, nor twice in one DM, from the fake's own record of posts and updates (a message
  waits for its expert until they send an answer or its buttons go); second opinions and
  reviews go to another expert only after the first answered. Overlaps involving a copy
  posted by Undo are counted apart, and so are two benign windows (an answer's update that
  arrives after the example went on, a copy retired just after `/label` posted it anew);
  in the database, no two experts' assignments of one example overlap by over a second;
- one task at a time: no DM shows two different examples asking for an answer at once (a
  labeling message or a review, its buttons showing, neither answered yet), besides an Undo's
  copy beside the next example (Undo holds the example while it is offered again) and the
  answered window (the next example posted before the answered one's update arrives);
- no duplicate posts: one message per delivery key, one live copy of an example per DM, one
  discussion root, one dispute thread and one flag thread per example in the project channel;
- per process: ERROR / Traceback / WARNING lines on its stderr, RSS and open file descriptors
  at start and end; database connections per process at the end (pg_stat_activity, by the
  application_name each process is given through PGAPPNAME); models trained.

    .venv/bin/python bench/soak.py [--duration 300] [--experts 6] [--replicas 2]
                                   [--db postgres|sqlite] [--labels 10] [--per-label 100]
                                   [--think 1.0] [--keep]

--keep leaves the work folder (each process's log, and timeline.txt: every request and every
message posted or updated, in order) and the PostgreSQL database for reading a failure.
"""

from __future__ import annotations

import argparse
import collections
import copy
import csv
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import ids  # noqa: E402
from bot.delivery import delivery_key  # noqa: E402
from engine.datasets import dataset_path  # noqa: E402
from tests.fakes import payloads  # noqa: E402
from tests.fakes.signing import (  # noqa: E402
    SignedRequest,
    signed_interactivity,
    signed_slash_command,
)
from tests.fakes.slack_api import FakeSlackAPI, Params  # noqa: E402
from tests.fakes.slack_client import button, choices, example_id  # noqa: E402

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TOKEN = "xoxb-soak-token"
SECRET = "soak-signing-secret"
PROJECT = "soak"
CHANNEL = "C0SOAK"
CLI = [sys.executable, "-c", "from bot.cli import main; main()"]
WAIT_S = 20.0  # an expert waits this long for their next message before typing /label again


# --- the fake Slack, with a timeline of what was posted and updated --------------------------
@dataclass(frozen=True)
class Posted:
    at: float  # monotonic seconds
    method: str  # chat.postMessage | chat.update
    channel: str
    ts: str
    params: Params


class RecordingSlack(FakeSlackAPI):
    """The tests' fake Web API, keeping every message post and update in the order it took
    effect (the fake's `calls` hold requests, not the ts a post got)."""

    def __init__(self) -> None:
        super().__init__(token=TOKEN)
        self.timeline: list[Posted] = []

    def __enter__(self) -> RecordingSlack:
        self.start()
        return self

    def _dispatch(self, method: str, params: Params) -> Params:  # called under the fake's lock
        result = super()._dispatch(method, params)
        if method in ("chat.postMessage", "chat.update") and result.get("ok"):
            self.timeline.append(
                Posted(time.monotonic(), method, result["channel"], str(result["ts"]), params)
            )
        return result


def _live_example(blocks: list[dict[str, Any]] | None) -> int | None:
    """The example a message offers labels for (its buttons or menu showing), else None."""
    message = {"blocks": blocks or []}
    return example_id(message) if choices(message) else None


def _live_review(blocks: list[dict[str, Any]] | None) -> int | None:
    """The example a review message asks about (its Keep button showing), else None."""
    message = {"blocks": blocks or []}
    return example_id(message) if _has(message, ids.REVIEW_KEEP) else None


# --- the database -----------------------------------------------------------------------------
@contextmanager
def database(kind: str, workdir: Path, *, keep: bool = False) -> Iterator[str]:
    """DATABASE_URL of an empty database, dropped afterwards unless ``keep``: a PostgreSQL
    database of its own (nothing else's data is touched, and pg_stat_activity tells its
    connections apart), or a SQLite file in ``workdir``."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'soak.db'}"
        return
    name = f"soak_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES.rsplit('/', 1)[0]}/{name}"
    finally:
        if keep:
            print(f'kept database {name} (DROP DATABASE "{name}" WITH (FORCE) when done)')
        else:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def _slice(n_labels: int, per_label: int) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The first ``n_labels`` Banking77 intents (sorted), ``per_label`` rows each: (id, text,
    label) rows, interleaved."""
    with dataset_path("banking77", "train").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = sorted({r["label"] for r in rows})[:n_labels]
    buckets: dict[str, list[str]] = {lb: [] for lb in labels}
    seen: set[str] = set()
    for r in rows:
        bucket = buckets.get(r["label"])
        if bucket is not None and len(bucket) < per_label and r["text"] not in seen:
            seen.add(r["text"])
            bucket.append(r["text"])
    out = [
        (f"b{i}-{lb}", buckets[lb][i], lb)
        for i in range(per_label)
        for lb in labels
        if i < len(buckets[lb])
    ]
    return labels, out


def _cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"labelbot {' '.join(args)} failed: {done.stdout}{done.stderr}")


def prepare(env: dict[str, str], workdir: Path, labels: list[str], rows: list[tuple[str, str, str]],
            seeds: int) -> None:  # fmt: skip
    """The project as an admin would make it, with the real CLI: create, configure, import
    ``seeds`` labeled rows per label and the rest unlabeled, train once."""
    seed_path, pool_path = workdir / "seed.csv", workdir / "pool.csv"
    seeded: collections.Counter[str] = collections.Counter()
    with seed_path.open("w", newline="") as s, pool_path.open("w", newline="") as p:
        seed_w, pool_w = csv.writer(s), csv.writer(p)
        seed_w.writerow(["id", "text", "label"])
        pool_w.writerow(["id", "text"])
        for rid, text, label in rows:
            if seeded[label] < seeds:
                seeded[label] += 1
                seed_w.writerow([rid, text, label])
            else:
                pool_w.writerow([rid, text])
    _cli(env, "init")
    _cli(env, "project", "create", PROJECT, "--labels", ",".join(labels), "--channel", CHANNEL)
    # Admin: the first expert. Digests every 2 minutes so that the worker posts some.
    _cli(env, "project", "set", PROJECT, "--admins", expert_id(0), "--timezone", "UTC",
         "--digest-cron", "*/2 * * * *")  # fmt: skip
    _cli(env, "import", PROJECT, str(seed_path), "--label-column", "label", "--id-column", "id")
    _cli(env, "import", PROJECT, str(pool_path), "--id-column", "id")
    _cli(env, "train", PROJECT)


def expert_id(i: int) -> str:
    return f"U{i:04d}SOAK"


# --- the processes ----------------------------------------------------------------------------
@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str | None = None
    start: tuple[int, int] = (0, 0)  # RSS KiB, open fds
    end: tuple[int, int] = (0, 0)
    peak: tuple[int, int] = (0, 0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def usage(pid: int) -> tuple[int, int]:
    """(RSS in KiB, open file descriptors) of a live process; (0, 0) once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, AttributeError):
        return 0, 0


def start_processes(env: dict[str, str], workdir: Path, replicas: int) -> list[Proc]:
    procs = []
    for i in range(replicas):
        port = _free_port()
        log = workdir / f"serve-{i}.log"
        cmd = [*CLI, "serve", "--port", str(port), "--log-level", "warning", "--no-scheduler"]
        popen = subprocess.Popen(cmd, env={**env, "PGAPPNAME": f"serve-{i}"}, cwd=ROOT,
                                 stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
        procs.append(Proc(f"serve-{i}", popen, log, url=f"http://127.0.0.1:{port}"))
    log = workdir / "worker.log"
    popen = subprocess.Popen([*CLI, "worker", "--poll-seconds", "2"],
                             env={**env, "PGAPPNAME": "worker"}, cwd=ROOT,
                             stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    procs.append(Proc("worker", popen, log))
    deadline = time.monotonic() + 120
    for proc in procs:
        while proc.url is not None:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited: {proc.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{proc.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} did not come up: {proc.log.read_text()[-2000:]}")
            time.sleep(0.2)
    return procs


def stop_processes(procs: list[Proc]) -> None:
    for proc in procs:
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait(timeout=30)


def log_lines(path: Path) -> dict[str, Any]:
    """Counts of Traceback / ERROR / WARNING lines, and a few distinct ERROR and exception lines."""
    text = path.read_text(errors="replace").splitlines()
    found: dict[str, Any] = {"traceback": 0, "error": 0, "warning": 0, "samples": []}
    samples: collections.Counter[str] = collections.Counter()
    for i, line in enumerate(text):
        if line.startswith("Traceback"):
            found["traceback"] += 1
            # the exception line: the first unindented line after the traceback
            tail = next(
                (x for x in text[i + 1 :] if x and not x.startswith((" ", "Traceback"))), ""
            )
            samples[f"exc: {tail[:160]}"] += 1
        elif " ERROR " in line:
            found["error"] += 1
            samples[f"ERROR {line.split(' ERROR ', 1)[1][:160]}"] += 1
        elif " WARNING " in line:
            found["warning"] += 1
            samples[f"WARNING {line.split(' WARNING ', 1)[1][:120]}"] += 1
    found["samples"] = samples.most_common(8)
    return found


# --- the experts --------------------------------------------------------------------------------
@dataclass
class Ack:
    kind: str
    ms: float
    status: int  # 0: no answer (connection error)
    replica: int
    detail: str = ""
    at: float = 0.0  # monotonic seconds when sent
    user: str = ""


@dataclass
class Click:
    user: str
    channel: str
    ts: str
    example: int
    label: str
    wrong: bool
    statuses: list[int]
    undone: bool = False  # an Undo of it was acked


@dataclass
class Stats:
    acks: list[Ack] = field(default_factory=list)
    clicks: list[Click] = field(default_factory=list)
    actions: collections.Counter[str] = field(default_factory=collections.Counter)
    stuck: int = 0  # waits of WAIT_S for a next message that never came
    # (channel, ts) -> when the expert first sent an answer to that message (a label, Skip,
    # Snooze, a review's Keep): from then on the example may go to someone else
    answered: dict[tuple[str, str], float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Expert(threading.Thread):
    def __init__(self, i: int, *, api: RecordingSlack, urls: list[str], stats: Stats,
                 gold: dict[int, str], labels: list[str], deadline: float, think: float,
                 mix: dict[str, float]) -> None:  # fmt: skip
        super().__init__(name=f"expert-{i}", daemon=True)
        self.user = expert_id(i)
        self.api, self.stats, self.gold, self.labels = api, stats, gold, labels
        self.deadline, self.think, self.mix = deadline, think, mix
        self.rng = random.Random(1000 + i)
        self.clients = [httpx.Client(base_url=u, timeout=30) for u in urls]
        self.channel = api.dm_channel(self.user)
        self.done_ts: set[str] = set()  # messages answered (or given up on)
        self.discussed: set[int] = set()
        self.last_ts = "0"

    # -- sending
    def _send(self, kind: str, signed: SignedRequest, replica: int | None = None) -> int:
        replica = self.rng.randrange(len(self.clients)) if replica is None else replica
        started, started_at = time.perf_counter(), time.monotonic()
        status, detail = 0, ""
        try:
            response = self.clients[replica].post(
                "/slack/events", content=signed.body, headers=signed.headers
            )
            status = response.status_code
            if status != 200:
                detail = response.text[:200]
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - started) * 1000
        with self.stats.lock:
            self.stats.acks.append(Ack(kind, ms, status, replica, detail, started_at, self.user))
            self.stats.actions[kind] += 1
        return status

    def command(self, text: str = "") -> int:
        form = payloads.slash_command(self.user, text, self.channel,
                                      response_url=self.api.response_url(self.user))  # fmt: skip
        return self._send("/label" + (f" {text}" if text else ""),
                          signed_slash_command(SECRET, form))  # fmt: skip

    def _action(self, message: Params, action_id: str, value: str | None, *, block_id: str,
                option: dict[str, Any] | None = None) -> SignedRequest:  # fmt: skip
        payload = payloads.block_actions(
            self.user, action_id, value, self.channel, message["ts"], message.get("blocks") or [],
            block_id=block_id, selected_option=option, message_text=message.get("text", ""),
            response_url=self.api.response_url(self.user),
        )  # fmt: skip
        return signed_interactivity(SECRET, payload)

    def _answering(self, message: Params) -> None:
        self.done_ts.add(message["ts"])
        with self.stats.lock:
            self.stats.answered.setdefault((self.channel, message["ts"]), time.monotonic())

    def click(self, kind: str, message: Params, action_id: str) -> int:
        block_id, element = button(message, action_id)
        return self._send(kind, self._action(message, action_id, element.get("value"),
                                             block_id=block_id))  # fmt: skip

    # -- reading the DM
    def _top_level(self) -> list[Params]:
        return [m for m in self.api.messages(self.channel) if m.get("thread_ts") in (None, m["ts"])]

    def next_message(self) -> Params | None:
        """The newest message in the DM that asks for an answer and was not answered yet (a
        labeling message, a review, a batch's end), waiting up to WAIT_S; None past that."""
        until = min(time.monotonic() + WAIT_S, self.deadline)
        while time.monotonic() < until:
            for message in reversed(self._top_level()):
                if message["ts"] in self.done_ts:
                    continue
                if choices(message) or _has(message, ids.REVIEW_KEEP, ids.BATCH_MORE):
                    return copy.deepcopy(message)
            time.sleep(0.05)
        return None

    def _wait_for_undo(self, ts: str) -> Params | None:
        until = time.monotonic() + 10
        while time.monotonic() < until:
            message = next((m for m in self._top_level() if m["ts"] == ts), None)
            if message is not None and _has(message, ids.UNDO):
                return copy.deepcopy(message)
            time.sleep(0.05)
        return None

    # -- the loop
    def run(self) -> None:
        try:
            self.command()
            while time.monotonic() < self.deadline:
                message = self.next_message()
                if message is None:
                    if time.monotonic() < self.deadline:
                        with self.stats.lock:
                            self.stats.stuck += 1
                        self.command()
                    continue
                if self.think:
                    time.sleep(min(self.rng.expovariate(1 / self.think), 5 * self.think))
                self.answer(message)
        except Exception as exc:  # reported in the table; the other experts go on
            with self.stats.lock:
                self.stats.failures.append(f"{self.user}: {type(exc).__name__}: {exc}")
        finally:
            for client in self.clients:
                client.close()

    def answer(self, message: Params) -> None:
        if _has(message, ids.BATCH_MORE):
            self._answering(message)
            self.click("batch more", message, ids.BATCH_MORE)
            return
        if _has(message, ids.REVIEW_KEEP):
            self._answering(message)
            self.click("review keep", message, ids.REVIEW_KEEP)
            return
        example = example_id(message)
        assert example is not None, message
        r = self.rng.random()
        mix = self.mix
        if r < mix["skip"]:
            self._answering(message)
            self.click("skip", message, ids.SKIP)
        elif r < mix["skip"] + mix["discuss"]:
            if example in self.discussed:
                self.label(message, example)
                return
            self.discussed.add(example)  # the message stays: labeled on the next turn
            self.click("discuss", message, ids.DISCUSS)
        elif r < mix["skip"] + mix["discuss"] + mix["snooze"]:
            self._answering(message)
            block_id, menu = button(message, ids.SNOOZE)
            option = menu["options"][0]  # 1 hour
            self._send("snooze", self._action(message, ids.SNOOZE, None, block_id=block_id,
                                              option=option))  # fmt: skip
            time.sleep(self.rng.uniform(2, 6))
            self.command("5" if self.rng.random() < 0.3 else "")
        else:
            self.label(message, example)

    def label(self, message: Params, example: int) -> None:
        self._answering(message)
        gold = self.gold.get(example)
        offered = [c.label for c in choices(message)]
        wrong = gold is None or self.rng.random() < self.mix["wrong"] or gold not in offered
        if wrong or gold is None:
            label = self.rng.choice([x for x in offered if x != gold] or offered)
        else:
            label = gold
        choice = next(c for c in choices(message) if c.label == label)
        signed = self._action(message, choice.action_id, choice.value, block_id=choice.block_id,
                              option=choice.option)  # fmt: skip
        statuses: list[int] = []
        if len(self.clients) > 1 and self.rng.random() < self.mix["double"]:
            # a double click, or Slack's retry landing elsewhere: one click at two replicas
            first, second = self.rng.sample(range(len(self.clients)), 2)
            other = threading.Thread(
                target=lambda: statuses.append(self._send("label (2nd copy)", signed, second))
            )
            other.start()
            statuses.append(self._send("label", signed, first))
            other.join()
        else:
            statuses.append(self._send("label", signed))
        click = Click(self.user, self.channel, message["ts"], example, label, wrong, statuses)
        with self.stats.lock:
            self.stats.clicks.append(click)
        if self.rng.random() < self.mix["undo"]:
            labeled = self._wait_for_undo(message["ts"])
            if labeled is not None and self.click("undo", labeled, ids.UNDO) == 200:
                click.undone = True


def _has(message: Params, *action_ids: str) -> bool:
    for block in message.get("blocks") or []:
        elements = block.get("elements") if block.get("type") == "actions" else None
        for el in [*(elements or []), block.get("accessory") or {}]:
            if el.get("action_id") in action_ids:
                return True
    return False


# --- the invariants -----------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stored_once(engine: sa.Engine, stats: Stats) -> dict[str, Any]:
    """Compare the annotations stored from Slack with the clicks acked."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT a.idempotency_key, a.example_id, a.annotator, l.name, a.retracted_at "
            "FROM annotations a JOIN labels l ON l.id = a.label_id WHERE a.source = 'slack'"
        )).all()  # fmt: skip
    by_key = {r[0]: r for r in rows}
    acked = [c for c in stats.clicks if 200 in c.statuses]
    keys = {f"slack:{c.channel}:{c.ts}:{c.user}": c for c in acked}
    missing = [c for k, c in keys.items() if k not in by_key]
    wrong = [
        (c, by_key[k]) for k, c in keys.items()
        if k in by_key and (by_key[k][1] != c.example or by_key[k][3] != c.label)
    ]  # fmt: skip
    sent = {f"slack:{c.channel}:{c.ts}:{c.user}" for c in stats.clicks}
    unsent = [r for r in rows if r[0] not in sent and r[0].count(":") == 3]
    live = collections.Counter((r[1], r[2]) for r in rows if r[4] is None)
    not_retracted = [
        c for k, c in keys.items() if c.undone and k in by_key and by_key[k][4] is None
    ]
    return {
        "acked": len(acked),
        "stored": len(rows),
        "missing": missing,
        "mismatched": wrong,
        "unsent": unsent,
        "two_live_votes": [k for k, n in live.items() if n > 1],
        "undo_not_retracted": not_retracted,
    }


def _when(value: Any) -> datetime | None:
    """A timestamp as read by plain SQL: a datetime (PostgreSQL) or ISO text (SQLite)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def assignment_overlaps(engine: sa.Engine) -> tuple[int, int, int]:
    """(assignments, pairs of one example's assignments to two experts that overlap in time by
    over a second, by under a second). The partial unique index allows one open assignment
    per example; a claim stamps ``created_at`` when it starts, before it may wait for the
    expert's delivery lock, so a claim can seem to start some milliseconds before the
    previous holder's release committed."""
    with engine.connect() as conn:
        read = conn.execute(sa.text(
            "SELECT example_id, annotator, created_at, closed_at FROM assignments"
        )).all()  # fmt: skip
    rows = [(r[0], r[1], _when(r[2]), _when(r[3])) for r in read]
    by_example: dict[int, list[Any]] = collections.defaultdict(list)
    for r in rows:
        by_example[r[0]].append(r)
    long = short = 0
    for found in by_example.values():
        for i, a in enumerate(found):
            for b in found[i + 1 :]:
                if a[1] == b[1]:
                    continue
                ends = [e for e in (a[3], b[3]) if e is not None]
                if not ends:
                    long += 1  # both still open: the index would refuse this
                    continue
                overlap = min(ends) - max(a[2], b[2])
                if overlap.total_seconds() > 1:
                    long += 1
                elif overlap.total_seconds() > 0:
                    short += 1
    return len(rows), long, short


@dataclass
class Shown:
    """A labeling message (or a review: ``kind``) live (its buttons showing) in one DM from
    ``start`` to ``end``."""

    example: int
    channel: str
    start: float
    end: float
    ended_by: str  # the text of the update that took its buttons away
    origin: str  # "undo": the example posted again by Undo; else "queue"
    ts: str = ""
    answered: float | None = None  # when its expert sent an answer to it
    kind: str = "label"  # "review": a mislabel review's Keep / Change

    @property
    def done(self) -> float:
        """When it stopped waiting for its expert: answered, or its buttons taken away."""
        return min(self.end, self.answered) if self.answered is not None else self.end


# The thread kinds an example may have one of each of in the project channel, by the block
# that names them in their root (bot.views.disputes, bot.views.flags): each root also shows the
# example's text, as a Discuss thread's does.
ROOT_BLOCKS = {ids.DISPUTE_BLOCK: "dispute", ids.FLAG_THREAD_BLOCK: "flag"}


def channel_root(blocks: list[dict[str, Any]]) -> tuple[str, int] | None:
    """(kind, id) of a thread root posted in the project channel: an example's disagreement
    or flag thread (by its own block), its Discuss thread (the example's text and no such
    block), or what the first block names (a proposal); None for a post that names nothing (a
    digest)."""
    for block in blocks:
        kind, _, rest = str(block.get("block_id", "")).partition(":")
        if kind in ROOT_BLOCKS and rest.isdigit():
            return ROOT_BLOCKS[kind], int(rest)
    shown = example_id({"blocks": blocks})
    if shown is not None:
        return "discussion", shown
    kind, _, rest = str((blocks or [{}])[0].get("block_id", "")).partition(":")
    return (kind, int(rest)) if rest.isdigit() else None


def slack_checks(
    api: RecordingSlack, experts: list[str], answered: dict[tuple[str, str], float]
) -> dict[str, Any]:
    """Live intervals of labeling messages from the fake's timeline: an example live in two
    experts' DMs at once, or twice in one DM; two different examples (labeling messages or
    reviews) live in one DM at once (:func:`_together`); duplicates by delivery key; channel
    threads posted twice.

    A message waits for its expert until they answer it (``answered``: their click may be
    acked, stored and followed by the next delivery before its update arrives) or its buttons
    go. Two benign windows are counted apart: a message answered whose update comes after the
    example went on (to a second opinion, or back to the pool after a Skip), and a copy
    posted again by `/label` a few milliseconds before the older copy is retired."""
    dm_owner = {api.dm_channel(u): u for u in experts}
    live: dict[tuple[str, str], Shown] = {}
    shown_in: dict[tuple[str, str], int] = {}  # every DM message's example
    undone: set[tuple[str, int]] = set()  # (channel, example) undone, not yet posted again
    intervals: list[Shown] = []
    keys: collections.Counter[str] = collections.Counter()
    roots: collections.Counter[tuple[str, int]] = collections.Counter()
    for p in api.timeline:
        where = (p.channel, p.ts)
        blocks = p.params.get("blocks") or []
        example = _live_example(blocks)
        review = _live_review(blocks) if example is None else None
        text = str(p.params.get("text", ""))
        if p.method == "chat.postMessage":
            key = delivery_key(p.params)
            if key:
                keys[key] += 1
            if p.channel == CHANNEL and not p.params.get("thread_ts"):
                root = channel_root(blocks)
                if root is not None:
                    roots[root] += 1
        if p.channel in dm_owner and example_id({"blocks": blocks}) is not None:
            shown_in.setdefault(where, example_id({"blocks": blocks}))  # type: ignore[arg-type]
        if p.method == "chat.update" and "undid the label" in text and where in shown_in:
            undone.add((p.channel, shown_in[where]))
        asks = "label" if example is not None else "review" if review is not None else None
        if where in live and live[where].kind != asks:  # its buttons gone (or others drawn)
            ended = live.pop(where)
            ended.end, ended.ended_by = p.at, text
            intervals.append(ended)
        if example is not None and p.channel in dm_owner and where not in live:
            origin = "undo" if (p.channel, example) in undone else "queue"
            undone.discard((p.channel, example))
            live[where] = Shown(example, p.channel, p.at, 0.0, "", origin, p.ts)
        elif review is not None and p.channel in dm_owner and where not in live:
            live[where] = Shown(review, p.channel, p.at, 0.0, "", "queue", p.ts, kind="review")
    now = time.monotonic()
    for still in live.values():
        still.end, still.ended_by = now, "(still live at the end)"
        intervals.append(still)
    for iv in intervals:
        iv.answered = answered.get((iv.channel, iv.ts))
    together, together_samples = _together(intervals, dm_owner)
    reviews = [iv for iv in intervals if iv.kind == "review"]
    intervals = [iv for iv in intervals if iv.kind == "label"]
    by_example: dict[int, list[Shown]] = collections.defaultdict(list)
    for iv in intervals:
        by_example[iv.example].append(iv)
    found_pairs: collections.Counter[str] = collections.Counter()
    samples: list[str] = []
    for example, shown_list in by_example.items():
        shown_list.sort(key=lambda iv: iv.start)
        t0 = shown_list[0].start
        for i, a in enumerate(shown_list):
            for b in shown_list[i + 1 :]:
                if b.start >= a.end:
                    continue  # b came after a was answered and updated
                if b.start >= a.done:
                    found_pairs["answered window"] += 1
                    continue
                moved = a.ended_by.startswith("This example moved")
                if a.channel == b.channel and moved and a.end - b.start < 1:
                    found_pairs["moved window"] += 1
                    continue
                what = "one DM" if a.channel == b.channel else "two experts"
                cause = "undo" if "undo" in (a.origin, b.origin) else "queue"
                found_pairs[f"{what} ({cause})"] += 1
                if len(samples) < 6:
                    samples.append(
                        f"example {example} live in {what}: {dm_owner[a.channel]} ({a.origin}) "
                        f"{a.start - t0:.2f}-{a.done - t0:.2f}s, ended by {a.ended_by[:40]!r}; "
                        f"{dm_owner[b.channel]} ({b.origin}) from {b.start - t0:.2f}s"
                    )
    return {
        "deliveries": len(intervals),
        "reviews": len(reviews),
        "undo_reposts": sum(iv.origin == "undo" for iv in intervals),
        "pairs": found_pairs,
        "together": together,
        "together_samples": together_samples,
        "dup_keys": sum(n - 1 for n in keys.values() if n > 1),
        "dup_roots": {k: n for k, n in roots.items() if n > 1},
        "roots": collections.Counter(k for k, _ in roots),
        "samples": samples,
    }


def _together(
    intervals: list[Shown], dm_owner: dict[str, str]
) -> tuple[collections.Counter[str], list[str]]:
    """Pairs of messages live in one DM at once that ask about two different examples (or one
    example, as a labeling message and a review): an expert is sent one task at a time. Counted
    apart: "undo", one of the two an Undo's copy (Undo holds the undone example for its
    expert while it is offered again, beside the next one: README, Architecture), and "answered
    window", the second posted after the expert answered the first (the answer's update
    arrives after the next task). The same example twice in one DM is the by-example check's.
    (counts by cause, up to 6 samples)."""
    by_dm: dict[str, list[Shown]] = collections.defaultdict(list)
    for iv in intervals:
        by_dm[iv.channel].append(iv)
    found: collections.Counter[str] = collections.Counter()
    samples: list[str] = []
    for channel, shown in by_dm.items():
        shown.sort(key=lambda iv: iv.start)
        for i, a in enumerate(shown):
            for b in shown[i + 1 :]:
                if b.start >= a.end or (a.example, a.kind) == (b.example, b.kind):
                    continue
                if b.start >= a.done:
                    found["answered window"] += 1
                    continue
                cause = "undo" if "undo" in (a.origin, b.origin) else "queue"
                found[cause] += 1
                if cause == "queue" and len(samples) < 6:
                    samples.append(
                        f"{dm_owner[channel]}'s DM shows two tasks at once: {a.kind} of example "
                        f"{a.example} (ended by {a.ended_by[:40]!r}) and, from "
                        f"{b.start - a.start:.2f}s after it, {b.kind} of example {b.example}"
                    )
    return found, samples


def dump_timeline(path: Path, api: RecordingSlack, stats: Stats, n_experts: int) -> None:
    """Every request sent and every message posted or updated, in order, for reading a failed
    check's story (kept with --keep)."""
    owner = {api.dm_channel(expert_id(i)): expert_id(i) for i in range(n_experts)}
    events = [(a.at, f"{a.user} -> serve-{a.replica} {a.kind} {a.status} ({a.ms:.0f} ms)")
              for a in stats.acks]  # fmt: skip
    for p in api.timeline:
        shown = example_id({"blocks": p.params.get("blocks") or []})
        blocks = p.params.get("blocks")
        asking = _live_example(blocks) is not None or _live_review(blocks) is not None
        live = "live" if asking else "done"
        text = str(p.params.get("text", ""))[:70].replace("\n", " ")
        where = f"{owner.get(p.channel, p.channel)} {p.ts} thread={p.params.get('thread_ts')}"
        events.append((p.at, f"   {p.method} {where} ex={shown} {live} {text}"))
    t0 = min((t for t, _ in events), default=0.0)
    path.write_text("".join(f"{t - t0:9.3f} {line}\n" for t, line in sorted(events)))


def db_connections(engine: sa.Engine, dbname: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT application_name, state, count(*) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid() GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            {"db": dbname},
        ).all()
    return {f"{r[0] or '?'}/{r[1]}": int(r[2]) for r in rows}


# --- the run ------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="labelbot-soak-"))
    labels, rows = _slice(args.labels, args.per_label)
    mix = {"skip": args.skip, "discuss": args.discuss, "snooze": args.snooze,
           "undo": args.undo, "wrong": args.wrong, "double": args.double}  # fmt: skip
    print(f"{args.db}, {args.replicas} replicas + 1 worker, {args.experts} experts, "
          f"{args.duration:g} s, {len(labels)} labels, {len(rows)} examples, think "
          f"{args.think:g} s, mix {mix}, {os.cpu_count()} cores, workdir {workdir}")  # fmt: skip
    try:
        with database(args.db, workdir, keep=args.keep) as url, RecordingSlack() as api:
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "LABELBOT_DATA_DIR": str(workdir / "data"),
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": api.api_url,
                "LABELBOT_OUTBOX_INTERVAL": "5",
                "LABELBOT_SCHEDULER_POLL_SECONDS": "2",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
            }
            started = time.monotonic()
            prepare(env, workdir, labels, rows, args.seeds)
            print(f"set-up (create, import, train) {time.monotonic() - started:.0f} s")
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                read = conn.execute(sa.text("SELECT id, external_id FROM examples")).all()
                ext: dict[int, str] = {int(r[0]): str(r[1]) for r in read}
            truth = {rid: label for rid, _, label in rows}
            gold = {int(i): truth[e] for i, e in ext.items() if e in truth}
            procs = start_processes(env, workdir, args.replicas)
            try:
                for proc in procs:
                    proc.start = proc.peak = usage(proc.popen.pid)
                report(args, api, engine, url, procs, gold, labels, mix, workdir)
            finally:
                stop_processes(procs)
                engine.dispose()
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _names(labels: object) -> str:
    """A proposal's labels as stored (JSON: a list, or its text on SQLite)."""
    if isinstance(labels, str):
        labels = json.loads(labels)
    return " + ".join(str(name) for name in labels or [])  # type: ignore[attr-defined]


def report(args: argparse.Namespace, api: RecordingSlack, engine: sa.Engine, url: str,
           procs: list[Proc], gold: dict[int, str], labels: list[str], mix: dict[str, float],
           workdir: Path) -> None:  # fmt: skip
    stats = Stats()
    urls = [p.url for p in procs if p.url]
    deadline = time.monotonic() + args.duration
    experts = [
        Expert(
            i,
            api=api,
            urls=urls,
            stats=stats,
            gold=gold,
            labels=labels,
            deadline=deadline,
            think=args.think,
            mix=mix,
        )  # fmt: skip
        for i in range(args.experts)
    ]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(5):
            for proc in procs:
                rss, fds = usage(proc.popen.pid)
                proc.peak = (max(proc.peak[0], rss), max(proc.peak[1], fds))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for e in experts:
        e.start()
    for e in experts:
        e.join(timeout=args.duration + 120)
    time.sleep(args.settle)  # the last clicks' posts and a retrain in flight
    stop.set()
    for proc in procs:
        proc.end = usage(proc.popen.pid)
        proc.peak = (max(proc.peak[0], proc.end[0]), max(proc.peak[1], proc.end[1]))
    conns = db_connections(engine, url.rsplit("/", 1)[1]) if args.db == "postgres" else {}
    stored = stored_once(engine, stats)
    n_assignments, overlaps, skew = assignment_overlaps(engine)
    slack = slack_checks(api, [expert_id(i) for i in range(args.experts)], stats.answered)
    with engine.connect() as conn:
        read = conn.execute(sa.text("SELECT status, count(*) FROM model_runs GROUP BY status"))
        models: dict[str, int] = {str(r[0]): int(r[1]) for r in read.all()}
        votes = conn.execute(sa.text("SELECT count(*) FROM annotations")).scalar_one()
        proposed = conn.execute(sa.text("SELECT kind, labels, status FROM proposals ORDER BY id"))
        proposals = [(str(r[0]), _names(r[1]), str(r[2])) for r in proposed.all()]
    dead = [p.name for p in procs if p.popen.poll() is not None]
    dump_timeline(workdir / "timeline.txt", api, stats, args.experts)

    acks = list(stats.acks)
    ms = [a.ms for a in acks]
    bad = [a for a in acks if a.status != 200]
    ephemerals = collections.Counter(
        re.sub(r"\d+", "N", str(c.params.get("text", "")))[:90] for c in api.calls("response_url")
    )
    channel_posts = [c for c in api.calls("chat.postMessage") if c.params.get("channel") == CHANNEL]
    pairs = slack["pairs"]
    line = "-" * 78

    def row(name: str, value: object, note: str = "") -> None:
        print(f"{name:<36} {value}" + (f"   ({note})" if note else ""))

    def spread(values: list[float]) -> str:
        return f"{_pct(values, 0.5):.0f} / {_pct(values, 0.95):.0f} / {max(values, default=0):.0f}"

    print(line)
    row("requests sent", len(acks), ", ".join(f"{k} {v}" for k, v in sorted(stats.actions.items())))
    row("ack ms p50 / p95 / max", spread(ms), f"over 3 s: {sum(m > 3000 for m in ms)}")
    for i in range(len(urls)):
        mine = [a.ms for a in acks if a.replica == i]
        row(f"  serve-{i}", spread(mine), f"{len(mine)} requests")
    row("non-200 answers", len(bad))
    for a in bad[:5]:
        print(f"    {a.kind} -> {a.status} {a.detail[:120]}")
    doubles = sum(len(c.statuses) > 1 for c in stats.clicks)
    wrong = sum(c.wrong for c in stats.clicks)
    row("label clicks acked / rows stored", f"{stored['acked']} / {stored['stored']}",
        f"{wrong} wrong on purpose, {doubles} sent to 2 replicas")  # fmt: skip
    row("  acked, not stored", len(stored["missing"]))
    row("  stored with another label/example", len(stored["mismatched"]))
    row("  stored, never sent", len(stored["unsent"]))
    row("  an expert's 2 live votes on 1 ex.", len(stored["two_live_votes"]))
    row("  undo acked, label not retracted", len(stored["undo_not_retracted"]))
    row("assignments / 2 experts at once", f"{n_assignments} / {overlaps}",
        f"database; under 1 s apart, commit order: {skew}")  # fmt: skip
    row("labeling messages posted", slack["deliveries"],
        f"{slack['undo_reposts']} posted again by Undo")  # fmt: skip
    for what in ("two experts", "one DM"):
        row(f"  live in {what} at once", pairs[f"{what} (queue)"],
            f"besides, with an Undo's copy: {pairs[f'{what} (undo)']}")  # fmt: skip
    benign = f"{pairs['answered window']} / {pairs['moved window']}"
    row("  benign windows: answered / moved", benign,
        "the update follows the answer; a copy retired just after")  # fmt: skip
    together = slack["together"]
    row("  2 examples live in one DM at once", together["queue"],
        f"labeling messages or reviews ({slack['reviews']} reviews posted); besides, with an "
        f"Undo's copy: {together['undo']}; answered window: "
        f"{together['answered window']}")  # fmt: skip
    row("  posts sharing a delivery key", slack["dup_keys"])
    row("channel posts / threads twice", f"{len(channel_posts)} / {slack['dup_roots'] or 0}",
        ", ".join(f"{k} {v}" for k, v in slack["roots"].items()))  # fmt: skip
    row("digest charts uploaded", len(api.calls("files.completeUploadExternal")))
    row("models (by status)", models)
    row("votes in the database", votes)
    kinds = collections.Counter(kind for kind, _, _ in proposals)
    fates = collections.Counter(status for _, _, status in proposals)
    row("proposals in the database", len(proposals),
        f"{dict(kinds)}; {dict(fates)}")  # fmt: skip
    row(f"experts waiting {WAIT_S:g} s in vain", stats.stuck, "then they type /label")
    row("expert threads failed", len(stats.failures))
    for f in stats.failures[:3]:
        print(f"    {f[:160]}")
    row("processes dead before the end", dead or 0)
    print(line)
    print(f"{'process':<9} {'RSS MB start/end/peak':>22} {'fds start/end/peak':>19} "
          f"{'Traceback':>9} {'ERROR':>6} {'WARNING':>7}  DB connections at end")  # fmt: skip
    logs = {}
    for proc in procs:
        found = logs[proc.name] = log_lines(proc.log)
        held = {k.split("/", 1)[1]: n for k, n in conns.items() if k.startswith(proc.name + "/")}
        rss = "/".join(f"{kib / 1024:.0f}" for kib in (proc.start[0], proc.end[0], proc.peak[0]))
        fds = "/".join(str(n) for n in (proc.start[1], proc.end[1], proc.peak[1]))
        print(f"{proc.name:<9} {rss:>22} {fds:>19} {found['traceback']:>9} {found['error']:>6} "
              f"{found['warning']:>7}  {sum(held.values())} {held or ''}")  # fmt: skip
    others = {k: n for k, n in conns.items() if not k.startswith(("serve-", "worker/"))}
    if others:
        print(f"other connections to the database: {others}")
    print(line)
    if ephemerals:
        print("ephemeral answers (what experts were told):")
        for text, n in ephemerals.most_common(8):
            print(f"  {n:>4} x {text}")
    if proposals:
        print("proposals (kind, labels, status), oldest first:")
        for kind, names, status in proposals:
            print(f"  {kind:<6} {names}  {status}")
    for name, found in logs.items():
        for text, n in found["samples"]:
            print(f"  {name}: {n} x {text}")
    for sample in [*slack["samples"], *slack["together_samples"]]:
        print(f"  {sample}")
    for c in stored["missing"][:5]:
        print(f"  acked, not stored: {c}")
    for c, r in stored["mismatched"][:5]:
        print(f"  mismatch: clicked {c.label} on {c.example}, stored {r[3]} on {r[1]}")
    for k in stored["two_live_votes"][:5]:
        print(f"  two live votes: example {k[0]} by {k[1]}")


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--duration", type=float, default=300, help="seconds of clicking")
    parser.add_argument("--experts", type=int, default=6)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--labels", type=int, default=10, help="Banking77 intents (>15: a menu)")
    parser.add_argument(
        "--per-label", type=int, default=100, help="examples per label (100: clicks last 5 min)"
    )
    parser.add_argument("--seeds", type=int, default=3, help="labeled rows imported per label")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds before a click")
    parser.add_argument("--skip", type=float, default=0.06)
    parser.add_argument("--discuss", type=float, default=0.04)
    parser.add_argument("--snooze", type=float, default=0.02)
    parser.add_argument("--undo", type=float, default=0.05, help="share of labels undone")
    parser.add_argument("--wrong", type=float, default=0.1, help="share of labels not gold")
    parser.add_argument("--double", type=float, default=0.05, help="clicks sent to 2 replicas")
    parser.add_argument("--settle", type=float, default=10, help="seconds before the checks")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
