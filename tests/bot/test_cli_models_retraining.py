"""`labelbot models` as README's "Continuous retraining and honest numbers" promises it: a version
promoted by hand answers and is no longer called held back; a rollback to a version whose file
was pruned says so, and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import LABELS, _csv, cli_env  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("cli_env")


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args), terminal_width=300)
    assert result.exit_code == 0, result.output
    return result.output


def _row(listing: str, version: str) -> str:
    [row] = [line for line in listing.splitlines() if line.strip("│ ").startswith(f"{version} ")]
    return " ".join(row.split())


@pytest.fixture
def trained(banking_slice, tmp_path: Path) -> CliRunner:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", LABELS)
    rows = [(t, lb if i % 3 == 0 else "") for i, (t, lb) in enumerate(banking_slice)]
    _ok(runner, "import", "bank", str(_csv(tmp_path / "b.csv", rows)))
    _ok(runner, "train", "bank", "--classifier", "linear")
    return runner


def test_a_held_back_version_promoted_by_hand_is_not_listed_as_held_back(
    trained: CliRunner,
) -> None:
    runner = trained
    _ok(runner, "models", "pin", "bank", "1")
    assert "held back" in _ok(runner, "train", "bank", "--classifier", "linear")
    held = _row(_ok(runner, "models", "bank"), "v2")
    assert "held back: v1 is pinned" in held and "active" not in held
    assert "The pin moved from v1 to it" in _ok(runner, "models", "promote", "bank", "2")
    promoted = _row(_ok(runner, "models", "bank"), "v2")
    assert "active, pinned" in promoted
    assert "held back" not in promoted  # it answers: "promote this one" would send them in circles
    assert "held back" not in _row(_ok(runner, "models", "bank"), "v1")


def test_a_rollback_to_a_pruned_version_says_its_file_was_pruned(
    trained: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.config import get_settings

    runner = trained
    monkeypatch.setenv("LABELBOT_KEEP_MODELS", "0")
    get_settings.cache_clear()
    _ok(runner, "train", "bank", "--classifier", "linear")
    _ok(runner, "train", "bank", "--classifier", "linear")
    listing = _ok(runner, "models", "bank")
    [pruned, *_] = [v for v in ("v1", "v2") if "(file pruned)" in _row(listing, v)]
    result = runner.invoke(app, ["models", "rollback", "bank", pruned], terminal_width=300)
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "(status ready)" not in said
    assert f"model {pruned} of 'bank' has no file any more: old model files are pruned" in said
    assert "LABELBOT_KEEP_MODELS, now 0," in said and "`labelbot models bank`" in said
    assert _row(_ok(runner, "models", "bank"), "v3").endswith("ready │ active │")  # unchanged


def test_a_version_that_does_not_exist_is_refused_naming_those_that_do(
    trained: CliRunner,
) -> None:
    runner = trained
    result = runner.invoke(app, ["models", "rollback", "bank", "9"], terminal_width=300)
    assert result.exit_code == 3
    assert "has no model v9 (its only version is v1)" in result.output  # not "(have: [1])"
    _ok(runner, "train", "bank", "--classifier", "linear")
    result = runner.invoke(app, ["models", "pin", "bank", "9"], terminal_width=300)
    assert "has no model v9 (its versions are v1 to v2)" in result.output


def test_models_help_says_unpin_lets_retrains_that_are_not_worse_replace_it() -> None:
    result = CliRunner().invoke(app, ["models", "--help"], terminal_width=100)
    assert result.exit_code == 0
    said = " ".join(result.output.split())
    # as `models unpin` itself and README say: a retrain equal on the audit set is promoted too
    assert "let better retrains" not in said
    assert "unpin NAME stop keeping it: retrains that are not worse replace it again" in said


def test_a_rollback_to_a_version_from_before_a_split_says_what_to_do(trained: CliRunner) -> None:
    runner = trained
    _ok(runner, "labels", "split", "bank", "exchange_rate", "--into", "rate_buy,rate_sell")
    _ok(runner, "train", "bank", "--classifier", "linear")
    result = runner.invoke(app, ["models", "rollback", "bank", "1"], terminal_width=300)
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert said == (
        "error: model v1 of 'bank' was trained before the taxonomy changed (a label split, "
        "retired or added since): it cannot answer for today's labels; choose a version "
        "trained since (`labelbot models bank` lists them), or retrain with `labelbot train "
        "bank`"
    )
