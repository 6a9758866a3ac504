"""`labelbot export NAME --out FILE` on a project with no examples says what the export to
stdout says ("has no examples yet: nothing exported"), not "wrote 0 examples", with the same
exit code (0: an empty export is no error), and still writes the file (a CSV's header row)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

NOTHING = "empty has no examples yet: nothing exported"


@pytest.mark.usefixtures("cli_env")
def test_an_empty_export_says_the_same_with_or_without_out(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "empty", "--labels", "A,B"]).exit_code == 0

    piped = runner.invoke(app, ["export", "empty", "--format", "csv"])
    assert piped.exit_code == 0 and piped.stderr.strip() == NOTHING
    header = piped.stdout

    for file, held in (("e.csv", "the header row only"), ("e.jsonl", "empty")):
        out = tmp_path / file
        written = runner.invoke(app, ["export", "empty", "--out", str(out)])
        assert written.exit_code == piped.exit_code
        assert written.stderr.strip() == f"{NOTHING} ({out}: {held})"
        assert "wrote 0" not in written.output and written.stdout == ""
        assert out.read_text(encoding="utf-8") == (header if file.endswith(".csv") else "")
