"""Slow and vanishing clients (security audit, findings 1 and 3): a body that stalls or
trickles is cut off with a 408 and the connection closed; /slack/events refuses a request
without fresh signature headers before reading its body; a client that hangs up mid-body is
one line in the log, not a traceback; `labelbot serve` gives uvicorn a connection limit."""

from __future__ import annotations

import json
import logging
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot import api as http_api
from bot.cli import serve as serve_cli
from tests.bot.conftest import API_TOKEN, PROJECT, Bot
from tests.bot.test_serve_root_path import rest_only, serve  # noqa: F401  (a fixture)

# The edge is the same on either database.
SQLITE = pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)

PREDICT = f"/api/projects/{PROJECT}/predict"
AUTH = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}


def fresh() -> dict[str, str]:
    """Signature headers that pass the check made before the body (the signature is wrong)."""
    return {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"}


def connect(url: str, path: str, headers: dict[str, str], body: bytes) -> socket.socket:
    """A keep-alive POST whose headers and the first ``body`` bytes are sent, no more."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    head = [f"POST {path} HTTP/1.1", f"Host: {parts.hostname}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return sock


def answer(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    """(status, headers, JSON body) once the server has answered and closed the connection
    (a socket.timeout, after 5 s, when it does neither). A reset after the answer is its end:
    a server that closes while bytes the client kept sending lie unread makes its kernel send
    one, as any HTTP server's does (a trickling client's last bytes, under load)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            if not data:
                raise
            break
        if not chunk:
            break
        data += chunk
    sock.close()
    status_line, _, rest = data.partition(b"\r\n")
    raw_headers, _, payload = rest.partition(b"\r\n\r\n")
    headers = dict(
        line.decode().lower().split(": ", 1) for line in raw_headers.split(b"\r\n") if line
    )
    return int(status_line.split()[1]), headers, json.loads(payload)


@SQLITE
@pytest.mark.parametrize(
    ("path", "headers"), [("/slack/events", None), (PREDICT, AUTH)], ids=["slack", "api"]
)
def test_a_body_that_stalls_is_cut_off_with_a_408(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, path: str, headers: dict[str, str] | None
) -> None:
    monkeypatch.setattr(http_api, "BODY_READ_TIMEOUT_S", 0.5)
    started = time.monotonic()
    sock = connect(bot.url, path, {**(headers or fresh()), "Content-Length": "1000"}, b"12345")
    status, answered, body = answer(sock)  # and the server closed the connection
    assert status == 408 and body == {"error": "Request Timeout", "detail": http_api.TIMED_OUT}
    assert answered["connection"] == "close"
    assert time.monotonic() - started < 4


@SQLITE
def test_a_body_that_trickles_is_cut_off_at_the_deadline(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte every 0.1 s never trips the timeout between reads; the whole-body one cuts it."""
    monkeypatch.setattr(http_api, "BODY_READ_TIMEOUT_S", 5.0)
    monkeypatch.setattr(http_api, "BODY_TIMEOUT_S", 1.0)
    started = time.monotonic()
    sock = connect(bot.url, "/slack/events", {**fresh(), "Content-Length": "1000"}, b"x")
    sock.settimeout(0.1)
    for _ in range(100):  # 10 s at most
        try:
            sock.sendall(b"x")
            if sock.recv(65536, socket.MSG_PEEK):
                break  # it answered
        except TimeoutError:
            continue
        except OSError:
            break
    sock.settimeout(5)
    status, _, _ = answer(sock)
    assert status == 408 and time.monotonic() - started < 4


@SQLITE
@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        (None, None),
        (None, "v0=00"),
        (0, None),
        ("not-a-number", "v0=00"),
        (-301, "v0"),
        # 5 s past the 300 s tolerance, not 1: int() drops up to a second of "now" and the
        # request takes a moment to reach the check, so +301 could arrive 300 s ahead: "fresh"
        (305, "v0"),
    ],
    ids=["none", "no-timestamp", "no-signature", "bad-timestamp", "stale", "future"],
)
def test_slack_events_refuses_unsigned_requests_before_reading_the_body(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, timestamp: int | str | None, signature: str | None
) -> None:
    headers = {"Content-Length": "1000"}
    # signed, with a timestamp out of Slack's window: the clock is said (the others, unsigned)
    skewed = isinstance(timestamp, int) and timestamp != 0 and signature is not None
    expected = http_api.CLOCK_SKEWED if skewed else http_api.UNSIGNED
    if isinstance(timestamp, int):  # seconds from now
        timestamp = str(int(time.time()) + timestamp)
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    monkeypatch.setattr(http_api, "BODY_READ_TIMEOUT_S", 60.0)  # only the early check answers
    started = time.monotonic()
    sock = connect(bot.url, "/slack/events", headers, b"12345")
    status, answered, body = answer(sock)  # and closed, though the body never came
    assert status == 401 and body["detail"] == expected
    assert answered["connection"] == "close" and time.monotonic() - started < 3


@SQLITE
@pytest.mark.parametrize(
    ("path", "headers"), [("/slack/events", None), (PREDICT, AUTH)], ids=["slack", "api"]
)
def test_a_client_that_hangs_up_mid_body_is_one_line_in_the_log(
    bot: Bot,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    headers: dict[str, str] | None,
) -> None:
    monkeypatch.setattr(logging.getLogger("uvicorn"), "propagate", True)  # its tracebacks too
    caplog.set_level(logging.INFO)
    sock = connect(bot.url, path, {**(headers or fresh()), "Content-Length": "1000"}, b"12345")
    time.sleep(0.2)  # the app is reading the body
    sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        said = [r for r in caplog.records if "hung up" in r.getMessage()]
        if said or any(r.levelno >= logging.ERROR for r in caplog.records):
            break
        time.sleep(0.05)
    time.sleep(0.2)  # anything logged after it
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == []
    said = [r for r in caplog.records if "hung up" in r.getMessage()]
    if path == PREDICT:
        # FastAPI reads an /api body itself, and answers a failed read as a 400 (to no one)
        assert said == []
    else:
        assert len(said) == 1 and said[0].levelno == logging.INFO
        assert said[0].exc_info is None and "\n" not in said[0].getMessage()


def test_serve_limits_the_connections(rest_only: pytest.MonkeyPatch) -> None:  # noqa: F811
    config = serve(rest_only)["config"]
    # under a default file descriptor limit (ulimit -n 1024), with room for the rest
    assert config.limit_concurrency is not None and config.limit_concurrency <= 900
    # the app answers past --max-connections itself (bot.api.Busy: JSON, /healthz let through);
    # uvicorn's cap, a little above it, bounds the open connections
    headroom = serve_cli.HEALTH_HEADROOM
    assert config.limit_concurrency == serve_cli.MAX_CONNECTIONS + headroom
    assert _busy_limit(config.app) == serve_cli.MAX_CONNECTIONS
    assert config.timeout_keep_alive == serve_cli.KEEP_ALIVE_S
    twenty = serve(rest_only, "--max-connections", "20")["config"]
    assert twenty.limit_concurrency == 20 + headroom and _busy_limit(twenty.app) == 20


def _busy_limit(api: Any) -> int:
    from bot.api import Busy

    (most,) = [m.kwargs["most"] for m in api.user_middleware if m.cls is Busy]
    return int(most)


@SQLITE
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Length": "1000"}, 401),  # no token
        ({**AUTH, "Content-Length": str(http_api.MAX_API_BODY + 1)}, 413),  # announced too big
    ],
    ids=["no-token", "too-big"],
)
def test_a_request_refused_before_its_body_closes_the_connection(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str], status: int
) -> None:
    """Refused before its body is read: the connection is closed at once, not held open with
    the unread body until the keep-alive timeout."""
    monkeypatch.setattr(http_api, "BODY_READ_TIMEOUT_S", 60.0)  # only the early refusal answers
    started = time.monotonic()
    sock = connect(bot.url, PREDICT, headers, b"12345")
    answered_status, answered, _ = answer(sock)
    assert answered_status == status and answered["connection"] == "close"
    assert time.monotonic() - started < 3
