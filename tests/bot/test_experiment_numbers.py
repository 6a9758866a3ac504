"""`labelbot simulate` and `labelbot demo` refuse a number out of range in one line, as the rest of
the CLI does (exit 2, "--budget must be at least 1 (got 0)"); simulate's were click's usage block
("Invalid value for '--budget': Input should be greater than or equal to 1"). The numbers are
checked before anything is read or made: the files here do not exist."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.demo import run_demo
from storage.errors import InvalidInputError
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.bot.test_cli_audit_fixes import stopped_after, temp_dir  # noqa: F401  (fixtures)
from tests.helpers import labeled_csv


def _refused(args: list[str], said: str) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {said}\n", result.output  # one line, no usage block
    return str(result.output)


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("option", "value", "least"),
    [
        ("--budget", "0", 1),
        ("--budget", "-3", 1),
        ("--batch", "0", 1),
        ("--batch", "-1", 1),
        ("--seeds", "0", 1),
        ("--seeds", "-2", 1),
        ("--seed-size", "0", 1),
        ("--seed", "-1", 0),
    ],
)
def test_simulate_refuses_a_number_below_its_least_in_one_line(
    tmp_path: Path, option: str, value: str, least: int
) -> None:
    missing = str(tmp_path / "nowhere.csv")
    _refused(
        ["simulate", missing, "--test", missing, option, value],
        f"{option} must be at least {least} (got {value})",
    )


@pytest.mark.usefixtures("cli_env", "stopped_after", "temp_dir")
@pytest.mark.parametrize(
    ("option", "value", "least"),
    [("--budget", "0", 1), ("--batch", "-2", 1), ("--seed", "-1", 0)],
)
def test_the_demo_refuses_a_number_below_its_least_in_one_line_and_makes_nothing(
    option: str, value: str, least: int
) -> None:
    _refused(["demo", option, value], f"{option} must be at least {least} (got {value})")
    assert list(Path(tempfile.gettempdir()).iterdir()) == []  # no session database made


def test_run_demo_refuses_a_negative_seed_before_it_makes_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(InvalidInputError, match=r"the seed must be at least 0 \(got -1\)"):
        run_demo(budget=10, batch=5, seed=-1, out_dir=tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_simulate_help_says_the_least_of_each_number() -> None:
    result = CliRunner().invoke(app, ["simulate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    for text in [
        "Labels to collect (at least 1)",
        "Labels per round between retrains (at least 1)",
        "Cold-start labels (at least 1;",
        "Independent runs to average (at least 1)",
    ]:
        assert text in said, said


@pytest.mark.usefixtures("cli_env")
def test_simulate_seed_names_the_first_runs_seed(tmp_path: Path) -> None:
    """`--seed S` starts the runs at S: `--seed 1 --seeds 1` is the second run of `--seeds 2`
    (run i draws with seed + i), so one run can be repeated on its own."""
    words = ["rent", "secret", "salary", "office", "notice", "term", "party", "clause"]
    labels = ["Lease", "NDA", "Employment"]
    texts = [(f"{words[i % 8]} {words[(i * 3) % 8]} {i}", labels[i % 3]) for i in range(24)]
    pool = labeled_csv(tmp_path / "pool.csv", texts)
    held_out = [(f"{words[i % 8]} and {words[(i * 5) % 8]}", labels[i % 3]) for i in range(12)]
    test = labeled_csv(tmp_path / "test.csv", held_out)
    common = ["simulate", str(pool), "--test", str(test), "--budget", "9", "--batch", "3",
              "--seed-size", "3", "--strategy", "random", "--classifier", "linear",
              "--json"]  # fmt: skip

    def runs(*more: str) -> list[list[dict[str, float]]]:
        result = CliRunner().invoke(app, [*common, *more])
        assert result.exit_code == 0, result.output
        return list(json.loads(result.output.splitlines()[-1])["runs"])

    two = runs("--seeds", "2")
    assert two[0] != two[1]  # the two runs drew different examples
    assert runs("--seeds", "1", "--seed", "1") == [two[1]]
    assert runs("--seeds", "1") == [two[0]]  # the default seed is 0
