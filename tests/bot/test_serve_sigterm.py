"""`labelbot serve` as a real process, stopped the way systemd, `docker stop` and Kubernetes stop
services: SIGTERM lets the work in progress finish. uvicorn shuts down gracefully, then raises
the signal again once it has returned; under SIGTERM's default action that killed the process
before serve's cleanup, so a click's next example, still being posted to a slow Slack, was lost
and the expert left with nothing (found by an audit). It now exits 143 after finishing it."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_client import SlackSim, choices
from tests.helpers import SLICE_LABELS

SECRET = "sigterm-signing-secret"
EXPERT = "U0ALICE"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_sigterm_lets_a_click_in_progress_finish(
    tmp_path: Path, embedding_cache_dir: Path, banking_slice: list[tuple[str, str]]
) -> None:
    api = FakeSlackAPI().start()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LABELBOT_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        LABELBOT_DATA_DIR=str(embedding_cache_dir),
        LABELBOT_OUTBOX_INTERVAL="0",  # what is not posted now is not posted by a later round
        SLACK_BOT_TOKEN="xoxb-sigterm-test",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=api.api_url,
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    texts = tmp_path / "texts.csv"
    with texts.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("text",), *((t,) for t, _ in banking_slice[:20])])
    _cli(env, "project", "create", "bank", "--labels", ",".join(SLICE_LABELS))
    _cli(env, "import", "bank", str(texts))
    serve = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "serve", "--port", str(port),
         "--no-scheduler"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(serve.stdout or []), daemon=True)
    reader.start()
    sim = SlackSim(f"http://127.0.0.1:{port}", api, SECRET)
    try:
        deadline = time.monotonic() + 120
        while True:  # until it answers
            assert serve.poll() is None and time.monotonic() < deadline, "".join(log)
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        sim.command(EXPERT)
        deadline = time.monotonic() + 30
        while not sim.open_examples(EXPERT) and time.monotonic() < deadline:
            time.sleep(0.1)
        (first,) = sim.open_examples(EXPERT)
        api.slow_down("chat.postMessage", 4)  # the next example takes 4 s to post
        assert sim.choose(EXPERT, first, choices(first)[0].label).status_code == 200
        time.sleep(0.5)  # acked; the listener is now posting the next example
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        sim.close()
        api.stop()
    output = "".join(log)
    assert serve.returncode == 143, output  # 128 + SIGTERM, as a shell reports it
    assert "stopped: the answers in progress were finished" in output
    assert "Traceback" not in output
    dm = sim.dm(EXPERT)
    assert dm[0]["text"].startswith(f"Labeled {choices(first)[0].label} by <@{EXPERT}>")
    assert len(sim.open_examples(EXPERT)) == 1  # the next example made it


def test_a_serve_that_never_served_does_not_say_it_stopped(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port taken: uvicorn says so and exits 3; no "the answers in progress were finished"
    after it (a review found that line printed whatever ended serve)."""
    from typer.testing import CliRunner

    from bot.cli import app
    from engine.config import get_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    monkeypatch.setenv("LABELBOT_OUTBOX_INTERVAL", "0")
    monkeypatch.setenv("LABELBOT_API_TOKEN", "a-rest-token-of-thirty-two-chars")
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port), "--no-scheduler"])
    get_settings.cache_clear()
    assert result.exit_code != 0, result.output
    assert "stopped:" not in result.output
