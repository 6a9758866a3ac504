"""A write that fails for want of space names the --out file in its one-line error: `export
--out /dev/full` said "could not write: No space left on device", saying nowhere which file.
An error of the caller's own work inside :func:`engine.exporting.replacing` (no write to its
file) keeps its own name, or none."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.exporting import replacing
from tests.helpers import labeled_csv

FULL = Path("/dev/full")  # every write: ENOSPC
pytestmark = pytest.mark.skipif(not FULL.exists(), reason="no /dev/full here")


@pytest.mark.usefixtures("cli_env")
def test_export_to_a_full_device_names_it(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "bank", "--labels", "a,b"]).exit_code == 0
    rows = [("hello there", "a"), ("goodbye now", "")]
    imported = runner.invoke(app, ["import", "bank", str(labeled_csv(tmp_path / "b.csv", rows))])
    assert imported.exit_code == 0, imported.output

    link = tmp_path / "full.jsonl"
    link.symlink_to(FULL)
    for out in (str(FULL), str(link)):
        result = runner.invoke(app, ["export", "bank", "--out", out])
        assert result.exit_code == 6, result.output  # a configuration error, as before
        assert result.stderr.startswith(
            f"error: could not write {out}: No space left on device;"
        ), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_only_the_files_own_writes_are_named(tmp_path: Path) -> None:
    # a failed write (here the flush on closing): named as the caller gave the path
    with pytest.raises(OSError) as written, replacing(FULL) as handle:
        handle.write("x")
    assert written.value.errno == errno.ENOSPC and written.value.filename == str(FULL)
    # an error of the work in the block that names no file stays so
    with pytest.raises(OSError) as other, replacing(tmp_path / "out.txt") as handle:
        handle.write("x")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # e.g. a cache beside
    assert other.value.filename is None
    assert not (tmp_path / "out.txt").exists()  # nothing half-written, as before
