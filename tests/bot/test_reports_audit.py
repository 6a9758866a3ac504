"""The read-outs a team lead uses (`labelbot models`, `status`, `project list`, `flags`), read as
one would on an 80-column terminal."""

from __future__ import annotations

import io
import re

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import LABELS, cli_env  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("cli_env")


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _stored_versions() -> None:
    """Three versions of project bank, the last active, as training stores them."""
    from engine.workspace import Workspace
    from storage.db import session_scope
    from storage.repositories import models, projects

    ws = Workspace.open()
    with session_scope(ws.db) as s:
        pid = int(projects.get_project(session=s, name="bank").id or 0)
        for n_labels, metrics in (
            (55, {"accuracy": 0.927}),
            (1234, {"accuracy": 0.795, "audit": {"accuracy": 0.88, "n": 125}}),
            (73, {"accuracy": 0.808, "audit": {"accuracy": 0.9, "n": 130}}),
        ):
            run = models.start_model_run(
                session=s, project_id=pid, n_labels=n_labels, classes=LABELS.split(",")
            )
            models.finish_model_run(
                session=s, run_id=int(run.id or 0), status="ready", kind="linear",
                metrics=metrics,
            )  # fmt: skip
            models.activate_model_run(session=s, project_id=pid, run_id=int(run.id or 0))
    ws.close()


def test_models_table_fits_80_columns_without_cutting_a_cell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On an 80-column terminal the heavy-boxed table cut the training time to "2026-12-…",
    the kind to "line…" and the audit n to "(n=1…"; every cell now shows whole, the time says
    it is UTC, and a line says what the columns are."""
    from rich.console import Console

    from bot.cli import models

    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", LABELS)
    _stored_versions()
    console = Console(width=80, record=True, file=io.StringIO())
    monkeypatch.setattr(models, "out", console)
    _ok(runner, "models", "bank")
    text = console.export_text()
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    assert "…" not in text, text
    assert "trained (UTC)" in text
    rows = [line for line in lines if re.match(r"\s*v\d+ ", line)]
    assert len(rows) == 3, text
    for row in rows:  # the whole date and time on the version's line, and the kind
        assert re.search(r" \d{4}-\d\d-\d\d \d\d:\d\d ", row) and " linear " in row, text
    assert "(n=125)" in text and "(n=130)" in text
    said = " ".join(text.split())
    assert "labels: the labels a version trained on" in said
    assert "audit acc: on the n audit labels" in said


def test_status_keeps_long_label_names_whole_and_says_to_import_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 80 columns a long label name ended in "…" (not copyable into `labels rename`); the
    per-label column said "examples" where it counts labeled ones; and a project with no
    examples was told to label some, then train (which refuses: nothing imported)."""
    from rich.console import Console

    from bot.cli import data

    long = "fx_rate_question_about_foreign_currency_conversion_at_the_airport_kiosk"
    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", f"short,{long}")
    console = Console(width=80, record=True, file=io.StringIO())
    monkeypatch.setattr(data, "out", console)
    _ok(runner, "status", "p")
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines()) and "…" not in text, text
    first_cells = [line.split("│")[1].strip() for line in text.splitlines() if "│" in line]
    assert long in "".join(first_cells), text  # folded over lines, every character kept
    assert re.search(r"┃ label\s+┃ labeled ┃", text), text
    said = " ".join(text.split())
    assert "no model yet, and no examples: import them first (`labelbot import p FILE`)" in said

    console = Console(width=80, record=True, file=io.StringIO())
    monkeypatch.setattr(data, "out", console)
    _ok(runner, "labels", "list", "p")
    text = console.export_text()
    assert "…" not in text and re.search(r"┃ label\s+┃ labeled ┃", text), text


def test_models_without_a_version_names_the_next_step(tmp_path: pytest.TempPathFactory) -> None:
    """It said "`labelbot train p`" to a project with nothing imported, which train refuses."""
    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", LABELS)
    said = " ".join(_ok(runner, "models", "p").split())
    assert "no models yet: import examples first (`labelbot import p FILE`)" in said
    assert "labelbot train" not in said
    path = tmp_path / "t.csv"  # type: ignore[operator]
    path.write_text("text\nmy card has not arrived\nhow do I change my pin\n", encoding="utf-8")
    _ok(runner, "import", "p", str(path))
    said = " ".join(_ok(runner, "models", "p").split())
    assert "no models yet: label a few examples per class (`labelbot label p`), then train" in said


def test_models_table_cuts_no_cell_in_70_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under 80 columns the borderless table still cut cells: "(n=1…" read as one audit
    label, "100.…" hid the accuracy. A word too long for its column is folded instead."""
    from rich.console import Console

    from bot.cli import models

    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", LABELS)
    _stored_versions()
    console = Console(width=70, record=True, file=io.StringIO())
    monkeypatch.setattr(models, "out", console)
    _ok(runner, "models", "bank")
    text = console.export_text()
    assert all(len(line) <= 70 for line in text.splitlines()), text
    assert "…" not in text, text
