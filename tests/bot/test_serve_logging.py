"""`labelbot serve`'s log as an operator's pipeline reads it: --log-format json makes every line
one JSON object (labelbot's own start-up lines and uvicorn's too, which kept uvicorn's own
"INFO:     ..." format before), uvicorn's access lines carry the request as fields, and
--no-access-log leaves them out."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.cli.logs import JsonLines
from storage.db import revisions

TOKEN = "log-format-test-token-" + "x" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp_path: Path, embedding_cache_dir: Path, *args: str, **env_extra: str) -> list[str]:
    """Run serve (REST only), GET /healthz and an unauthorised /api/projects, stop it with
    SIGTERM, and give back its output lines (stdout and stderr together)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LABELBOT_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        LABELBOT_DATA_DIR=str(embedding_cache_dir),
        LABELBOT_API_TOKEN=TOKEN,
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        **env_extra,
    )
    serve = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "serve", "--port", str(port),
         "--no-scheduler", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert serve.poll() is None and time.monotonic() < deadline
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/api/projects").status_code == 401
    finally:
        serve.send_signal(signal.SIGTERM)
        output, _ = serve.communicate(timeout=60)
    return output.splitlines()


@pytest.mark.slow
def test_json_log_is_one_object_a_line_with_the_request_as_fields(
    tmp_path: Path, embedding_cache_dir: Path
) -> None:
    lines = _serve(tmp_path, embedding_cache_dir, LABELBOT_LOG_FORMAT="json")
    records = [json.loads(line) for line in lines]  # every line, or this fails
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    loggers = {r["logger"] for r in records}
    assert {"labelbot.serve", "uvicorn.error", "uvicorn.access"} <= loggers
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    refused = [r for r in access if r["path"] == "/api/projects"]
    assert [(r["method"], r["status"]) for r in refused] == [("GET", 401)]
    assert any(r["message"].startswith("Slack off") for r in records)  # serve's own line
    assert records[-1]["message"] == "stopped: the answers in progress were finished"


@pytest.mark.slow
def test_text_log_gives_uvicorn_labelbots_format_and_access_lines_can_be_left_out(
    tmp_path: Path, embedding_cache_dir: Path
) -> None:
    lines = _serve(tmp_path, embedding_cache_dir, "--no-access-log")
    started = [line for line in lines if "Started server process" in line]
    assert len(started) == 1 and " INFO uvicorn.error: Started server process" in started[0]
    assert not any(line.startswith("INFO:") for line in lines)  # uvicorn's own format
    assert not any("uvicorn.access" in line or "/api/projects" in line for line in lines)


def test_json_lines_carry_the_traceback_and_text_the_logs_own_words() -> None:
    try:
        raise ValueError("broken \u00e9")
    except ValueError:
        record = logging.LogRecord(
            "engine.jobs", logging.ERROR, __file__, 1, "retrain of %s failed", ("bank",),
            sys.exc_info(),
        )  # fmt: skip
    entry = json.loads(JsonLines().format(record))
    assert entry["message"] == "retrain of bank failed" and entry["level"] == "ERROR"
    assert entry["time"].endswith("Z") and "ValueError: broken \u00e9" in entry["exception"]
    assert "client" not in entry


@pytest.mark.slow
def test_the_workers_schema_upgrade_notice_is_a_json_record_too(
    tmp_path: Path, embedding_cache_dir: Path
) -> None:
    """A worker that upgrades the schema said so in a plain line amid its JSON lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LABELBOT_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}",
        LABELBOT_DATA_DIR=str(embedding_cache_dir),
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    cli = [sys.executable, "-c", "from bot.cli import main; main()"]
    for args in (["init"], ["db", "downgrade", "0018", "--yes"]):
        done = subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    env["LABELBOT_LOG_FORMAT"] = "json"
    worker = subprocess.Popen([*cli, "worker"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        assert worker.stdout is not None
        lines = [worker.stdout.readline() for _ in range(3)]  # notice, Slack off, checking
    finally:
        worker.send_signal(signal.SIGTERM)
        rest, _ = worker.communicate(timeout=60)
    records = [json.loads(line) for line in [*lines, *rest.splitlines()]]
    (notice,) = [r for r in records if r["logger"] == "labelbot.schema"]
    assert notice["level"] == "WARNING" and f"0018 → {revisions()[-1]}" in notice["message"]
