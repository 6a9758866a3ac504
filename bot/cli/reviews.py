"""`labelbot review | agreement | disagreements | adjudicate`: the model reviews the humans.

``review`` is a terminal loop like ``label``: it shows someone else's label that the model doubts,
and asks to keep it, change it to the model's suggestion or to another label.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from bot.cli.common import (
    app,
    ask,
    err,
    example_ref,
    handle_errors,
    login_name,
    out,
    print_choices,
    styled,
    workspace,
)
from bot.cli.interactive import QUIT, hand_back, label_index, not_held
from engine import consensus, reviews
from engine.evaluation import IMPORTED
from engine.forecast import counted
from engine.labeling import Task, skip
from engine.workspace import Workspace
from storage.errors import InvalidInputError, LabelbotError

HELP = "k = keep · c = change to the suggestion · number = another label · s = skip · q = quit"

Project = Annotated[str, typer.Argument(help="Project name")]


def _show(task: Task) -> None:
    assert task.suggestion is not None
    given = f"[bold]{escape(str(task.given))}[/]"
    said = (  # "import" is no person: the label came with the file
        f"imported as {given}"
        if task.given_by == IMPORTED
        else f"{escape(str(task.given_by))} said {given}"
    )
    out.print(
        Panel(
            styled(
                f"{escape(task.text)}\n\n{said}; the model suggests "
                f"[bold]{escape(task.suggestion[0])}[/] ({task.suggestion[1]:.0%})"
            ),
            title=f"{task.project} · review {task.review_id} · example {task.example_id}",
            expand=out.is_terminal,  # elsewhere (a pipe, a log) as wide as the text, no wider
        )
    )
    print_choices([choice.name for choice in task.labels])
    out.print(styled(f"[dim]{HELP}[/]"))


@app.command(short_help="Review labels the model doubts.")
@handle_errors
def review(
    name: Project,
    annotator: Annotated[
        str | None, typer.Option(help="Your name in the annotations (default: your login)")
    ] = None,
    scan: Annotated[
        bool, typer.Option(help="Look for likely mislabels first (needs labels in 2+ classes)")
    ] = False,
    listing: Annotated[
        bool, typer.Option("--list", help="List the reviews instead of reviewing (see --status)")
    ] = False,
    status: Annotated[
        str | None,
        typer.Option(
            help="--list: open (the default), kept, changed, dismissed or all; given "
            "alone, it lists",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="--list: print JSON")] = False,
) -> None:
    """Review labels the model doubts (other experts' labels, most doubtful first).

    Reviews are opened by a scan: `--scan` here, or the worker after each model. Each shows
    the label under review, who gave it, and the label the model suggests with its
    probability (from models that never saw the example's label).

    Keys: k keep the label (it stands; a keep adds no vote) · c change it to the model's
    suggestion · a number changes it to another label · s skip (not shown to you again) · q
    quit (Ctrl-D and Ctrl-C too: the review goes back to the pool). A change is stored as your
    vote beside the original label: it becomes the example's label where it carries the vote
    (a label one expert gave), else the example is listed by `labelbot disagreements` for the
    team to settle. The next model trains on the label that stands (an audit example's
    label scores models instead)."""
    ws = workspace()
    if listing or as_json or status is not None:  # a --status alone asks for the list too
        status = status or "open"
        _check_status(status)  # before a scan: a typo leaves nothing half done
        if scan:
            report = reviews.scan_project(ws, name)
            if not as_json:  # JSON alone, as `proposals --refresh --json` prints it
                _said_scan(report)
        _list(ws, name, status=status, as_json=as_json)
        return
    who = annotator or login_name()
    if scan:
        _said_scan(reviews.scan_project(ws, name))
    shown = 0
    while True:
        task = reviews.next_review(ws, project=name, annotator=who)
        if task is None:
            # why, when none was shown: before any scan and after one that doubted nothing
            # read alike
            why = (
                ""
                if shown
                else reviews.nothing_to_review(ws, project=name, annotator=who, scanned_now=scan)
            )
            thanks = "nothing to review in this project — thank you!"
            out.print(f"nothing to review: {why}." if why else thanks, highlight=False)
            return
        shown += 1
        _show(task)
        answer = (ask(">") or "q").lower()  # Ctrl-D / Ctrl-C: leave as with q
        assert task.review_id is not None
        if answer in QUIT:
            back = hand_back(ws, name, task.example_id, who)
            out.print(f"bye — {'the review went back to the pool' if back else not_held('review')}")
            return
        try:
            if answer == "s":
                skip(ws, project=name, example_id=task.example_id, annotator=who)
                out.print("skipped: it is left to another expert", highlight=False)
                continue
            if answer in ("k", "c") or answer.isdecimal():
                label: str | int | None = None  # k, c: as given, or the model's suggestion
                if answer.isdecimal():
                    picked = task.labels[label_index(answer, len(task.labels))]
                    label = picked.name if picked.id is None else picked.id  # as in `label`
                result = reviews.submit_review(
                    ws,
                    project=name,
                    review_id=task.review_id,
                    annotator=who,
                    decision="keep" if answer == "k" else "change",
                    label=label,
                    key=f"cli:{uuid.uuid4().hex}",
                )
                if result.status == "dismissed":  # withdrawn since it was shown
                    err.print(f"this review was withdrawn: {result.reason}. Nothing was changed.",
                              highlight=False)  # fmt: skip
                    continue
                out.print(styled(_verdict(name, result)))
            else:
                err.print(f"not understood: {answer!r}. {HELP}")
        except LabelbotError as exc:
            err.print(styled(f"[yellow]{escape(str(exc))}[/]"))


def _verdict(name: str, result: reviews.ReviewResult) -> str:
    """A verdict and what it did to the example's label (rich markup): "(agreed: X)" alone left
    a reviewer to work out whether their change counted and for whom."""
    label = f"[bold]{escape(result.label)}[/]"
    if result.status == "kept":
        return f"kept: {label} stands (a keep adds no vote)"
    if result.agreed is None:
        return f"changed: {label} is your vote"
    if result.agreed == result.label:
        # an audit example's label scores models (README: audit labels train none)
        uses = (
            "it scores models; no model trains on it"
            if result.audit
            else "the next model trains on it"
        )
        return f"changed: {label} is the example's label now; {uses}"
    return (
        f"changed: {label} is your vote, but [bold]{escape(result.agreed)}[/] keeps the "
        f"majority; `labelbot disagreements {escape(name)}` lists it for the team to settle"
    )


def _said_scan(report: reviews.ScanReport) -> None:
    """What a `--scan` found, and why it could doubt nothing when it had too few labels."""
    out.print(
        f"scanned {counted(report.labels, 'label')}: "
        f"{counted(report.suspects, 'likely mislabel')}, {report.opened} new to review",
        highlight=False,
    )
    if report.waiting:
        out.print(report.waiting[:1].upper() + report.waiting[1:] + ".", highlight=False)


def _check_status(status: str) -> None:
    if status not in (*reviews.REVIEW_STATUSES, "all"):
        raise InvalidInputError(
            f"unknown status {status!r}: use {', '.join(reviews.REVIEW_STATUSES)} or all"
        )


def _list(ws: Workspace, name: str, *, status: str, as_json: bool) -> None:
    """`review --list`: the project's reviews in ``status``, most doubtful first."""
    rows = reviews.list_reviews(ws, project=name, status=None if status == "all" else status)
    rows.sort(key=lambda r: (-r.confidence, r.id))
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        out.print(f"no {'' if status == 'all' else status + ' '}reviews in {name}", highlight=False)
        return
    table = Table("review", "example", "text", "given", "suggested", "status", "reviewer")
    for r in rows:  # as they are: `out` prints no markup (escaped, "[p1]" showed as "\\[p1]")
        table.add_row(
            # as `disagreements` names it ("#12 (T-881)"): `adjudicate` reads a bare 12 as an
            # imported id, another example's where the file's ids were numbers
            str(r.id), example_ref(r.example_id, r.external_id),
            r.text[:60] + ("…" if len(r.text) > 60 else ""),
            f"{_named(r.given_names, r.given)} ({r.given_by})",
            f"{_named(r.suggested_names, r.suggested)} ({r.confidence:.0%})",
            r.status if r.outcome is None else f"{r.status}: {_named(r.outcome_names, r.outcome)}",
            r.reviewer or "—",
        )  # fmt: skip
    out.print(table)


def _named(names: reviews.LabelNames | None, name: str) -> str:
    """A review's label as the Slack card names it today, with the name it had when the review
    was opened when that differs: "card_issue (was: card_problem)" after a rename or a merge."""
    if names is None:
        return name
    shown = names.now or name  # split or retired since: nothing counts as it, say its own name
    notes = [f"was: {names.then}"] if names.then != shown else []
    if names.now is None:
        notes.append("split or retired since")
    return f"{shown} ({'; '.join(notes)})" if notes else shown


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


@app.command(short_help="How much the experts agree (kappa / alpha).")
@handle_errors
def agreement(
    name: Project,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """How much the experts agree on examples several of them labeled (kappa / alpha)."""
    report = consensus.agreement_report(workspace(), name)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    out.print(report.describe(), highlight=False)
    if not report.per_label:
        return
    table = Table("label", "n", "specific agreement", "kappa", "alpha")
    for row in report.per_label:
        table.add_row(
            row["label"],
            str(row["n"]),
            _num(row["specific_agreement"]),
            _num(row["kappa"]),
            _num(row["alpha"]),
        )
    out.print(table)


@app.command(short_help="Examples whose experts chose different labels.")
@handle_errors
def disagreements(
    name: Project,
    include_settled: Annotated[
        bool, typer.Option("--all", help="Also list the adjudicated ones")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Examples whose experts chose different labels; settle one with `labelbot adjudicate`."""
    ws = workspace()
    found = consensus.disagreements(ws, name, include_settled=include_settled)
    if as_json:
        typer.echo(json.dumps([d.to_dict() for d in found], indent=2))
        return
    if not found:
        out.print("no disagreements to settle")
        return
    unscored = _unscored(ws, name) if any(d.model is None for d in found) else ""
    for d in found:
        votes = ", ".join(f"{v.annotator}: {v.label}" for v in d.votes)
        model = f"model: {d.model[0]} ({d.model[1]:.0%})" if d.model else unscored
        settled = (
            f" · settled: {d.adjudicated.label} by {d.adjudicated.annotator}"
            if (d.adjudicated)
            else ""
        )
        ref = example_ref(d.example_id, d.external_id)
        out.print(styled(f"[bold]{escape(ref)}[/] {escape(d.text)}"))
        out.print(f"    {votes} · {model}{settled}", highlight=False)


def _unscored(ws: Workspace, name: str) -> str:
    """What to say of an example with no stored prediction: there is no model yet, or the
    active one gave it none (say a label was added since it was trained: until the next
    model, the queue is scored without it)."""
    from engine.training import list_versions

    active = next((run for run in list_versions(ws, name) if run.is_active), None)
    return "no model yet" if active is None else f"no prediction from model v{active.version} yet"


@app.command(short_help="Settle an example's label over the votes.")
@handle_errors
def adjudicate(
    name: Project,
    example: Annotated[
        str,
        typer.Argument(
            help="The example: its id as `labelbot export` shows it (the id it was imported "
            "with), or its #number from `labelbot disagreements`",
            metavar="EXAMPLE_ID",
        ),
    ],
    label: Annotated[str, typer.Argument(help="The final label")],
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who decides (default: your login name)")
    ] = None,
) -> None:
    """Settle an example's label: it decides over the experts' votes (kept beside them)."""
    from engine.exporting import find_example

    ws = workspace()
    example_id = find_example(ws, name, example)
    result = consensus.adjudicate(
        ws, project=name, example_id=example_id, label=label, actor=actor or login_name()
    )
    typed = example.strip()
    also = "" if typed.removeprefix("#") == str(example_id) else f" ({typed})"
    # the label it had already: still stored, it settles the example over later votes
    before = result.previous or "unlabeled"
    was = "unchanged" if result.previous == result.label else f"was {before}"
    out.print(
        f"example #{result.example_id}{also}: {result.label} ({was}), decided by {result.actor}",
        highlight=False,
    )
