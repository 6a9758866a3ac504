"""Socket Mode: Slack's requests over a WebSocket that labelbot opens with SLACK_APP_TOKEN
(https://docs.slack.dev/apis/events-api/using-socket-mode), beside POST /slack/events.

slack_bolt's handler, with these differences:

- Its apps.connections.open calls (the app-level token) go through a client of their own
  (:func:`connections_client`). Through Bolt's client they passed the bot client's TokenWatch,
  so a refused app token was logged and shown in /healthz as a refused *bot* token, and an
  accepted one cleared a bot token that Slack still refused.
- The connection is watched (:class:`ConnectionWatch`, :func:`state` for /healthz). Its loss
  (a reset, a broken pipe too) is one WARNING and its return one INFO; Slack refusing the app
  token once it has connected is an ERROR naming SLACK_APP_TOKEN, once an hour. slack_sdk's
  own ERRORs about a failure said so, repeated at each try or ping (every
  ``PING_INTERVAL_S``) and with a traceback when Slack had asked for the reconnection, are
  dropped; a failure labelbot has not said passes.
- A request labelbot refuses is acknowledged too. slack_bolt acknowledges only what Bolt
  answers 200, so a refusal (400: a malformed payload, a response_url not Slack's; 404: no
  listener for it) was sent again by Slack (events), or shown to the user as an error after
  3 seconds, though sending it again cannot help; a 4xx gets an empty acknowledgement, after
  a log line. A 5xx (Bolt failed: its authorization's auth.test could not reach Slack, a
  middleware raised) is left unacknowledged, as slack_bolt leaves it: Slack sends an event
  again, as it does after a 500 over HTTP, and a command or click shows the user an error.
- :meth:`SocketModeHandler.close` stops taking envelopes first, waits (at most
  ``IN_FLIGHT_WAIT_S``) for those being served so that their acknowledgements go out, and only
  then disconnects; it opens no connection and waits out no rate limit once begun, and waits
  for slack_sdk's threads a bounded time. slack_sdk disconnected first (a modal's change was
  applied and Slack showed the admin an error) and, under a rate limit on
  apps.connections.open, reconnected during the shutdown, past Docker's and Kubernetes' grace.
- Slack's ``disconnect`` (a refresh) is handled in a thread of its own: slack_sdk handled it on
  its single message thread, and every request, on the old connection still open too, waited
  for the new one (3 x Retry-After when apps.connections.open was rate-limited).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.base_handler import BaseSocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.interval_runner import IntervalRunner
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web import SlackResponse

from bot.delivery import TRANSIENT_ERRORS, TokenWatch, asked_to_wait, rate_limited
from bot.slack_errors import RATE_LIMITED, error_code
from bot.throttle import Throttle

log = logging.getLogger(__name__)

# The Socket Mode client's own log lines (connecting, reconnecting, its errors). slack_bolt
# logs them as "slack_bolt.App", among Bolt's.
SDK_LOGGER = "slack_sdk.socket_mode"
# How often the client pings Slack and checks its connection, reconnecting when it is down
# (slack_bolt's default).
PING_INTERVAL_S = 10.0
REFUSAL_REPEAT_S = 3600.0  # Slack refusing the app token is logged again after this long
# apps.connections.open is Tier 1: a rate limit without Retry-After is waited out this long
# (slack_sdk's default)
RATE_LIMIT_WAIT_S = 30.0
# At close, requests being served are waited for this long, so that their acknowledgements go
# out (Slack shows a command or click as failed 3 s after it sent it anyway); the client's
# threads then this long, in all: the whole stays within Docker's 10 s of grace.
IN_FLIGHT_WAIT_S = 5.0
THREADS_WAIT_S = 2.0
DOWN = (
    "the Socket Mode connection to Slack is down: reconnecting (Slack's requests cannot reach "
    "labelbot until it is back)"
)
APP_TOKEN_ADVICE = (
    "set SLACK_APP_TOKEN to an app-level token of this app with the connections:write scope "
    "(Basic Information → App-Level Tokens)"
)

_current: ConnectionWatch | None = None  # the running handler's (see SocketModeHandler)


def state() -> str | None:
    """The Socket Mode connection, for /healthz: "connected", "reconnecting", or
    "refused: <error>" while Slack refuses SLACK_APP_TOKEN; None when not in Socket Mode."""
    watch = _current
    return None if watch is None else watch.state()


class ConnectionWatch:
    """What this process knows of its Socket Mode connection, and what it logs about it.

    Told each apps.connections.open (:meth:`connecting`), each failure to connect
    (:meth:`failed`) and each connection made (:meth:`connected`); whether the connection is up
    now it asks the client. Nothing is logged before the first connection: ``labelbot serve``
    stops with one line when that fails.
    """

    def __init__(
        self, *, repeat_after: float = REFUSAL_REPEAT_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client: BaseSocketModeClient | None = None
        self._lock = threading.Lock()
        self._started = False  # connected once
        self._down = False  # found down (and said so), not back yet
        self._refused: str | None = None  # the error Slack last refused the app token with
        self._said: set[str] = set()  # failures told since the last connection (their str)
        self._warned: set[str] = set()  # the same, with their type: each is warned of once
        self._refusals = Throttle(repeat_after, clock=clock)
        # set by SocketModeHandler.close: no connection is opened nor rate limit waited out
        self.closing = threading.Event()

    def state(self) -> str:
        if self._refused is not None:
            return f"refused: {self._refused}"
        if self.client is not None and self.client.is_connected():
            return "connected"
        return "reconnecting"

    def connecting(self) -> None:
        """A new connection is asked for: Slack asked for it (the old one still up), or the
        client found the connection down."""
        client = self.client
        if client is None or client.closed or client.is_connected():
            return
        with self._lock:
            if not self._started or self._down:
                return
            self._down = True
        log.warning(DOWN)

    def broken(self, exc: OSError) -> None:
        """The connection failed under the client (reset, a broken pipe): said as the connection
        down, once; slack_sdk's ERRORs about it (one at each ping until it gives the connection
        up) are dropped. Nothing is said once the handler is closing."""
        told = str(exc)
        with self._lock:
            if told:
                self._said.add(told)
            if self.closing.is_set() or not self._started or self._down:
                return
            self._down = True
        log.warning("%s [%s: %s]", DOWN, type(exc).__name__, told or "no detail")

    def failed(self, exc: BaseException) -> None:
        """A try to connect failed with ``exc`` (it is raised on to the client, which logs it
        and tries again)."""
        if error_code(exc) == RATE_LIMITED:
            return  # the client waits Retry-After and tries again itself
        code = _refusal(exc)
        told = str(exc)
        with self._lock:
            new = f"{type(exc).__name__}: {told}" not in self._warned
            self._warned.add(f"{type(exc).__name__}: {told}")
            if told:
                self._said.add(told)
            started = self._started
            if code is not None:
                self._refused = code
        if not started:
            return
        if code is not None:
            if self._refusals.due(code):
                log.error(
                    "Slack refuses SLACK_APP_TOKEN (%s): Socket Mode cannot reconnect, and "
                    "Slack's requests cannot reach labelbot until it does: %s",
                    code,
                    APP_TOKEN_ADVICE,
                )
        elif new:
            log.warning(
                "Socket Mode could not reconnect to Slack (%s: %s): trying again",
                type(exc).__name__,
                told or "no detail",
            )

    def connected(self) -> None:
        with self._lock:
            started, self._started = self._started, True
            down, self._down = self._down, False
            refused, self._refused = self._refused, None
            self._said.clear()
            self._warned.clear()
        self._refusals.clear()
        if not started:
            return
        if refused is not None:
            log.info("Slack takes SLACK_APP_TOKEN again (it refused it with %s)", refused)
        if down:
            log.info("the Socket Mode connection to Slack is back")

    def said(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is about a failure this watch has told (or holds back)."""
        with self._lock:
            said = list(self._said)
        if not said:
            return False
        text = record.getMessage()
        error = record.exc_info[1] if record.exc_info else None
        return any(s in text for s in said) or (error is not None and str(error) in said)


def _refusal(exc: BaseException) -> str | None:
    """The error Slack refused the app token's call with; None when it did not answer, or
    answered that it could not now (a 5xx, ``internal_error``...)."""
    code = error_code(exc)
    if not isinstance(exc, SlackApiError) or code is None or code in TRANSIENT_ERRORS:
        return None
    return code


class _SaidOnce(logging.Filter):
    """Drops the Socket Mode client's WARNINGs and ERRORs about a failure the watch has told (a
    try to connect, the connection reset under it): they come again at each try or ping, some
    with a traceback, and say no more."""

    def __init__(self, watch: ConnectionWatch) -> None:
        super().__init__()
        self.watch = watch

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING or not self.watch.said(record)


class _Closing(Exception):
    """The handler is closing: no connection is opened any more."""


class _ConnectionsClient(WebClient):
    """The Socket Mode client's Web API client: apps.connections.open, told to the watch, and
    refused once the handler is closing."""

    watch: ConnectionWatch

    def apps_connections_open(self, *, app_token: str, **kwargs: Any) -> SlackResponse:
        if self.watch.closing.is_set():
            raise _Closing
        self.watch.connecting()
        try:
            return super().apps_connections_open(app_token=app_token, **kwargs)
        except Exception as exc:
            self.watch.failed(exc)
            raise


def connections_client(client: WebClient, watch: ConnectionWatch) -> WebClient:
    """A client for apps.connections.open with ``client``'s address, timeout, TLS, proxy and
    retries, but not its TokenWatch: the app-level token's answers say nothing of the bot
    token's (and no bot token is sent: the call carries the app token). Nor its rate-limit
    retries: the Socket Mode client waits out Retry-After itself (:meth:`_WatchedClient.
    issue_new_wss_url`, which a shutdown interrupts); with both, a rate limit was waited out
    three times, in a sleep that held up a shutdown."""
    connections = _ConnectionsClient(
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=dict(client.headers),
        retry_handlers=[
            h
            for h in client.retry_handlers
            if not isinstance(h, (TokenWatch, RateLimitErrorRetryHandler))
        ],
    )
    connections.watch = watch
    return connections


class _WatchedClient(SocketModeClient):
    """slack_sdk's Socket Mode client, telling the watch of each connection made or not and of
    a connection failing under it, refreshing the connection in a thread of its own, and
    closing as the module says."""

    def __init__(self, watch: ConnectionWatch, **kwargs: Any) -> None:
        self.watch = watch
        self._serving = threading.Condition()  # guards _in_flight
        self._in_flight = 0  # envelopes being served (run_message_listeners)
        self._refresher: threading.Thread | None = None  # handling Slack's `disconnect`
        super().__init__(**kwargs)
        watch.client = self

    def connect(self) -> None:
        if self.watch.closing.is_set():
            raise _Closing
        try:
            super().connect()
        except _Closing:
            raise
        except Exception as exc:
            self.watch.failed(exc)
            raise
        if self.watch.closing.is_set():  # made while close() began: not kept
            self.disconnect()
            raise _Closing
        self._watch_pings()
        self.watch.connected()

    def issue_new_wss_url(self) -> str:
        """slack_sdk's, but a rate limit is said (at start-up, `serve` waits for it in silence
        otherwise) and waited out in a wait that :meth:`close` ends."""
        while not self.watch.closing.is_set():
            try:
                return str(self.web_client.apps_connections_open(app_token=self.app_token)["url"])
            except SlackApiError as exc:
                if not rate_limited(exc):
                    self.logger.error(f"Failed to retrieve WSS URL: {exc}")  # as slack_sdk
                    raise
                wait = asked_to_wait(exc)
                seconds = RATE_LIMIT_WAIT_S if wait is None else wait.total_seconds()
                log.info(
                    "Slack rate-limits Socket Mode connections (apps.connections.open): "
                    "connecting again in %g s, as it asks",
                    seconds,
                )
                self.watch.closing.wait(seconds)
        raise _Closing

    def connect_to_new_endpoint(self, force: bool = False) -> None:
        if self.watch.closing.is_set():
            return
        if force and threading.current_thread() is self.message_processor.thread:
            self._refresh_apart()  # Slack's `disconnect`
            return
        with contextlib.suppress(_Closing):
            super().connect_to_new_endpoint(force)

    def _refresh_apart(self) -> None:
        """Connect anew in a thread of its own, one at a time: the message thread goes on
        serving the old connection, which Slack keeps open until the new one is up."""
        with self._serving:
            if self._refresher is not None and self._refresher.is_alive():
                return  # asked again while connecting: one new connection is enough
            self._refresher = threading.Thread(
                target=self._refresh, name="socket-mode-refresh", daemon=True
            )
            self._refresher.start()

    def _refresh(self) -> None:
        try:
            self.connect_to_new_endpoint(force=True)
        except Exception as exc:  # where slack_sdk logged it (on its message thread)
            self.logger.exception(f"Failed to process a message: {exc}")

    def _watch_pings(self) -> None:
        """The watch is told when a ping fails (the connection reset, a broken pipe): slack_sdk
        logs that as an ERROR at each ping, until the fifth gives the connection up."""
        session = self.current_session
        if session is None:
            return
        ping = session.ping

        def watched(payload: str | bytes = "") -> None:
            try:
                ping(payload)
            except OSError as exc:
                self.watch.broken(exc)
                raise

        session.ping = watched  # type: ignore[method-assign]

    def _on_error(self, error: Exception) -> None:
        if isinstance(error, OSError):  # the connection failed: said once (slack_sdk: ERROR)
            self.watch.broken(error)
        super()._on_error(error)

    def _run_current_session(self) -> None:
        if not self.watch.closing.is_set():  # it would read the connection again
            super()._run_current_session()  # type: ignore[no-untyped-call]

    def run_message_listeners(self, message: dict[str, Any], raw_message: str) -> None:
        with self._serving:
            if self.watch.closing.is_set():
                return  # not begun before close(): unacknowledged, Slack sends it again
            self._in_flight += 1
        try:
            super().run_message_listeners(message, raw_message)
        finally:
            with self._serving:
                self._in_flight -= 1
                self._serving.notify_all()

    def close(self) -> None:
        """Take no new envelope, let those being served be acknowledged (at most
        ``IN_FLIGHT_WAIT_S``), then disconnect; what waits unread, or read but not begun, stays
        unacknowledged (Slack sends an event again). Opens no connection once begun."""
        with self._serving:
            self.watch.closing.set()
        self.closed = True  # slack_sdk's message loop ends
        self.auto_reconnect_enabled = False
        runners: list[IntervalRunner] = [
            self.message_processor,
            self.current_session_runner,
            self.current_app_monitor,
        ]
        for runner in runners:
            runner.event.set()
        self.current_session_state.terminated = True  # stop reading the connection
        with self._serving:
            if not self._serving.wait_for(lambda: self._in_flight == 0, IN_FLIGHT_WAIT_S):
                log.warning(
                    "Socket Mode: %d request(s) still being served after %g s at shutdown: "
                    "their acknowledgements are lost",
                    self._in_flight,
                    IN_FLIGHT_WAIT_S,
                )
        self.current_session_state.terminated = True
        self.disconnect()
        deadline = time.monotonic() + THREADS_WAIT_S
        threads = [r.thread for r in runners] + [self._refresher]
        for thread in threads:
            if thread is not None and thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        self.message_workers.shutdown(wait=False, cancel_futures=True)


class SocketModeHandler(BaseSocketModeHandler):
    """slack_bolt's built-in Socket Mode handler, with the differences the module describes.
    ``client`` is the bot's Web API client (its settings are copied, not its TokenWatch)."""

    def __init__(
        self,
        app: App,
        *,
        app_token: str,
        client: WebClient,
        ping_interval: float = PING_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        global _current
        self.app = app
        self.watch = ConnectionWatch(clock=clock)
        self._quiet = _SaidOnce(self.watch)
        logger = logging.getLogger(SDK_LOGGER)
        logger.addFilter(self._quiet)
        self.client = _WatchedClient(
            self.watch,
            app_token=app_token,
            logger=logger,
            web_client=connections_client(client, self.watch),
            proxy=client.proxy,
            ping_interval=ping_interval,
        )
        self.client.socket_mode_request_listeners.append(self.handle)
        _current = self.watch

    def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        started = time.time()
        answer = run_bolt_app(self.app, req)
        if answer.status == 200:
            send_response(client, req, answer, started)
            return
        if not 400 <= answer.status < 500:
            # Bolt failed (it has logged why): unacknowledged, Slack sends an event again later,
            # as after a 500 over HTTP; an acknowledgement would lose it for good
            log.info(
                "Socket Mode: left a request unacknowledged after HTTP %s (%s): Slack sends an "
                "event again, and shows a command or click as failed",
                answer.status,
                req.type,
            )
            return
        # Bolt refused it as POST /slack/events would (malformed, or no listener: logged there);
        # acknowledged all the same: sent again, it would be refused again
        log.info(
            "Socket Mode: acknowledged a request refused with HTTP %s (%s: %.200s), so that "
            "Slack does not send it again",
            answer.status,
            req.type,
            answer.body,
        )
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

    def close(self) -> None:
        global _current
        try:
            self.client.close()
        finally:
            logging.getLogger(SDK_LOGGER).removeFilter(self._quiet)
            if _current is self.watch:
                _current = None
