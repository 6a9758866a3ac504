"""`labelbot adjudicate` on an example whose label is already the one given: it said
"card_arrival (was card_arrival)", read as a change; it says the label is unchanged (the
adjudication is still stored: it settles the example over later votes)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli_model_figures import _import, cli_db  # noqa: F401  (the fixture)
from tests.conftest import BANKING_SLICE_LABELS


def _ok(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return " ".join(str(result.output).split())


def test_adjudicating_the_label_an_example_has_says_it_is_unchanged(
    cli_db: None,  # noqa: F811
    banking_slice: list[tuple[str, str]],
    tmp_path: Path,
) -> None:
    _ok("project", "create", "bank", "--labels", ",".join(BANKING_SLICE_LABELS))
    _import(tmp_path / "bank.csv", banking_slice[:2], "bank")
    label = banking_slice[0][1]
    other = next(lb for lb in BANKING_SLICE_LABELS if lb != label)
    first = _ok("adjudicate", "bank", "#1", other, "--actor", "ana")
    assert f"example #1: {other} (was {label}), decided by ana" in first
    again = _ok("adjudicate", "bank", "#1", other, "--actor", "bo")
    assert f"example #1: {other} (unchanged), decided by bo" in again
