"""`labelbot label` as an expert uses it: leaving says what the session stored, an undone label
does not count toward the retrain, `g` shows the labels' guidelines, a name not understood gets
the label it may mean, and an `f` typed by mistake is taken back with Enter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.bot.test_cli_label_terminal import _project, _run

pytestmark = pytest.mark.usefixtures("cli_env")


def _label(runner: CliRunner, keys: str, *more: str, code: int = 0) -> str:
    return _run(runner, "label", "p", "--annotator", "ann", "--retrain-every", "0", *more,
                input=keys, code=code)  # fmt: skip


def _labels(runner: CliRunner) -> list[str | None]:
    exported = _run(runner, "export", "p", "--format", "jsonl").splitlines()
    return [json.loads(line)["label"] for line in exported]


# --- leaving says what the session stored -----------------------------------------------------


@pytest.mark.parametrize(
    "leave", ["q\n", "", "exit\n"], ids=["q", "ctrl-d at the prompt", "exit"]
)  # fmt: skip
def test_leaving_says_what_the_session_stored(tmp_path: Path, leave: str) -> None:
    """Leaving said only "bye — your example went back to the pool": nothing on what the
    session had stored, so an expert who quit (or whose input ended) could not tell whether
    their answers were kept. Now one line counts them: the labels (less the one undone), the
    skips and the flags."""
    runner = _project(tmp_path, texts=6)
    said = _label(runner, "1\n2\nu\n2\ns\nf\nodd one\n" + leave)
    assert "bye — your example went back to the pool" in said
    assert "this session (ann): 2 labels, 1 skipped, 1 flagged — all stored" in said, said
    assert sorted(x for x in _labels(runner) if x) == ["a", "b"]


def test_leaving_at_once_says_nothing_was_stored(tmp_path: Path) -> None:
    said = _label(_project(tmp_path, texts=4), "q\n")
    assert "this session (ann): nothing stored" in said, said


def test_the_end_of_the_queue_says_what_the_session_stored(tmp_path: Path) -> None:
    said = _label(_project(tmp_path, texts=2), "1\n2\n")
    assert "nothing left to label in this project — thank you!" in said
    assert "this session (ann): 2 labels — all stored" in said, said


def test_ctrl_c_while_training_says_what_the_session_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import jobs

    def ctrl_c(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # what Ctrl-C raises, mid-training

    monkeypatch.setattr(jobs, "train_now", ctrl_c)
    runner = _project(tmp_path, texts=4)
    said = _label(runner, "1\nt\n", code=130)
    assert "this session (ann): 1 label — all stored" in said, said
    assert "interrupted while training" in said


def test_an_undone_label_does_not_count_toward_the_retrain(tmp_path: Path) -> None:
    """Label, undo, label again: one new label, but the loop counted two and retrained after
    "2 labels" with --retrain-every 2. Now the undone one is taken off the count."""
    runner = _project(tmp_path, texts=4)
    said = _label(runner, "1\nu\n1\nq\n", "--retrain-every", "2")
    assert "retraining after" not in said, said
    said = _label(runner, "1\nu\n1\n2\nq\n", "--retrain-every", "2")
    assert said.count("retraining after 2 labels") == 1, said


# --- g: the labels' guidelines ------------------------------------------------------------------


def test_g_shows_each_labels_guidelines_and_the_example_again(tmp_path: Path) -> None:
    """The guidelines (`labelbot labels describe`, Slack's `/label guidelines`) could not be read
    from the terminal loop: "g" and "?" were "not understood". Now both list every label,
    numbered as it is picked, with its guidelines, then show the example again."""
    runner = _project(tmp_path, texts=4, labels="Lease,NDA")
    _run(runner, "labels", "describe", "p", "Lease", "Renting a property: rent, deposit, term")
    said = _label(runner, "g\n?\n1\nq\n")
    assert "not understood" not in said, said
    assert "g = guidelines" in said  # the keys line names it
    assert said.count("1 Lease: Renting a property: rent, deposit, term") == 2, said
    assert said.count("2 NDA: no guidelines yet") == 2, said
    assert 'labelbot labels describe p LABEL "..."' in said
    # the example is shown again after the guidelines, right above the prompt
    after = said.split("2 NDA: no guidelines yet")[1]
    assert "p · example" in after.split(">")[0], after
    assert _labels(runner).count("Lease") == 1


def test_g_is_refused_as_ambiguous_when_a_label_is_named_g(tmp_path: Path) -> None:
    runner = _project(tmp_path, texts=4, labels="G,other")
    said = _label(runner, "g\n/g\n1\nq\n")
    assert "'g' is both a label and a command: type 1 for the label, or /g to show the " in said
    assert "2 other: no guidelines yet" in said
    assert _labels(runner).count("G") == 1


# --- a name not understood: the label it may mean -----------------------------------------------


def test_a_name_not_understood_says_the_label_it_may_mean(tmp_path: Path) -> None:
    """A misspelt or partial name ("card arival", "pin") was only "not understood", with the
    keys: with many labels the expert had to find the right one by eye. Now the line names the
    label it may mean, with its number; nothing is stored on a guess."""
    runner = _project(tmp_path, texts=4, labels="card_arrival,change_pin,atm_support")
    said = _label(runner, "card arival\npin\natm suport\nzzz\nq\n")
    assert "not understood: 'card arival' — did you mean 1 card_arrival?" in said, said
    assert "not understood: 'pin' — did you mean 2 change_pin?" in said, said
    assert "not understood: 'atm suport' — did you mean 3 atm_support?" in said, said
    assert "not understood: 'zzz'. number or name = label" in said, said
    assert not any(_labels(runner))


def test_a_name_part_of_several_labels_suggests_none(tmp_path: Path) -> None:
    runner = _project(tmp_path, texts=4, labels="card_arrival,card_lost")
    said = _label(runner, "card\nq\n")
    assert "not understood: 'card'. number or name" in said, said


# --- f typed by mistake ---------------------------------------------------------------------------


def test_enter_alone_at_why_takes_the_flag_back(tmp_path: Path) -> None:
    """After "f" the reason was asked again and again until one was typed: an "f" typed by
    mistake ended in a flag with a made-up reason, or Ctrl-C and the session gone. Now Enter
    alone takes it back, and the example is answered as usual."""
    runner = _project(tmp_path, texts=4)
    said = _label(runner, "f\n\n1\nq\n")
    assert "Enter alone: do not flag" in said
    assert "not flagged (a flag needs a reason): answer the example" in said, said
    assert "flagged: it leaves" not in said
    assert json.loads(_run(runner, "flags", "p", "--json")) == []
    assert _labels(runner).count("a") == 1


# --- a terminal closed at the prompt ----------------------------------------------------------


def test_a_closed_terminal_hands_the_example_back_at_once(tmp_path: Path) -> None:
    """Closing the terminal window (or losing the ssh connection) at the prompt sends SIGHUP,
    whose default action killed `label` with its example still held: no other expert got it
    until the assignment lapsed, 30 minutes on. It leaves as Ctrl-C does now, exit 129."""
    import os
    import pty
    import select
    import sys
    import time

    runner = _project(tmp_path, texts=1)
    script = "import sys; from bot.console import main; sys.argv[0] = 'labelbot'; main()"
    pid, terminal = pty.fork()  # the pty is the child's controlling terminal, as in a window
    if pid == 0:  # the child: only exec, whatever happens
        try:
            os.execv(sys.executable, [sys.executable, "-c", script, "label", "p",
                                      "--annotator", "ann", "--retrain-every", "0"])  # fmt: skip
        finally:
            os._exit(127)
    shown, deadline = b"", time.monotonic() + 120
    while not shown.rstrip().endswith(b">"):  # the prompt: the example is held for ann
        assert time.monotonic() < deadline, shown
        if select.select([terminal], [], [], 1.0)[0]:
            shown += os.read(terminal, 4096)
    assert b"p \xc2\xb7 example" in shown, shown
    os.close(terminal)  # the window closes: the kernel hangs the terminal up
    while (ended := os.waitpid(pid, os.WNOHANG))[0] == 0:
        assert time.monotonic() < deadline, "it never ended"
        time.sleep(0.1)
    assert os.waitstatus_to_exitcode(ended[1]) == 129
    # another expert gets the example now, not in 30 minutes
    said = _run(runner, "label", "p", "--annotator", "bob", input="q\n")
    assert "p · example" in said and "went back to the pool" in said, said
