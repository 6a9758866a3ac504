"""A team's first steps from the README's "Using it from the terminal": `labelbot init`, the
data directory, `project set`, the demo's closing lines and `db downgrade`'s list, as they
read at the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.config import get_settings
from tests.helpers import labeled_csv


def _data_dir(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(path))
    get_settings.cache_clear()


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("under", ["", "sub"])
def test_a_data_dir_that_is_a_file_is_one_line_naming_the_variable(
    under: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LABELBOT_DATA_DIR naming a file (or a folder in one) was a FileExistsError or
    NotADirectoryError traceback from `labelbot init`, and from `import` when it made the
    encoder's folder: a configuration error, exit 6, as DATABASE_URL's folder is."""
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "a,b"]).exit_code == 0
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("keep\n", encoding="utf-8")
    data_dir = in_the_way / under if under else in_the_way
    _data_dir(monkeypatch, data_dir)
    rows = labeled_csv(tmp_path / "rows.csv", [("my card has not arrived", "a")])
    for args in (["init"], ["import", "p", str(rows)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 6, result.output
        assert "Traceback" not in result.output and result.exception is not None
        line = result.stderr.strip()
        assert line.splitlines() == [line], line
        assert line.startswith(f"error: LABELBOT_DATA_DIR {data_dir}"), line
        assert f"{in_the_way} is a file, not a folder" in line, line
    assert in_the_way.read_text(encoding="utf-8") == "keep\n"
