"""`labelbot label` and `labelbot review` at a terminal: leaving by any door hands the example
back, text prints as typed, options refuse nonsense."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine import labeling
from tests.bot.test_cli import _csv, cli_env  # noqa: F401  (the fixture)
from tests.helpers import label_held_example

pytestmark = pytest.mark.usefixtures("cli_env")
TEXTS = [("my card :smile: never came", "a"), ("what is the fee", "b"), ("card lost", "a")]


def _project(tmp_path: Path) -> CliRunner:
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "a,b"]).exit_code == 0
    path = _csv(tmp_path / "p.csv", [(t, "") for t, _ in TEXTS])
    assert runner.invoke(app, ["import", "p", str(path)]).exit_code == 0
    return runner


def _shown(output: str) -> int:
    return int(re.findall(r"example (\d+)", output)[0])


@pytest.mark.parametrize("leave", ["", "f\n"], ids=["ctrl-d at the prompt", "ctrl-d at why"])
def test_leaving_by_end_of_input_hands_the_example_back(tmp_path: Path, leave: str) -> None:
    runner = _project(tmp_path)
    ann = runner.invoke(app, ["label", "p", "--annotator", "ann"], input=leave)
    assert ann.exit_code == 0, ann.output
    assert "bye — your example went back to the pool" in ann.output
    bob = runner.invoke(app, ["label", "p", "--annotator", "bob"], input="q\n")
    assert _shown(bob.output) == _shown(ann.output)  # not held for ann for 30 minutes
    assert "flagged" not in ann.output.lower()


def test_q_quits_even_when_the_example_was_taken_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another terminal under the same name answered the example on screen: q still quits, at
    once, and says the example was no longer held for this terminal; it said "your example went
    back to the pool", which it did not (it is labeled)."""
    from bot.cli import interactive

    runner = _project(tmp_path)

    def other_terminal_then_q(prompt: str) -> str | None:
        label_held_example("p", "ann", "a")
        return "q"

    monkeypatch.setattr(interactive, "ask", other_terminal_then_q)
    result = runner.invoke(app, ["label", "p", "--annotator", "ann"])
    assert result.exit_code == 0 and result.output.count(" · example ") == 1, result.output
    assert "bye — the example on screen was no longer held for you" in result.output
    assert "went back to the pool" not in result.output
    # and a plain q, nothing taken over, still says the example went back
    monkeypatch.setattr(interactive, "ask", lambda prompt: "q")
    plain = runner.invoke(app, ["label", "p", "--annotator", "ann"])
    assert "bye — your example went back to the pool" in plain.output, plain.output


def test_text_prints_as_typed_and_options_refuse_nonsense(tmp_path: Path) -> None:
    runner = _project(tmp_path)
    shown = runner.invoke(app, ["label", "p", "--annotator", "ann"], input="q\n")
    first = next(t for t, _ in TEXTS if t.split()[0] in shown.output)
    assert first in " ".join(shown.output.split())  # ":smile:" stays a word, not a picture
    bad = runner.invoke(app, ["label", "p", "--retrain-every", "-3"])
    assert bad.exit_code == 2 and "--retrain-every" in bad.output
    assert "Keys:" in runner.invoke(app, ["label", "--help"]).output
    assert "--scan" in runner.invoke(app, ["review", "--help"]).output


def test_many_labels_print_in_columns(tmp_path: Path) -> None:
    """60 labels one per line pushed the example off the screen: they print in columns."""
    runner = CliRunner()
    names = [f"intent_{i:02d}" for i in range(60)]
    assert (
        runner.invoke(app, ["project", "create", "many", "--labels", ",".join(names)]).exit_code
        == 0
    )
    path = _csv(tmp_path / "m.csv", [("a text to label", ""), ("another one", "")])
    assert runner.invoke(app, ["import", "many", str(path)]).exit_code == 0
    shown = runner.invoke(app, ["label", "many", "--annotator", "ann"], input="q\n").output
    listed = [line for line in shown.splitlines() if "intent_" in line]
    assert all(f" {name}" in shown for name in names) and len(listed) < 30


def test_every_key_is_understood_and_nonsense_is_not(tmp_path: Path) -> None:
    """Label, skip, undo and train each answer once, with no "not understood" after them; a
    digit Python reads as a digit but not as a number (²) is nonsense, not a crash."""
    runner = _project(tmp_path)
    keys = "1\nu\ns\n²\n9\nt\nq\n"
    result = runner.invoke(app, ["label", "p", "--annotator", "ann"], input=keys)
    assert result.exit_code == 0, result.output
    assert "labeled a" in result.output and "undone: a" in result.output
    refused = re.findall(r"not understood: '([^']*)'", result.output)
    assert refused == ["²"], result.output
    assert "no label 9: choose 1–2" in result.output  # a number, but no label's


def test_undo_brings_the_undone_example_back_and_holds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """u shows the undone example next, held for this expert while they decide, and hands back
    the one that was on screen. Before, the example on screen came back and the undone one went
    to the pool: the expert had no way to label it again, and anyone could be sent it."""
    from bot.cli import interactive
    from bot.cli.common import workspace

    runner = _project(tmp_path)
    answers = iter(["1", "u", "2", "q"])
    asked_bob: list[int | None] = []

    def ask(prompt: str) -> str | None:
        answer = next(answers)
        if answer == "2":  # at the prompt after the undo: what would bob be sent now?
            task = labeling.next_task(workspace(), project="p", annotator="bob")
            asked_bob.append(None if task is None else task.example_id)
        return answer

    monkeypatch.setattr(interactive, "ask", ask)
    result = runner.invoke(app, ["label", "p", "--annotator", "ann"])
    assert result.exit_code == 0, result.output
    first, second, again = (int(n) for n in re.findall(r"example (\d+)", result.output)[:3])
    assert "undone: a — label it again" in result.output
    assert again == first and second != first
    assert asked_bob and asked_bob[0] != first  # held for ann: bob was sent another one
    flat = " ".join(result.output.split())
    at = {text: flat.find(text) for text, _ in TEXTS if text in flat}
    shown_first = min(at, key=lambda text: at[text])
    exported = runner.invoke(app, ["export", "p", "--format", "jsonl"]).output
    labeled = {row["text"]: row["label"] for row in map(json.loads, exported.splitlines())}
    assert labeled[shown_first] == "b"  # the relabel stands, on the undone example
    assert sum(label is not None for label in labeled.values()) == 1  # and nothing else


def test_a_key_stores_the_label_shown_though_it_was_renamed_and_its_name_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the example is on screen an admin renames `a` and adds a new label called `a`:
    key 1 (shown as `a`) is the label that was shown, now called `a_old`, not the newcomer."""
    from bot.cli import interactive
    from bot.cli.common import ask, workspace
    from engine import taxonomy

    runner = _project(tmp_path)
    answers = iter(["1", "q"])

    def admin_acts_then_ann_presses(prompt: str) -> str | None:
        if prompt == ">" and not hasattr(admin_acts_then_ann_presses, "done"):
            admin_acts_then_ann_presses.done = True  # type: ignore[attr-defined]
            ws = workspace()
            taxonomy.rename_label(ws, project="p", label="a", new_name="a_old", actor="admin")
            taxonomy.add_labels(ws, project="p", names=["a"], actor="admin")
            ws.close()
        return next(answers, None) if prompt == ">" else ask(prompt)

    monkeypatch.setattr(interactive, "ask", admin_acts_then_ann_presses)
    result = runner.invoke(app, ["label", "p", "--annotator", "ann"])
    assert result.exit_code == 0, result.output
    assert "labeled a_old" in result.output, result.output
    exported = runner.invoke(app, ["export", "p", "--format", "jsonl"])
    rows = [json.loads(line) for line in exported.output.splitlines()]
    (labeled,) = [r for r in rows if r.get("label")]
    assert labeled["label"] == "a_old", labeled


def test_a_blank_name_is_the_login_name_and_the_importers_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--annotator "  "` stored a name of spaces; `--annotator import` mixed a person's labels
    with a file's (counted apart: agreement, the leaderboard)."""
    from bot.cli import common

    monkeypatch.setattr(common.getpass, "getuser", lambda: "walter")
    runner = _project(tmp_path)
    done = runner.invoke(app, ["label", "p", "--annotator", "  "], input="1\nq\n")
    assert done.exit_code == 0, done.output
    exported = runner.invoke(app, ["export", "p", "--format", "jsonl"])
    rows = [json.loads(line) for line in exported.output.splitlines()]
    assert [a["annotator"] for r in rows for a in r["annotations"]] == ["walter"]
    for command in (["label", "p", "--annotator", " import "],
                    ["labels", "add", "p", "c", "--actor", "import"]):  # fmt: skip
        refused = runner.invoke(app, command, input="q\n")
        assert refused.exit_code == 2, refused.output
        assert "is the name labels imported from a file go by" in refused.output


@pytest.mark.parametrize(("n", "width"), [(16, 80), (18, 100), (40, 100), (77, 120), (150, 200)])
def test_label_columns_run_down_in_equal_heights(
    n: int, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read down each column, then the next: every column but the last has the same height
    (rich's column_first layout made 1–5, 6–10, 11–14, 15–18), and the lines fit the width."""
    from rich.console import Console

    from bot.cli import common

    console = Console(width=width, record=True, file=io.StringIO())
    monkeypatch.setattr(common, "out", console)
    common.print_choices([f"intent_{i:03d}" for i in range(n)])
    lines = [line for line in console.export_text().splitlines() if line.strip()]
    rows = [[int(x) for x in re.findall(r"(\d+) intent_", line)] for line in lines]
    down = len(rows)
    assert all(len(line) <= width for line in lines)
    assert len(rows[0]) > 1 and down < n  # columns, not one per line
    for r, numbers in enumerate(rows):
        assert numbers == [c * down + r + 1 for c in range(len(numbers))], rows
    assert sorted(x for row in rows for x in row) == list(range(1, n + 1))
