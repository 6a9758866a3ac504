"""Getting messages to Slack: a WebClient that retries, and an outbox for what still fails.

slack_sdk retries only connection errors unless told otherwise
(https://docs.slack.dev/tools/python-slack-sdk/web#retryhandler); we add rate limits (429 with
Retry-After) and server errors. A message that still cannot be delivered is queued in the
database and `Courier.flush` (run periodically by `labelbot serve`) sends it later.

Every call's answer also passes a `TokenWatch`: when Slack refuses the bot token itself (the app
uninstalled, the token revoked or rotated, the bot user deactivated: bot.slack_errors), that is
logged as an ERROR (once an hour per error code), /healthz reports it, and the outbox keeps its
messages until the token works again instead of giving them up.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.config import SlackSettings
from bot.slack_errors import AUTH_ERRORS, error_code, is_auth_error
from engine import messaging
from engine.messaging import DeliveryBlocked, Pending, PermanentFailure
from engine.workspace import Workspace

log = logging.getLogger(__name__)

POST = "chat.postMessage"
UPDATE = "chat.update"
# Answers that mean "try again later" rather than "this call is wrong".
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
CONNECTION_ERRORS = (URLError, ConnectionError, TimeoutError)
TOKEN_ADVICE = "reinstall the app or update SLACK_BOT_TOKEN"


class TokenWatch(RetryHandler):
    """Whether Slack takes the bot token, as this process last heard.

    A retry handler that never retries: slack_sdk shows each handler every answer (an ``ok``
    one too), and Bolt copies the handler list into the client it makes for each request, so
    one watch sees the answers of every client made from the bot's (``single_try`` keeps it).
    A refusal of the token (``bot.slack_errors.AUTH_ERRORS``) is logged as an ERROR, at most
    once per ``repeat_after`` seconds for each error code; the next answer that is ``ok``
    clears it.
    """

    def __init__(
        self, *, repeat_after: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(max_retry_count=0)
        self.repeat_after = repeat_after
        self._clock = clock
        self._lock = threading.Lock()
        self._problem: str | None = None
        self._logged: dict[str, float] = {}  # error code -> when it was last logged (clock)

    @property
    def problem(self) -> str | None:
        """The error Slack refused the token with, or None while it takes it."""
        return self._problem

    def refused(self, code: str) -> None:
        now = self._clock()
        with self._lock:
            self._problem = code
            last = self._logged.get(code)
            if last is not None and now - last < self.repeat_after:
                return
            self._logged[code] = now
        log.error("Slack refuses the bot token (%s): %s", code, TOKEN_ADVICE)

    def accepted(self) -> None:
        if self._problem is None:
            return
        with self._lock:
            was, self._problem = self._problem, None
            self._logged.clear()
        if was is not None:
            log.info("Slack takes the bot token again (it refused it with %s)", was)

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        answer = _answer(response)
        if answer.get("ok") is True:
            self.accepted()
        elif answer.get("error") in AUTH_ERRORS:
            self.refused(str(answer["error"]))
        return False


def _answer(response: HttpResponse | None) -> dict[str, Any]:
    """A Web API answer's JSON (slack_sdk parses it for handlers only on HTTP 200)."""
    if response is None:
        return {}
    if isinstance(response.body, dict) and response.body:
        return response.body
    data = response.data
    if isinstance(data, bytes) and data.lstrip().startswith(b"{"):
        try:
            parsed = json.loads(data)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def make_client(settings: SlackSettings) -> WebClient:
    """The bot's Web API client, pointed at ``SLACK_API_URL``, retrying what can be retried,
    with a ``TokenWatch`` (first: it must see every answer, retried or not)."""
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            TokenWatch(),
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def token_watch(client: WebClient) -> TokenWatch | None:
    """The ``TokenWatch`` of a client made by :func:`make_client` (None for any other)."""
    return next((h for h in client.retry_handlers if isinstance(h, TokenWatch)), None)


def single_try(client: WebClient, *, timeout: float | None = None) -> WebClient:
    """A copy of ``client`` that makes each call once (no retry, no Retry-After sleep), for a
    caller with its own deadline or its own retries; ``timeout`` in seconds, else the client's.
    It keeps the client's ``TokenWatch``."""
    watch = token_watch(client)
    return WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout if timeout is None else timeout,  # type: ignore[arg-type]
        retry_handlers=[] if watch is None else [watch],
    )


def transient_error(exc: Exception) -> str | None:
    """Why a failed call is worth retrying later, or None when retrying cannot help."""
    if isinstance(exc, CONNECTION_ERRORS):
        return f"connection: {type(exc).__name__}"
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        if status == 429 or status >= 500 or error in TRANSIENT_ERRORS:
            return f"HTTP {status} {error or ''}".strip()
    return None


class Courier:
    """Posts and updates messages; what Slack cannot take now goes to the outbox."""

    def __init__(self, client: WebClient, ws: Workspace) -> None:
        self.client = client
        self.ws = ws
        # The outbox sends each message once per claim and retries on its own schedule: a client
        # retry (a rate limit's Retry-After can be a minute) could outlast the message's lease,
        # and another replica would then send it a second time.
        self.once = single_try(client)

    def post(
        self,
        message: dict[str, Any],
        *,
        channel: str,
        thread_ts: str | None = None,
        assignment_id: int | None = None,
    ) -> tuple[str, str] | None:
        """chat.postMessage (https://docs.slack.dev/reference/methods/chat.postMessage).

        Returns (channel, ts), or None when the message was queued for later.
        """
        payload = {"channel": channel, **message}
        if thread_ts is not None:
            payload["thread_ts"] = thread_ts
        data = self._call(POST, payload, assignment_id=assignment_id)
        if data is None:
            return None
        where = (str(data["channel"]), str(data["ts"]))
        if assignment_id is not None:
            messaging.record_delivery(
                self.ws, assignment_id=assignment_id, channel=where[0], message_ts=where[1]
            )
        return where

    def update(self, message: dict[str, Any], *, channel: str, ts: str) -> bool:
        """chat.update (https://docs.slack.dev/reference/methods/chat.update); False if queued."""
        return self._call(UPDATE, {"channel": channel, "ts": ts, **message}) is not None

    def _call(
        self, method: str, payload: dict[str, Any], *, assignment_id: int | None = None
    ) -> dict[str, Any] | None:
        try:
            response = self.client.api_call(method, json=payload)
        except (SlackApiError, *CONNECTION_ERRORS) as exc:
            reason = transient_error(exc)
            if reason is None:
                raise
            queued = messaging.enqueue(
                self.ws, method=method, payload=payload, assignment_id=assignment_id, error=reason
            )
            log.warning(
                "%s failed after retries (%s): queued as outbox #%d", method, reason, queued
            )
            return None
        data = response.data
        assert isinstance(data, dict)
        return data

    def flush(self, limit: int = 50) -> int:
        """Send what the outbox holds and is due; the number delivered."""
        return messaging.drain(self.ws, send=self._resend, limit=limit)

    def _resend(self, pending: Pending) -> str | None:
        try:
            response = self.once.api_call(pending.method, json=pending.payload)
        except (SlackApiError, *CONNECTION_ERRORS) as exc:
            if is_auth_error(exc):
                # Not this message's fault: every call fails alike until the token is fixed
                # (the TokenWatch has logged it), so the message waits for that.
                raise DeliveryBlocked(f"Slack refuses the bot token ({error_code(exc)})") from exc
            reason = transient_error(exc)
            if reason is None:
                raise PermanentFailure(refusal(exc)) from exc
            return reason
        if pending.assignment_id is not None and pending.method == POST:
            messaging.record_delivery(
                self.ws,
                assignment_id=pending.assignment_id,
                channel=str(response["channel"]),
                message_ts=str(response["ts"]),
                outbox_id=pending.id,
            )
        return None


def refusal(exc: Exception) -> str:
    """A refused call in a few words: Slack's error and its explanations (``invalid_blocks``
    says which block), or the HTTP status of an answer without one."""
    code = error_code(exc)
    if code is None:
        if isinstance(exc, SlackApiError) and exc.response is not None:
            return f"HTTP {exc.response.status_code}"
        return str(exc) or type(exc).__name__
    assert isinstance(exc, SlackApiError)
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    notes = (data.get("response_metadata") or {}).get("messages") or []
    return f"{code} ({'; '.join(map(str, notes))})" if notes else code
