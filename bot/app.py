"""The Bolt app: listeners registered, services in every request's context, one error handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookResponse

from bot.config import SlackSettings
from bot.listeners import register_all
from bot.listeners.events import rate_limited
from bot.services import Services
from bot.slack_text import Mrkdwn, escape, truncate
from bot.views.text import FALLBACK_TEXT_MAX
from storage.errors import LabelbotError, StaleActionError

log = logging.getLogger(__name__)

# An error's ephemeral answer: within what Slack advises for a message's text (4,000) and as
# long as a message's fallback text (bot.views.text.FALLBACK_TEXT_MAX); Slack would cut it only
# past 40,000 (https://docs.slack.dev/reference/methods/chat.postMessage).
ERROR_TEXT_MAX = FALLBACK_TEXT_MAX
UNEXPECTED = "Sorry, something went wrong on labelbot's side (it is logged). Please try again."


def build_app(settings: SlackSettings, services: Services) -> App:
    """A Bolt app (synchronous listeners, run after their ack in ``services.listener_executor``).

    Bolt checks every request's signature and timestamp (RequestVerification) and drops the
    bot's own events; ``auth.test`` runs on the first request, so building makes no call. An
    error a listener raises after its ack goes to :func:`handle_error` without passing through
    Bolt, which would turn the acked answer into a 500 (bot/listeners/registrar.py).
    """
    app = App(
        client=services.client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        listener_executor=services.listener_executor,
        token_verification_enabled=False,
        # Slack's app_rate_limited notice needs no token: answered before Bolt authorizes
        # (auth.test), so it is answered 200 even while Slack's Web API is unreachable
        before_authorize=rate_limited,
    )

    def provide_services(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        context["services"] = services
        given = context.respond
        if given is not None and given.response_url:
            context["respond"] = CheckedRespond(
                response_url=given.response_url, proxy=given.proxy, ssl=given.ssl
            )
        return next()

    app.use(provide_services)
    register_all(app, on_error=handle_error)
    app.error(handle_error)
    return app


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


def handle_error(
    error: Exception,
    body: dict[str, Any],
    context: BoltContext,
    client: WebClient,
    respond: Respond | None = None,
) -> None:
    """The one place listener errors end: logged, and the user told in an ephemeral message."""
    if isinstance(error, LabelbotError):
        log.info("%s for %s: %s", type(error).__name__, context.user_id, error)
        said = " Nothing was changed." if isinstance(error, StaleActionError) else ""
        room = ERROR_TEXT_MAX - len(":warning: ") - len(said) - 1  # 1: _sentence's period
        text = f":warning: {_sentence(_cut_list(_mrkdwn(error), room))}{said}"
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
        if respond is not None and respond.response_url:
            respond(text=text, response_type="ephemeral", replace_original=False)
        elif context.user_id:  # a modal submission has no response_url: tell them in the DM
            client.chat_postMessage(channel=context.user_id, text=text)
    except Exception as exc:  # Slack unreachable: the error is logged above, the request ends
        log.warning("could not tell %s about the error: %s", context.user_id, exc)


def _mrkdwn(error: LabelbotError) -> str:
    """The error's message for a Slack text: escaped, as it may quote a label's name or other
    user text (engine errors are plain text), unless labelbot wrote it as Mrkdwn."""
    if len(error.args) == 1 and isinstance(error.args[0], Mrkdwn):
        return error.args[0]
    return escape(str(error))


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
