"""`labelbot demo` and `labelbot simulate` run as a newcomer runs them: a budget above the data
ends, a bad --out-dir is refused before the work, the baseline has every row, the simulation
shows its progress, and the chart's legend leaves the curves readable."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.bot.test_cli_audit_fixes import temp_dir  # noqa: F401  (the fixture)
from tests.bot.test_cli_ux2 import tiny_demo_data
from tests.helpers import labeled_csv as _csv

INTENTS = {
    "card": ["my card has not arrived", "where is my new card", "card still not delivered"],
    "pin": ["how do I change my pin", "reset my pin please", "I forgot my pin code"],
    "rate": ["what exchange rate do you use", "the euro rate looks wrong", "rate for dollars"],
}
TRAIN = [(t, lb) for lb, texts in INTENTS.items() for t in texts]
TEST = [("card not here yet", "card"), ("new pin needed", "pin"), ("pound rate", "rate")]


def _demo(tmp_path: Path, embedding_cache_dir: Path, **kwargs: Any) -> Any:
    from engine import demo
    from engine.config import Settings

    rounds: list[Any] = []

    def on_round(r: Any) -> None:
        rounds.append(r)
        if len(rounds) > 10:  # the loop that never ended: fail instead of hanging
            raise AssertionError(f"the demo goes on: {[r.labels for r in rounds]}")

    kwargs.setdefault("out_dir", tmp_path / "out")
    result = demo.run_demo(
        database_url=f"sqlite:///{tmp_path / 'demo.db'}",
        settings=Settings(data_dir=embedding_cache_dir), on_round=on_round, **kwargs,
    )  # fmt: skip
    return result


def test_a_demo_budget_above_the_queries_labels_them_all_and_ends(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`labelbot demo --budget 20000` (Banking77 has 9,999 queries) never ended: once the queue
    was empty, each round labeled nothing, retrained and printed the same row again."""
    tiny_demo_data(monkeypatch, TRAIN, TEST)
    steps: list[str] = []
    result = _demo(tmp_path, embedding_cache_dir, budget=20, batch=4, on_step=steps.append)
    assert [r.labels for r in result.rounds] == [4, 8, 9]
    assert "the budget (20 labels) is more than there are queries: all 9 are labeled" in steps
    assert (tmp_path / "out" / "learning_curve.png").is_file()


def test_the_demo_baseline_has_the_first_rounds_too(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random sampling started at one label per class in whole batches (100 labels for
    Banking77 in batches of 50): the first row of the table said "-" and the chart's random
    curve began a batch late. Here 3 classes in batches of 2: it began at 4."""
    tiny_demo_data(monkeypatch, TRAIN, TEST)
    result = _demo(tmp_path, embedding_cache_dir, budget=6, batch=2)
    assert [r.labels for r in result.rounds] == [2, 4, 6]
    assert all(r.random_accuracy is not None for r in result.rounds), result.rounds


@pytest.mark.usefixtures("cli_env", "temp_dir")
@pytest.mark.parametrize("where", ["a-file", "a-file/chart", "no-such/chart"])
def test_a_demo_out_dir_that_cannot_be_written_is_refused_before_the_work(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file given as --out-dir was a FileExistsError traceback, and a folder in a missing one
    was refused: both after the whole session (minutes), whose database then went too."""
    tiny_demo_data(monkeypatch, TRAIN, TEST)  # should it run anyway: seconds, not Banking77
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("keep\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["demo", "--budget", "4", "--batch", "2", "--out-dir", where])
    assert result.exit_code == 2, result.output
    said = "not a folder" if where == "a-file" else "cannot write here (no such folder)"
    assert result.output.strip() == f"error: {where}: {said}" + (
        " (the demo writes its chart in it)" if where == "a-file" else ""
    ), result.output
    assert list(Path(tempfile.gettempdir()).iterdir()) == []  # no session database made
    assert (tmp_path / "a-file").read_text(encoding="utf-8") == "keep\n"


def test_the_chart_refuses_a_file_where_its_folder_should_be(tmp_path: Path) -> None:
    from engine.charts import learning_curve_png
    from storage.errors import InvalidInputError

    (tmp_path / "a-file").write_text("keep\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="cannot write here"):
        learning_curve_png({"a": [(1, 0.5)]}, tmp_path / "a-file" / "curve.png", title="t")


def _simulate_files(tmp_path: Path) -> tuple[Path, Path]:
    return _csv(tmp_path / "pool.csv", TRAIN), _csv(tmp_path / "test.csv", TEST)


@pytest.mark.usefixtures("cli_env")
def test_simulate_shows_its_rounds_on_a_terminal_and_aligns_its_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the texts were embedded nothing showed until the table (minutes at the defaults
    on a real data set); the table's numbers were left-aligned and its columns unexplained."""
    pool, test = _simulate_files(tmp_path)
    args = ["simulate", str(pool), "--test", str(test), "--budget", "6", "--batch", "2",
            "--seeds", "2", "--classifier", "linear", "--strategy", "margin"]  # fmt: skip
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich draws its bars as on a terminal
    shown = CliRunner().invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert "Simulating margin: seed 2 of 2, 6 labels" in shown.stderr, shown.stderr
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    piped = CliRunner().invoke(app, args)
    assert piped.exit_code == 0, piped.output
    assert piped.stderr == ""  # a pipe or a log: no bar
    said = " ".join(piped.stdout.split())
    assert f"accuracy and macro-F1: the model on {test} after that many labels" in said
    assert "(the mean over 2 seeds)" in said
    rows = [line for line in piped.stdout.splitlines() if line.startswith("│")]
    assert rows and all(line.startswith("│      ") for line in rows), piped.stdout  # right-aligned
    assert json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)["curve"]


def test_the_chart_legend_covers_no_point_of_a_curve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The legend sat at the lower right whatever the data: after a short demo (--budget 150)
    it hid the random-sampling curve, the baseline the chart is there to show."""
    from engine import charts

    covered: list[tuple[float, float]] = []
    save = charts.save_png

    def check(fig: Any, path: Path) -> Path:
        fig.canvas.draw()
        ax = fig.axes[0]
        box = ax.get_legend().get_window_extent()
        for line in ax.get_lines()[:2]:  # the two curves (the ceiling lines span the width)
            xy = line.get_xydata()
            for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:], strict=True):
                for f in np.linspace(0, 1, 50):  # along each segment, not only its ends
                    x, y = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
                    if box.contains(*ax.transData.transform((x, y))):
                        covered.append((x, y))
        return save(fig, path)

    monkeypatch.setattr(charts, "save_png", check)
    curves = {
        "labelbot (active learning)": [(50, 0.384), (100, 0.562), (150, 0.650)],
        "random sampling": [(50, 0.381), (100, 0.470), (150, 0.508)],
    }
    charts.learning_curve_png(curves, tmp_path / "curve.png", title="t", ceiling=0.931)
    assert covered == []
    assert (tmp_path / "curve.png").is_file()


@pytest.mark.usefixtures("cli_env", "temp_dir")
def test_the_demo_says_what_each_column_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """accuracy and estimate were explained; random acc, model and s were not."""
    tiny_demo_data(monkeypatch, TRAIN, TEST)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo", "--budget", "4", "--batch", "2"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stdout.split())
    for column in ["random acc", "model", "s"]:
        assert f"; {column} = " in said, said
    assert f"learning curve: {tmp_path / 'demo-output' / 'learning_curve.png'}" in said


@pytest.mark.usefixtures("cli_env", "temp_dir")
def test_the_demo_commands_to_copy_stay_whole_on_an_80_column_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal rich wrapped the hints at its width: "explore it: DATABASE_URL=…
    labelbot" / "status banking77-demo", and a copied command ran in two halves."""
    from bot.cli import common

    tiny_demo_data(monkeypatch, TRAIN, TEST)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # as on a terminal, where rich wraps
    for console in (common.out, common.err):
        monkeypatch.setattr(console, "width", 80)
    result = CliRunner().invoke(app, ["demo", "--budget", "4", "--batch", "2"])
    assert result.exit_code == 0, result.output
    said = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line) for line in result.stderr.splitlines()]
    assert any(
        line.startswith("explore it: DATABASE_URL=sqlite:///")
        and line.endswith(" labelbot status banking77-demo")
        for line in said
    ), said
    assert any(line.startswith("when done exploring: rm -r ") for line in said), said
    rows = [line for line in result.stdout.splitlines() if line.lstrip()[:1].isdigit()]
    assert rows and all(len(line) <= 80 for line in rows), rows  # the curve's table fits
