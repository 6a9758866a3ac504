"""`labelbot flags`: the examples experts flagged (set aside with a reason), and resolving them.

A flagged example is out of everyone's queue while its flag is open; resolving it puts the
example back (unless it has a label by then).
"""

from __future__ import annotations

import json
import shlex
from typing import Annotated

import typer
from rich.markup import escape

from bot.cli.common import (
    app,
    example_ref,
    handle_errors,
    login_name,
    options_fit,
    out,
    styled,
    workspace,
)
from engine.forecast import counted
from storage.errors import InvalidInputError

ACTIONS = ("resolve",)
EXCERPT = 100  # characters of an example's text in the list


@app.command(
    "flags",
    short_help="Examples experts flagged; resolve them.",
    help=(
        "Examples experts flagged (`f` while labeling, Flag in Slack): out of the queue until "
        "resolved.\n\n"
        "\b\n"
        "  labelbot flags NAME [--all] [--json]\n"
        "      list the open flags (--all: resolved too)\n"
        "  labelbot flags resolve NAME EXAMPLE_ID\n"
        "      resolve an example's flags: it goes back to the queue\n"
        "      (EXAMPLE_ID: its #number or the id an export shows)"
    ),
)
@handle_errors
def flags_cmd(
    words: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME | resolve NAME EXAMPLE_ID",
            help="A project, or an action and its arguments (see above)",
            show_default=False,
        ),
    ],
    include_resolved: Annotated[
        bool, typer.Option("--all", help="Also list the resolved flags")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who resolves (default: your login name)")
    ] = None,
) -> None:
    from engine import flags

    given = {"--all": include_resolved, "--json": as_json, "--actor": actor is not None}
    if words[0] in ACTIONS:
        form, reads = f"labelbot flags {words[0]} NAME EXAMPLE_ID", {"--actor"}
    else:
        form, reads = "labelbot flags NAME", {"--all", "--json"}
    options_fit(form, given, reads, command="flags")
    ws = workspace()
    if words[0] not in ACTIONS:
        if len(words) != 1:
            raise InvalidInputError(
                f"unknown action {words[0]!r}: use `labelbot flags NAME` or "
                "`labelbot flags resolve NAME EXAMPLE_ID`"
            )
        name = words[0]
        found = flags.list_flags(ws, name, include_resolved=include_resolved)
        if as_json:
            typer.echo(json.dumps([f.to_dict() for f in found], indent=2, ensure_ascii=False))
            return
        if not found:
            which = "flags" if include_resolved else "open flags"
            out.print(f"{name}: no {which}", highlight=False)
            return
        for f in found:
            ref = example_ref(f.example_id, f.external_id)
            text = " ".join(f.text.split())
            if len(text) > EXCERPT:
                text = text[: EXCERPT - 1] + "…"
            out.print(styled(f"[bold]{escape(ref)}[/] {escape(text)}"))
            when = f.created_at.strftime("%Y-%m-%d %H:%M")
            line = f"    flagged by {f.annotator} at {when} UTC: {f.reason}"
            if f.resolved_at is not None:
                line += f" · resolved by {f.resolved_by} at {f.resolved_at:%Y-%m-%d %H:%M} UTC"
            out.print(line, highlight=False)
        if not include_resolved:
            out.print(
                f"resolve one with `labelbot flags resolve {name} EXAMPLE_ID`: it goes back to "
                "the queue",
                highlight=False,
            )
        return
    action, *rest = words
    if len(rest) != 2:
        raise InvalidInputError(f"usage: labelbot flags {action} NAME EXAMPLE_ID")
    from engine.exporting import find_example

    name, ref = rest
    example_id = find_example(ws, name, ref, listed_by=f"labelbot flags {shlex.quote(name)}")
    done = flags.resolve_flags(ws, project=name, example_id=example_id, actor=actor or login_name())
    then = (
        "it is back in the queue"
        if done.requeued
        else "it has a label already, so it stays out of the queue"
    )
    out.print(
        f"{name}: example #{example_id}: {counted(done.resolved, 'flag')} resolved; {then}",
        highlight=False,
    )
