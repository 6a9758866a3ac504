"""`labelbot label`: the labeling loop in a terminal — the same loop the Slack bot drives."""

from __future__ import annotations

import contextlib
import difflib
import itertools
import os
import re
import signal
import uuid
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Annotated

import click
import typer
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from bot.cli.common import (
    app,
    ask,
    err,
    handle_errors,
    interrupted,
    login_name,
    out,
    print_choices,
    printable,
    styled,
    train_shown,
    trained_line,
    workspace,
)
from engine import labeling
from engine.evaluation import IMPORTED  # the annotator (and source) of imported labels
from engine.forecast import counted
from engine.labeling import LabelChoice, Task
from engine.projects import name_key
from engine.workspace import Workspace
from storage.errors import InvalidInputError, LabelbotError

HELP = (
    "number or name = label · s = skip (not shown to you again) · f = flag · u = undo last · "
    "g = guidelines · t = train now · q = quit"
)
QUIT = ("q", "quit", "exit")
GUIDELINES = ("g", "?")
# the answers that act instead of labeling, and what each does (as the ambiguity line says it)
COMMANDS = {
    "s": "skip",
    "f": "flag",
    "u": "undo",
    "t": "train now",
    **dict.fromkeys(GUIDELINES, "show the guidelines"),
    **dict.fromkeys(QUIT, "quit"),
}
# "/t" is t too (any number of them): the way to train when a label is named T
ESCAPE = "/"
LABELING = "while labeling"
SHOWN_AT_MOST = 6  # changed labels named in the "labels changed" line; then "and N more"


_WHY = {  # why the queue asks (engine.labeling.AskReason), as the Slack message says it
    "no_examples": "asked because it may be {label}, a label with no examples yet",
    "rare": "asked to find more examples of {label}, which has few so far",
    "cold_start": "asked early: it is typical of a group of similar examples",
}


def _show(task: Task) -> None:
    """The labels first, the example last, right above the prompt: with many labels (77 take
    most of a screen) the text and the model's guess must not scroll away."""
    print_choices([choice.name for choice in task.labels])
    out.print(styled(f"[dim]{HELP}[/]"))
    _panel(task)


def _guidelines(task: Task) -> None:
    """Every label, numbered as it is picked, with its guidelines (`labelbot labels describe`),
    then the example again, right above the prompt."""
    missing = False
    for i, choice in enumerate(task.labels, start=1):
        said = escape(choice.description.strip()) or "[dim]no guidelines yet[/]"
        missing = missing or not choice.description.strip()
        out.print(styled(f"[bold]{i:>3}[/] [bold]{escape(choice.name)}[/]: {said}"))
    if missing:
        how = f'labelbot labels describe {task.project} LABEL "..."'
        out.print(styled(f"[dim]a label's guidelines are written with `{escape(how)}`[/]"))
    _panel(task)


def _panel(task: Task) -> None:
    """The example, with why it is asked and the model's guess."""
    # example texts and label names are data, not markup: "[/]" in a ticket must not crash
    hint = ""
    for earlier in task.earlier:
        now = "since retired"
        if earlier.into:
            now = f"since split into {' / '.join(earlier.into)}"
        back = f"{_who_labeled(earlier.annotators, earlier.label)}, {now}"
        hint += f"\n[yellow]back for a new label: {escape(back)}[/]"
    if task.reason is not None and (why := _WHY.get(task.reason.kind)):
        hint += f"\n[cyan]{escape(why.format(label=task.reason.label))}[/]"
    if task.suggestion:
        guess = f"model suggests: {_numbered(task, *task.suggestion)}"
        if task.runner_up:
            guess += f", or {_numbered(task, *task.runner_up)}"
        hint += f"\n[dim]{escape(guess)}[/]"
    out.print(
        Panel(
            styled(escape(task.text) + hint),
            title=Text(printable(f"{task.project} · example {task.example_id}")),
            subtitle=f"you today: {task.done_today:,} · waiting: {task.queue_left:,}",
            expand=out.is_terminal,  # elsewhere (a pipe, a log) as wide as the text, no wider
        )
    )


def _numbered(task: Task, name: str, probability: float) -> str:
    """A guess as the key that picks it: "[27] card_not_working (87%)"."""
    number = next((i for i, c in enumerate(task.labels, start=1) if c.name == name), None)
    return ("" if number is None else f"[{number}] ") + f"{name} ({probability:.0%})"


def _who_labeled(annotators: Sequence[str], label: str) -> str:
    """Who gave an example the label that no longer counts: "dave labeled it X", "imported
    as X" when the label came with the file (`import` is no person)."""
    people = [a for a in annotators if a != IMPORTED]
    if not people:
        return f"imported as {label}"
    said = f"{', '.join(people)} labeled it {label}"
    return said + (" (and it was imported so)" if len(people) < len(annotators) else "")


def labels_changed(before: Sequence[LabelChoice], now: Sequence[LabelChoice]) -> str:
    """How the numbered labels changed between two examples ('' if they did not): gone, new,
    renamed, renumbered. A merge, split or retire in another shell re-numbers the list, and a
    number typed from habit would store another label."""

    def numbered(choices: Sequence[LabelChoice]) -> dict[object, tuple[int, str]]:
        return {(c.name if c.id is None else c.id): (i, c.name) for i, c in enumerate(choices, 1)}

    old, new = numbered(before), numbered(now)
    if list(old.items()) == list(new.items()):
        return ""
    gone = [name for key, (_, name) in old.items() if key not in new]
    added = [f"[{i}] {name}" for key, (i, name) in new.items() if key not in old]
    kept = [(old[key], here) for key, here in new.items() if key in old]
    renamed = [f"{was} is now {name}" for (_, was), (_, name) in kept if was != name]
    moved = [f"{name} [{was}] → [{i}]" for (was, _), (i, name) in kept if was != i]
    parts = [
        f"{what}: {_some(names)}"
        for what, names in zip(
            ("gone", "new", "renamed", "renumbered"), (gone, added, renamed, moved), strict=True
        )
        if names
    ]
    return "; ".join(parts)


def _some(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOWN_AT_MOST])
    return shown + (f" and {len(names) - SHOWN_AT_MOST} more" if len(names) > SHOWN_AT_MOST else "")


def pick_label(typed: str, labels: Sequence[LabelChoice]) -> LabelChoice | None:
    """The label an answer names: its number as shown, or its exact name (in any case); None
    when it names none (a number that names none is refused, saying which do)."""
    if typed.isdecimal():
        return labels[label_index(typed, len(labels))]
    wanted = name_key(typed)  # as labels are told apart: "lease" names "Lease", so does "😀︎"
    return next((choice for choice in labels if name_key(choice.name) == wanted), None)


def _did_you_mean(typed: str, labels: Sequence[LabelChoice]) -> str:
    """The label a name not understood may mean, as its number and name (" — did you mean 3
    atm_support?"), or ".": the one label it begins or is part of ("pin" for change_pin), else
    the one closest in spelling ("atm_suport"). Only said: a guess is never stored."""
    wanted = name_key(typed)
    keys = [name_key(choice.name) for choice in labels]
    part = [i for i, key in enumerate(keys) if wanted in key]
    if len(wanted) >= 2 and len(part) == 1:
        found = part[0]
    elif close := difflib.get_close_matches(wanted, keys, n=1, cutoff=0.75):
        found = keys.index(close[0])
    else:
        return "."
    return f" — did you mean {found + 1} {labels[found].name}?"


def command_key(typed: str, labels: Sequence[LabelChoice]) -> str | None:
    """The key an answer types: s, f, u, t, g (for ? too), or q (for quit and exit too), in
    any case and after any number of "/"; None when it is none (a label's number or name, or not
    understood). A key that is also a label's name ("T", "quit") is refused as ambiguous,
    naming the label's number and a form of the key that names no label: before, the key won,
    and a label named T could not be given by its name."""
    key = typed.lower()
    bare = key.lstrip(ESCAPE)
    if bare not in COMMANDS:
        return None
    named = pick_label(typed, labels)  # by name only: a key is never a number
    if named is not None:
        number = next(i for i, choice in enumerate(labels, start=1) if choice is named)
        words = QUIT if bare in QUIT else (bare,)
        # the labels are finitely many: some number of "/" before the key names none
        other = next(
            form
            for escapes in itertools.count()
            for word in words
            if pick_label(form := ESCAPE * escapes + word, labels) is None
        )
        raise _Refused(
            f"{typed!r} is both a label and a command: type {number} for the label, or "
            f"{other} to {COMMANDS[bare]}"
        )
    if bare in GUIDELINES:
        return "g"
    return "q" if bare in QUIT else bare


_BOLD = re.compile(r"(?<!\S)\*(\S(?:.*?\S)?)\*(?=[\s.,:;!?)]|$)")


def terminal_words(message: str) -> str:
    """An engine message worded for Slack, said at a terminal: no mrkdwn asterisks around
    names ("*Lease*" is Slack's bold), and "another message" is another terminal too."""
    plain = _BOLD.sub(r"\1", message)
    return plain.replace("from another message", "from another terminal or message")


class _Loop:
    """One expert's labeling session: the example on screen, the labels shown with the last
    one, the last label (for u) and the labels since the last model."""

    def __init__(self, ws: Workspace, name: str, who: str, retrain_every: int) -> None:
        self.ws, self.name, self.who, self.retrain_every = ws, name, who, retrain_every
        self.since_train = 0
        self.last: labeling.LabelResult | None = None
        self.shown: list[LabelChoice] | None = None  # the labels, as numbered last time
        self.task: Task | None = None
        self.open = False  # the example on screen is held for this expert, unanswered
        self.doing = LABELING  # what a Ctrl-C stops, for its one line
        # what this session stored, said as it ends (q, Ctrl-D, Ctrl-C, the end of the queue)
        self.labeled = self.skipped = self.flagged = 0

    def run(self) -> None:
        while True:
            self.task = task = labeling.next_task(self.ws, project=self.name, annotator=self.who)
            if task is None:
                out.print(nothing_left(self.ws, self.name, self.who), highlight=False)
                self.summary()
                return
            self.open = True
            _show(task)
            if self.shown is not None and (changed := labels_changed(self.shown, task.labels)):
                out.print(styled(
                    f"[yellow]labels changed since the last example: {escape(changed)} — "
                    "check the number before you answer[/]"
                ))  # fmt: skip
            self.shown = task.labels
            while (step := self.answer(task)) is None:  # refused: ask again, nothing reprinted
                pass
            if not step:
                return

    def answer(self, task: Task) -> bool | None:
        """Act on one answer: True on to the next example, False quit, None ask again."""
        typed = ask(">")  # None: Ctrl-D / Ctrl-C, leave as with q
        try:
            # Ctrl-D (None) leaves whatever the labels are called; a blank answer too, as before
            key = "q" if not typed else command_key(typed, task.labels)
        except _Refused as exc:  # a key and a label's name: which one is meant?
            _warn(exc)
            return None
        reason = _flag_reason() if key == "f" else ""
        if typed is None or key == "q" or reason is None:
            back = hand_back(self.ws, self.name, task.example_id, self.who)
            self.open = False
            out.print(
                f"bye — {'your example went back to the pool' if back else not_held('example')}"
            )
            self.summary()
            return False
        if key == "f" and not reason:  # "f" by mistake: Enter alone takes it back
            err.print("not flagged (a flag needs a reason): answer the example", highlight=False)
            return None
        try:
            return self._act(task, typed, key, reason)
        except LabelbotError as exc:
            _warn(exc)
            # refused as typed (no label 9): ask again; else something changed: show it again
            return None if isinstance(exc, _Refused) else True

    def _act(self, task: Task, typed: str, key: str | None, reason: str) -> bool | None:
        """Do what ``key`` says (s, f, u, g, t), or label the example as ``typed`` names (None)."""
        ws, name, who = self.ws, self.name, self.who
        if key == "s":
            labeling.skip(ws, project=name, example_id=task.example_id, annotator=who)
            self.open = False
            self.skipped += 1
        elif key == "f":
            labeling.flag(
                ws, project=name, example_id=task.example_id, annotator=who, reason=reason
            )
            self.open = False
            self.flagged += 1
            out.print(
                f"flagged: it leaves the queue until resolved (`labelbot flags {name}`)",
                highlight=False,
            )
        elif key == "u":
            if self.last is None:
                err.print("nothing to undo")
                return None
            _undo(ws, name, who, self.last, shown=task.example_id)
            self.last = None
            # the label taken back is no longer this session's, nor a new one for the retrain
            self.labeled = max(0, self.labeled - 1)
            self.since_train = max(0, self.since_train - 1)
        elif key == "g":
            _guidelines(task)
            return None  # the example is on screen again: answer it
        elif key == "t":
            self.retrain("training now…")
            self.since_train = 0  # a model on every label so far: the count starts again
        else:
            try:
                picked = pick_label(typed, task.labels)
            except InvalidInputError as exc:
                raise _Refused(str(exc)) from None
            if picked is None:
                err.print(f"not understood: {typed!r}{_did_you_mean(typed, task.labels)} {HELP}",
                          highlight=False)  # fmt: skip
                return None
            self.last = labeling.submit_label(
                ws,
                project=name,
                example_id=task.example_id,
                # by id: the label shown, even if renamed (and its name reused) since
                label=picked.name if picked.id is None else picked.id,
                annotator=who,
                source="cli",
                key=f"cli:{uuid.uuid4().hex}",
            )
            self.open = False
            now_called = self.last.counts_as or self.last.label
            out.print(styled(f"labeled [bold]{escape(now_called)}[/]"))
            self.labeled += 1
            self.since_train += 1
            if self.retrain_every and self.since_train >= self.retrain_every:
                self.retrain(f"retraining after {counted(self.since_train, 'label')}…")
                self.since_train = 0
        return True

    def retrain(self, saying: str) -> None:
        out.print(saying, highlight=False)  # at once: a retrain takes a while
        self.doing = "while training (a run stopped part-way is not made active)"
        _retrain(self.ws, self.name)
        self.doing = LABELING

    def summary(self) -> None:
        """One line on what this session stored, as it ends: the answers are in the database
        as each is given, nothing waits to be saved."""
        said = "nothing stored"
        if self.labeled or self.skipped or self.flagged:
            done = [counted(self.labeled, "label")]
            done += [f"{n} skipped" for n in (self.skipped,) if n]
            done += [f"{n} flagged" for n in (self.flagged,) if n]
            said = f"{', '.join(done)} — all stored"
        out.print(f"this session ({self.who}): {said}", highlight=False)

    def interrupted(self) -> None:
        """Ctrl-C while working: hand the example on screen back, one line, exit 130."""
        back = ""
        if (
            self.task is not None
            and self.open
            and hand_back(self.ws, self.name, self.task.example_id, self.who)
        ):
            back = "; your example went back to the pool"
        self.summary()
        interrupted(f"{self.doing}: your labels so far are stored{back}")


def _flag_reason() -> str | None:
    """Why the expert flags the example: '' when they answer nothing (an "f" typed by mistake is
    taken back so, where it was asked again and again until a reason or Ctrl-C ended the whole
    session), None when they leave (Ctrl-D, Ctrl-C)."""
    out.print(styled("[dim]a reason, for whoever resolves the flag (Enter alone: do not flag)[/]"))
    try:
        said = typer.prompt("why flag it?", default="", show_default=False, prompt_suffix=" ")
    except (typer.Abort, click.exceptions.Abort, EOFError, KeyboardInterrupt):
        out.print()
        return None
    return str(said).strip()


class _Refused(InvalidInputError):
    """An answer refused as typed (a number that names no label, a key that is a label's name
    too): asked again, not reprinted."""


def _warn(exc: LabelbotError) -> None:
    """An answer's refusal, or what changed under it, in one yellow line."""
    err.print(styled(f"[yellow]{escape(terminal_words(str(exc)))}[/]"))


def _retrain(ws: Workspace, name: str) -> None:
    try:
        run = train_shown(ws, name)  # the scheduler's lease: never two trainings at once
    except LabelbotError as exc:
        err.print(styled(f"[yellow]not retrained:[/] {escape(str(exc))}"))
        return
    out.print(trained_line(ws, name, run), highlight=False, markup=False)


@app.command(short_help="Label examples in the terminal, most useful first.")
@handle_errors
def label(
    name: Annotated[str, typer.Argument(help="Project name")],
    annotator: Annotated[
        str | None, typer.Option(help="Your name in the annotations (default: your login)")
    ] = None,
    retrain_every: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Retrain after this many new labels (0: never; default: the project's "
            "retrain_every, the scheduler's threshold, see `labelbot project set`)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Label examples in the terminal: the most useful example first, numbered labels.

    Keys: a number (or a label's name) labels the example · s skip (for good: a skipped
    example waits for other experts, never for you again) · f flag (asks why, Enter alone takes
    it back; the example leaves everyone's queue until `labelbot flags resolve`) · u undo the
    last label (its example comes back, to be labeled again) · g (or ?) each label's guidelines
    · t train now · q quit (Ctrl-D and Ctrl-C too: the example goes back to the pool, and a
    line says what the session stored). A key that is also a label's name (a label called T or
    quit) is refused as ambiguous, saying what to type instead: the label's number, or the key
    after a / (/t trains) or another word for it (exit quits)."""
    ws = workspace()
    who = annotator or login_name()
    if retrain_every is None:
        retrain_every = project_retrain_every(ws, name)
    loop = _Loop(ws, name, who, retrain_every)
    with _hang_up_as_ctrl_c():
        try:
            loop.run()
        except KeyboardInterrupt:
            loop.interrupted()


HUNG_UP = 128 + signal.SIGHUP  # the shell's exit code for a process that SIGHUP ended


@contextlib.contextmanager
def _hang_up_as_ctrl_c() -> Iterator[None]:
    """A terminal window closed or an ssh connection dropped (SIGHUP) leaves as Ctrl-C does: the
    example on screen goes back to the pool at once, where SIGHUP's default action killed the
    process and left the example held from every other expert until its assignment lapsed
    (30 minutes). What is said then goes nowhere; exit 129. Under nohup it stays ignored."""
    hung_up = False

    def hang_up(_signum: int, _frame: FrameType | None) -> None:
        nonlocal hung_up
        hung_up = True
        # the terminal is gone: a write to it fails (EIO) before the example is handed back
        nowhere = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(nowhere, fd)
        os.close(nowhere)
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGHUP)
    if previous == signal.SIG_IGN:  # nohup: the person asked to outlive the terminal
        yield
        return
    signal.signal(signal.SIGHUP, hang_up)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)
        if hung_up:
            raise typer.Exit(HUNG_UP)


def label_index(answer: str, labels: int) -> int:
    """The index of the label a typed number picks (``answer`` all digits) among the
    ``labels`` shown, numbered from 1; a number that names none is refused, saying which do."""
    number = int(answer) if len(answer) < 100 else 0  # int() refuses over 4,300 digits
    if not 1 <= number <= labels:
        choose = "1" if labels == 1 else f"1–{labels}"
        raise InvalidInputError(f"no label {answer}: choose {choose}")
    return number - 1


def nothing_left(ws: Workspace, project: str, who: str) -> str:
    """Why the queue has no example for ``who``: no examples yet, every one still waiting
    skipped by them (or out with other experts), or truly all labeled."""
    from engine.flags import set_aside

    left = set_aside(ws, project=project, annotator=who)
    if left.examples == 0:
        return f"no examples yet: import some with `labelbot import {project} FILE`"
    flagged = ""
    if left.flagged:
        are = "example is" if left.flagged == 1 else "examples are"
        flagged = f" ({left.flagged} flagged {are} set aside: `labelbot flags {project}`)"
    if left.skipped:
        others = left.waiting - left.skipped
        also = f"; {others} more are out with other experts now" if others > 0 else ""
        return (
            f"nothing left for you ({who}): you skipped the {counted(left.skipped, 'example')} "
            "still waiting, and a skip is for good: they wait for other experts (`labelbot "
            f"label {project} --annotator SOMEONE`){also}{flagged}"
        )
    if left.waiting:
        them = "example still waiting is" if left.waiting == 1 else "examples still waiting are"
        return (
            f"nothing free for you right now: the {left.waiting} {them} out with other experts "
            f"(back in the queue if not answered in time){flagged}"
        )
    return f"nothing left to label in this project — thank you!{flagged}"


def project_retrain_every(ws: Workspace, project: str) -> int:
    """The project's ``retrain_every``: the new labels after which the scheduler retrains."""
    from engine import jobs, projects  # torch and scikit-learn load only when needed

    return jobs.retrain_every(projects.get_project(ws, project).settings)


def _undo(ws: Workspace, project: str, who: str, last: labeling.LabelResult, *, shown: int) -> None:
    """Retract the last label and show its example next, to be labeled again: the example on
    screen goes back to the pool, and the undone one is held for this expert meanwhile (as
    Slack's Undo does), or left to the expert who has it now for a second opinion."""
    relabel = labeling.undo_to_relabel(ws, annotation_id=last.annotation_id, annotator=who)
    if relabel is None:  # the same undo from another terminal of theirs, a moment before
        out.print(f"undone: {last.label}", highlight=False)
        return
    if relabel.assignment_id is None:
        out.print(
            f"undone: {last.label} (another expert has that example now: it comes back to you "
            "if it still needs your label)",
            highlight=False,
        )
        return
    out.print(f"undone: {last.label} — label it again:", highlight=False)
    if relabel.example_id != shown:
        hand_back(ws, project, shown, who)


def not_held(what: str) -> str:
    """What `q` says when the ``what`` ("example", "review") on screen was not this terminal's
    to hand back (:func:`hand_back` False)."""
    return (
        f"the {what} on screen was no longer held for you (answered elsewhere, or its hold lapsed)"
    )


def hand_back(ws: Workspace, project: str, example_id: int, who: str) -> bool:
    """Let go of the example on screen as the person leaves; whether it went back to the pool.
    One taken over meanwhile (answered from another terminal under the same name, say) is not
    theirs to hand back: False, and they leave anyway."""
    try:
        labeling.release(ws, project=project, example_id=example_id, annotator=who)
    except LabelbotError:
        return False
    return True
