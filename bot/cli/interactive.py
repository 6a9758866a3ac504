"""`labelbot label`: the labeling loop in a terminal — the same loop the Slack bot drives."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel

from bot.cli.common import (
    app,
    ask,
    err,
    handle_errors,
    login_name,
    out,
    print_choices,
    styled,
    trained_line,
    workspace,
)
from engine import labeling
from engine.evaluation import IMPORTED  # the annotator (and source) of imported labels
from engine.forecast import counted
from engine.labeling import Task
from engine.workspace import Workspace
from storage.errors import InvalidInputError, LabelbotError

HELP = (
    "number = label · s = skip (not shown to you again) · f = flag · u = undo last · "
    "t = train now · q = quit"
)
QUIT = ("q", "quit", "exit")


_WHY = {  # why the queue asks (engine.labeling.AskReason), as the Slack message says it
    "no_examples": "asked because it may be {label}, a label with no examples yet",
    "rare": "asked to find more examples of {label}, which has few so far",
    "cold_start": "asked early: it is typical of a group of similar examples",
}


def _show(task: Task) -> None:
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
        guess = f"model suggests: {task.suggestion[0]} ({task.suggestion[1]:.0%})"
        if task.runner_up:
            guess += f", or {task.runner_up[0]} ({task.runner_up[1]:.0%})"
        hint += f"\n[dim]{escape(guess)}[/]"
    out.print(
        Panel(
            styled(escape(task.text) + hint),
            title=f"{task.project} · example {task.example_id}",
            subtitle=f"you today: {task.done_today} · waiting: {task.queue_left}",
            expand=out.is_terminal,  # elsewhere (a pipe, a log) as wide as the text, no wider
        )
    )
    print_choices([choice.name for choice in task.labels])
    out.print(styled(f"[dim]{HELP}[/]"))


def _who_labeled(annotators: Sequence[str], label: str) -> str:
    """Who gave an example the label that no longer counts: "dave labeled it X", "imported
    as X" when the label came with the file (`import` is no person)."""
    people = [a for a in annotators if a != IMPORTED]
    if not people:
        return f"imported as {label}"
    said = f"{', '.join(people)} labeled it {label}"
    return said + (" (and it was imported so)" if len(people) < len(annotators) else "")


def _retrain(ws: Workspace, name: str) -> None:
    from engine import jobs  # torch and scikit-learn load only when needed

    try:
        run = jobs.train_now(ws, name)  # the scheduler's lease: never two trainings at once
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

    Keys: a number labels the example · s skip (for good: a skipped example waits for other
    experts, never for you again) · f flag (asks why; the example leaves everyone's queue until
    `labelbot flags resolve`) · u undo the last label (its example comes back, to be labeled
    again) · t train now · q quit (Ctrl-D and Ctrl-C too: the example goes back to the pool)."""
    ws = workspace()
    who = annotator or login_name()
    if retrain_every is None:
        retrain_every = project_retrain_every(ws, name)
    since_train = 0
    last: labeling.LabelResult | None = None
    while True:
        task = labeling.next_task(ws, project=name, annotator=who)
        if task is None:
            out.print(nothing_left(ws, name, who), highlight=False)
            return
        _show(task)
        answer = (ask(">") or "q").lower()  # Ctrl-D / Ctrl-C: leave as with q
        reason = ask("why flag it?") if answer == "f" else ""
        if answer in QUIT or reason is None:
            hand_back(ws, name, task.example_id, who)
            out.print("bye — your example went back to the pool")
            return
        try:
            if answer == "s":
                labeling.skip(ws, project=name, example_id=task.example_id, annotator=who)
            elif answer == "f":
                labeling.flag(
                    ws, project=name, example_id=task.example_id, annotator=who, reason=reason
                )
                out.print(
                    f"flagged: it leaves the queue until resolved (`labelbot flags {name}`)",
                    highlight=False,
                )
            elif answer == "u":
                if last is None:
                    err.print("nothing to undo")
                else:
                    _undo(ws, name, who, last, shown=task.example_id)
                    last = None
            elif answer == "t":
                _retrain(ws, name)
                since_train = 0  # a model on every label so far: the count starts again
            elif answer.isdecimal():
                picked = task.labels[label_index(answer, len(task.labels))]
                last = labeling.submit_label(
                    ws,
                    project=name,
                    example_id=task.example_id,
                    # by id: the label shown, even if renamed (and its name reused) since
                    label=picked.name if picked.id is None else picked.id,
                    annotator=who,
                    source="cli",
                    key=f"cli:{uuid.uuid4().hex}",
                )
                now_called = last.counts_as or last.label
                out.print(styled(f"labeled [bold]{escape(now_called)}[/]"))
                since_train += 1
                if retrain_every and since_train >= retrain_every:
                    _retrain(ws, name)
                    since_train = 0
            else:
                err.print(f"not understood: {answer!r}. {HELP}")
        except LabelbotError as exc:
            err.print(styled(f"[yellow]{escape(str(exc))}[/]"))


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


def hand_back(ws: Workspace, project: str, example_id: int, who: str) -> None:
    """Let go of the example on screen as the person leaves; one taken over meanwhile (by
    another terminal under the same name, say) is not theirs to hand back: leave anyway."""
    with contextlib.suppress(LabelbotError):
        labeling.release(ws, project=project, example_id=example_id, annotator=who)
