"""/slack/events while Slack's Web API is unreachable (SLACK_API_URL on a closed loopback port),
over real HTTP on SQLite and PostgreSQL: Bolt cannot authorize the request (auth.test), and the
answer is still labelbot's: JSON for the failure, 200 for Slack's app_rate_limited notice."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import httpx
import pytest

from bot.api import create_api
from bot.services import build_services
from engine.workspace import Workspace
from tests.bot.conftest import SIGNING_SECRET, slack_settings
from tests.fakes import payloads
from tests.fakes.server import ServerThread
from tests.fakes.signing import SignedRequest, signed_event, signed_slash_command

NOTICE = {
    "token": "verification_token",
    "type": "app_rate_limited",
    "team_id": "T111",
    "minute_rate_limited": 1518467820,
    "api_app_id": "A111",
}


def closed_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def offline(ws: Workspace, db_url_and_schema, embedding_cache_dir) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    """The whole bot under uvicorn, with Slack's Web API unreachable."""
    url, _ = db_url_and_schema
    api_url = f"http://127.0.0.1:{closed_port()}/api/"
    settings = slack_settings(url, api_url, embedding_cache_dir)
    services = build_services(settings, ws=ws)
    with (
        ServerThread(create_api(settings, services)) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        yield http
    services.listener_executor.shutdown(wait=True)
    services.dispatch_executor.shutdown(wait=True)


def post(http: httpx.Client, signed: SignedRequest) -> httpx.Response:
    return http.post("/slack/events", content=signed.body, headers=signed.headers)


def test_a_failure_inside_bolt_answers_json(
    offline: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    hook = f"http://127.0.0.1:{closed_port()}/commands/T/1/x"  # unreachable too
    form = payloads.slash_command("U0CALLER", "", "D0CALLER", response_url=hook)
    with caplog.at_level(logging.WARNING):
        answer = post(offline, signed_slash_command(SIGNING_SECRET, form))
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "error": "Internal Server Error",
        "detail": "unexpected error; the server log has the details",
    }
    # Bolt's authorization could not reach the Web API: Slack out of reach, said in one line
    # (no traceback: nothing in labelbot to fix)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Slack did not answer (connection: URLError)" in m for m in said), said
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]


def test_app_rate_limited_is_answered_without_the_web_api(
    offline: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        answer = post(offline, signed_event(SIGNING_SECRET, NOTICE))
    assert answer.status_code == 200 and not answer.content
    (warning,) = [r for r in caplog.records if "app_rate_limited" in r.getMessage()]
    assert warning.levelno == logging.WARNING and "1518467820" in warning.getMessage()
    assert offline.post("/slack/events", json=NOTICE).status_code == 401  # still only Slack's
