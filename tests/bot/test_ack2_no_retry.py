"""A signed request bot/listeners/shape.py refuses (400: not a request Slack sends) is answered
with ``X-Slack-No-Retry: 1``: Slack re-sends an event answered with an error up to three times
(https://docs.slack.dev/apis/events-api/#retries), and the same body would be refused each
time -- over real HTTP, as Slack sees the answer."""

from __future__ import annotations

import pytest

from tests.bot.conftest import CHANNEL, Bot
from tests.fakes import payloads
from tests.fakes.signing import signed_event, signed_interactivity

EXPERT = "U0EXPERT"

pytestmark = pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)


def test_a_malformed_event_is_refused_with_no_retry(bot: Bot) -> None:
    envelope = payloads.message_event(CHANNEL, EXPERT, "hi", "1796000000.000100", "1796000000.1")
    envelope["event"]["ts"] = "yesterday"  # Slack sends seconds.microseconds
    answer = bot.slack.post(signed_event(bot.slack.secret, envelope))
    bot.settle()
    assert answer.status_code == 400
    assert answer.headers.get("x-slack-no-retry") == "1"
    assert answer.json()["error"] == "Bad Request"  # JSON, as every other error
    assert "event.ts" in answer.json()["detail"]
    assert answer.headers["content-type"].startswith("application/json")


def test_a_malformed_click_is_refused_the_same_way(bot: Bot) -> None:
    body = payloads.block_actions(EXPERT, "x", "1", "D1", "1.1", [])
    body["actions"] = []
    answer = bot.slack.post(signed_interactivity(bot.slack.secret, body))
    assert answer.status_code == 400 and answer.headers.get("x-slack-no-retry") == "1"
    assert "actions" in answer.json()["detail"]


def test_a_well_formed_event_is_answered_without_it(bot: Bot) -> None:
    envelope = payloads.message_event(CHANNEL, EXPERT, "hi", "1796000000.000100", "1796000000.1")
    answer = bot.slack.post(signed_event(bot.slack.secret, envelope))
    bot.settle()
    assert answer.status_code == 200 and "x-slack-no-retry" not in answer.headers
