"""Socket Mode against a local Slack (tests/fakes/socket_mode.py): the real Bolt app, slack_sdk's
Socket Mode client over a real WebSocket, and labelbot's handler (bot/socket_mode.py).

- The app-level token's answers (apps.connections.open) are not the bot token's: a refusal of
  one was logged as "Slack refuses the bot token" and shown in /healthz, and an accepted one
  cleared a bot token Slack still refused.
- A connection that is down is said: one WARNING, an ERROR naming SLACK_APP_TOKEN when Slack
  refuses it (once an hour), an INFO when it is back, and `state()` for /healthz; slack_sdk's
  ERRORs about it, repeated at each try, are dropped.
- A request labelbot refuses (4xx) is acknowledged too (it was not, and Slack sent events
  again and showed users an error); one Bolt fails (5xx) is not, so that Slack sends it again
  (it was acknowledged, and the event was lost).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from slack_sdk.errors import SlackApiError

from bot import socket_mode
from bot.app import build_app
from bot.delivery import token_watch
from bot.services import Services, build_services
from bot.socket_mode import SDK_LOGGER, SocketModeHandler
from engine.workspace import Workspace
from tests.bot.conftest import BOT_TOKEN, slack_settings
from tests.fakes import payloads
from tests.fakes.socket_mode import SocketServer, SocketSlack

APP_TOKEN = "xapp-1-A111-1-goodtoken"
USER = "U0ALICE"
# The client pings and checks its connection this often (10 s in production), so that a test
# does not wait long for a reconnection; no assertion depends on it.
PING_S = 0.5
CONNECTS = "apps.connections.open"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class SocketBot:
    api: SocketSlack
    sockets: SocketServer
    services: Services
    handler: SocketModeHandler
    clock: FakeClock


@pytest.fixture
def sockets() -> Iterator[SocketServer]:
    server = SocketServer().start()
    yield server
    server.stop()


@pytest.fixture
def socket_bot(
    ws: Workspace, sockets: SocketServer, db_url_and_schema, embedding_cache_dir: Path
) -> Iterator[SocketBot]:  # type: ignore[no-untyped-def]
    """labelbot connected to the local Slack in Socket Mode (as `labelbot serve` connects)."""
    with SocketSlack(sockets, token=BOT_TOKEN) as api:
        api.add_user(USER, tz="UTC")
        url, _ = db_url_and_schema
        settings = slack_settings(url, api.api_url, embedding_cache_dir)
        services = build_services(settings, ws=ws)
        clock = FakeClock()
        handler = SocketModeHandler(
            build_app(settings, services),
            app_token=APP_TOKEN,
            client=services.client,
            ping_interval=PING_S,
            clock=clock,
        )
        handler.connect()  # type: ignore[no-untyped-call]
        assert sockets.wait_conns(1)
        try:
            yield SocketBot(api, sockets, services, handler, clock)
        finally:
            handler.close()
            services.listener_executor.shutdown(wait=True)
            services.dispatch_executor.shutdown(wait=True)


def wait_until(what: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for ``what`` to hold (the client works in its own threads); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError("it did not happen")
        time.sleep(0.02)


def lines(caplog: pytest.LogCaptureFixture, text: str, level: int | None = None) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if text in r.getMessage() and (level is None or r.levelno == level)
    ]


def test_an_app_token_refused_at_a_refresh_is_not_the_bot_token_refused(
    socket_bot: SocketBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api, sockets = socket_bot.api, socket_bot.sockets
    watch = token_watch(socket_bot.services.client)
    assert watch is not None and watch.problem is None

    # Slack asks for a new connection, then refuses the app token, and closes the old one
    api.app_token_error = "invalid_auth"
    sockets.refresh()
    api.wait_for(CONNECTS, 2)
    sockets.close_socket()
    api.wait_for(CONNECTS, 4, timeout=15)  # the client tries again: the refusal is handled
    assert watch.problem is None  # the bot token is fine: /healthz's "slack" stays "ok"
    assert not lines(caplog, "bot token")
    assert socket_mode.state() == "refused: invalid_auth"
    assert len(lines(caplog, "Slack refuses SLACK_APP_TOKEN (invalid_auth)", logging.ERROR)) == 1
    # nor slack_sdk's ERRORs about it, the refresh's with a traceback
    assert not [r for r in caplog.records if r.name == SDK_LOGGER and r.levelno >= logging.ERROR]

    # the other way round: the bot token refused, a new connection with a good app token
    api.app_token_error = None
    wait_until(lambda: socket_mode.state() == "connected")
    api.token = "xoxb-rotated"
    with pytest.raises(SlackApiError):
        socket_bot.services.client.auth_test()
    assert watch.problem == "invalid_auth"
    made = len(sockets.conns)
    sockets.refresh()
    assert sockets.wait_conns(made + 1)
    wait_until(lambda: len(api.calls(CONNECTS)) >= 6 and socket_mode.state() == "connected")
    assert watch.problem == "invalid_auth"  # still refused: not cleared by the app token
    assert not lines(caplog, "Slack takes the bot token again")


def test_a_connection_down_is_logged_once_and_shown_until_it_is_back(
    socket_bot: SocketBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api, sockets, clock = socket_bot.api, socket_bot.sockets, socket_bot.clock
    assert socket_mode.state() == "connected"

    # Slack stops taking the app token and drops the connection: the client tries every PING_S
    api.app_token_error = "token_revoked"
    sockets.close_socket()
    api.wait_for(CONNECTS, 5, timeout=15)
    assert socket_mode.state() == "refused: token_revoked"
    assert len(lines(caplog, "the Socket Mode connection to Slack is down", logging.WARNING)) == 1
    refused = "Slack refuses SLACK_APP_TOKEN (token_revoked)"
    assert len(lines(caplog, refused, logging.ERROR)) == 1
    assert "connections:write" in lines(caplog, refused)[0]
    # slack_sdk's own ERRORs (one or two a try, one with a traceback) say nothing more
    assert not [r for r in caplog.records if r.name == SDK_LOGGER and r.levelno >= logging.ERROR]

    clock.now += 3600  # an hour on, said again
    tries = len(api.calls(CONNECTS))
    api.wait_for(CONNECTS, tries + 2, timeout=15)
    assert len(lines(caplog, refused, logging.ERROR)) == 2

    # Slack takes it again: back, and said so
    api.app_token_error = None
    wait_until(lambda: bool(lines(caplog, "connection to Slack is back")))
    assert socket_mode.state() == "connected"
    assert lines(caplog, "Slack takes SLACK_APP_TOKEN again (it refused it with token_revoked)")
    event = sockets.send("events_api", payloads.app_home_opened(USER))
    assert sockets.wait_ack(event)  # served on the new connection

    # Slack out of service: reconnecting, said once, whatever the number of tries
    caplog.clear()
    api.fail_next(CONNECTS, error="internal_error", times=1000)
    sockets.close_socket()
    tries = len(api.calls(CONNECTS))
    api.wait_for(CONNECTS, tries + 4, timeout=15)
    assert socket_mode.state() == "reconnecting"
    assert len(lines(caplog, "the Socket Mode connection to Slack is down", logging.WARNING)) == 1
    assert len(lines(caplog, "Socket Mode could not reconnect to Slack", logging.WARNING)) == 1
    assert not lines(caplog, "SLACK_APP_TOKEN")
    assert not [r for r in caplog.records if r.name == SDK_LOGGER and r.levelno >= logging.ERROR]

    socket_bot.handler.close()
    assert socket_mode.state() is None  # not in Socket Mode any more


def test_a_refused_request_is_acknowledged_once(
    socket_bot: SocketBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api, sockets = socket_bot.api, socket_bot.sockets
    dm = api.dm_channel(USER)
    click = payloads.block_actions(USER, "label", "x", dm, "1.000001", [])
    refused = {
        "malformed": sockets.send("interactive", dict(click, actions=[])),  # 400 (WellFormed)
        "unknown view": sockets.send(  # 404: no listener for it
            "interactive", payloads.view_submission(USER, "no_such_callback", {})
        ),
        "response_url not Slack's": sockets.send(  # 400 (provide_services)
            "interactive", dict(click, response_url="https://evil.example.com/x")
        ),
    }
    for what, envelope in refused.items():
        assert sockets.wait_ack(envelope), f"{what}: not acknowledged"
    served = sockets.send("events_api", payloads.app_home_opened(USER))
    assert sockets.wait_ack(served)
    for what, envelope in refused.items():
        assert sockets.acks(envelope) == [{"envelope_id": envelope}], what  # one, empty
    assert len(lines(caplog, "Socket Mode: acknowledged a request refused with HTTP")) == 3


def test_a_request_bolt_fails_is_left_for_slack_to_send_again(
    socket_bot: SocketBot, caplog: pytest.LogCaptureFixture
) -> None:
    """Bolt answers 500 when its authorization cannot reach Slack (auth.test, before its first
    success): over HTTP Slack sends the event again, and so it does over the socket when the
    envelope is not acknowledged. An acknowledged one was lost for good."""
    caplog.set_level(logging.INFO)
    api, sockets = socket_bot.api, socket_bot.sockets
    api.fail_next("auth.test", error="internal_error")  # BotIdentity: SlackUnavailableError
    opened = payloads.app_home_opened(USER)
    failed = sockets.send("events_api", opened)
    wait_until(lambda: bool(lines(caplog, "HTTP 500 (events_api")))  # the handler's decision
    assert api.calls("auth.test") and not api.calls("views.publish")

    # Slack sends it again (a new envelope, the same event): served, and acknowledged
    resent = sockets.send("events_api", opened, retry_attempt=1, retry_reason="timeout")
    assert sockets.wait_ack(resent)
    api.wait_for("views.publish", 1)  # the Home tab is published: the event was not lost
    assert sockets.acks(resent) == [{"envelope_id": resent}]
    assert sockets.acks(failed) == []  # never acknowledged
    unacknowledged = "Socket Mode: left a request unacknowledged after HTTP 500 (events_api)"
    assert len(lines(caplog, unacknowledged)) == 1


def test_healthz_shows_the_socket_mode_connection(socket_bot: SocketBot) -> None:
    """/healthz says whether the Socket Mode connection is up; ``ok`` stays true (the server
    answers, and a load balancer must not take it out for Slack's trouble)."""
    from bot.api import create_api
    from tests.fakes.server import ServerThread

    services = socket_bot.services
    with ServerThread(create_api(services.settings, services)) as server:
        health = httpx.get(f"{server.url}/healthz", timeout=10).json()
        assert health["ok"] is True and health["socket_mode"] == "connected"
        socket_bot.api.app_token_error = "token_revoked"
        socket_bot.sockets.close_socket()
        wait_until(lambda: socket_mode.state() == "refused: token_revoked")
        health = httpx.get(f"{server.url}/healthz", timeout=10).json()
        assert health["ok"] is True and health["socket_mode"] == "refused: token_revoked"
        socket_bot.handler.close()
        assert "socket_mode" not in httpx.get(f"{server.url}/healthz", timeout=10).json()
