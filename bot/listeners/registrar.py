"""Listener registration in which an error after a listener's ack stays out of Bolt.

Bolt 1.30's ThreadListenerRunner, when a listener raises, sets the status of the response object
the dispatching thread returns to 500 (and only then notices that the listener had acked). If the
dispatching thread has not yet answered Slack (it polls every 10 ms, later under load), Slack
gets a 500 for a click that was acked and handled: a stale click, answered with a clear
ephemeral note, showed the user an error icon as well. Each listener registered here is wrapped:
an error raised after its ack goes to the app's error handler directly and never reaches Bolt
(nor does the handler's own failure, which is logged); an error before the ack still does (Bolt
then answers 500 and calls the same handler).

Clicks, commands and shortcuts are acknowledged before their listener is handed to the
listener pool (:func:`ack_first`, a listener middleware: it runs on the thread that answers
Slack). Bolt acknowledges a request only once its listener has started and called ack(), so
with every pool thread busy -- waiting out a rate limit's Retry-After (slack_sdk sleeps a
short one twice: bot.delivery.RATE_LIMIT_WAIT_MAX_S), a slow Web API -- a click waited in the
queue past Slack's 3 seconds and was answered 404: the user saw an error, and nothing was
done. Their listeners acknowledge with nothing to say, as Bolt does for events already
(acknowledged before the listener runs).

A modal's submission is answered by its listener, which alone knows whether the form has
errors to show: it runs on the thread that answers Slack (:func:`answered_here`), reads the
form and acknowledges it -- quickly: the database, no Web API call but a bounded one -- and
returns what is left to do after the ack (:data:`Later`), which runs in the listener pool.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

ErrorHandler = Callable[[Exception, dict[str, Any], BoltContext, WebClient, Any], None]
Listener = Callable[..., Any]
# What a modal's listener leaves to do after its ack (bot/listeners/views.py), or None
Later = Callable[[], None]

_LATER = "labelbot_after_ack"  # the context key a submission's Later travels under

_HANDLER_ARGS = ("body", "context", "client", "respond")  # what the error handler is given

log = logging.getLogger(__name__)


class Registrar:
    """The registration methods the listener modules use, on a Bolt app."""

    def __init__(self, app: App, on_error: ErrorHandler) -> None:
        self._app = app
        self._on_error = on_error

    def action(self, constraints: Any) -> Callable[[Listener], Listener]:
        return self._register(self._app.action(constraints, middleware=[ack_first]))

    def command(self, command: Any) -> Callable[[Listener], Listener]:
        return self._register(self._app.command(command, middleware=[ack_first]))

    def event(self, event: Any) -> Callable[[Listener], Listener]:
        return self._register(self._app.event(event))

    def shortcut(self, constraints: Any) -> Callable[[Listener], Listener]:
        return self._register(self._app.shortcut(constraints, middleware=[ack_first]))

    def view(self, constraints: Any) -> Callable[[Listener], Listener]:
        """A modal's submission: its listener answers on the thread that answers Slack, and
        returns a :data:`Later` (or None) for the listener pool (:func:`answered_here`)."""

        def register(listener: Listener) -> Listener:
            decorate = self._app.view(constraints, middleware=[answered_here(listener)])
            decorate(contained(after_ack(listener), self._on_error))
            return listener

        return register

    def middleware(self, middleware: Listener) -> None:
        """A global middleware: it runs before every listener, and for what no listener can
        match (a request that is no event, action or command)."""
        self._app.middleware(middleware)

    def _register(self, decorate: Callable[..., Any]) -> Callable[[Listener], Listener]:
        def register(listener: Listener) -> Listener:
            decorate(contained(listener, self._on_error))
            return listener

        return register


def ack_first(ack: Ack, next: Callable[[], None]) -> None:
    """Acknowledge the request now, on the thread that answers Slack, whether or not a listener
    thread is free to run its listener (the module says why). The listener's own ack() changes
    nothing after this one."""
    ack()
    next()


def answered_here(listener: Listener) -> Listener:
    """A listener middleware that runs ``listener`` on the thread that answers Slack, and
    keeps the :data:`Later` it returns for :func:`after_ack` in the listener pool.

    An error before the ack is Bolt's (it answers 500 and calls the app's error handler); one
    after it travels to the pool as the Later, to reach the error handler there: the handler
    tells the user in a DM, a Web API call the answer must not wait for."""
    own = inspect.signature(listener).parameters

    def answer(**kwargs: Any) -> None:
        context: BoltContext = kwargs["context"]
        try:
            later = listener(**{name: kwargs[name] for name in own})
        except Exception as error:
            if context.ack is None or context.ack.response is None:
                raise
            later = _raiser(error)
        context[_LATER] = later
        kwargs["next"]()

    needed = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for name in ("context", "next")
        if name not in own
    ]
    answer.__signature__ = inspect.Signature([*own.values(), *needed])  # type: ignore[attr-defined]
    answer.__name__ = f"answered_here({getattr(listener, '__name__', 'listener')})"
    return answer


def after_ack(listener: Listener) -> Listener:
    """The Bolt listener of a submission that :func:`answered_here` answered: it runs the
    :data:`Later` ``listener`` returned, in the listener pool. Named after ``listener``."""

    def run(context: BoltContext) -> None:
        later: Later | None = context.get(_LATER)
        if later is not None:
            later()

    run.__name__ = getattr(listener, "__name__", "listener")
    run.__qualname__ = getattr(listener, "__qualname__", run.__name__)
    run.__doc__ = listener.__doc__
    run.__module__ = listener.__module__
    return run


def _raiser(error: Exception) -> Later:
    def reraise() -> None:
        raise error

    return reraise


def contained(listener: Listener, on_error: ErrorHandler) -> Listener:
    """``listener``, with an error after its ack handled by ``on_error`` instead of raised.

    Bolt passes a listener the arguments its signature names, so the wrapper declares the
    listener's own parameters plus those the error handler needs.
    """
    own = inspect.signature(listener).parameters
    extra = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
        for name in _HANDLER_ARGS
        if name not in own
    ]

    def run(**kwargs: Any) -> Any:
        try:
            return listener(**{name: kwargs[name] for name in own})
        except Exception as error:
            context: BoltContext = kwargs["context"]
            if context.ack is None or context.ack.response is None:
                raise  # not acked yet: Bolt answers, and calls the same handler
            try:
                on_error(error, kwargs["body"], context, kwargs["client"], kwargs.get("respond"))
            except Exception:  # e.g. the ephemeral note could not be sent: Bolt must not see it
                log.exception("error handler failed after %s", type(error).__name__)
            return None

    run.__signature__ = inspect.Signature([*own.values(), *extra])  # type: ignore[attr-defined]
    run.__name__ = getattr(listener, "__name__", "listener")
    run.__qualname__ = getattr(listener, "__qualname__", run.__name__)
    run.__doc__ = listener.__doc__
    run.__module__ = listener.__module__
    return run
