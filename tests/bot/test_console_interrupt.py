"""Ctrl-C while `labelbot` is still loading (torch and transformers take a second or two) ends
with one line and exit 130, as Ctrl-C does once a command runs, not a traceback through the
imports. A real console-script process gets a real SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _loading_the_cli(pid: int) -> bool:
    """The process has mapped numpy's compiled modules: it is inside ``bot.cli``'s imports
    (``bot.console`` imports only sys; the interpreter's own start-up loads no numpy)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return any("/numpy/" in line and ".so" in line for line in maps.splitlines())


def test_ctrl_c_while_starting_is_one_line() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from bot.console import main; main()", "status", "nope"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    # Not a fixed sleep: on a loaded machine the interpreter may not have reached main() in
    # 0.3 s, and a SIGINT before then kills it (exit -2) or is a traceback. It is sent once the
    # process is seen loading the CLI's imports, which then take over a second more.
    linux = Path("/proc/self/maps").exists()
    if not linux:  # no /proc to look in: the former guess
        time.sleep(0.3)
    deadline = time.monotonic() + 60
    while linux and not _loading_the_cli(process.pid):
        if process.poll() is not None:
            raise AssertionError(f"it ended before it was seen loading: {process.communicate()}")
        assert time.monotonic() < deadline, "it was not seen loading the CLI in 60 s"
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err
