"""`labelbot digest`: where a project stands, rendered here or posted to its channel."""

from __future__ import annotations

from http.client import HTTPException
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import app, err, handle_errors, out, refuse_database, workspace
from storage.errors import ConfigurationError, ConflictError, InvalidInputError, LabelbotError


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

    if post and out_file is not None:  # it was ignored without a word: no chart where asked
        raise InvalidInputError(
            "--out does not go with --post: the chart is uploaded to the channel with the "
            f"digest; `labelbot digest {name} --out FILE` writes it here"
        )
    ws = workspace()
    if post:
        from slack_sdk.errors import SlackClientError

        from bot import delivery
        from bot.cli.logs import muted
        from bot.config import get_slack_settings
        from bot.digests import admins_told_record, post_digest, refusal_cause
        from bot.digests import log as digests_log

        client = delivery.make_client(get_slack_settings())
        try:
            # slack_sdk's own ERROR lines for an unreachable Slack are muted, and the line that
            # Slack refuses the token: the error says it (a scope the chart's upload lacks is
            # said, the digest posted all the same); so is the log line that the channel
            # refused the digest and whom that told: the "not posted: …" line or the error
            # below says it
            with (
                muted(client.logger),
                muted(delivery.log, only=delivery.token_refusal),
                muted(digests_log, only=admins_told_record),
            ):
                posted = post_digest(client, ws, name)
        except (SlackClientError, *delivery.CONNECTION_ERRORS, HTTPException) as exc:
            raise _not_posted(exc, project=name, api_url=client.base_url) from None
        if posted.notified_admins:
            cause = refusal_cause(
                posted.refused or "not_in_channel", project=name, channel=posted.channel
            )
            err.print(
                f"not posted: {cause}; told " + ", ".join(posted.notified_admins)
                + (f"; {posted.not_told}" if posted.not_told else "")
            )  # fmt: skip
            raise typer.Exit(1)
        mark_sent(ws, name, counted_until=posted.counted_until)
        out.print(f"digest posted to {posted.channel} (message {posted.ts})")
        return
    chart_file = out_file or Path(f"{name}-digest.png")
    refuse_database(chart_file)  # as export's and predict's --out: the chart would replace it
    built = build_digest(ws, name)
    for line in built.summary():
        out.print(line, highlight=False)
    chart = render_chart(built, chart_file)
    out.print(f"chart: {chart.resolve()}")  # a plain line: the terminal wraps it (_Console)


def _not_posted(exc: Exception, *, project: str, api_url: str) -> LabelbotError:
    """Why `digest --post` could not post (Slack refused the token or the call, or could not be
    reached: each was a traceback) as one line with its exit code; nothing was marked sent."""
    from slack_sdk.errors import SlackApiError

    from bot.delivery import TOKEN_ADVICE, UNSURE_ERRORS, transient_error
    from bot.slack_errors import error_code, is_auth_error, scope_advice

    code = error_code(exc)
    if is_auth_error(exc) or code == "not_allowed_token_type":
        return ConfigurationError(
            f"Slack refused SLACK_BOT_TOKEN ({code}): {TOKEN_ADVICE} (the Bot User OAuth Token, "
            "xoxb-…); nothing was posted"
        )
    advice = scope_advice(exc)
    if advice is not None:
        return ConfigurationError(f"{advice}; nothing was posted")
    if not isinstance(exc, SlackApiError):  # no answer: a refused connection, a timeout
        return ConfigurationError(
            f"could not reach Slack's Web API at {api_url} ({type(exc).__name__}: {exc}): check "
            "that this machine reaches Slack (SLACK_API_URL, a proxy); nothing was posted"
        )
    why = transient_error(exc)
    if code in UNSURE_ERRORS:  # Slack says some of the call may have happened all the same
        return ConflictError(
            f"Slack did not take the digest of {project} ({why or code}): it may have been "
            "posted all the same; look in the channel before posting it again"
        )
    if why is not None:
        return ConflictError(
            f"Slack did not take the digest of {project} ({why}): nothing was posted; try "
            "again in a while"
        )
    return LabelbotError(
        f"Slack refused the digest of {project} ({code or exc}): nothing was posted"
    )
