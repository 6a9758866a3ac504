"""A failed write's one-line error names the option of the command at hand for where it
writes: `labelbot demo` was told to use --out, which it does not have (its option is
--out-dir); a command with no such option is told of LABELBOT_DATA_DIR alone."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.helpers import labeled_csv as _csv


@pytest.mark.usefixtures("cli_env")
def test_a_failed_write_names_the_commands_own_option(tmp_path: Path) -> None:
    from bot.cli.common import _disk_error

    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/x/y")
    assert "LABELBOT_DATA_DIR (or --out) " in str(_disk_error(full, option="--out"))
    assert "point LABELBOT_DATA_DIR somewhere writable" in str(_disk_error(full))
    dev_full = Path("/dev/full")
    if not dev_full.exists():
        return
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "a,b"]).exit_code == 0
    data = _csv(tmp_path / "p.csv", [("hello there", "a"), ("goodbye now", "b")])
    assert runner.invoke(app, ["import", "p", str(data)]).exit_code == 0
    exported = runner.invoke(app, ["export", "p", "--out", str(dev_full)])
    assert exported.exit_code == 6, exported.output
    assert "point LABELBOT_DATA_DIR (or --out) somewhere writable" in exported.stderr
