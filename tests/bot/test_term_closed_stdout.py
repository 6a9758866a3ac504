"""`labelbot export` and `predict` without --out, run with stdout closed (`>&-`, a service or
cron job started without one), refuse in one line, exit 6 (a file that cannot be written), as
soon as they start: Python leaves sys.stdout None there, and the first write was a traceback
("'NoneType' object has no attribute 'write'")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bot.test_cli_project_delete import _project, env  # noqa: F401  (the fixture)

LABELBOT = "import sys; from bot.console import main; sys.argv[0] = 'labelbot'; main()"


@pytest.mark.parametrize("command", ["export", "predict"])
def test_a_closed_stdout_is_one_line_and_exit_6(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    command: str,
) -> None:
    _project("trial", tmp_path, train=command == "predict")
    args = ["export", "trial"] if command == "export" else ["predict", "trial", "trial.csv"]
    done = subprocess.run(
        [sys.executable, "-c", LABELBOT, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.close(1),
        cwd=tmp_path,
        env={**os.environ, **env, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"},
        text=True,
        timeout=120,
    )
    assert done.returncode == 6, done.stderr
    assert done.stderr.splitlines() == [
        "error: could not write: stdout is closed (nothing to write to); give --out FILE"
    ]
