"""`labelbot train` says which accuracy it measured and whether the new model answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import LABELS, _csv, cli_env  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("cli_env")


def test_train_says_whether_the_new_model_answers(banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "bank", "--labels", LABELS]).exit_code == 0
    rows = [(t, lb if i % 3 == 0 else "") for i, (t, lb) in enumerate(banking_slice)]
    data = _csv(tmp_path / "b.csv", rows)
    assert runner.invoke(app, ["import", "bank", str(data)]).exit_code == 0
    first = runner.invoke(app, ["train", "bank"], terminal_width=300)
    assert first.exit_code == 0, first.output
    assert "model v1 (" in first.output and "it answers now" in first.output
    assert "cross-validated" in first.output  # no audit labels
    # every label was imported, none chosen by the queue: no "reads low" caveat
    assert "reads low" not in first.output
    assert runner.invoke(app, ["models", "pin", "bank", "1"]).exit_code == 0
    second = runner.invoke(app, ["train", "bank"], terminal_width=300)
    assert second.exit_code == 0, second.output
    text = " ".join(second.output.split())
    assert "model v2 (" in text and "held back, not answering" in text and "pinned" in text
