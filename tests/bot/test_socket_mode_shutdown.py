"""Socket Mode's shutdown, refreshes and resets against a local Slack (tests/fakes/socket_mode.py),
found by an audit of bot/socket_mode.py:

- SIGTERM while reconnecting under a rate limit on apps.connections.open: `serve` exited
  ~53 s later (past Docker's 10 s and Kubernetes' 30 s of grace), having opened a new socket
  during its shutdown: the rate limit was waited out three times, in sleeps close() waited for.
- The shutdown disconnected before the requests being served were acknowledged: a taxonomy
  change was applied, its acknowledgement failed (an ERROR traceback) and Slack showed the
  admin an error.
- Slack's `disconnect` (a refresh) under a rate limit held up every acknowledgement, on the old
  connection still open too, for 3 x Retry-After: slack_sdk handled it on its message thread.
- A connection reset was slack_sdk's ERRORs on top of labelbot's one WARNING.

Waits are bounded and generous: each assertion is about an event (a call, an acknowledgement, a
log record, a thread ended), never a duration.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot import socket_mode
from tests.bot import test_socket_mode
from tests.bot.conftest import BOT_TOKEN
from tests.bot.test_socket_mode import APP_TOKEN, CONNECTS, USER, SocketBot, lines, wait_until
from tests.fakes import payloads
from tests.fakes.socket_mode import SocketServer, SocketSlack

# the fixtures: labelbot connected to the local Slack in Socket Mode
sockets = test_socket_mode.sockets
socket_bot = test_socket_mode.socket_bot

DOWN = "the Socket Mode connection to Slack is down"
RATE_LIMITED = "Slack rate-limits Socket Mode connections (apps.connections.open)"
# Retry-After of a rate-limited apps.connections.open: far beyond each test's bounded waits, so
# that a test fails, not merely slows down, where the rate limit is waited out
RETRY_AFTER = 120


def sdk_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("slack_sdk") and r.levelno >= logging.ERROR
    ]


def close_in_thread(bot: SocketBot) -> threading.Thread:
    closing = threading.Thread(target=bot.handler.close, daemon=True)
    closing.start()
    return closing


def client_threads(bot: SocketBot) -> list[threading.Thread]:
    """The Socket Mode client's threads that read, ping, reconnect and dispatch."""
    client = bot.handler.client
    runners = (client.current_session_runner, client.current_app_monitor, client.message_processor)
    return [r.thread for r in runners if r.thread is not None and r.thread.is_alive()]


def test_close_while_reconnecting_under_a_rate_limit_connects_no_more(
    socket_bot: SocketBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api, server = socket_bot.api, socket_bot.sockets
    api.fail_next(CONNECTS, status=429, retry_after=RETRY_AFTER, times=5)
    server.close_socket()
    tries = api.wait_for(CONNECTS, 2, timeout=15)  # the reconnection, refused for a while
    wait_until(lambda: bool(lines(caplog, RATE_LIMITED)))  # said, with how long it waits
    assert lines(caplog, f"{RATE_LIMITED}: connecting again in {RETRY_AFTER} s", logging.INFO)

    closing = close_in_thread(socket_bot)  # SIGTERM: serve's `finally` runs it
    closing.join(30)
    assert not closing.is_alive(), "close() waits out Slack's rate limit"
    assert len(api.calls(CONNECTS)) == len(tries)  # no try after close() began
    assert len(server.conns) == 1  # nor a new socket
    assert not client_threads(socket_bot)  # nothing left to reconnect later
    assert not sdk_errors(caplog)


def test_close_lets_the_request_being_served_be_acknowledged(
    socket_bot: SocketBot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bolt's authorization asks Slack who the bot is (auth.test) before the first request's
    listener runs: a slow answer holds that request, unacknowledged, while close() begins. An
    envelope that comes once close() has begun is left for Slack to send again."""
    caplog.set_level(logging.INFO)
    # the order is checked, not the bound: a loaded CI machine served the request past 5 s
    monkeypatch.setattr(socket_mode, "IN_FLIGHT_WAIT_S", 60.0)
    api, server = socket_bot.api, socket_bot.sockets
    api.slow_down("auth.test", 1.5)  # within BotIdentity's 2 s
    served = server.send("events_api", payloads.app_home_opened(USER))
    api.wait_for("auth.test", 1, timeout=15)  # being served: not acknowledged yet
    assert not server.acks(served)

    closing = close_in_thread(socket_bot)
    wait_until(lambda: socket_bot.handler.client.closed)
    late = server.send("events_api", payloads.app_home_opened(USER))  # (it wakes the reader)
    closing.join(30)
    assert not closing.is_alive()
    # sent before disconnecting (the fake server reads it in its own loop, perhaps a moment later)
    assert server.wait_ack(served, timeout=15)
    assert server.acks(served) == [{"envelope_id": served}]
    assert server.acks(late) == []  # not begun: Slack sends it again
    assert not sdk_errors(caplog)  # "Failed to run a request listener ... no longer active"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    api.wait_for("views.publish", 1, timeout=15)  # its work done as well


def test_a_refresh_under_a_rate_limit_holds_up_no_acknowledgement(
    socket_bot: SocketBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api, server = socket_bot.api, socket_bot.sockets
    first = server.send("events_api", payloads.app_home_opened(USER))
    assert server.wait_ack(first)
    api.fail_next(CONNECTS, status=429, retry_after=RETRY_AFTER, times=3)
    server.refresh(conn=0)  # Slack asks for a new connection; the old one stays open
    api.wait_for(CONNECTS, 2, timeout=15)  # the new connection, refused for a while

    # Slack goes on sending over the old connection: served meanwhile, not after the limit
    for _ in range(3):
        event = server.send("events_api", payloads.app_home_opened(USER), conn=0)
        assert server.wait_ack(event, timeout=20), "held up by the refresh's rate limit"
    assert not lines(caplog, DOWN)  # the connection was not down
    assert socket_bot.handler.watch.state() == "connected"

    closing = close_in_thread(socket_bot)  # and the waiting refresh does not hold up close()
    closing.join(30)
    assert not closing.is_alive()
    assert len(server.conns) == 1
    assert not sdk_errors(caplog)


def test_a_connection_reset_is_one_warning(
    socket_bot: SocketBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = socket_bot.sockets
    server.reset()  # no close frame: a proxy or a NAT cut it
    assert server.wait_conns(2, timeout=30)
    wait_until(lambda: bool(lines(caplog, "the Socket Mode connection to Slack is back")))
    event = server.send("events_api", payloads.app_home_opened(USER))
    assert server.wait_ack(event)
    assert len(lines(caplog, DOWN, logging.WARNING)) == 1
    # slack_sdk's "on_error invoked (... ConnectionResetError ...)", or its "Failed to check
    # the state of sock (... BrokenPipeError ...)" at each ping, said nothing more
    assert not sdk_errors(caplog)
    assert not [
        r for r in caplog.records if r.levelno >= logging.WARNING and DOWN not in r.getMessage()
    ]


def test_serve_stops_at_once_on_sigterm_while_reconnecting_under_a_rate_limit(
    tmp_path: Path, embedding_cache_dir: Path
) -> None:
    """The real `labelbot serve`, stopped as Docker and Kubernetes stop it, while slack_sdk
    reconnects (it finds the connection down at its next ping, 10 s on) under a rate limit."""
    server = SocketServer().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LABELBOT_"))}
    with SocketSlack(server, token=BOT_TOKEN) as api:
        env.update(
            DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
            LABELBOT_DATA_DIR=str(embedding_cache_dir),
            LABELBOT_OUTBOX_INTERVAL="0",
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET="socket-signing-secret",
            SLACK_API_URL=api.api_url,
            SLACK_APP_TOKEN=APP_TOKEN,
            HF_HUB_OFFLINE="1",
            PYTHONUNBUFFERED="1",
        )
        serve = subprocess.Popen(
            [sys.executable, "-c", "from bot.cli import main; main()", "serve", "--port", "0",
             "--no-scheduler"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        log: list[str] = []
        reader = threading.Thread(target=lambda: log.extend(serve.stdout or []), daemon=True)
        reader.start()
        try:
            assert server.wait_conns(1, timeout=120), "".join(log)
            api.fail_next(CONNECTS, status=429, retry_after=RETRY_AFTER, times=5)
            server.close_socket()
            tries = api.wait_for(CONNECTS, 2, timeout=60)
            deadline = time.monotonic() + 30
            while RATE_LIMITED not in "".join(log) and time.monotonic() < deadline:
                time.sleep(0.05)  # waiting for Slack's rate limit now
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=60)  # it waited out the limit, 3 x 120 s, before
            reader.join(timeout=10)
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
            server.stop()
        output = "".join(log)
        assert serve.returncode == 143, output
        assert "stopped: the answers in progress were finished" in output
        assert len(api.calls(CONNECTS)) == len(tries), output  # none during the shutdown
        assert len(server.conns) == 1, output
        assert "Traceback" not in output
