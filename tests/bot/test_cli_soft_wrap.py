"""On a terminal a plain line is left to the terminal to wrap: rich broke a hint at its width
with a newline ("… `labelbot flags" / "customer-support-tickets`"), and a pasted command ran in
two halves. Tables, panels and the columns of labels still lay out to the terminal's width."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import _csv, cli_env  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("cli_env")
NAME = "customer-support-tickets"  # long enough to carry each hint past column 80
LONG_LABEL = "refund_requested_after_the_thirty_day_window_" * 2  # 90 characters
BOX = "│┃━─╭╰┏┗┡└"  # the characters rich draws tables and panels with


def _on_an_80_column_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the demo's test does: rich sees a terminal 80 columns wide, where it wraps."""
    from bot.cli import common

    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    for console in (common.out, common.err):
        monkeypatch.setattr(console, "width", 80)


def _lines(text: str) -> list[str]:
    return [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line) for line in text.splitlines()]


def _ok(runner: CliRunner, *args: str, input: str | None = None) -> list[str]:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return _lines(result.output)


def test_status_keeps_its_hint_whole_and_its_table_in_80_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = CliRunner()
    _ok(runner, "project", "create", NAME, "--labels", f"a,{LONG_LABEL}")
    _on_an_80_column_terminal(monkeypatch)
    said = _ok(runner, "status", NAME)
    assert (
        f"no model yet, and no examples: import them first (`labelbot import {NAME} FILE`), "
        "then label a few per class (`labelbot label`, or /label in Slack)"
    ) in said, said
    assert said[0].startswith(f"{NAME}: 0 examples, ") and said[0].endswith(" 0 comments"), said
    table = [line for line in said if line[:1] in BOX]
    assert len(table) > 5 and all(len(line) <= 80 for line in table), table
    # the long label folds inside its cell, whole: no "…"
    assert "".join(line.split("│")[1].strip() for line in table if "│" in line).startswith(
        f"a{LONG_LABEL}"
    ), table


def test_label_keeps_its_panel_and_columns_in_80_columns_and_its_hints_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    labels = ",".join(f"intent_{i:02d}" for i in range(20))
    _ok(runner, "project", "create", NAME, "--labels", labels)
    text = "the deposit is refunded within thirty days of the end of the lease " * 3
    _ok(runner, "import", NAME, str(_csv(tmp_path / "p.csv", [(text, "")])))
    _on_an_80_column_terminal(monkeypatch)
    said = _ok(runner, "label", NAME, "--annotator", "ann", input="f\nodd clause\nq\n")
    panel = [line for line in said if line[:1] in BOX]
    assert len(panel) > 3 and all(len(line) <= 80 for line in panel), panel
    assert panel[0].startswith("╭") and panel[-1].startswith("╰"), panel
    assert all(line.endswith(("╮", "│", "╯")) for line in panel), panel  # not cut, not spilled
    columns = [line for line in said if re.match(r"\s+\d+ intent_", line)]
    assert len(columns) < 20 and all(len(line) <= 80 for line in columns), columns
    assert all(len(re.findall(r"intent_", line)) > 1 for line in columns[:-1]), columns
    assert any(
        line.startswith("flagged: ") and line.endswith(f"(`labelbot flags {NAME}`)")
        for line in said
    ), said

    listed = _ok(runner, "flags", NAME)
    assert (
        f"resolve one with `labelbot flags resolve {NAME} EXAMPLE_ID`: it goes back to the queue"
        in listed
    ), listed
