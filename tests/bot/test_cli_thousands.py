"""Counts of thousands read with a separator in the terminal, as the demo and Slack print them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.forecast import counted
from tests.bot.test_cli import _csv, cli_env  # noqa: F401  (the fixture)


def test_counted_groups_thousands() -> None:
    assert counted(1, "label") == "1 label"
    assert counted(12345, "example") == "12,345 examples"


@pytest.mark.usefixtures("cli_env")
def test_status_and_project_list_group_thousands(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "big", "--labels", "yes,no"]).exit_code == 0
    # 2,200 short texts (quick to embed), 1,001 of them labeled
    rows = [(f"note {i}", ("yes", "no")[i % 2] if i <= 1000 else "") for i in range(2200)]
    done = runner.invoke(app, ["import", "big", str(_csv(tmp_path / "big.csv", rows))])
    assert done.exit_code == 0, done.output
    assert "imported 2,200 new examples, 1,001 labels" in done.output
    status = runner.invoke(app, ["status", "big"], terminal_width=200)
    assert status.exit_code == 0, status.output
    assert "big: 2,200 examples, 1,001 labeled, 1,199 waiting" in status.output
    assert any(
        line.split()[:2] == ["│", "yes"] and "501" in line for line in status.output.splitlines()
    )
    listed = runner.invoke(app, ["project", "list"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if " big " in line)
    assert "2,200" in row and "1,001" in row, listed.output
    labels = runner.invoke(app, ["labels", "list", "big"], terminal_width=200)
    assert "501" in labels.output and "500" in labels.output
    digest = runner.invoke(app, ["digest", "big", "--out", str(tmp_path / "d.png")])
    assert digest.exit_code == 0, digest.output
    assert "big: 1,001 new labels" in digest.output and "(1,001)" in digest.output, digest.output
    labeling = runner.invoke(app, ["label", "big", "--annotator", "ann"], input="q\n")
    assert "waiting: 1,199" in labeling.output, labeling.output
    trained = runner.invoke(app, ["train", "big"])
    assert trained.exit_code == 0, trained.output
    models = runner.invoke(app, ["models", "big"], terminal_width=200)
    row = next(line for line in models.output.splitlines() if "v1" in line)
    assert "1,001" in row, models.output


def test_simulate_says_labels_to_reach_with_thousands() -> None:
    from bot.cli.experiments import _reached

    assert _reached(1200, 5000) == "1,200"
    assert _reached(None, 5000) == ">5,000"


def test_the_labeling_dm_groups_the_queue_left() -> None:
    import json

    from bot.views import ExampleCard, LabelChoice, labeling_message

    card = ExampleCard(example_id=1, text="Where is my card?", project="bank",
                       labels=[LabelChoice("a", None, 1), LabelChoice("b", None, 2)],
                       labeled_today=1234, queue_left=9999)  # fmt: skip
    said = json.dumps(labeling_message(card))
    assert "you labeled 1,234 today" in said and "9,999 left in the queue" in said
