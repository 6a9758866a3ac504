"""An error a listener raises after its ack must not change the answer Slack already has.

Bolt 1.30 sets the status of the response it returned for the ack to 500 when the listener
raises afterwards; whether Slack then sees the 500 depends on which thread is first. Here the
listener is held until Bolt has answered, then raises: the answer must stay 200 and the error
must reach the app's handler (bot/listeners/registrar.py)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from slack_bolt import Ack, App, BoltContext, BoltRequest
from slack_sdk import WebClient

from bot.listeners.registrar import Registrar
from storage.errors import StaleActionError
from tests.bot.conftest import BOT_TOKEN
from tests.fakes import payloads


def _app(executor: ThreadPoolExecutor, slack_api_url: str) -> App:
    return App(client=WebClient(token=BOT_TOKEN, base_url=slack_api_url), signing_secret="s",
               listener_executor=executor, token_verification_enabled=False,
               request_verification_enabled=False)  # fmt: skip


def _click(action_id: str) -> BoltRequest:
    payload = payloads.block_actions("U1", action_id, "1", "D1", "1.1", [])
    return BoltRequest(body=urlencode({"payload": json.dumps(payload)}),
                       headers={"content-type": ["application/x-www-form-urlencoded"]})  # fmt: skip


def test_an_error_after_the_ack_leaves_the_answer_200_and_reaches_the_handler(
    slack_api_url: str,
) -> None:
    executor = ThreadPoolExecutor(max_workers=2)
    app = _app(executor, slack_api_url)
    handled: list[tuple[str, str | None]] = []
    go = threading.Event()

    def on_error(error: Exception, body: dict[str, Any], context: BoltContext, client: WebClient,
                 respond: Any) -> None:  # fmt: skip
        handled.append((type(error).__name__, context.user_id))

    def stale(ack: Ack) -> None:
        ack()
        go.wait(5)
        raise StaleActionError("that example is no longer yours")

    Registrar(app, on_error).action("stale")(stale)
    response = app.dispatch(_click("stale"))
    assert response.status == 200  # the ack
    go.set()
    executor.shutdown(wait=True)
    assert response.status == 200  # still: Bolt never saw the error
    assert handled == [("StaleActionError", "U1")]


def _submission(callback_id: str) -> BoltRequest:
    payload = payloads.view_submission("U1", callback_id, {})
    return BoltRequest(body=urlencode({"payload": json.dumps(payload)}),
                       headers={"content-type": ["application/x-www-form-urlencoded"]})  # fmt: skip


def test_an_error_before_the_ack_is_bolts_to_answer(slack_api_url: str) -> None:
    """A modal's submission is acknowledged by its listener (with the form's errors, if any)."""
    executor = ThreadPoolExecutor(max_workers=2)
    app = _app(executor, slack_api_url)
    seen: list[str] = []
    app.error(lambda error: seen.append(type(error).__name__))

    def broken(ack: Ack) -> None:
        raise ValueError("before the ack")

    Registrar(app, lambda *a: seen.append("registrar")).view("broken")(broken)
    response = app.dispatch(_submission("broken"))
    executor.shutdown(wait=True)
    assert response.status == 500
    assert seen == ["ValueError"]  # Bolt's handler, not the registrar's


def test_a_click_is_acknowledged_before_its_listener_runs(slack_api_url: str) -> None:
    """A click (as a command or a shortcut) is answered 200 on the dispatching thread, with no
    listener thread free to run its listener; an error its listener raises, even before its own
    ack(), then goes to the registrar's handler."""
    executor = ThreadPoolExecutor(max_workers=1)
    app = _app(executor, slack_api_url)
    handled: list[str] = []
    busy, go = threading.Event(), threading.Event()
    executor.submit(lambda: (busy.set(), go.wait(10)))  # the only thread, held
    assert busy.wait(5)

    def broken(ack: Ack) -> None:
        raise ValueError("before its own ack")

    Registrar(app, lambda error, *a: handled.append(type(error).__name__)).action("b")(broken)
    response = app.dispatch(_click("b"))
    assert response.status == 200 and handled == []  # answered; the listener still waits
    go.set()
    executor.shutdown(wait=True)
    assert response.status == 200
    assert handled == ["ValueError"]


def test_an_error_handler_that_fails_after_the_ack_is_logged_not_raised(
    slack_api_url: str, caplog
) -> None:  # type: ignore[no-untyped-def]
    executor = ThreadPoolExecutor(max_workers=2)
    app = _app(executor, slack_api_url)
    go = threading.Event()

    def unreachable(*args: Any) -> None:
        raise ConnectionError("Slack is unreachable: the ephemeral note cannot be sent")

    def stale(ack: Ack) -> None:
        ack()
        go.wait(5)
        raise StaleActionError("that example is no longer yours")

    Registrar(app, unreachable).action("stale")(stale)
    response = app.dispatch(_click("stale"))
    go.set()
    executor.shutdown(wait=True)
    assert response.status == 200
    assert "error handler failed after StaleActionError" in caplog.text
