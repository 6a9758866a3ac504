"""`--out` naming a device or a pipe writes to it, as tools do; it used to write a file beside
and rename it over the target, so as root `export --out /dev/null` replaced the device with a
regular file. A full disk (/dev/full answers every write "No space left on device") is one line
and exit 6, not a traceback (crash audit 1)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.bot.test_cli_audit_fixes import _one_line_error, _project


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_an_export_to_a_pipe_is_read_from_the_pipe(cli_env: Any, tmp_path: Path) -> None:  # noqa: F811
    _project(tmp_path)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got: list[str] = []
    reader = threading.Thread(
        target=lambda: got.append(pipe.read_text(encoding="utf-8")), daemon=True
    )
    reader.start()
    result = _invoke("export", "c", "--out", str(pipe))
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(pipe.stat().st_mode)  # still the pipe, not a file renamed over it
    assert len(got) == 1 and len(got[0].splitlines()) == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pipe")] == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("command", ["export", "predict"])
def test_a_full_disk_is_one_line_and_the_device_stays(
    cli_env: Any,  # noqa: F811
    tmp_path: Path,
    command: str,
) -> None:
    data = _project(tmp_path)
    if command == "predict":
        assert _invoke("train", "c").exit_code == 0
    args = ["export", "c"] if command == "export" else ["predict", "c", str(data)]
    result = _invoke(*args, "--out", "/dev/full", "--format", "jsonl")
    _one_line_error(result, 6, "No space left on device")
    assert stat.S_ISCHR(Path("/dev/full").stat().st_mode)
