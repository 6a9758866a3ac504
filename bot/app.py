"""The Bolt app: listeners registered, services in every request's context, one error handler."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse, Respond
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookResponse

from bot.config import SlackSettings
from bot.delivery import delivery_client, single_try, transient_error
from bot.listeners import register_all
from bot.listeners.events import rate_limited
from bot.listeners.shape import WellFormed
from bot.services import Services
from bot.slack_errors import (
    CHANNEL_ERRORS,
    CONTENT_ERRORS,
    RATE_LIMITED,
    error_code,
    is_auth_error,
    scope_advice,
)
from bot.slack_text import Mrkdwn, escape, escape_mrkdwn, truncate
from bot.views.text import FALLBACK_TEXT_MAX
from storage.errors import DatabaseUnavailable, LabelbotError, StaleActionError

log = logging.getLogger(__name__)

# An error's ephemeral answer: within what Slack advises for a message's text (4,000) and as
# long as a message's fallback text (bot.views.text.FALLBACK_TEXT_MAX); Slack would cut it only
# past 40,000 (https://docs.slack.dev/reference/methods/chat.postMessage).
ERROR_TEXT_MAX = FALLBACK_TEXT_MAX
UNEXPECTED = "Sorry, something went wrong on labelbot's side (it is logged). Please try again."
# Not the driver's words (they name the database's host): what happened, and what to do.
DATABASE_UNAVAILABLE = (
    "labelbot cannot reach its database just now, so nothing was stored. Please try again in "
    "a minute."
)
# Slack down or out of reach (bot.delivery.transient_error): its trouble, which passes
SLACK_UNAVAILABLE = "Slack did not answer labelbot just now{code}. Please try again in a minute."
# A bot token Slack refuses (bot.slack_errors.AUTH_ERRORS) fails every Web API call until the
# app is reinstalled or SLACK_BOT_TOKEN replaced: trying again cannot help, an admin can.
TOKEN_REFUSED = (
    "Slack refused labelbot's bot token{code}, so labelbot cannot send or update messages. "
    "Please tell whoever runs labelbot: the app needs to be reinstalled, or its token replaced."
)
# Slack waits 3 seconds for the answer to a request, and Bolt answers only once it has
# authorized it: auth.test (asked once, then kept) gets one try of 2 seconds, so a Web API that
# hangs or refuses connections fails the first requests fast rather than after the client's
# 10 s timeout and retries.
AUTH_TEST_TIMEOUT_S = 2.0


def build_app(settings: SlackSettings, services: Services) -> App:
    """A Bolt app (synchronous listeners, run after their ack in ``services.listener_executor``).

    Bolt checks every request's signature and timestamp (RequestVerification) and drops the
    bot's own events; ``auth.test`` runs on the first request that needs it (:class:`BotIdentity`),
    so building makes no call. An error a listener raises after its ack goes to
    :func:`handle_error` without passing through Bolt, which would turn the acked answer into a
    500 (bot/listeners/registrar.py).
    """
    app = LabelbotApp(
        # The token comes with the authorization (BotIdentity); a client's own token would be
        # ignored, with a warning at every start.
        client=_without_token(services.client),
        authorize=BotIdentity(services.client),
        user_facing_authorize_error_message=f":warning: {TOKEN_REFUSED.format(code='')}",
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        listener_executor=services.listener_executor,
        # A malformed request is answered 400 before Bolt builds anything from it
        # (bot/listeners/shape.py); Slack's app_rate_limited notice needs no token: answered
        # before Bolt authorizes (auth.test), so it is answered 200 even while Slack's Web API
        # is unreachable
        before_authorize=WellFormed(rate_limited),
    )
    slack_hosts = response_url_hosts(services.client)

    def provide_services(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        context["services"] = services
        given = context.respond
        if given is not None and given.response_url:
            if not slack_url(given.response_url, slack_hosts):
                # labelbot posts its answers to the response_url: one that is not Slack's
                # would make it send a request wherever the payload says (SSRF)
                log.warning("refused a request whose response_url is not Slack's: %.200r",
                            given.response_url)  # fmt: skip
                return BoltResponse(status=400, body="Not a request Slack sends: its "
                                    "response_url is not Slack's.")  # fmt: skip
            context["respond"] = CheckedRespond(
                response_url=given.response_url, proxy=given.proxy, ssl=given.ssl
            )
        return next()

    app.use(provide_services)
    register_all(app, on_error=handle_error)
    app.error(handle_error)
    return app


# Slack's response_urls are https://hooks.slack.com/... (https://docs.slack.dev/interactivity/
# handling-user-interaction), on the default port; the Web API's own origin (SLACK_API_URL: a
# proxy, a test's fake) is trusted for them too, on its port only: another port of that host
# is another service.
RESPONSE_URL_HOSTS = (("https", "hooks.slack.com", 443), ("https", "hooks.slack-gov.com", 443))
DEFAULT_PORTS = {"https": 443, "http": 80}

Origin = tuple[str, str, int]  # scheme, host, port


def response_url_hosts(client: WebClient) -> tuple[Origin, ...]:
    """The origins (scheme, host, port) a response_url may point at."""
    api = _origin(client.base_url)
    return RESPONSE_URL_HOSTS if api is None else (*RESPONSE_URL_HOSTS, api)


def _origin(url: str) -> Origin | None:
    """``url``'s scheme and host (lower-cased) and port (the scheme's default when it names
    none); None for a URL with a port that is no number or 0, none for its scheme, or a user."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is no number or out of range
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    port = DEFAULT_PORTS.get(scheme) if port is None else port
    if port is None or port == 0 or parts.username is not None:
        return None
    return scheme, (parts.hostname or "").lower(), port


def slack_url(url: object, hosts: tuple[Origin, ...]) -> bool:
    """Whether ``url`` is a response_url labelbot may post to: at one of the origins ``hosts``
    (scheme, host and port alike)."""
    if not isinstance(url, str) or not url.isascii():
        return False
    return _origin(url) in hosts


class LabelbotApp(App):
    """Bolt's App, whose per-request client (the ``client`` listeners and the error handler are
    given) is a :class:`bot.delivery.DeliveryClient`, so that a chat.postMessage through it is
    never sent twice on a guess. Bolt makes that client a plain ``WebClient`` copy of the app's
    for each request, in ``App._init_context`` (slack_bolt/app/app.py); it is replaced there,
    before any middleware (authorization sets its token) sees it."""

    def _init_context(self, req: BoltRequest) -> None:
        super()._init_context(req)
        req.context["client"] = delivery_client(req.context.client)


class SlackUnavailableError(Exception):
    """Slack's Web API refused auth.test for a reason other than the token (a rate limit, a
    server error): the request fails (500), and the next one asks again."""


class BotIdentity(Authorize):
    """Bolt's authorization for labelbot's one workspace, as Bolt's own (SingleTeamAuthorization)
    but with a deadline: the bot's identity from auth.test
    (https://docs.slack.dev/reference/methods/auth.test), asked by the first request that needs
    it, in one try of ``timeout`` seconds, and kept once Slack answers.

    Until then each request asks again. A Web API out of reach or too slow fails the request
    (Bolt answers 500) within ``timeout``; so does a rate limit or a server error; a refused
    token (invalid_auth, token_revoked…) is answered by Bolt with TOKEN_REFUSED.
    """

    def __init__(self, client: WebClient, *, timeout: float = AUTH_TEST_TIMEOUT_S) -> None:
        self._client = single_try(client, timeout=timeout)
        self._answer: SlackResponse | None = None

    def __call__(
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult:
        answer = self._answer
        if answer is None:
            try:
                answer = self._client.auth_test()
            except SlackApiError as exc:
                if is_auth_error(exc):
                    raise  # Bolt logs it and answers TOKEN_REFUSED
                raise SlackUnavailableError(f"auth.test failed: {error_code(exc)}") from exc
            self._answer = answer
        return AuthorizeResult.from_auth_test_response(
            auth_test_response=answer,
            bot_token=self._client.token,
            bot_scopes=answer.headers.get("x-oauth-scopes"),
        )


def _without_token(client: WebClient) -> WebClient:
    """``client``'s settings (address, timeout, retries, logger) without its token, for Bolt's
    app."""
    return WebClient(
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=client.headers,
        retry_handlers=client.retry_handlers,
        logger=client.logger,
    )


class CheckedRespond(Respond):
    """Bolt's ``respond()``, which does not raise when Slack refuses the message (a
    response_url answers HTTP 400 ``invalid_blocks``, or 404 once it has expired after 30
    minutes or 5 uses): the refusal is logged, or the answer would vanish without a trace.
    https://docs.slack.dev/interactivity/handling-user-interaction"""

    def __call__(self, *args: Any, **kwargs: Any) -> WebhookResponse:
        answer = super().__call__(*args, **kwargs)
        if answer.status_code >= 400:
            log.warning(
                "Slack refused an answer to a response_url: HTTP %s %s",
                answer.status_code,
                str(answer.body)[:200],
            )
        return answer


def _slack_refusal(error: Exception, body: dict[str, Any], context: BoltContext) -> str:
    """What the user is told when a Web API call of their request was refused (other than the
    token): why, and whether trying again can help. Logged as a warning when it is Slack's or
    the workspace's doing, as an error with its traceback when it is labelbot's (a message Slack
    refuses as built, an error code labelbot does not know)."""
    code = str(error_code(error))
    request = body.get("type") or body.get("command") or "unknown"
    said = f"(`{escape(code)}`)"
    if code == RATE_LIMITED:
        log.warning("a %s request of %s ended: Slack rate-limited it", request, context.user_id)
        return (
            f":warning: Slack is limiting how fast labelbot may write just now {said}. What you "
            "did before this is kept; please try again in a minute."
        )
    if code in CHANNEL_ERRORS:
        log.warning("a %s request of %s ended: Slack said %s", request, context.user_id, code)
        why = {
            "not_in_channel": "labelbot is not a member of that channel: invite it with "
            "`/invite @labelbot`, then try again",
            "channel_not_found": "Slack does not know that channel (deleted, or private "
            "without labelbot in it): a project admin can set another with `labelbot project "
            "set NAME --channel C0123`",
        }.get(code, "that channel is archived: unarchive it, or a project admin can set "
              "another with `labelbot project set NAME --channel C0123`")  # fmt: skip
        return f":warning: Slack refused labelbot's message {said}: {why}."
    trouble = transient_error(error)
    if trouble is not None:  # Slack's trouble (a 5xx, internal_error): retrying later may help
        log.warning("a %s request of %s ended: Slack did not answer (%s)", request,
                    context.user_id, trouble)  # fmt: skip
        return f":warning: {SLACK_UNAVAILABLE.format(code=f' {said}')}"
    advice = scope_advice(error)
    if advice is not None:  # the app's setup, not labelbot's code: the fix, not a traceback
        log.warning(
            "a %s request of %s ended: Slack said %s: %s", request, context.user_id, code, advice
        )
        return (
            f":warning: labelbot's Slack app lacks a permission {said}. Trying again will not "
            "help: please tell whoever runs labelbot (its log says which permission to add)."
        )
    log.error("a %s request of %s ended: Slack said %s", request, context.user_id, code,
              exc_info=error)  # fmt: skip
    if code in CONTENT_ERRORS:
        return (
            f":warning: Slack refused a message labelbot built {said}. That is a bug in "
            "labelbot (it is logged), and trying again will not help: please tell whoever runs "
            "labelbot."
        )
    return (
        f":warning: Slack refused a request of labelbot's {said} (it is logged). Please try "
        "again, and tell whoever runs labelbot if it keeps happening."
    )


def handle_error(
    error: Exception,
    body: dict[str, Any],
    context: BoltContext,
    client: WebClient,
    respond: Respond | None = None,
) -> None:
    """The one place listener errors end: logged, and the user told in an ephemeral message."""
    if isinstance(error, DatabaseUnavailable):
        # an outage, not a bug: one line (the operator sees the cause in it), no traceback
        what = body.get("type") or body.get("command") or "unknown"
        log.warning("a %s request of %s ended: %s", what, context.user_id, error)
        text = f":warning: {DATABASE_UNAVAILABLE}"
    elif isinstance(error, LabelbotError):
        log.info("%s for %s: %s", type(error).__name__, context.user_id, error)
        said = " Nothing was changed." if isinstance(error, StaleActionError) else ""
        room = ERROR_TEXT_MAX - len(":warning: ") - len(said) - 1  # 1: _sentence's period
        text = f":warning: {_sentence(_cut_list(_mrkdwn(error), room))}{said}"
    elif is_auth_error(error):
        # No traceback, and no "try again": nothing in labelbot to fix, nothing a retry can do.
        # The client's TokenWatch (bot.delivery) logs the refused token itself, as an ERROR.
        code = error_code(error)
        log.warning(
            "a %s request of %s ended: Slack refused the bot token (%s)",
            body.get("type") or body.get("command") or "unknown",
            context.user_id,
            code,
        )
        text = f":warning: {TOKEN_REFUSED.format(code=f' (`{code}`)')}"
    elif error_code(error) is not None:
        text = _slack_refusal(error, body, context)
    elif (why := transient_error(error)) is not None:
        # Slack down or out of reach (a 5xx, a timeout): nothing in labelbot to fix
        log.warning("a %s request of %s ended: Slack did not answer (%s)",
                    body.get("type") or body.get("command") or "unknown", context.user_id,
                    why)  # fmt: skip
        text = f":warning: {SLACK_UNAVAILABLE.format(code='')}"
    else:
        log.error(
            "listener failed on a %s request",
            body.get("type") or body.get("command") or "unknown",
            exc_info=error,
        )
        text = UNEXPECTED
    if body.get("type") == "event_callback":
        return  # nobody is waiting on an event: the log is the place
    try:
        # Bolt passes a Respond even where there is nowhere to respond (its response_url is None).
        # an error may quote what was typed or imported (a URL): never unfurled, as every
        # message labelbot builds (bot.views.text.message)
        if respond is not None and respond.response_url:
            respond(text=text, response_type="ephemeral", replace_original=False,
                    unfurl_links=False, unfurl_media=False)  # fmt: skip
        elif context.user_id:  # a modal submission has no response_url: tell them in the DM
            client.chat_postMessage(channel=context.user_id, text=text, unfurl_links=False,
                                    unfurl_media=False)  # fmt: skip
    except Exception as exc:  # Slack unreachable: the error is logged above, the request ends
        log.warning("could not tell %s about the error: %s", context.user_id, exc)


# The code spans labelbot writes into its plain-text errors: a command to copy ("`labelbot
# train NAME`", "`/label pin NAME 3`", "`--into A1,A2`", "`pip install …`", "`admins=U1,U2`")
# and, in parentheses, Slack's error code ("(`missing_scope`)"): a backtick pair that opens
# after a space, a parenthesis or the start and closes before a space, punctuation or the end.
# Slack formats nothing in code, so they keep escape() and are copied as written. Engine
# errors quote names as Python's repr does ('a`b', "it's"): a quote that opens after a
# non-word character and closes before one (an apostrophe in "doesn't" or "experts' votes"
# opens nothing; repr's escaped \' closes nothing), on one line. Scanned left to right,
# whichever starts first is taken whole: a name's own backticks ('a `b` c') open no code, and
# a command that quotes a name (`labelbot labels retire 'x y'`) stays code.
_CODE_OR_NAME_RE = re.compile(
    r"(?P<code>(?<![^\s(])`[^`\n]+`(?![^\s).,;:!?]))"
    r"|(?<!\w)(?P<quote>['\"])(?:\\.|[^\\\n])*?(?P=quote)(?!\w)"
)


def _mrkdwn(error: LabelbotError) -> str:
    """The error's message for a Slack text, unless labelbot wrote it as Mrkdwn (its user data
    escaped already: shown as written, never escaped twice). Engine errors are plain text that
    quotes names as typed ("unknown label 'a*b*c'"): each shows as typed (escape_mrkdwn, as
    does the text around them), and the commands in `code` stay as written (escape)."""
    if len(error.args) == 1 and isinstance(error.args[0], Mrkdwn):
        return error.args[0]
    text, shown, start = str(error), [], 0
    for span in _CODE_OR_NAME_RE.finditer(text):
        if span.group("code") is not None:  # a quoted name is text like the rest around it
            shown += [escape_mrkdwn(text[start : span.start()]), escape(span.group())]
            start = span.end()
    return "".join([*shown, escape_mrkdwn(text[start:])])


def _cut_list(text: str, limit: int) -> str:
    """``text`` in ``limit`` characters. An engine error that lists every label or project
    ("unknown label 'x' (labels: a, b, …)") grows with the taxonomy, to 30,000 characters and
    more: it keeps its start and whole names, and says how many more were left out
    ("…, … and 140 more)"); names are comma-separated (a label name holds no comma). Text
    with no list to cut is cut as any other (:func:`bot.slack_text.truncate`)."""
    if len(text) <= limit:
        return text
    closing = ")" if text.endswith(")") else ""
    longest = f", … and {text.count(', ')} more{closing}"  # the note can take no more room
    cut = text.rfind(", ", 0, limit - len(longest) + 1)
    if cut < limit // 2:  # no list to cut at whole names
        return truncate(text, limit)
    left = text[cut + 2 :].removesuffix(closing).count(", ") + 1
    return f"{text[:cut]}, … and {left} more{closing}"


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
