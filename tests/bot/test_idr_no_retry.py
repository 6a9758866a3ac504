"""Every refusal of a signed request Slack would not send is answered 400 with
``X-Slack-No-Retry: 1`` (Slack re-sends an event answered with an error up to three times, and
the same body would be refused each time): bot/listeners/shape.py's refusals carried it, the
server's own (a body Bolt cannot parse, an object that is no Slack request) did not. A refusal
Bolt answers as text keeps its headers when it is answered as JSON. Over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import BoltResponse

from bot.api import create_api
from bot.app import build_app
from bot.services import build_services
from engine.workspace import Workspace
from tests.bot.conftest import CHANNEL, SIGNING_SECRET, Bot, slack_settings
from tests.fakes import payloads
from tests.fakes.server import ServerThread
from tests.fakes.signing import FORM, sign, signed_event
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_client import SlackSim

EXPERT = "U0EXPERT"
NOT_A_PAYLOAD = "the body is not a Slack payload"

pytestmark = pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)


def _event(**change: object) -> dict[str, object]:
    envelope = payloads.message_event(CHANNEL, EXPERT, "hi", "1796000000.000100", "1796000000.1")
    envelope.update(change)
    return envelope


@pytest.mark.parametrize(
    "body",
    [
        "{}",  # an object, but no Slack request (Bolt: unhandled, 404)
        json.dumps(_event(event={"type": "message", "user": 5, "channel": CHANNEL, "ts": "1.1"})),
        "[1, 2]",  # JSON, but no object
    ],
    ids=["no-kind", "user-a-number", "a-list"],
)
def test_a_body_that_is_no_slack_payload_is_refused_with_no_retry(bot: Bot, body: str) -> None:
    answer = bot.slack.post(sign(bot.slack.secret, body, "application/json"))
    bot.settle()
    assert answer.status_code == 400
    assert answer.json() == {"error": "Bad Request", "detail": NOT_A_PAYLOAD}
    assert answer.headers.get("x-slack-no-retry") == "1"


def test_a_response_url_that_is_not_slacks_is_refused_with_no_retry(bot: Bot) -> None:
    """bot.app's refusal, a text body Bolt answers, is answered as JSON with the header."""
    form = payloads.slash_command(EXPERT, "help", bot.api.dm_channel(EXPERT),
                                  response_url="http://127.0.0.2:9/hook")  # fmt: skip
    answer = bot.slack.post(sign(bot.slack.secret, urlencode(form), FORM))
    bot.settle()
    assert answer.status_code == 400
    assert "response_url" in answer.json()["detail"]
    assert answer.headers.get("x-slack-no-retry") == "1"


@pytest.fixture
def refusing(
    ws: Workspace, slack_api: FakeSlackAPI, db_url_and_schema: Any, embedding_cache_dir: Path
) -> Iterator[SlackSim]:
    """labelbot whose Bolt app refuses every request 400 with a text body and headers of its
    own (a middleware added after bot.app's)."""

    def refuse(next: Callable[[], BoltResponse]) -> BoltResponse:
        return BoltResponse(status=400, body="Not a request Slack sends.", headers=dict(HEADERS))

    url, _ = db_url_and_schema
    settings = slack_settings(url, slack_api.api_url, embedding_cache_dir)
    services = build_services(settings, ws=ws)
    bolt = build_app(settings, services)
    bolt.middleware(refuse)
    with ServerThread(create_api(settings, services, bolt=bolt)) as server:
        slack = SlackSim(server.url, slack_api, SIGNING_SECRET)
        yield slack
        slack.close()
    services.listener_executor.shutdown(wait=True)
    services.dispatch_executor.shutdown(wait=True)


HEADERS = {"Retry-After": "5", "X-Labelbot-Why": "kept"}


def test_a_text_refusal_keeps_bolts_headers(refusing: SlackSim) -> None:
    answer = refusing.post(signed_event(refusing.secret, _event()))
    assert answer.status_code == 400
    assert answer.json() == {"error": "Bad Request", "detail": "Not a request Slack sends."}
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers.get("retry-after") == "5"
    assert answer.headers.get("x-labelbot-why") == "kept"
    assert answer.headers.get("x-slack-no-retry") == "1"
