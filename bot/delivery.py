"""Getting messages to Slack: a WebClient that retries, and an outbox for what still fails.

slack_sdk retries only connection errors unless told otherwise
(https://docs.slack.dev/tools/python-slack-sdk/web#retryhandler); we add rate limits (429 with
a short Retry-After: RATE_LIMIT_WAIT_MAX_S) and server errors. A message that still cannot be
delivered is queued in the database and `Courier.flush` (run periodically by `labelbot serve`)
sends it later.

chat.postMessage is not idempotent: an answer lost after Slack stored the message (a timeout, a
5xx, a connection dropped after the request went out) does not say whether it did. Each post
therefore carries a delivery key in its message metadata, made before the first try; before
sending a post again after such a failure (the client's own retries, those of the clients Bolt
makes for each request, and the outbox alike), the conversation's history since that first try
is searched for that key, and a message found there is the post's result (`find_post`). A 429
needs no search: Slack did not process the call.

Every call's answer also passes a `TokenWatch`: when Slack refuses the bot token itself (the app
uninstalled, the token revoked or rotated, the bot user deactivated: bot.slack_errors), that is
logged as an ERROR (once an hour per error code), /healthz reports it, and the outbox keeps its
messages until the token works again instead of giving them up.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler, default_interval_calculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse

from bot.config import SlackSettings
from bot.slack_errors import AUTH_ERRORS, RATE_LIMITED, SCOPE_FIX, error_code, is_auth_error
from bot.throttle import Throttle
from engine import messaging
from engine.messaging import DeliveryBlocked, Pending, PermanentFailure, Superseded, Unreachable
from engine.workspace import Workspace
from storage.errors import DatabaseUnavailable
from storage.models import utcnow

log = logging.getLogger(__name__)

POST = "chat.postMessage"
UPDATE = "chat.update"
UNFURL_KEYS = ("unfurl_links", "unfurl_media")
# Answers that mean "try again later" rather than "this call is wrong".
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
CONNECTION_ERRORS = (URLError, ConnectionError, TimeoutError)
# Of those, the answers that say Slack took no call just now, whatever the call: the outbox waits
# for Slack (messaging.Reach) instead of counting them against a message (`slack_wide`).
SLACK_WIDE_ERRORS = frozenset({"ratelimited", "service_unavailable"})
TOKEN_ADVICE = "reinstall the app or update SLACK_BOT_TOKEN"
# What /healthz says of Slack before any call of this process has been answered, and while the
# last one got no answer at all (TokenWatch.state).
UNVERIFIED = "unverified"
UNREACHABLE = "unreachable"

# The message metadata's event_type on every chat.postMessage; its event_payload holds the post's
# delivery key and when it was first tried, in Unix seconds
# (https://docs.slack.dev/messaging/message-metadata).
DELIVERY_EVENT = "labelbot_delivery"
# Answers after which a post may have been stored all the same: Slack says of internal_error and
# fatal_error "it's possible some aspect of the operation succeeded before the error was raised"
# (https://docs.slack.dev/reference/methods/chat.postMessage#errors). Not ratelimited (a 429 is
# refused before any work), nor request_timeout (the POST body arrived truncated).
UNSURE_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable"})
POST_RETRIES = 2  # a chat.postMessage the client tries again itself (5xx, connection dropped)
# The search for an earlier try reads the conversation from the post's first try on, less
# LOOKUP_MARGIN_S (Slack's clock against ours; `oldest`), newest first, LOOKUP_LIMIT messages a
# page (15: the most conversations.history gives a non-Marketplace app per call since 2025,
# https://docs.slack.dev/apis/web-api/rate-limits), following the cursor until that window is
# read. It stops short after LOOKUP_PAGES pages (600 messages; 40 calls stay under Tier 3's
# 50 a minute) or LOOKUP_TIMEOUT_S seconds in all (a busy channel, a slow Slack): then, as when
# the search fails (a 429 among them), the post is sent again.
LOOKUP_MARGIN_S = 60.0
LOOKUP_LIMIT = 15
LOOKUP_PAGES = 40
LOOKUP_TIMEOUT_S = 10.0
# How an outbox message's last error starts when no try of the post can have landed (each was
# refused before Slack acted on it: a 429, a connection never made), or the search since found
# none: the next try needs no search (`Courier._resend`).
NOT_LANDED = "did not land: "
# The outbox's own calls log here: slack_sdk logs each failed call as an ERROR, which the outbox
# reports itself (one WARNING an outage, messaging.Reach), so here they are DEBUG lines.
OUTBOX_CALLS = logging.getLogger(__name__ + ".outbox_calls")
# The bot's client logs here (make_client; Bolt's listeners' client too, bot.app). slack_sdk logs
# an ERROR for each failed try ("Failed to send a request to Slack API server", "Failed to decode
# Slack API response" for a 5xx's HTML page), three for one click's message in a Slack outage,
# on every replica; the failure reaches labelbot as an error that it says itself, once (the
# message queued, the outbox's one WARNING an outage, a listener's answer): DEBUG lines here.
SLACK_CALLS = logging.getLogger(__name__ + ".slack_calls")
FAILED_TRY = ("Failed to send a request to Slack API server", "Failed to decode Slack API response")
# A rate limit's Retry-After the bot's client waits out itself (twice at most, slack_sdk's
# RateLimitErrorRetryHandler) only when it is this short, in seconds: a call made for a click
# waits on a listener thread, and one of 30-60 s (twice) held that thread a minute or two, the
# clicked message showing its buttons all along. A longer one fails the call at once: the
# Courier queues the message in the outbox, due only once that wait is over (up to
# messaging.OUTBOX_MAX_BACKOFF; the outbox's own 429s wait likewise, messaging.Reach); a call
# outside the Courier fails with Slack's ``ratelimited``.
RATE_LIMIT_WAIT_MAX_S = 3.0
# An attribute DeliveryClient sets on the error a chat.postMessage raises: whether one of its
# tries may have landed (unknown, as True, on an error from any other client).
_MAY_HAVE_LANDED = "labelbot_may_have_landed"
# The attribute TokenWatch's record of a refused token carries (its error code): token_refusal
_TOKEN_REFUSED = "labelbot_token_refused"
# How many messages a Courier remembers the last edit that went through of (see Courier).
EDITS_REMEMBERED = 4096


class TokenWatch(RetryHandler):
    """Whether Slack takes the bot token, as this process last heard.

    A retry handler that never retries: slack_sdk shows each handler every answer (an ``ok``
    one too), and Bolt copies the handler list into the client it makes for each request, so
    one watch sees the answers of every client made from the bot's (``single_try`` keeps it).
    A refusal of the token (``bot.slack_errors.AUTH_ERRORS``) is logged as an ERROR, at most
    once per ``repeat_after`` seconds for each error code; the next answer that is ``ok``
    clears it. A call refused for a scope the app lacks (``missing_scope``) is logged as an
    ERROR naming the scope and how to add it, at most once per ``repeat_after`` seconds for
    each scope: calls made outside any Slack request (digests, nudges, the outbox) have nobody
    else to say it. Other calls' ``ok`` answers do not clear it (the scope is still missing).

    It also keeps whether Slack answered at all: ``state`` is ``unverified`` before any call
    of this process has had an answer (or failed to get one), ``unreachable`` while the last
    call got no HTTP answer (no connection, a timeout: slack_sdk logs each), and ``ok`` once
    one does, unless the token is refused (its error code, whatever else happens).
    """

    def __init__(
        self, *, repeat_after: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(max_retry_count=0)
        self._lock = threading.Lock()
        self._problem: str | None = None
        self._codes = Throttle(repeat_after, clock=clock)  # by the token's error code
        self._scopes = Throttle(repeat_after, clock=clock)  # by the scope needed
        self._reached: bool | None = None  # whether the last call got an answer (None: no call)

    @property
    def problem(self) -> str | None:
        """The error Slack refused the token with, or None while it takes it."""
        return self._problem

    @property
    def state(self) -> str:
        """What /healthz says of Slack: the token's refusal, else ``ok``, ``unreachable`` or
        ``unverified`` (see the class)."""
        if self._problem is not None:
            return self._problem
        return {None: UNVERIFIED, False: UNREACHABLE, True: "ok"}[self._reached]

    def reached(self, answered: bool) -> None:
        """A call got an HTTP answer from Slack (``answered``), or none."""
        was, self._reached = self._reached, answered
        if answered and was is False:
            log.info("Slack's Web API answers again")

    def refused(self, code: str) -> None:
        with self._lock:
            self._problem = code
        if self._codes.due(code):
            log.error("Slack refuses the bot token (%s): %s", code, TOKEN_ADVICE,
                      extra={_TOKEN_REFUSED: code})  # fmt: skip

    def lacks_scope(self, needed: str | None, method: str) -> None:
        """A ``method`` call refused for the scope ``needed`` (None: Slack did not say)."""
        if not self._scopes.due(needed or ""):
            return
        lacks = f"the scope {needed}" if needed else "a scope it needs (Slack did not say which)"
        log.error("Slack refused %s (missing_scope): the Slack app lacks %s: %s",
                  method, lacks, SCOPE_FIX)  # fmt: skip

    def accepted(self) -> None:
        if self._problem is None:
            return
        with self._lock:
            was, self._problem = self._problem, None
        self._codes.clear()
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
        self.reached(response is not None)
        answer = _answer(response)
        if answer.get("ok") is True:
            self.accepted()
        elif answer.get("error") in AUTH_ERRORS:
            self.refused(str(answer["error"]))
        elif answer.get("error") == "missing_scope":
            needed = answer.get("needed")
            method = request.url.rstrip("/").rsplit("/", 1)[-1]
            self.lacks_scope(str(needed) if needed else None, method)
        return False


def token_refusal(record: logging.LogRecord) -> bool:
    """Whether ``record`` is :class:`TokenWatch`'s ERROR that Slack refuses the bot token: a
    command whose own error says so leaves it out (`labelbot digest --post`), or the refusal
    was said twice."""
    return hasattr(record, _TOKEN_REFUSED)


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


def _is_post(request: HttpRequest) -> bool:
    return request.url.rstrip("/").endswith("/" + POST)


class _NotPosts(RetryHandler):
    """A slack_sdk retry handler that leaves chat.postMessage alone: the request may have
    reached Slack, and `DeliveryClient` looks for the message before posting it again."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return not _is_post(request) and super()._can_retry(
            state=state, request=request, response=response, error=error
        )


class ConnectionRetries(_NotPosts, ConnectionErrorRetryHandler):
    """slack_sdk's retries of a dropped connection, except for chat.postMessage."""


class ServerErrorRetries(_NotPosts, ServerErrorRetryHandler):
    """slack_sdk's retries of a 500 or 503, except for chat.postMessage."""


class ShortRateLimitRetries(RateLimitErrorRetryHandler):
    """slack_sdk's retries of a 429 after its Retry-After, for a short one only
    (RATE_LIMIT_WAIT_MAX_S says why): a longer one, or one that is no number of seconds
    (slack_sdk's own handler raised ValueError on "1.5"), is the caller's (the Courier's)."""

    def __init__(self, max_retry_count: int = 2, *, longest: float = RATE_LIMIT_WAIT_MAX_S):
        super().__init__(max_retry_count=max_retry_count)
        self.longest = longest

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        wait = _retry_after(response)
        return (
            response is not None
            and response.status_code == 429
            and wait is not None
            and (wait <= self.longest)
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = _retry_after(response)
        state.next_attempt_requested = True
        time.sleep((1.0 if wait is None else wait) + random.random())  # jitter, as slack_sdk
        state.increment_current_attempt()


def _retry_after(response: HttpResponse | None) -> float | None:
    """A 429's Retry-After in seconds (1 without one, as slack_sdk waits then), or None where
    it is no number of seconds."""
    if response is None:
        return None
    found = [v for k, v in response.headers.items() if str(k).lower() == "retry-after"]
    if not found:
        return 1.0
    value = found[0][0] if isinstance(found[0], list) and found[0] else found[0]
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None


class DeliveryClient(WebClient):
    """A WebClient whose chat.postMessage is never sent twice on a guess: the post gets a
    delivery key (`with_delivery_key`), and after an answer that leaves open whether Slack
    stored it (`may_have_landed`) the conversation is searched for that key (`find_post`)
    before the post is tried again (up to POST_RETRIES times, for a 5xx or a dropped
    connection, as slack_sdk's handlers did) or the failure goes to the caller. A message
    found is the answer, as chat.postMessage would have given it."""

    def api_call(
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> SlackResponse:
        if api_method != POST or json is None or files or data:
            return super().api_call(
                api_method, http_verb=http_verb, files=files, data=data, params=params,
                json=json, headers=headers, auth=auth,
            )  # fmt: skip
        payload = with_delivery_key(json)
        attempt = 0
        unchecked = False  # an earlier try may have landed, and the search could not tell
        while True:
            try:
                return super().api_call(
                    POST, http_verb=http_verb, params=params, json=payload, headers=headers,
                    auth=auth,
                )  # fmt: skip
            except (SlackApiError, *CONNECTION_ERRORS) as exc:
                unsure = may_have_landed(exc)
                again = attempt < POST_RETRIES and _retried_here(exc)
                if not unsure and not again:
                    setattr(exc, _MAY_HAVE_LANDED, unchecked)
                    raise
                if again:
                    time.sleep(default_interval_calculator.calculate_sleep_duration(attempt))
                found = None
                if unsure:
                    found, searched = _look_for(self, payload)
                    unchecked = unchecked or not searched
                if found is not None:
                    return SlackResponse(
                        client=self, http_verb="POST", api_url=f"{self.base_url}{POST}",
                        req_args={"json": payload}, data=found, headers={}, status_code=200,
                    )  # fmt: skip
                if not again:
                    setattr(exc, _MAY_HAVE_LANDED, True)  # it may land yet, after the search
                    raise
                attempt += 1


def delivery_client(client: WebClient) -> DeliveryClient:
    """A DeliveryClient with ``client``'s settings: token, address, timeout, TLS, proxy, headers,
    team, logger and retry handlers (the same handler objects: its ``TokenWatch`` too)."""
    return DeliveryClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=dict(client.headers),
        team_id=client.default_params.get("team_id"),
        logger=client.logger,
        retry_handlers=list(client.retry_handlers),
    )


def make_client(settings: SlackSettings) -> WebClient:
    """The bot's Web API client, pointed at ``SLACK_API_URL``, retrying what can be retried
    (a chat.postMessage only once it is sure the earlier try did not land: DeliveryClient; a
    rate limit only when it asks for a short wait: ShortRateLimitRetries), with a
    ``TokenWatch`` (first: it must see every answer, retried or not)."""
    if not any(isinstance(f, _FailedTryAsDebug) for f in SLACK_CALLS.filters):
        SLACK_CALLS.addFilter(_FailedTryAsDebug())
    return DeliveryClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=10,
        logger=SLACK_CALLS,
        retry_handlers=[
            TokenWatch(),
            ConnectionRetries(max_retry_count=2),
            ShortRateLimitRetries(max_retry_count=2),
            ServerErrorRetries(max_retry_count=2),
        ],
    )


def token_watch(client: WebClient) -> TokenWatch | None:
    """The ``TokenWatch`` of a client made by :func:`make_client` (None for any other)."""
    return next((h for h in client.retry_handlers if isinstance(h, TokenWatch)), None)


def single_try(
    client: WebClient, *, timeout: float | None = None, logger: logging.Logger | None = None
) -> WebClient:
    """A copy of ``client`` that makes each call once (no retry, no Retry-After sleep), for a
    caller with its own deadline or its own retries; ``timeout`` in seconds, else the client's;
    ``logger`` the one slack_sdk logs to, else the client's. It keeps the client's
    ``TokenWatch``."""
    watch = token_watch(client)
    return WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout if timeout is None else timeout,  # type: ignore[arg-type]
        retry_handlers=[] if watch is None else [watch],
        logger=logger or client.logger,
    )


def slack_wide(exc: Exception) -> bool:
    """Whether a failed call says nothing about the call itself: Slack took no call just then
    (no connection, a timeout, a 5xx, a rate limit). Not an answer about this call, even one
    worth retrying (an ``internal_error`` with HTTP 200)."""
    if isinstance(exc, CONNECTION_ERRORS):
        return True
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        return status == 429 or status >= 500 or error_code(exc) in SLACK_WIDE_ERRORS
    return False


def rate_limited(exc: Exception) -> bool:
    """Whether Slack refused a call for its rate (HTTP 429, ``ratelimited``): a limit of that
    method's (Slack counts each method's calls apart,
    https://docs.slack.dev/apis/web-api/rate-limits), which says nothing of the others."""
    if not isinstance(exc, SlackApiError):
        return False
    return exc.response.status_code == 429 or error_code(exc) == RATE_LIMITED


def asked_to_wait(exc: Exception) -> timedelta | None:
    """How long Slack asked not to be called again: a rate limit's Retry-After (seconds), or
    None where it said nothing usable."""
    if not rate_limited(exc):
        return None
    assert isinstance(exc, SlackApiError)
    headers = {str(k).lower(): v for k, v in (exc.response.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):  # slack_sdk keeps a header's values as a list
        value = value[0] if value else None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    return timedelta(seconds=seconds) if 0 < seconds < float("inf") else None


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


def with_delivery_key(payload: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """A chat.postMessage payload whose metadata carries a delivery key, unique to this post
    and made before its first try (``payload`` itself when it has one already): every retry of
    the post, by the client or the outbox, sends the same key."""
    if delivery_key(payload) is not None:
        return payload
    meta = payload.get("metadata") or {}
    extra = meta.get("event_payload") or {}
    return {
        **payload,
        "metadata": {
            "event_type": meta.get("event_type") or DELIVERY_EVENT,
            "event_payload": {
                **extra,
                "delivery_key": uuid.uuid4().hex,
                "first_try": round(time.time() if now is None else now, 3),
            },
        },
    }


def delivery_key(payload: dict[str, Any]) -> str | None:
    meta = payload.get("metadata")
    event = meta.get("event_payload") if isinstance(meta, dict) else None
    key = event.get("delivery_key") if isinstance(event, dict) else None
    return str(key) if key else None


def may_have_landed(exc: Exception) -> bool:
    """Whether a failed chat.postMessage may have been stored by Slack all the same: a 5xx,
    an answer that says so (UNSURE_ERRORS), a timeout, a connection lost after the request went
    out. Not a 429 or another error answer, nor a connection that was never made."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        if status == 429:
            return False
        return status >= 500 or error_code(exc) in UNSURE_ERRORS
    if isinstance(exc, URLError):
        # urllib raises it while connecting or sending (a new connection per call): not all of
        # the request went out, and Slack does not act on a truncated one. (An HTTP error
        # status comes as a SlackApiError: slack_sdk reads the answer.)
        return False
    # Raised while waiting for the answer: the request was sent.
    return isinstance(exc, CONNECTION_ERRORS)


def post_may_have_landed(exc: Exception) -> bool:
    """Whether a chat.postMessage that failed with ``exc`` may have been stored by Slack, any
    of its tries: as a DeliveryClient marks the error it raises (a try before the last may
    have landed, its search unable to tell), else as the last answer says
    (:func:`may_have_landed`)."""
    marked = getattr(exc, _MAY_HAVE_LANDED, None)
    return may_have_landed(exc) if marked is None else bool(marked)


def _retried_here(exc: Exception) -> bool:
    """What slack_sdk's handlers retry: a 500 or 503, a connection that failed or was reset.
    Not a timeout waiting for the answer: Slack may still be storing the message; the outbox
    tries again later."""
    if isinstance(exc, SlackApiError):
        return exc.response.status_code in (500, 503)
    return isinstance(exc, (URLError, ConnectionResetError))


def find_post(client: WebClient, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The message an earlier try of the chat.postMessage ``payload`` left in Slack, shaped as
    chat.postMessage answers (ok, channel, ts, message); None when there is none, or when the
    search itself failed (logged): posting again beats losing the message."""
    return _look_for(client, payload)[0]


def _look_for(client: WebClient, payload: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """:func:`find_post`'s answer, and whether the search read its whole window (False when it
    failed, logged)."""
    try:
        return search_post(client, payload), True
    except (SlackApiError, *CONNECTION_ERRORS, SearchCutShort) as exc:
        _search_failed(payload, exc)
        return None, False


def _search_failed(payload: dict[str, Any], exc: Exception) -> None:
    # A refused token is logged by the TokenWatch, and refuses the post too.
    (log.debug if is_auth_error(exc) else log.warning)(
        "could not check whether an earlier try of a chat.postMessage to %s landed (%s): "
        "sending it again", payload.get("channel"), refusal(exc),
    )  # fmt: skip


def search_post(
    client: WebClient,
    payload: dict[str, Any],
    *,
    latest: str | None = None,
    read_to: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """:func:`find_post`, raising what stopped the search (a SlackApiError, a connection error,
    SearchCutShort) instead of logging it. ``latest`` (a Slack ts) bounds the window too: the
    messages before it only (a post whose tries all ended by then: :func:`post_window`; the
    rest read by an earlier search); ``read_to`` is told the ts of the oldest message read
    after each page that leaves more to read (a search cut short later goes on from there).

    conversations.history of the channel (conversations.replies of the thread for a reply) from
    the post's first try on, page after page (cut short by LOOKUP_PAGES or LOOKUP_TIMEOUT_S:
    logged, as a failed search), with include_all_metadata (without it Slack leaves metadata out):
    im:history, channels:history and groups:history cover the DMs and project channels
    labelbot posts to. A DM addressed by user id is found with conversations.open (im:write).
    https://docs.slack.dev/reference/methods/conversations.history
    """
    key = delivery_key(payload)
    if key is None:
        return None
    event = payload["metadata"]["event_payload"]
    since = float(event.get("first_try") or time.time()) - LOOKUP_MARGIN_S
    deadline = time.monotonic() + LOOKUP_TIMEOUT_S
    reader = single_try(client, timeout=min(float(client.timeout or LOOKUP_TIMEOUT_S),
                                            LOOKUP_TIMEOUT_S))  # fmt: skip
    channel = _conversation(reader, str(payload.get("channel", "")))
    found = _search(reader, channel, key=key, since=since, thread=payload.get("thread_ts"),
                    deadline=deadline, latest=latest, read_to=read_to)  # fmt: skip
    if found is None:
        return None
    log.info("chat.postMessage to %s had landed (%s) though its answer was lost: not sent again",
             channel, found["ts"])  # fmt: skip
    return {"ok": True, "channel": channel, "ts": str(found["ts"]), "message": found}


def post_window(client: WebClient) -> float:
    """Seconds after a chat.postMessage's first try by which each of ``client``'s tries of it
    had landed or failed (each try's timeout, its search and a short rate-limit wait), with
    LOOKUP_MARGIN_S for Slack's clock against ours: no later message in its channel is it."""
    timeout = float(client.timeout or LOOKUP_TIMEOUT_S)
    return (POST_RETRIES + 1) * (timeout + LOOKUP_TIMEOUT_S + RATE_LIMIT_WAIT_MAX_S) + (
        LOOKUP_MARGIN_S
    )


def _timed_out(exc: Exception) -> bool:
    return isinstance(exc, TimeoutError) or (
        isinstance(exc, URLError) and isinstance(exc.reason, TimeoutError)
    )


class SearchCutShort(Exception):
    """The search for an earlier try stopped before it had read the whole window (its pages or
    its time ran out): whether that try landed is not known."""


def _conversation(client: WebClient, channel: str) -> str:
    """The conversation id of a post's ``channel``: a user id names the DM with them."""
    if channel[:1] in ("U", "W"):
        opened = client.conversations_open(users=channel)
        return str(opened["channel"]["id"])
    return channel


def _search(
    client: WebClient,
    channel: str,
    *,
    key: str,
    since: float,
    thread: str | None,
    deadline: float,
    latest: str | None = None,
    read_to: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """The message carrying delivery ``key`` among those posted after ``since`` (Unix seconds)
    and before ``latest`` (a Slack ts, if given), paging with the cursor until Slack has no
    more (``read_to`` told the oldest ts read after each page that leaves more); raises
    SearchCutShort past LOOKUP_PAGES pages or the ``deadline`` (time.monotonic), each call given
    what is left of it. https://docs.slack.dev/apis/web-api/pagination"""
    window: dict[str, Any] = {
        "channel": channel, "oldest": f"{since:.6f}", "limit": LOOKUP_LIMIT,
        "include_all_metadata": True,
    }  # fmt: skip
    if latest is not None:
        window["latest"] = latest
    cursor: str | None = None
    full = float(client.timeout)
    for page in range(1, LOOKUP_PAGES + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            raise SearchCutShort(f"its {LOOKUP_TIMEOUT_S:g} s ran out, {page - 1} pages read")
        client.timeout = min(client.timeout, left)  # type: ignore[assignment]
        try:
            if thread:
                answer = client.conversations_replies(ts=thread, cursor=cursor, **window)
            else:
                answer = client.conversations_history(cursor=cursor, **window)
        except CONNECTION_ERRORS as exc:
            # A call given what was left of the search's time, and timed out: the search ran
            # out of time (a slow Slack, many pages), not Slack out of reach.
            if _timed_out(exc) and client.timeout < 0.9 * full:
                raise SearchCutShort(
                    f"its {LOOKUP_TIMEOUT_S:g} s ran out, {page - 1} pages read"
                ) from exc
            raise
        for message in answer.get("messages") or []:
            if isinstance(message, dict) and delivery_key(message) == key:
                return message
        cursor = (answer.get("response_metadata") or {}).get("next_cursor")
        if not answer.get("has_more") or not cursor:
            return None  # the whole window is read
        messages = [m for m in answer.get("messages") or [] if isinstance(m, dict) and "ts" in m]
        if read_to is not None and messages and not thread:  # history: newest first
            read_to(str(min(messages, key=lambda m: float(m["ts"]))["ts"]))
    raise SearchCutShort(f"{LOOKUP_PAGES} pages of {LOOKUP_LIMIT} messages read, and more left")


class Courier:
    """Posts and updates messages; what Slack cannot take now goes to the outbox.

    A chat.update replaces the whole message, so of the updates of one message only the
    newest may show, wherever and whenever each is sent: they are ordered by when they were
    first tried (an update made while another one waits out a rate limit is newer). One that
    goes through drops the older ones still queued (messaging.rewritten); one queued supersedes
    the older ones queued, and is dropped itself when a newer one is known (messaging.enqueue),
    and the outbox sends none older than one it knows of (messaging.drain). The Courier also
    remembers, for its last EDITS_REMEMBERED messages, when the newest update that went through
    was first tried: an older one that fails after it (its retries took longer) is not queued,
    and the outbox does not send one queued before it (this process's updates; another
    replica's direct updates are seen through the rows they dropped). An update made while the
    outbox is sending an older one of the message is queued behind it.

    A conversation's messages keep their order: while one queued for it is not sent yet (it
    waits out a long Retry-After, say), a new post to it is queued behind it instead of being
    posted above it, and the outbox sends one conversation's posts one at a time, in the order
    they were queued, across replicas (messaging.queued_in, messaging.drain). A conversation
    is the ``channel`` as given: a DM addressed by user id and by its D… id are two. What
    holds a conversation is Slack's state (a rate limit, an outage: every message would fail
    alike); a message Slack refuses on its own (``internal_error`` with HTTP 200, say) holds
    it for messaging.OUTBOX_LANE_PATIENCE tries from the outbox only, then the later ones go
    ahead of it and it follows when it goes through.

    While Slack takes no call (down, unreachable, rate limiting, refusing the token), the outbox
    tries one message at a time, about once a minute, counting none of it against the
    message (``reach``: messaging.Reach); the first call that goes through again, the outbox's
    or a post or update of the Courier's, makes every waiting message due at once."""

    def __init__(self, client: WebClient, ws: Workspace) -> None:
        self.client = client
        self.ws = ws
        self.reach = messaging.Reach("Slack")
        # The outbox sends each message once per claim and retries on its own schedule: a client
        # retry (a rate limit's Retry-After can be a minute) could outlast the message's lease,
        # and another replica would then send it a second time.
        if _as_debug not in OUTBOX_CALLS.filters:
            OUTBOX_CALLS.addFilter(_as_debug)
        self.once = single_try(client, logger=OUTBOX_CALLS)
        self._edits: OrderedDict[str, datetime] = OrderedDict()  # message key -> first try
        self._edits_lock = threading.Lock()

    def post(
        self,
        message: dict[str, Any],
        *,
        channel: str,
        thread_ts: str | None = None,
        assignment_id: int | None = None,
    ) -> tuple[str, str] | None:
        """chat.postMessage (https://docs.slack.dev/reference/methods/chat.postMessage).

        Returns (channel, ts), or None when the message was queued for later: Slack could not
        take it, or a message queued before for ``channel`` is not sent yet (it waits out a
        rate limit, say): this one is queued behind it, not posted above it. (An earlier
        delivery of ``assignment_id`` queued does not count: this one replaces it; nor does
        one that failed messaging.OUTBOX_LANE_PATIENCE tries of its own.)
        """
        payload = {"channel": channel, **message}
        if thread_ts is not None:
            payload["thread_ts"] = thread_ts
        # Keyed before the first try, so that the outbox's tries send the same key.
        payload = with_delivery_key(payload)
        ahead = _waiting(messaging.queued_in, self.ws, conversation=channel,
                         delivering=assignment_id)  # fmt: skip
        if ahead is not None:
            # Never tried, so never landed: the outbox sends it without a search first.
            queued = messaging.enqueue(
                self.ws, method=POST, payload=payload, assignment_id=assignment_id,
                error=f"{NOT_LANDED}queued behind outbox #{ahead}, for {channel}'s order",
                conversation=channel,
            )  # fmt: skip
            log.info("chat.postMessage to %s queued as outbox #%d behind outbox #%d: %s has "
                     "messages waiting", channel, queued, ahead, channel)  # fmt: skip
            return None
        data = self._call(POST, payload, assignment_id=assignment_id, conversation=channel)
        if data is None:
            return None
        where = (str(data["channel"]), str(data["ts"]))
        if assignment_id is not None:
            messaging.record_delivery(
                self.ws, assignment_id=assignment_id, channel=where[0], message_ts=where[1]
            )
        return where

    def update(self, message: dict[str, Any], *, channel: str, ts: str) -> bool:
        """chat.update (https://docs.slack.dev/reference/methods/chat.update); False if queued
        (or superseded by a newer update of the message that went through meanwhile).

        While the outbox is sending an older update of the message, this one is queued behind
        it (sent now, it could land first, and be overwritten by the older one); one that got
        in flight while this one went out makes the outbox send this one again after it."""
        key = message_key(channel, ts)
        first_try = utcnow()
        # chat.update takes no unfurl arguments (chat.postMessage's, which every message
        # carries: bot.views.text.message): sent as documented, not as Slack may tolerate
        payload = {"channel": channel, "ts": ts}
        payload |= {k: v for k, v in message.items() if k not in UNFURL_KEYS}
        ahead = _waiting(messaging.edit_in_flight, self.ws, message_key=key)
        if ahead is not None:
            self._update_after(payload, key=key, first_try=first_try, ahead=ahead,
                               why="queued behind", then="being sent")  # fmt: skip
            return False
        if self._call(UPDATE, payload, rewrites=key, first_try=first_try) is None:
            return False
        self._went_through(key, first_try)
        ahead = messaging.rewritten(self.ws, message_key=key, first_try=first_try)
        if ahead is not None:
            self._update_after(payload, key=key, first_try=first_try, ahead=ahead,
                               why="sent while", then="was: again after it")  # fmt: skip
        return True

    def _update_after(
        self, payload: dict[str, Any], *, key: str, first_try: datetime, ahead: int, why: str,
        then: str,
    ) -> int:  # fmt: skip
        """Queue the chat.update ``payload`` of message ``key`` to go out after outbox
        ``ahead``, an older update of it the outbox is sending (or sent meanwhile)."""
        queued = messaging.enqueue(
            self.ws, method=UPDATE, payload=payload, rewrites=key, first_try=first_try,
            error=f"{why} outbox #{ahead}, an older update of {key} {then}",
        )  # fmt: skip
        log.info("chat.update of %s queued as outbox #%d, after outbox #%d (an older update of "
                 "it the outbox %s)", key, queued, ahead,
                 "is sending" if why == "queued behind" else "sent meanwhile")  # fmt: skip
        return queued

    def _call(
        self,
        method: str,
        payload: dict[str, Any],
        *,
        assignment_id: int | None = None,
        rewrites: str | None = None,
        first_try: datetime | None = None,
        conversation: str | None = None,
    ) -> dict[str, Any] | None:
        try:
            response = self.client.api_call(method, json=payload)
        except (SlackApiError, *CONNECTION_ERRORS) as exc:
            reason = transient_error(exc)
            if reason is None:
                raise
            if method == POST and getattr(exc, _MAY_HAVE_LANDED, True) is False:
                reason = NOT_LANDED + reason
            if self._outdated(rewrites, first_try):
                log.info("%s of %s failed after retries (%s): not queued, a newer one went "
                         "through meanwhile", method, rewrites, reason)  # fmt: skip
                return None
            # A rate limit longer than the client waits out (RATE_LIMIT_WAIT_MAX_S): the outbox
            # waits the rest of it too, instead of a try within its next round refused again.
            queued = messaging.enqueue(
                self.ws, method=method, payload=payload, assignment_id=assignment_id,
                error=reason, rewrites=rewrites, first_try=first_try,
                retry_after=asked_to_wait(exc), conversation=conversation,
            )  # fmt: skip
            log.warning(
                "%s failed after retries (%s): queued as outbox #%d", method, reason, queued
            )
            return None
        self.reach.reached()
        data = response.data
        assert isinstance(data, dict)
        return data

    def _went_through(self, key: str, first_try: datetime) -> None:
        with self._edits_lock:
            self._edits[key] = max(first_try, self._edits.get(key, first_try))
            self._edits.move_to_end(key)
            while len(self._edits) > EDITS_REMEMBERED:
                self._edits.popitem(last=False)

    def _outdated(self, key: str | None, first_try: datetime | None) -> bool:
        """Whether an update of ``key`` first tried later than ``first_try`` went through."""
        if key is None or first_try is None:
            return False
        with self._edits_lock:
            newest = self._edits.get(key)
        return newest is not None and newest > first_try

    def flush(
        self,
        limit: int = 50,
        *,
        stop: threading.Event | None = None,
        now: datetime | None = None,
    ) -> int:
        """Send what the outbox holds and is due; the number delivered. ``stop``: once set, the
        round ends after the message in flight. ``now``: the outbox's clock (the database's
        unless given: tests simulate time with it, see messaging.drain)."""
        return messaging.drain(
            self.ws, send=self._resend, limit=limit, reach=self.reach, stop=stop, now=now
        )

    def _resend(self, pending: Pending) -> str | None:
        key, first_try = pending.message_key, pending.first_try
        if self._outdated(key, first_try):
            raise Superseded(f"a newer update of {key} went through")
        # Queued because a try failed: unless every try was refused outright (NOT_LANDED), one
        # may have landed (and its answer been lost), so a keyed post is looked for before it
        # is sent. A search Slack does not answer (no connection, a timeout, a 5xx) ends the
        # round, the post unsent: sent now, it could land a second time each round of an
        # outage. A search refused for its rate is a failed search (logged, the post sent): a
        # 429 is that method's own limit, not Slack's (conversations.history gives an app
        # outside the Marketplace about a call a minute), and the message would otherwise
        # stay the round's first, and the outbox stuck behind it, until given up.
        post = pending.method == POST
        clean = not post or (pending.last_error or "").startswith(NOT_LANDED)
        found = None
        if not clean:
            try:
                found = search_post(self.once, pending.payload)
                clean = True
            except (SlackApiError, *CONNECTION_ERRORS, SearchCutShort) as exc:
                if slack_wide(exc) and not rate_limited(exc):
                    raise Unreachable(transient_error(exc) or refusal(exc)) from exc
                _search_failed(pending.payload, exc)
        try:
            response = found or self.once.api_call(pending.method, json=pending.payload)
        except (SlackApiError, *CONNECTION_ERRORS) as exc:
            if is_auth_error(exc):
                # Not this message's fault: every call fails alike until the token is fixed
                # (the TokenWatch has logged it), so the message waits for that.
                raise DeliveryBlocked(f"Slack refuses the bot token ({error_code(exc)})") from exc
            reason = transient_error(exc)
            if reason is None:
                raise PermanentFailure(refusal(exc)) from exc
            if post and clean and not may_have_landed(exc):
                reason = NOT_LANDED + reason
            if slack_wide(exc):
                raise Unreachable(reason, retry_after=asked_to_wait(exc)) from exc
            return reason
        if key is not None and first_try is not None:
            self._went_through(key, first_try)
        if pending.assignment_id is not None and pending.method == POST:
            messaging.record_delivery(
                self.ws,
                assignment_id=pending.assignment_id,
                channel=str(response["channel"]),
                message_ts=str(response["ts"]),
                outbox_id=pending.id,
            )
        return None


def _waiting(look: Callable[..., int | None], ws: Workspace, **where: Any) -> int | None:
    """What a new call must wait behind (``look``: messaging.queued_in or
    messaging.edit_in_flight, one read, None in the common case). A database out of reach
    cannot say: the call is then sent as it is (nothing could be queued behind anything)."""
    try:
        return look(ws, **where)
    except DatabaseUnavailable as exc:
        log.debug("outbox not read (%s): sent without waiting for a queue", exc)
        return None


def _as_debug(record: logging.LogRecord) -> bool:
    """A logging filter: the record as a DEBUG one, kept only where DEBUG is on (the logger's
    level was checked against the record's own level)."""
    record.levelno, record.levelname = logging.DEBUG, "DEBUG"
    return OUTBOX_CALLS.isEnabledFor(logging.DEBUG)


class _FailedTryAsDebug(logging.Filter):
    """slack_sdk's ERROR line for a failed try (FAILED_TRY) as a DEBUG one, kept only where
    DEBUG is on; its other lines as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not record.getMessage().startswith(FAILED_TRY):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return SLACK_CALLS.isEnabledFor(logging.DEBUG)


def message_key(channel: str, ts: str) -> str:
    """The outbox's key of a message (messaging.enqueue's ``rewrites``): its channel and ts."""
    return f"{channel}:{ts}"


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
