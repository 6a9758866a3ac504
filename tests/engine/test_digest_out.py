"""`labelbot digest --out` into a folder that does not exist is refused as `export --out` refuses
it ("cannot write here (no such folder)", exit code 2), and no folder is made (the README
audit's finding 11: `--out /nope/d.png` created /nope)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.charts import learning_curve_png
from storage.errors import InvalidInputError

PNG = b"\x89PNG"


@pytest.fixture
def cli_env(tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from engine.config import get_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_digest_out_into_a_missing_folder_is_refused(cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "a,b"]).exit_code == 0
    missing = tmp_path / "nowhere" / "deeper" / "d.png"

    result = runner.invoke(app, ["digest", "p", "--out", str(missing)])

    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {missing}: cannot write here (no such folder)\n"
    assert "Traceback" not in result.output
    assert not (tmp_path / "nowhere").exists()  # no folder made, not even the first one

    written = tmp_path / "d.png"  # an existing folder: written as before
    ok = runner.invoke(app, ["digest", "p", "--out", str(written)])
    assert ok.exit_code == 0, ok.output
    assert written.read_bytes()[:4] == PNG and f"chart: {written}" in ok.stdout
    assert [p.name for p in tmp_path.glob(".d.png.*")] == []  # no temporary file left


def test_the_demo_chart_makes_its_own_folder_but_no_missing_parent(tmp_path: Path) -> None:
    """The demo's --out-dir (the chart's folder) is made, as before; a folder above it that does
    not exist is a mistyped path: refused the same way, nothing made."""
    curves = {"labelbot": [(10.0, 0.5), (20.0, 0.7)]}
    made = learning_curve_png(curves, tmp_path / "demo-output" / "curve.png", title="t")
    assert made.read_bytes()[:4] == PNG

    with pytest.raises(InvalidInputError, match=r"cannot write here \(no such folder\)"):
        learning_curve_png(curves, tmp_path / "nope" / "out" / "curve.png", title="t")
    assert not (tmp_path / "nope").exists()


def test_the_chart_path_stays_one_line_on_an_80_column_terminal(  # type: ignore[no-untyped-def]
    cli_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal rich wrapped "chart: PATH" at its width, cutting a long path in two: the
    path pasted or clicked named no file."""
    from bot.cli import common

    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "a,b"]).exit_code == 0
    folder = tmp_path / "a folder with a rather long name for the weekly digest charts"
    folder.mkdir()
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # as on a terminal, where rich wraps
    monkeypatch.setattr(common.out, "width", 80)
    result = runner.invoke(app, ["digest", "p", "--out", str(folder / "digest.png")])
    assert result.exit_code == 0, result.output
    assert f"chart: {(folder / 'digest.png').resolve()}" in result.stdout.splitlines()
