"""`labelbot digest`: where a project stands, rendered here or posted to its channel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import app, err, handle_errors, out, workspace


@app.command(short_help="The project digest: show it here, or post it.")
@handle_errors
def digest(
    name: Annotated[str, typer.Argument(help="Project name")],
    post: Annotated[
        bool, typer.Option("--post", help="Post it to the project's Slack channel now")
    ] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the chart (PNG) here")
    ] = None,
) -> None:
    """The project digest: labels since the last digest and by whom, estimated accuracy with its
    interval, weakest classes, the forecast, open flags and discussions, and a chart.

    Without --post it is printed here (and the chart written to --out, default NAME-digest.png).
    With --post it goes to the project's channel (needs SLACK_BOT_TOKEN and
    SLACK_SIGNING_SECRET) and counts as the latest digest.
    """
    from engine.digest import build_digest, mark_sent, render_chart

    ws = workspace()
    if post:
        from bot.config import get_slack_settings
        from bot.delivery import make_client
        from bot.digests import post_digest, refusal_cause

        posted = post_digest(make_client(get_slack_settings()), ws, name)
        if posted.notified_admins:
            cause = refusal_cause(
                posted.refused or "not_in_channel", project=name, channel=posted.channel
            )
            err.print(f"not posted: {cause}; told " + ", ".join(posted.notified_admins))
            raise typer.Exit(1)
        mark_sent(ws, name, counted_until=posted.counted_until)
        out.print(f"digest posted to {posted.channel} (message {posted.ts})")
        return
    built = build_digest(ws, name)
    for line in built.summary():
        out.print(line, highlight=False)
    chart = render_chart(built, out_file or Path(f"{name}-digest.png"))
    out.print(f"chart: {chart.resolve()}")  # a plain line: the terminal wraps it (_Console)
