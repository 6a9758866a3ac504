"""The HTTP edge under hostile or broken input: bodies are capped and nothing is parsed before
it is authenticated, malformed requests get a 4xx in JSON (never a 500 and a traceback), a
database that is down makes /healthz say so, and errors after a modal reach the user."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest

from bot import api as http_api
from bot import ids
from tests.bot.conftest import API_TOKEN, PROJECT, Bot
from tests.fakes import payloads
from tests.fakes.signing import FORM, sign, signed_interactivity, signed_slash_command

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
PREDICT = f"/api/projects/{PROJECT}/predict"
JSON = {**AUTH, "Content-Type": "application/json"}
NOT_SLACK = "the body is not a Slack payload"


def raw_post(url: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict]:
    """POST over a bare socket, so a test can announce more body than it sends (or chunk it),
    and see whether the server answers without waiting for it. (status, JSON body)."""
    parts = urlsplit(url)
    head = [f"POST {path} HTTP/1.1", f"Host: {parts.hostname}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        # The server may answer and close before taking it all: then read that answer.
        with contextlib.suppress(OSError):
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    raw_headers, _, payload = rest.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in raw_headers.lower():
        size, _, payload = payload.partition(b"\r\n")
        payload = payload[: int(size, 16)]
    return int(status_line.split()[1]), json.loads(payload)


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Warnings and errors logged, uvicorn's included (it logs an app's tracebacks there)."""
    monkeypatch.setattr(logging.getLogger("uvicorn"), "propagate", True)
    caplog.set_level(logging.WARNING)
    return caplog


def chunked(data: bytes, size: int = 64 * 1024) -> bytes:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


# --- #6: bodies are capped before they are read ------------------------------------------------


def test_an_oversized_body_is_refused_before_it_is_read(bot: Bot) -> None:
    # Announced but never sent: the answer must come without waiting for the body.
    status, body = raw_post(bot.url, "/slack/events", {"Content-Length": str(10**9)})
    assert status == 413 and body["error"] == "Request Entity Too Large"
    assert f"{http_api.MAX_SLACK_BODY:,}-byte limit" in body["detail"]
    status, body = raw_post(bot.url, PREDICT, {**AUTH, "Content-Length": str(10**10)})
    assert status == 413 and f"{http_api.MAX_API_BODY:,}-byte" in body["detail"]
    # Without the token, the body of an /api request is not read at all.
    status, body = raw_post(bot.url, PREDICT, {"Content-Length": str(10**9)})
    assert status == 401 and body["error"] == "Unauthorized"


def test_a_chunked_body_is_cut_off_at_the_cap(bot: Bot) -> None:
    too_big = chunked(b"x" * (http_api.MAX_SLACK_BODY + 1))
    # signature headers that pass the check made before the body (the signature is wrong)
    fresh = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"}
    status, body = raw_post(
        bot.url, "/slack/events", {"Transfer-Encoding": "chunked", **fresh}, too_big
    )
    assert status == 413 and body["error"] == "Request Entity Too Large"


def test_the_largest_modal_submission_fits_the_cap(bot: Bot) -> None:
    # labelbot's modals have a few inputs (bot/views); ten of Slack's longest (3,000 characters)
    # filled with emoji, which JSON and the form encoding blow up to 16 bytes each.
    values = {f"b{i}": {"a": {"type": "plain_text_input", "value": "😀" * 3000}} for i in range(10)}
    submission = signed_interactivity(bot.slack.secret, payloads.view_submission("U1", "x", values))
    assert len(submission.body) < http_api.MAX_SLACK_BODY
    assert bot.slack.post(submission).status_code == 404  # Bolt's "unhandled", not a 413


# --- #7: unsigned or malformed Slack requests ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"payload=x", FORM),
        (b"{bad", "application/json"),
        (b"[1]", "application/json"),
        (b'"x"', "application/json"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_an_unsigned_request_is_401(
    bot: Bot, body: bytes, content_type: str, logged: pytest.LogCaptureFixture
) -> None:
    answer = bot.slack.http.post(
        "/slack/events", content=body, headers={"Content-Type": content_type}
    )
    assert answer.status_code == 401 and answer.json()["error"] == "Unauthorized"
    assert logged.records == []


def test_a_non_numeric_timestamp_is_401_and_a_malformed_signed_body_400(
    bot: Bot, logged: pytest.LogCaptureFixture
) -> None:
    # digits past any time: int() of 5,000 is refused, a 400-digit time overflows a float;
    # "²" (a Unicode digit, as Latin-1 bytes) is a digit to str.isdigit but not to int()
    for timestamp in ("abc", "1e10", "9" * 400, "9" * 5000, b"\xb2", "\u0661\u0662".encode()):
        signed = sign(bot.slack.secret, "command=%2Flabel", FORM)
        headers = {**signed.headers, "X-Slack-Request-Timestamp": timestamp}
        answer = bot.slack.http.post("/slack/events", content=signed.body, headers=headers)
        assert answer.status_code == 401, timestamp
    for body, content_type in [
        ("payload=notjson", FORM),
        ("payload=%5B1%5D", FORM),
        ("[1,2]", "application/json"),
        ("{bad", "application/json"),
    ]:
        answer = bot.slack.post(sign(bot.slack.secret, body, content_type))
        assert answer.status_code == 400, body
        assert answer.json() == {"error": "Bad Request", "detail": NOT_SLACK}
    assert logged.records == []


# --- #8: an error after a modal's submission reaches its user -----------------------------------


def test_an_error_after_a_modal_submission_is_told_in_the_dm(bot: Bot) -> None:
    values = {
        ids.FLAG_REASON_BLOCK: {ids.FLAG_REASON_INPUT: {"type": "plain_text_input", "value": "x"}}
    }
    submission = payloads.view_submission(
        "U0FLAGGER", ids.FLAG_MODAL, values, private_metadata=json.dumps({"example_id": 999999})
    )
    assert bot.slack.post(signed_interactivity(bot.slack.secret, submission)).status_code == 200
    bot.settle()
    (told,) = bot.slack.dm("U0FLAGGER")
    assert "999999" in told["text"] and told["text"].startswith(":warning:")


def test_an_error_whose_reply_cannot_reach_slack_still_ends_the_request(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    # Slack's response_url does not answer (the connection drops, and again on slack_sdk's one
    # retry): the user cannot be told, but the error is logged and the request ends as handled,
    # not as a 500 with the reply's traceback. (A closed port of SLACK_API_URL's host would be
    # no response_url labelbot follows.)
    bot.api.lose_answer("response_url", status=None, times=2)
    form = payloads.slash_command(
        "U0LOST", "no-such-project", bot.api.dm_channel("U0LOST"),
        response_url=bot.api.response_url("U0LOST"),
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        answer = bot.slack.post(signed_slash_command(bot.slack.secret, form))
        bot.settle()
    assert answer.status_code == 200
    assert any("could not tell U0LOST" in r.getMessage() for r in caplog.records)


# --- #9: what /predict accepts, and what a refusal echoes ---------------------------------------


def test_predict_refuses_what_an_import_would(bot: Bot) -> None:
    http = bot.slack.http
    cases = {
        '{"texts": ["a\\ud800b"]}': "lone surrogate",
        '{"texts": [""]}': "empty text",
        '{"texts": ["ok", "   "]}': "empty text",
        json.dumps({"texts": ["x" * 50_001]}): "over the 50,000 limit",
        '{"texts": ["nul\\u0000byte"]}': "NUL byte",  # refused by an import too
    }
    for raw, reason in cases.items():
        answer = http.post(PREDICT, content=raw, headers=JSON)
        assert answer.status_code == 422, raw[:40]
        body = answer.json()
        assert body["error"] == "Unprocessable Entity"
        assert [reason in p["msg"] for p in body["detail"]] == [True], body
        assert len(answer.content) < 1000  # the text is not echoed


def test_a_refused_predict_does_not_echo_its_input(bot: Bot) -> None:
    texts = [f"text number {i}" for i in range(http_api.MAX_TEXTS + 1)]
    answer = bot.slack.http.post(PREDICT, json={"texts": texts}, headers=AUTH)
    assert answer.status_code == 422
    ((problem,),) = [answer.json()["detail"]]
    assert problem["loc"] == ["body", "texts"] and "input" not in problem
    assert len(answer.content) < 1000


# --- #10: /healthz with the database down --------------------------------------------------------


def test_healthz_says_the_database_is_down_fast(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, logged: pytest.LogCaptureFixture
) -> None:
    from storage.db import make_engine

    with socket.socket() as closed:  # a port nobody listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setattr(bot.ws, "db", make_engine(f"postgresql+psycopg://x@127.0.0.1:{port}/x"))
    answer = bot.slack.http.get("/healthz")
    assert answer.status_code == 503
    assert answer.json() == {"ok": False, "error": "database unavailable"}
    assert [r.exc_info for r in logged.records] == [None]  # one line, no traceback


def test_healthz_does_not_hang_on_a_slow_database(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database read never returns until the answer is in: the probe gave up on it."""
    monkeypatch.setattr(http_api, "HEALTH_TIMEOUT_S", 0.2)
    reading, answered = threading.Event(), threading.Event()

    def stuck(ws: object) -> int:
        reading.set()
        answered.wait(30)
        return 0

    monkeypatch.setattr(http_api.messaging, "outbox_size", stuck)
    started = time.monotonic()
    try:
        answer = bot.slack.http.get("/healthz")
        took = time.monotonic() - started
    finally:
        answered.set()  # the read ends: the server can shut down
    assert reading.is_set() and answer.status_code == 503
    assert answer.json() == {"ok": False, "error": "database unavailable"}
    assert took < 10  # about HEALTH_TIMEOUT_S, however loaded the machine; not the read's 30 s


def test_an_unexpected_error_answers_json(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ws: object) -> list[object]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(http_api.projects, "list_projects", broken)
    answer = bot.slack.http.get("/api/projects", headers=AUTH)
    assert answer.status_code == 500
    assert answer.json()["error"] == "Internal Server Error" and "a bug" not in answer.text
