"""`labelbot label` at a terminal: stored text cannot drive the terminal, Ctrl-C while it works
hands the example back in one line, a retrain says so first, the example sits right above the
prompt, a changed list of labels is announced, and messages read as a terminal's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("cli_env")

# what an outsider's ticket may carry: clear the screen, a hyperlink (OSC 8), a title (OSC 0),
# hidden text, cursor up + erase line, a right-to-left override and a C1 CSI
HOSTILE = (
    "Hello \x1b[2J\x1b[H\x1b[8mhidden\x1b[28m \x1b]0;PWNED\x07 "
    "\x1b]8;;http://x\x1b\\click\x1b]8;;\x1b\\ \x1b[1A\x1b[2K gnp.exe\u202etxt \x9b31m end"
)
RAW = ("\x1b", "\u202e", "\x9b", "\x07")  # none of these may reach a terminal from data


def _run(runner: CliRunner, *args: str, code: int = 0, **kwargs: object) -> str:
    result = runner.invoke(app, list(args), **kwargs)  # type: ignore[arg-type]
    assert result.exit_code == code, result.output
    return result.output


# --- 1: terminal injection --------------------------------------------------------------------


def test_control_characters_in_stored_text_never_reach_the_terminal(tmp_path: Path) -> None:
    """An imported text with escape sequences and a bidi override showed raw: it cleared the
    screen, hid text, set the title. `label`, `flags` (text, reason, annotator) show them as
    visible stand-ins; --json and exports keep the text byte for byte."""
    runner = CliRunner()
    _run(runner, "project", "create", "p", "--labels", "ok,spam")
    source = tmp_path / "hostile.jsonl"
    source.write_text(json.dumps({"text": HOSTILE}) + "\n", encoding="utf-8")
    _run(runner, "import", "p", str(source))
    who = "eve\x1b[2Jx"
    shown = _run(runner, "label", "p", "--annotator", who, input="f\nsee \x1b[8mthis\u202e\nq\n")
    assert "flagged" in shown
    typed = "why flag it? see \x1b[8mthis\u202e\n"  # the runner echoes the input typed
    shown = shown.replace(typed, "")
    assert not [c for c in RAW if c in shown], repr(shown)
    flat = " ".join(shown.split())
    assert "␛[2J" in flat and "␛]8;;http://x␛\\click" in flat and "\\u202etxt" in flat
    assert "\\x9b31m" in flat

    listed = _run(runner, "flags", "p")
    assert not [c for c in RAW if c in listed], repr(listed)
    assert "see ␛[8mthis\\u202e" in listed and "eve␛[2Jx" in listed and "␛[2J" in listed

    (flag,) = json.loads(_run(runner, "flags", "p", "--json"))
    assert (flag["text"], flag["reason"], flag["annotator"]) == (
        HOSTILE,
        "see \x1b[8mthis\u202e",
        who,
    )
    exported = _run(runner, "export", "p", "--format", "jsonl")
    assert json.loads(exported.splitlines()[0])["text"] == HOSTILE


def test_printable_keeps_newlines_tabs_and_ordinary_text() -> None:
    from bot.cli.common import printable

    assert printable("a\tb\nc — café ☕ [x]") == "a\tb\nc — café ☕ [x]"
    assert printable("one\r\ntwo\rthree") == "one\ntwo␍three"
    assert printable("\x00\x1b\x7f\x85\u200f\u2066\u061c") == ("␀␛\u2421\\x85\\u200f\\u2066\\u061c")


def test_every_line_cell_and_panel_the_consoles_print_is_printable() -> None:
    """Tables (reviews, proposals, the taxonomy's history), columns and panels included."""
    from rich.columns import Columns
    from rich.panel import Panel
    from rich.table import Table

    from bot.cli.common import err, out, styled

    table = Table("text", "by")
    table.add_row("x\x1b[2Jy", "\u202eann")
    for console in (out, err):
        with console.capture() as captured:
            console.print(table)
            console.print("a line \x1b]0;title\x07", highlight=False)
            console.print(Columns([styled("[bold]c\x1b[1A[/]")]))
            console.print(Panel(styled("p\x1b[8m")))
        shown = captured.get()
        assert not [c for c in RAW if c in shown], repr(shown)
        assert all(s in shown for s in ("x␛[2Jy", "\\u202eann", "␛]0;title␇", "c␛[1A", "p␛[8m"))
