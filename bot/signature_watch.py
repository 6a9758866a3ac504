"""Says in the log why Slack's requests are refused, so an operator can fix it.

A wrong SLACK_SIGNING_SECRET makes every request to /slack/events fail its signature check
(401), and a server clock more than 5 minutes off makes every request's timestamp look stale
(401 too): Slack shows its users only "dispatch_failed" or "This app is not responding", and the
access log only a 401. :class:`SignatureWatch` reads the refusals' headers and logs a WARNING
that says which it is and what to fix, at most once per ``repeat_after`` seconds for each cause,
with the count refused since its last line. A request without Slack's signature headers is no
request from Slack (a scanner, a health probe at the wrong path): it is left to the access log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.metrics import route_path
from bot.throttle import Throttle

log = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"
# Slack's tolerance for a request's timestamp (bot.api.SLACK_MAX_AGE_S, slack_sdk's verifier)
MAX_AGE_S = 300
REPEAT_AFTER_S = 600.0

# Digits of a Unix time in seconds (10 until the year 2286): a longer "timestamp" is no time
# Slack sends, and int() of thousands of digits is slow or refused.
STAMP_DIGITS = 12


def signed_timestamp(headers: Headers) -> int | None:
    """The request's X-Slack-Request-Timestamp when it is signed (X-Slack-Signature) and the
    timestamp is a plain ASCII whole number of seconds; None otherwise (``isdigit`` alone takes
    "²" and other Unicode digits, which int() refuses)."""
    stamp = headers.get("x-slack-request-timestamp", "")
    if not headers.get("x-slack-signature") or not stamp.isascii() or not stamp.isdigit():
        return None
    return int(stamp) if len(stamp) <= STAMP_DIGITS else None


BAD_SIGNATURE = "bad_signature"
STALE = "stale_timestamp"
ADVICE = {
    BAD_SIGNATURE: (
        "their signature does not match SLACK_SIGNING_SECRET. If Slack's requests all fail so "
        "(every command and click fails in Slack), SLACK_SIGNING_SECRET is wrong: set it to the "
        "app's Signing Secret (https://api.slack.com/apps → the app → Basic Information → App "
        "Credentials; not the Client Secret nor a token) and restart labelbot"
    ),
    STALE: (
        "their timestamps are {skew} s {direction} this server's clock (Slack's requests are "
        "accepted within 5 minutes of it). If Slack's requests all fail so, this server's "
        "clock is wrong: set it right (NTP: timedatectl set-ntp true, or chrony); else someone "
        "is replaying old requests"
    ),
}


class SignatureWatch:
    """ASGI middleware (bot.api.create_api adds it): every 401 of ``/slack/events`` to a request
    that carries Slack's signature headers is counted by cause and logged (see the module's
    docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        repeat_after: float = REPEAT_AFTER_S,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.repeat_after = repeat_after
        self._clock = clock  # Unix time, as Slack's timestamps
        self._causes = Throttle(repeat_after, clock=monotonic)
        self._lock = threading.Lock()
        self._unlogged: dict[str, int] = {}  # cause -> refusals since its last line

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) != SLACK_PATH:
            await self.app(scope, receive, send)
            return

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.refused(Headers(scope=scope))
            await send(message)

        await self.app(scope, receive, watched)

    def refused(self, headers: Headers) -> None:
        """Count a 401 to a request with these headers, and log it when its cause is due."""
        stamp = signed_timestamp(headers)
        if stamp is None:
            return  # not signed, or no time: nothing Slack sent
        skew = round(self._clock() - stamp)
        cause = STALE if abs(skew) > MAX_AGE_S else BAD_SIGNATURE
        with self._lock:
            count = self._unlogged.get(cause, 0) + 1
            if not self._causes.due(cause):
                self._unlogged[cause] = count
                return
            self._unlogged[cause] = 0
        log.warning(
            "refused %d signed request(s) to %s (401; said at most every %g min): %s",
            count,
            SLACK_PATH,
            self.repeat_after / 60,
            ADVICE[cause].format(skew=abs(skew), direction="behind" if skew > 0 else "ahead of"),
        )
