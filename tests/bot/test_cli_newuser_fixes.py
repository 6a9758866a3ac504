"""What a first-time user's audit found in the CLI, each checked through `labelbot` itself."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)


def test_importing_an_excel_workbook_says_what_it_is(tmp_path: Path, cli_env) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A support lead's first try is an Excel export: it was refused as UTF-16 without a BOM."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    path = tmp_path / "tickets.xlsx"
    path.write_bytes(buffer.getvalue())
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "yes,no"]).exit_code == 0
    result = runner.invoke(app, ["import", "p", str(path)])
    assert result.exit_code == 2, result.output
    assert "an Excel workbook (.xlsx), not a text file" in result.output
    assert "File → Save As → CSV UTF-8 (Comma delimited)" in result.output
    assert "UTF-16" not in result.output
