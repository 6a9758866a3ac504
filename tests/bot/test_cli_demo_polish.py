"""`labelbot demo` as a terminal shows it: no colour put into "90%" or a path by rich's
highlighter, label counts with thousands commas, the audit estimate's n, a line on what to do
next, and a session kept when only its chart could not be written (the failed write's hint
naming --out-dir, the demo's option, not --out)."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.common import _Console
from engine.demo import DemoRound
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.bot.test_cli_audit_fixes import temp_dir  # noqa: F401  (the fixture)
from tests.bot.test_cli_ux2 import tiny_demo_data
from tests.bot.test_demo_simulate_audit import TEST, TRAIN

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
README = Path(__file__).resolve().parents[2] / "README.md"


def _coloured(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's consoles as on a colour terminal (CliRunner's streams are not one)."""
    from bot.cli import experiments

    for name, stderr in (("out", False), ("err", True)):
        console = _Console(
            markup=False, stderr=stderr, force_terminal=True, color_system="standard", width=200
        )
        monkeypatch.setattr(experiments, name, console)


def _demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    tiny_demo_data(monkeypatch, TRAIN, TEST)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo", "--budget", "6", "--batch", "3", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.usefixtures("cli_env", "temp_dir")
def test_the_demo_puts_no_colour_in_its_numbers_and_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The highlighter coloured the "90" of "(90% interval)", the summary's numbers and the
    paths, piece by piece."""
    _coloured(monkeypatch)
    code, stdout, stderr = _demo(tmp_path, monkeypatch)
    assert code == 0, stdout + stderr
    assert ANSI.search(stdout), stdout  # the consoles do colour: the styled bullets
    lines = stdout.splitlines() + stderr.splitlines()
    plain = [
        line
        for line, seen in ((line, ANSI.sub("", line)) for line in lines)
        if "90%" in seen
        or seen.lstrip()[:1].isdigit()  # the table's rows
        or seen.startswith(("after ", "learning curve:", "the session's database:"))
        or seen.startswith(("explore it:", "when done exploring:", "next, your own data:"))
    ]
    assert [line for line in plain if ANSI.search(line)] == []
    assert len(plain) >= 9, lines  # the column key, the header, 2 rows, 3 lines, 3 hints
    assert any(line.startswith("after 6 labels: accuracy ") for line in plain), plain


def _round(labels: int, audit_labels: int | None) -> DemoRound:
    return DemoRound(
        labels=labels, accuracy=0.8123, macro_f1=0.7912, random_accuracy=0.7, random_macro_f1=0.6,
        kind="linear", seconds=12.3, estimate=(0.812, 0.7, 0.9), audit_labels=audit_labels,
    )  # fmt: skip


def test_the_demo_table_says_the_audit_n_and_counts_with_commas() -> None:
    """The estimate column gave no n: "0.000 (0.000-0.730)" after 10 labels read as a broken
    model, where it is one audit label answered wrong; and the summary said "after 1000
    labels" beside "9,999 queries"."""
    from bot.cli.experiments import DEMO_HEADER, demo_row, demo_summary
    from engine.demo import DemoResult

    assert "estimate (90% interval, n)" in DEMO_HEADER
    rows = [demo_row(_round(1000, 100)), demo_row(_round(9000, 1000)), demo_row(_round(10, None)),
            demo_row(_round(50, 5))]  # fmt: skip
    assert rows[0].split() == ["1,000", "0.812", "0.791", "0.700", "0.812", "(0.700-0.900)",
                               "n=100", "linear", "12.3"]  # fmt: skip
    assert "0.812 (0.700-0.900) n=1,000 linear" in rows[1]
    assert "n=" not in rows[2]  # no count known: none made up
    # aligned under the header, in 80 columns
    assert {len(row) for row in rows} == {len(DEMO_HEADER)} and len(DEMO_HEADER) <= 80
    ends = [m.end() for m in re.finditer(r"\S+", DEMO_HEADER)]
    for row in rows:
        assert all(row[end - 1] != " " for end in ends[:4] + ends[-2:]), (DEMO_HEADER, row)
        assert row.index(" linear") + len(" linear") == DEMO_HEADER.index(" model") + 6
    # the interval in one column whatever the width of n (it moved with each digit of n)
    assert len({row.index("(") for row in rows}) == 1, rows
    result = DemoResult(rounds=[_round(1000, 100)], ceiling=0.9, examples=9999)
    assert demo_summary(result).startswith("after 1,000 labels: accuracy 0.812 (90% of the 0.900")
    assert "9,999 queries), random sampling 0.700" in demo_summary(result)


@pytest.mark.usefixtures("cli_env", "temp_dir")
def test_the_demo_says_what_to_do_next_with_ones_own_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stdout, stderr = _demo(tmp_path, monkeypatch)
    assert code == 0, stdout + stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("next, your own data: labelbot project create NAME --labels "), last
    for command in ("labelbot import NAME file.csv", "labelbot label NAME"):
        assert command in last, last
    # the README sections it names are there
    sections = re.findall(r"README: ([^)]*)\)", last)[0].split("; ")
    headings = {line.lstrip("#").strip() for line in README.read_text("utf-8").splitlines()
                if line.startswith("#")}  # fmt: skip
    assert sections and set(sections) <= headings, sections


@pytest.mark.usefixtures("cli_env", "temp_dir")
def test_a_demo_whose_chart_cannot_be_written_keeps_its_session_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk filled as the chart was written, after the whole session: its database was
    deleted with it, and the hint said to use --out, which the demo does not have."""
    from engine import charts

    chart = tmp_path / "demo-output" / "learning_curve.png"

    def full(*_: object, **__: object) -> Path:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(chart))

    monkeypatch.setattr(charts, "save_png", full)
    code, stdout, stderr = _demo(tmp_path, monkeypatch)
    assert code == 6, stdout + stderr  # a failed write, as for any other command
    scratch = Path(tempfile.gettempdir())  # the temp_dir fixture's
    kept = [p for p in scratch.iterdir() if p.name.startswith("labelbot-demo-")]
    assert len(kept) == 1 and (kept[0] / "demo.db").is_file(), list(scratch.iterdir())
    said = " ".join((stdout + stderr).split())
    assert "learning curve: not written" in said and "is kept" in said, said
    assert f"the session's database: sqlite:///{kept[0] / 'demo.db'}" in said, said
    assert f"rm -r {kept[0]} " in said, said
    error = stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: could not write {chart}: No space left on device;"), error
    assert "(or --out-dir)" in error and "--out)" not in error, error
    assert not chart.exists()
