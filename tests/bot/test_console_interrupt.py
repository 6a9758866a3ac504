"""Ctrl-C while `labelbot` is still loading (torch and transformers take a second or two) ends
with one line and exit 130, as Ctrl-C does once a command runs, not a traceback through the
imports. A real console-script process gets a real SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def test_ctrl_c_while_starting_is_one_line() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from bot.console import main; main()", "status", "nope"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    time.sleep(0.3)  # the imports take over a second: it is still loading them
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err
