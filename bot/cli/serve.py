"""`labelbot serve`: the Slack bot and the REST API in one uvicorn process."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from bot.cli.common import app, handle_errors, out


@app.command()
@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 3000,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
) -> None:
    """Serve Slack (POST /slack/events), GET /healthz and the REST API (/api/...).

    Needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; with SLACK_APP_TOKEN set it also connects
    through Socket Mode (no public URL needed). LABELBOT_API_TOKEN enables the REST API.
    """
    import uvicorn

    from bot.api import create_api
    from bot.app import build_app
    from bot.config import get_slack_settings
    from bot.services import build_services

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_slack_settings()
    services = build_services(settings)
    bolt = build_app(settings, services)
    socket_mode = None
    if settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_mode = SocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
        socket_mode.connect()  # type: ignore[no-untyped-call]  # own threads; HTTP serves the rest
        out.print("connected to Slack in Socket Mode")
    try:
        uvicorn.run(
            create_api(settings, services, bolt=bolt), host=host, port=port, log_level=log_level
        )
    finally:
        if socket_mode is not None:
            socket_mode.close()  # type: ignore[no-untyped-call]
        services.close()
