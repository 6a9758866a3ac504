"""`labelbot proposals`: the taxonomy changes the model proposes, and approving or rejecting them.

The CLI acts as the local operator (an admin): decisions are recorded under ``--actor``.
"""

from __future__ import annotations

import json
import shlex
from typing import Annotated, Any

import typer
from rich.table import Table

from bot.cli.common import app, handle_errors, options_fit, out, workspace
from bot.cli.taxonomy import back_in_queue, default_actor
from engine.forecast import counted
from engine.taxonomy import label_names
from storage.errors import InvalidInputError, NotFoundError
from storage.models import TaxonomyProposal

ACTIONS = ("approve", "reject")


@app.command(
    "proposals",
    short_help="Taxonomy changes the model proposes.",
    help=(
        "Taxonomy changes the model proposes (merge, split, add, rare labels), with evidence.\n\n"
        "\b\n"
        "  labelbot proposals NAME [--refresh] [--json] [--status S]\n"
        "      list the open ones, strongest first (--refresh: detect now;\n"
        "      --status: approved, rejected, applied, superseded or all)\n"
        "  labelbot proposals approve NAME ID [--into A,B] [--reason R]\n"
        "      apply one (--into: label names to use instead of its own\n"
        "      names, which --json lists as into)\n"
        "  labelbot proposals reject NAME ID [--reason R]\n"
        "      reject one: it is not proposed again until its evidence has\n"
        "      grown by half (and by at least 3)"
    ),
)
@handle_errors
def proposals_cmd(
    words: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME | approve|reject NAME ID",
            help="A project, or an action and its arguments (see above)",
            show_default=False,
        ),
    ],
    refresh: Annotated[bool, typer.Option("--refresh", help="Run the detectors now")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    status: Annotated[
        str, typer.Option("--status", help="open, approved, rejected, applied, superseded or all")
    ] = "open",
    into: Annotated[
        str | None, typer.Option("--into", help="approve: label names to use, comma-separated")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the decision)")] = "",
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who decides (default: your login name)")
    ] = None,
) -> None:
    from engine import proposing
    from storage.models import ID_MAX

    if status != "all" and status not in proposing.STATUSES:
        raise InvalidInputError(
            f"unknown status {status!r}: use {', '.join(proposing.STATUSES)} or all"
        )
    _options_fit(words[0], refresh=refresh, as_json=as_json, status=status, into=into,
                 reason=reason, actor=actor)  # fmt: skip
    ws = workspace()
    if words[0] not in ACTIONS:
        if len(words) != 1:
            raise InvalidInputError(f"unknown action {words[0]!r}: use {', '.join(ACTIONS)}")
        name = words[0]
        if refresh:
            proposing.refresh_proposals(ws, name)
        rows = proposing.list_proposals(ws, name, status=None if status == "all" else status)
        # each one's state as its Slack card tells it: who decided, why it was superseded
        notes = proposing.status_notes(ws, rows)
        if as_json:
            records = [_record(r, note) for r, note in zip(rows, notes, strict=True)]
            typer.echo(json.dumps(records, indent=2, ensure_ascii=False))
        elif not rows:
            # a refresh detects open proposals: no hint where the list is of decided ones
            finds = not refresh and status in ("open", "all")
            hint = f" (`labelbot proposals {name} --refresh` detects them now)" if finds else ""
            opened = refresh and status in ("open", "all")
            waiting = proposing.too_few_labels(ws, name) if opened else ""
            hint = f": {waiting}" if waiting else hint  # found nothing: it could not yet
            out.print(f"{name}: no {'' if status == 'all' else status + ' '}proposals{hint}")
        else:
            out.print(_table(rows, notes if status != "open" else None))
        return
    action, *rest = words
    # the id as the digest and `/label proposals` print it too (#12); ASCII or full-width
    # digits only (isdecimal: "²" passes isdigit() but not int())
    number = rest[1].removeprefix("#") if len(rest) == 2 else ""
    if not number.isdecimal():
        raise InvalidInputError(f"usage: labelbot proposals {action} NAME ID")
    # int() refuses over 4,300 digits (ValueError): a number that long is past every id, and
    # looked up as the first one past them (the project is still checked first)
    too_long = len(number.lstrip("0")) > len(str(ID_MAX))
    name, proposal_id = rest[0], ID_MAX + 1 if too_long else int(number)
    who = actor or default_actor()
    try:
        proposing.get_proposal(ws, proposal_id, project=name)
    except NotFoundError as exc:
        if not str(exc).startswith("no proposal "):
            raise  # the project: the one-line error names the ones there are
        missing = f"no proposal {number} in project {name!r}" if too_long else str(exc)
        raise NotFoundError(
            f"{missing}: `labelbot proposals {shlex.quote(name)} --status all` lists its proposals"
        ) from None
    if action == "approve":
        # the names as `labels split --into` reads them: spaces around dropped, an empty one
        # ("a,,b") refused; a blank --into is the unset shell variable's, said as such
        names = label_names(into) if into is not None and into.strip(" ,") else None
        if into is not None and names is None:  # `--into "$NAMES"` with the variable unset
            raise InvalidInputError(
                f"--into {into!r} names no label: give the names, comma-separated, or leave "
                "--into out to use the proposal's own"
            )
        decision = proposing.approve(
            ws, name, proposal_id, actor=who, actor_is_admin=True, names=names, reason=reason
        )
        out.print(f"{name}: proposal {proposal_id} {decision.proposal.status}: {decision.summary}",
                  highlight=False)  # fmt: skip
        if decision.change is not None:
            if decision.change.requeued:
                out.print(back_in_queue(decision.change.requeued), highlight=False)
            if decision.queued or decision.unflagged:  # an add: the examples behind it
                out.print(_taken_up(decision.queued, decision.unflagged), highlight=False)
            out.print(f"the next model trains on the new labels (`labelbot train {name}`, or "
                      "the worker retrains on its own)", highlight=False)  # fmt: skip
    else:
        proposing.reject(ws, name, proposal_id, actor=who, actor_is_admin=True, reason=reason)
        out.print(f"{name}: proposal {proposal_id} rejected; it returns only if its evidence grows",
                  highlight=False)  # fmt: skip


def _taken_up(queued: int, unflagged: int) -> str:
    """What approving an add did to the set-aside examples behind it (README: they are asked
    first, without the model's guess; their flags are resolved)."""
    said = []
    if queued:
        they = "it waits" if queued == 1 else "they wait"
        said.append(f"{counted(queued, 'set-aside example')} to label: {they} at the front of "
                    "the queue, asked without the model's guess")  # fmt: skip
    if unflagged:
        said.append(f"the open flags of {counted(unflagged, 'example')} resolved")
    return "; ".join(said)


def _options_fit(
    first: str,
    *,
    refresh: bool,
    as_json: bool,
    status: str,
    into: str | None,
    reason: str,
    actor: str | None,
) -> None:
    """The list reads --refresh, --json and --status; approve and reject read --reason and
    --actor, and approve --into (:func:`options_fit`)."""
    given = {
        "--refresh": refresh,
        "--json": as_json,
        "--status": status != "open",
        "--into": into is not None,
        "--reason": bool(reason),
        "--actor": actor is not None,
    }
    if first in ACTIONS:
        reads = {"--reason", "--actor"} | ({"--into"} if first == "approve" else set())
        form = f"labelbot proposals {first} NAME ID"
    else:
        reads, form = {"--refresh", "--json", "--status"}, "labelbot proposals NAME"
    options_fit(form, given, reads, command="proposals")


def _record(row: TaxonomyProposal, note: str) -> dict[str, Any]:
    from engine.proposing import default_names

    return {
        "id": row.id,
        "kind": row.kind,
        "labels": row.labels,
        "score": row.score,
        "status": row.status,
        # the state in words, as the table and the Slack card say it: "rejected by bo: not
        # now", "superseded: age_limit is no longer a label (a taxonomy change since)"
        "status_note": note,
        "key": json.loads(row.key),
        "evidence_strength": row.evidence_strength,
        "message": row.message,
        "into": default_names(row),  # the names approving uses unless --into
        "evidence": row.evidence,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "times_found": row.times_found,  # refreshes that found it; Slack gets it from 2 (or 1 h)
        "decided_by": row.decided_by,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "reason": row.reason,
    }


def key_evidence(row: TaxonomyProposal) -> str:
    """The few numbers that carry a proposal, for the table; one not measured (the F1 of a
    label with no examples) is left out rather than shown as "None"."""
    ev = row.evidence

    def said(name: str, key: str, after: bool = False) -> str:
        value = ev.get(key)
        return "" if value is None else (f"{value} {name}" if after else f"{name} {value}")

    if row.kind == "merge":
        return _joined(", ", said("confusion", "confusion"), said("mixing", "mixing"))
    if row.kind == "split":
        clusters = ev.get("clusters") or []
        parts = ", ".join(f"{c['suggested_name']} ({c['size']})" for c in clusters)
        return _joined(": ", said("z", "z"), parts)
    if row.kind == "add":
        return _joined(", ", said("set-aside examples", "size", True), said("cohesion", "cohesion"))
    if row.kind == "rare":
        counts = _joined(", ", said("examples", "count", True), said("F1", "f1"))
        return _joined(": ", counts, str(ev.get("suggestion") or ""))
    return ""


def _joined(separator: str, *parts: str) -> str:
    return separator.join(part for part in parts if part)


def _table(rows: list[TaxonomyProposal], notes: list[str] | None) -> Table:
    """The proposals, with each one's state in words (``notes``) when the list has decided
    ones."""
    table = Table("id", "kind")
    table.add_column("labels", overflow="fold")  # names are long; never cut one short
    table.add_column("score")
    table.add_column("key evidence", overflow="fold")
    table.add_column("message", ratio=2, overflow="fold")  # a long word wraps, never cut
    if notes is not None:
        table.add_column("status", overflow="fold")
    for i, r in enumerate(rows):
        cells = [
            str(r.id),
            r.kind,
            ", ".join(r.labels),
            f"{r.score:.2f}",
            key_evidence(r),
            r.message,
        ]
        table.add_row(*cells, *([notes[i]] if notes is not None else []))
    return table
