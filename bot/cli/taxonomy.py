"""`labelbot labels rename|merge|split|retire|describe|undo|history`: change the taxonomy
mid-project, and take a change back.

The CLI acts as the local operator: changes are recorded under ``--actor`` (your login name by
default). Slack checks the project's admins instead.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    err,
    handle_errors,
    interrupted,
    labels_app,
    login_name,
    out,
    workspace,
)
from engine import taxonomy
from engine.taxonomy import label_names
from engine.workspace import Workspace
from storage.errors import InvalidInputError, LabelbotError


def default_actor() -> str:
    return login_name()


Project = Annotated[str, typer.Argument(help="Project name")]
Reason = Annotated[str, typer.Option("--reason", help="Why: kept in `labels history`")]
Actor = Annotated[
    str | None, typer.Option("--actor", help="Who makes the change (default: your login name)")
]


def refresh_queue(ws: Workspace, name: str) -> int:
    """Re-score the queue after a change; a failure is a note, since the change itself stands
    (the queue order is a convenience). Rows re-scored, 0 when none."""
    try:
        return taxonomy.refresh_queue(ws, name)
    except LabelbotError as exc:
        err.print(f"note: queue not re-scored: {exc}")
        return 0
    except KeyboardInterrupt:  # after the change's commit: it stands, say so
        interrupted(
            "while ordering the queue: the change is stored (`labelbot labels history` shows "
            "it); the queue is ordered again when the project next trains"
        )


def back_in_queue(requeued: int) -> str:
    """Where the examples a change sent back wait (the change's summary counted them)."""
    they = "it waits" if requeued == 1 else "they wait"
    return f"{they} at the front of the queue, to be labeled again"


def _report(ws: Workspace, name: str, change: taxonomy.TaxonomyChange, *, retrains: bool) -> None:
    out.print(f"{name}: {change.summary}", highlight=False)
    if change.requeued:
        out.print(back_in_queue(change.requeued), highlight=False)
    if not retrains:
        return
    refresh_queue(ws, name)
    out.print(
        f"the next model trains on the new labels (`labelbot train {name}`, or the worker "
        "retrains on its own)",
        highlight=False,
    )


@labels_app.command("rename")
@handle_errors
def labels_rename(
    name: Project,
    old: Annotated[str, typer.Argument(help="Current label name")],
    new: Annotated[str, typer.Argument(help="New label name")],
    reason: Reason = "",
    actor: Actor = None,
) -> None:
    """Rename a label. Its annotations keep counting for it (the label keeps its id), and a
    button that still shows the old name stores the renamed label."""
    ws = workspace()
    change = taxonomy.rename_label(
        ws, project=name, label=old, new_name=new, actor=actor or default_actor(),
        reason=reason, rescore=False,
    )  # fmt: skip
    _report(ws, name, change, retrains=True)


@labels_app.command("merge")
@handle_errors
def labels_merge(
    name: Project,
    first: Annotated[str, typer.Argument(metavar="A", help="A label to merge")],
    second: Annotated[str, typer.Argument(metavar="B", help="Another label to merge")],
    into: Annotated[
        str | None,
        typer.Option(
            "--into",
            help="The merged label: A, B, another existing label (merged in too) or a new name "
            "(default: A)",
        ),
    ] = None,
    reason: Reason = "",
    actor: Actor = None,
) -> None:
    """Merge labels A and B into one (A + B -> C). Their annotations stay as given and count as
    the merged label at once; the merged-away labels are kept, retired, in the history."""
    if into is not None and not into.strip():  # `--into "$NAME"` with the variable unset
        raise InvalidInputError(
            f"--into {into!r} names no label: give the merged label's name, or leave --into "
            f"out to merge into {first}"
        )
    ws = workspace()
    change = taxonomy.merge_labels(
        ws, project=name, labels=[first, second], into=into,
        actor=actor or default_actor(),
        reason=reason, rescore=False,
    )  # fmt: skip
    _report(ws, name, change, retrains=True)


@labels_app.command("split")
@handle_errors
def labels_split(
    name: Project,
    label: Annotated[str, typer.Argument(metavar="A", help="The label to split")],
    into: Annotated[str, typer.Option("--into", help="New label names, comma-separated: A1,A2")],
    reason: Reason = "",
    actor: Actor = None,
) -> None:
    """Split label A into new labels. A is retired (kept in the history); its examples count as
    unlabeled and go to the front of the queue, to be labeled again into the new labels."""
    names = label_names(into)
    ws = workspace()
    change = taxonomy.split_label(
        ws, project=name, label=label, into=names, actor=actor or default_actor(),
        reason=reason, rescore=False,
    )  # fmt: skip
    _report(ws, name, change, retrains=True)


@labels_app.command("retire")
@handle_errors
def labels_retire(
    name: Project,
    label: Annotated[str, typer.Argument(metavar="A", help="The label to retire")],
    map_to: Annotated[
        str | None,
        typer.Option("--map-to", help="Count A's examples as this label instead of relabeling"),
    ] = None,
    reason: Reason = "",
    actor: Actor = None,
) -> None:
    """Retire label A (kept in the history, no longer offered). Its examples go back to the
    queue to be labeled again, or with --map-to count as that label."""
    ws = workspace()
    change = taxonomy.retire_label(
        ws, project=name, label=label, map_to=map_to, actor=actor or default_actor(),
        reason=reason, rescore=False,
    )  # fmt: skip
    _report(ws, name, change, retrains=True)


@labels_app.command("describe")
@handle_errors
def labels_describe(
    name: Project,
    label: Annotated[str, typer.Argument(metavar="A", help="The label")],
    guideline: Annotated[str, typer.Argument(help="Guideline text shown to labelers on demand")],
    reason: Reason = "",
    actor: Actor = None,
) -> None:
    """Set a label's guidelines (what belongs in it, borderline cases). The model is not
    affected; for a label with no example yet the queue searches by its name and the new
    guidelines at once."""
    ws = workspace()
    change = taxonomy.describe_label(
        ws, project=name, label=label, description=guideline, actor=actor or default_actor(),
        reason=reason,
    )  # fmt: skip
    _report(ws, name, change, retrains=False)
    if change.details.get("searched"):
        how = "with these guidelines" if guideline.strip() else "by its name alone"
        out.print(f"the queue now looks for {label} {how}", highlight=False)


@labels_app.command("undo", short_help="Undo the latest taxonomy change.")
@handle_errors
def labels_undo(
    name: Project,
    reason: Reason = "",
    actor: Actor = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Only say which change an undo would take back, or why it would be refused "
            "(exiting with the undo's error code, 2 when nothing is left to undo)",
        ),
    ] = False,
) -> None:
    """Undo the latest taxonomy change not undone yet (run it again to go further back).

    Merged, split and retired labels count again as before; labels the change created go away
    when nothing was labeled with them since, and a split's parts that were used count as the
    label they came from, so no label given since is lost. An undo that would lose labels is
    refused. The undo is itself a recorded change (`labels history`)."""
    ws = workspace()
    if dry_run:  # says what the undo would do, and exits as it would: refused, with its code
        last = taxonomy.last_undoable(ws, project=name)
        if last is None:  # the undo's own error, exit 2: an action with nothing to act on
            raise InvalidInputError(f"project {name!r} has no taxonomy change left to undo")
        when = last.created_at.strftime("%Y-%m-%d %H:%M")
        which = f"#{last.id} ({last.summary}), made by {last.actor} at {when} UTC"
        refusal = taxonomy.undo_refusal(ws, project=name)
        if refusal is not None:
            refused = LabelbotError(f"an undo of {which} would be refused: {refusal}")
            refused.exit_code = refusal.exit_code
            raise refused
        out.print(f"{name}: an undo would take back {which}", highlight=False)
        return
    change = taxonomy.undo_last(
        ws, project=name, actor=actor or default_actor(), reason=reason, rescore=False
    )
    _report(ws, name, change, retrains=change.details.get("kind") != "describe")


@labels_app.command("history", short_help="The taxonomy's change log, oldest first.")
@handle_errors
def labels_history(
    name: Project,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """The taxonomy's change log: when, what, who and why, oldest first."""
    entries = taxonomy.label_history(workspace(), project=name)
    if as_json:
        for e in entries:
            record = {
                "id": e.id,
                "created_at": e.created_at.isoformat(),
                "kind": e.kind,
                "actor": e.actor,
                "reason": e.reason,
                "summary": e.summary,
                "details": e.details,
                "undone_by": e.undone_by,
            }
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    if not entries:
        out.print(f"{name}: no taxonomy changes yet")
        return
    table = Table("#", "when (UTC)", "change", "by", "why")
    for e in entries:
        undone = f" (undone by #{e.undone_by})" if e.undone_by else ""
        table.add_row(str(e.id), e.created_at.strftime("%Y-%m-%d %H:%M"), e.summary + undone,
                      e.actor, e.reason or "-")  # fmt: skip
    out.print(table)
