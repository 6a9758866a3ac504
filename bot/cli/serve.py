"""`labelbot serve`: the Slack bot, the REST API and the scheduler in one uvicorn process."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import app, handle_errors, out
from storage.errors import InvalidInputError

# At most this many connections at once; uvicorn answers 503 past it. Without a limit, 1,100
# stalled connections used up a default 1,024 file descriptors and the server stopped accepting
# at all (the body timeouts are bot.api.BODY_READ_TIMEOUT_S and BODY_TIMEOUT_S).
MAX_CONNECTIONS = 500
# An idle keep-alive connection is closed after this many seconds (uvicorn's default, made
# explicit: a proxy in front should time out its idle upstream connections sooner).
KEEP_ALIVE_S = 5
# --log-level: uvicorn's levels (uvicorn.config.LOG_LEVELS), the common ones first
LOG_LEVELS = ("debug", "info", "warning", "error", "critical", "trace")


@app.command(short_help="Serve Slack, the REST API and the scheduler.")
@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to listen on (0 to 65535; 0: any free port)")
    ] = 3000,
    root_path: Annotated[
        str,
        typer.Option(
            help="The path prefix a proxy serves this under and strips (e.g. /labelbot), as "
            "uvicorn's --root-path: URLs the app writes (/openapi.json's servers) carry it",
        ),
    ] = "",
    log_level: Annotated[
        str, typer.Option(help=f"{', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}")
    ] = "info",
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Same as --log-level debug", show_default=False)
    ] = False,
    max_connections: Annotated[
        int,
        typer.Option(
            min=1,
            help="Connections served at once (uvicorn's --limit-concurrency); past it, 503. "
            "Keep it under the process's file descriptor limit (ulimit -n)",
        ),
    ] = MAX_CONNECTIONS,
    scheduler: Annotated[
        bool,
        typer.Option(
            "--scheduler/--no-scheduler",
            help="Retrain, notify and post digests in this process (--no-scheduler when "
            "`labelbot worker` runs apart)",
        ),
    ] = True,
) -> None:
    """Serve Slack (POST /slack/events), GET /healthz and the REST API (/api/...).

    Needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; with SLACK_APP_TOKEN set it also connects
    through Socket Mode (no public URL needed). LABELBOT_API_TOKEN enables the REST API.
    Without Slack: with neither Slack variable set but LABELBOT_API_TOKEN set, it serves the
    REST API alone (/slack/events answers 503) and its scheduler only retrains.
    The scheduler checks for projects to retrain every LABELBOT_SCHEDULER_POLL_SECONDS (15)
    and posts digests on each project's schedule; any number of processes may run it.
    Scheduler job runs and the schema migration's details are logged only with --verbose
    (--log-level debug).
    A request body that stalls is cut off (408), but headers that never end are below the app:
    serving beyond localhost, put a reverse proxy with its own timeouts in front (TLS needs one
    anyway).
    """
    # the options first, before anything is built or printed: uvicorn would fail on them only
    # after the database, Slack and the scheduler are set up, with a traceback
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"--port must be 0 to 65535 (0: any free port), not {port}")
    log_level = "debug" if verbose else log_level.lower()
    if log_level not in LOG_LEVELS:
        raise InvalidInputError(
            f"unknown --log-level {log_level!r}: use {', '.join(LOG_LEVELS[:-1])} or "
            f"{LOG_LEVELS[-1]}"
        )

    import uvicorn

    from bot.api import create_api
    from bot.app import build_app
    from bot.cli.logs import configure_logging
    from bot.config import get_serve_settings
    from bot.scheduling import attach_scheduler, bot_scheduler
    from bot.services import build_services
    from engine.scheduler import build_scheduler

    configure_logging(log_level)
    settings, slack = get_serve_settings()
    services = build_services(settings)
    bolt = build_app(settings, services)
    api = create_api(settings, services, bolt=bolt, slack=slack)
    out.print(
        f"database {settings.database_shown()}, data directory {settings.data_dir}",
        highlight=False,
    )
    if not slack:
        out.print(
            "Slack off (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET not set): serving the REST API "
            "alone; /slack/events answers 503"
        )
    if scheduler:
        poll = settings.scheduler_poll_seconds
        if slack:
            attach_scheduler(api, bot_scheduler(services))
            out.print(
                f"scheduler on: checks for retraining every {poll:g} s, "
                "digests on each project's schedule"
            )
        else:  # as `labelbot worker` without Slack: nothing to post to
            attach_scheduler(
                api,
                build_scheduler(services.ws, poll_seconds=poll),
                doing="retraining and scans (Slack is off: no digests)",
            )
            out.print(f"scheduler on: checks for retraining every {poll:g} s (no digests)")
    else:
        out.print("scheduler off (--no-scheduler): run `labelbot worker` to retrain and digest")
    socket_mode = None
    if slack and settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_mode = SocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
        socket_mode.connect()  # type: ignore[no-untyped-call]  # own threads; HTTP serves the rest
        out.print("connected to Slack in Socket Mode")
    try:
        uvicorn.run(
            api,
            host=host,
            port=port,
            log_level=log_level,
            root_path=root_path,
            limit_concurrency=max_connections,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    finally:
        if socket_mode is not None:
            socket_mode.close()  # type: ignore[no-untyped-call]
        services.close()
