"""Getting messages to Slack: a WebClient that retries, and an outbox for what still fails.

slack_sdk retries only connection errors unless told otherwise
(https://docs.slack.dev/tools/python-slack-sdk/web#retryhandler); we add rate limits (429 with
Retry-After) and server errors. A message that still cannot be delivered is queued in the
database and `Courier.flush` (run periodically by `labelbot serve`) sends it later.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.config import SlackSettings
from engine import messaging
from engine.messaging import Pending, PermanentFailure
from engine.workspace import Workspace

log = logging.getLogger(__name__)

POST = "chat.postMessage"
UPDATE = "chat.update"
# Answers that mean "try again later" rather than "this call is wrong".
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
CONNECTION_ERRORS = (URLError, ConnectionError, TimeoutError)


def make_client(settings: SlackSettings) -> WebClient:
    """The bot's Web API client, pointed at ``SLACK_API_URL``, retrying what can be retried."""
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def single_try(client: WebClient, *, timeout: float | None = None) -> WebClient:
    """A copy of ``client`` that makes each call once (no retry, no Retry-After sleep), for a
    caller with its own deadline or its own retries; ``timeout`` in seconds, else the client's."""
    return WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout if timeout is None else timeout,  # type: ignore[arg-type]
        retry_handlers=[],
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
            reason = transient_error(exc)
            if reason is None:
                raise PermanentFailure(str(exc)) from exc
            return reason
        if pending.assignment_id is not None and pending.method == POST:
            messaging.record_delivery(
                self.ws,
                assignment_id=pending.assignment_id,
                channel=str(response["channel"]),
                message_ts=str(response["ts"]),
            )
        return None
