"""`labelbot worker` as a real process, stopped the way systemd and Kubernetes stop services:
SIGTERM ends it as Ctrl-C does (a clean exit, "worker stopped"), not killed mid-job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SLACK_VARS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL", "SLACK_APP_TOKEN")


def test_sigterm_stops_the_worker_like_ctrl_c(tmp_path: Path, embedding_cache_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SLACK_VARS}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'worker.db'}",
        LABELBOT_DATA_DIR=str(embedding_cache_dir),
        LABELBOT_SCHEDULER_POLL_SECONDS="60",
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "worker"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        seen = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until it is running its scheduler
            line = worker.stdout.readline() if worker.stdout else ""
            if not line:
                break
            seen.append(line)
            if "checking for work" in line:
                break
        assert any("checking for work" in line for line in seen), "".join(seen)
        time.sleep(0.5)  # most likely inside scheduler.start(); earlier stops cleanly too
        worker.send_signal(signal.SIGTERM)
        rest, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    output = "".join(seen) + rest
    assert worker.returncode == 0, output
    assert "worker stopped" in output and "Traceback" not in output
