"""`labelbot label` at a terminal: stored text cannot drive the terminal, Ctrl-C while it works
hands the example back in one line, a retrain says so first, the example sits right above the
prompt, a changed list of labels is announced, and messages read as a terminal's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import _csv, cli_env  # noqa: F401  (the fixture)
from tests.helpers import label_held_example

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


def _project(tmp_path: Path, labels: str = "a,b", texts: int = 3) -> CliRunner:
    runner = CliRunner()
    _run(runner, "project", "create", "p", "--labels", labels)
    rows = [(f"text number {i} about cards", "") for i in range(texts)]
    _run(runner, "import", "p", str(_csv(tmp_path / "p.csv", rows)))
    return runner


def _shown(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"p · example (\d+)", output)]


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
    assert printable("\x00\x1b\x7f\x85\u202e\u2066") == ("␀␛\u2421\\x85\\u202e\\u2066")
    # the plain right-to-left and left-to-right marks are ordinary Hebrew and Arabic text
    assert printable("שלום\u200f abc \u200e ب\u061c") == "שלום\u200f abc \u200e ب\u061c"


# --- 2: Ctrl-C while it works -------------------------------------------------------------------


@pytest.mark.parametrize("keys", ["t\n", "1\n"], ids=["train now", "retrain after a label"])
def test_ctrl_c_while_training_hands_the_example_back_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: str
) -> None:
    """Ctrl-C while `t` or a retrain ran: exit 130 with no word, and the example on screen stayed
    held for 30 minutes. Now one line, and the example goes back at once (a labeled one is
    stored and stays)."""
    from engine import jobs

    def ctrl_c(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # what Ctrl-C raises, mid-training

    monkeypatch.setattr(jobs, "train_now", ctrl_c)
    runner = _project(tmp_path)
    result = runner.invoke(app, ["label", "p", "--annotator", "ann", "--retrain-every", "1"],
                           input=keys)  # fmt: skip
    assert result.exit_code == 130, result.output
    said = [line for line in result.output.splitlines() if line.startswith("interrupted")]
    assert said == [
        "interrupted while training (a run stopped part-way is not made active): your labels "
        "so far are stored" + ("; your example went back to the pool" if keys == "t\n" else "")
    ], result.output
    bob = _run(runner, "label", "p", "--annotator", "bob", input="q\n")
    first = _shown(result.output)[0]
    if keys == "t\n":
        assert _shown(bob)[0] == first  # handed back: not held for ann for 30 minutes
    else:
        assert _shown(bob)[0] != first  # labeled: stored, out of the queue
        rows = [
            json.loads(x) for x in _run(runner, "export", "p", "--format", "jsonl").splitlines()
        ]
        assert [r["label"] for r in rows if r["label"]] == ["a"]


# --- 3: a retrain says so first -----------------------------------------------------------------


def test_a_retrain_while_labeling_says_so_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retrain after N labels took ~30 s with no word. A line says it begins, then the
    training (its progress bar and spinner on a terminal, as `labelbot train`) and its result."""
    from bot.cli import common

    trained: list[str] = []
    real = common.train_shown

    def train_shown(ws: object, name: str, **kwargs: object) -> object:
        trained.append(name)
        return real(ws, name, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("bot.cli.interactive.train_shown", train_shown)
    runner = _project(tmp_path)
    said = _run(runner, "label", "p", "--annotator", "ann", "--retrain-every", "2",
                input="1\n2\nq\n")  # fmt: skip
    assert trained == ["p"]
    at = said.index("retraining after 2 labels…")
    assert at > said.index("labeled b")
    result = re.search(r"model v1|not retrained", said)
    assert result is not None and result.start() > at, said


# --- 4: the example above the prompt, the suggestion's number, names, no reprint ------------


def test_the_example_is_printed_last_right_above_the_prompt(tmp_path: Path) -> None:
    """With 77 labels the example scrolled off above the list: now the list comes first."""
    names = [f"intent_{i:02d}" for i in range(77)]
    runner = _project(tmp_path, labels=",".join(names))
    said = _run(runner, "label", "p", "--annotator", "ann", input="q\n")
    panel = said.index("p · example")
    assert said.rindex("intent_76") < panel and said.index("s = skip") < panel
    assert said.index("text number") > panel


def test_the_suggestion_shows_the_number_that_picks_it(tmp_path: Path) -> None:
    from bot.cli.interactive import _numbered
    from engine.labeling import LabelChoice, Task

    task = Task(
        project="p", example_id=1, assignment_id=1, text="t", suggestion=("card", 0.87),
        labels=[LabelChoice("atm", "", 1), LabelChoice("card", "", 2)], done_today=0, queue_left=0,
    )  # fmt: skip
    assert _numbered(task, "card", 0.87) == "[2] card (87%)"


def test_a_refused_answer_asks_again_without_reprinting_and_a_name_labels(
    tmp_path: Path,
) -> None:
    """Every refused answer reprinted the example and every label; it is asked again now. A
    label may be typed by its name (in any case); a refused answer is echoed as typed."""
    runner = _project(tmp_path, labels="Lease,NDA")
    said = _run(runner, "label", "p", "--annotator", "ann", input="9\nZzz\nnda\nq\n")
    assert "no label 9: choose 1–2" in said and "not understood: 'Zzz'" in said
    assert "labeled NDA" in said
    assert len(_shown(said)) == 2 and said.count("Lease") == 2  # once per example shown


# --- 5: labels changed in another shell ------------------------------------------------------


def test_a_changed_list_of_labels_is_announced_before_the_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merge in another shell re-numbered the labels silently: 3 was D, is now BC."""
    from bot.cli import interactive
    from bot.cli.common import workspace
    from engine import taxonomy

    runner = _project(tmp_path, labels="A,B,C,D")
    answers = iter(["1", "q"])

    def merge_then_answer(prompt: str) -> str | None:
        if not hasattr(merge_then_answer, "done"):
            merge_then_answer.done = True  # type: ignore[attr-defined]
            ws = workspace()
            taxonomy.merge_labels(ws, project="p", labels=["B", "C"], into="BC", actor="admin")
            ws.close()
        return next(answers)

    monkeypatch.setattr(interactive, "ask", merge_then_answer)
    said = _run(runner, "label", "p", "--annotator", "ann")
    line = next(x for x in said.splitlines() if "labels changed" in x)
    assert line == (
        "labels changed since the last example: gone: B, C; new: [3] BC; renumbered: D [4] → [2] "
        "— check the number before you answer"
    )
    assert said.index(line) > said.rindex("p · example") and said.count("labels changed") == 1


def test_labels_changed_names_renames_and_says_nothing_when_alike() -> None:
    from bot.cli.interactive import labels_changed
    from engine.labeling import LabelChoice as C

    before = [C("A", "", 1), C("B", "", 2)]
    assert labels_changed(before, list(before)) == ""
    assert labels_changed(before, [C("Alpha", "", 1), C("B", "", 2)]) == "renamed: A is now Alpha"
    many = [C(f"x{i}", "", i) for i in range(20)]
    assert labels_changed(many, many[1:]) == (
        "gone: x0; renumbered: x1 [2] → [1], x2 [3] → [2], x3 [4] → [3], x4 [5] → [4], "
        "x5 [6] → [5], x6 [7] → [6] and 13 more"
    )


# --- 6: a terminal's words ---------------------------------------------------------------------


def test_a_label_from_another_terminal_is_said_without_slack_markup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same expert labeled the example in another terminal: "*a*" and "from another
    message" were Slack's words."""
    from bot.cli import interactive

    runner = _project(tmp_path)
    answers = iter(["1", "q"])

    def other_terminal_first(prompt: str) -> str | None:
        if not hasattr(other_terminal_first, "done"):
            other_terminal_first.done = True  # type: ignore[attr-defined]
            label_held_example("p", "ann", "a")
        return next(answers)

    monkeypatch.setattr(interactive, "ask", other_terminal_first)
    said = _run(runner, "label", "p", "--annotator", "ann")
    assert "you already labeled this example a from another terminal or message" in said, said


def test_terminal_words_keep_a_star_inside_a_name() -> None:
    from bot.cli.interactive import terminal_words

    assert terminal_words("labeled *P*1* by x") == "labeled P*1 by x"
    assert terminal_words("settled as *Lease* since") == "settled as Lease since"


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
