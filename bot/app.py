"""The Bolt app: listeners registered, services in every request's context, one error handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse, Respond
from slack_sdk import WebClient

from bot.config import SlackSettings
from bot.listeners import register_all
from bot.services import Services
from storage.errors import LabelbotError, StaleActionError

log = logging.getLogger(__name__)

UNEXPECTED = "Sorry, something went wrong on labelbot's side (it is logged). Please try again."


def build_app(settings: SlackSettings, services: Services) -> App:
    """A Bolt app (synchronous listeners, run after their ack in ``services.listener_executor``).

    Bolt checks every request's signature and timestamp (RequestVerification) and drops the
    bot's own events; ``auth.test`` runs on the first request, so building makes no call.
    """
    app = App(
        client=services.client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        listener_executor=services.listener_executor,
        token_verification_enabled=False,
    )

    def provide_services(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        context["services"] = services
        context["ack"] = StickyAck()
        return next()

    app.use(provide_services)
    register_all(app)
    app.error(handle_error)
    return app


class StickyAck(Ack):
    """An ack whose response, once given, stays given.

    Bolt 1.30's ThreadListenerRunner sets ``ack.response = None`` when a listener raises after
    acking (listener/thread_runner.py); if that happens before the dispatching thread polls
    (every 10 ms) the acked request waits 3 s and answers 404 "unhandled request". A stale
    click does exactly that: ack, then StaleActionError a few milliseconds later.
    """

    def __init__(self) -> None:
        self._response: BoltResponse | None = None

    @property
    def response(self) -> BoltResponse | None:
        return self._response

    @response.setter
    def response(self, value: BoltResponse | None) -> None:
        if value is not None or self._response is None:
            self._response = value


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
        text = f":warning: {_sentence(str(error))}"
        if isinstance(error, StaleActionError):
            text += " Nothing was changed."
    else:
        log.error("listener failed on a %s request", body.get("type"), exc_info=error)
        text = UNEXPECTED
    if body.get("type") == "event_callback":
        return  # nobody is waiting on an event: the log is the place
    if respond is not None:
        respond(text=text, response_type="ephemeral", replace_original=False)
    elif context.user_id:  # a modal submission has no response_url: tell them in the DM
        client.chat_postMessage(channel=context.user_id, text=text)


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
