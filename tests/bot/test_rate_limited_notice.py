"""Slack's `app_rate_limited` notice (an Events API request with no inner event), over real HTTP
on SQLite and PostgreSQL: answered 200, and a warning says events are being lost."""

from __future__ import annotations

import logging

import pytest

from tests.bot.conftest import Bot
from tests.fakes.signing import signed_event


def test_app_rate_limited_is_answered_and_logged(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    notice = {
        "token": "verification_token",
        "type": "app_rate_limited",
        "team_id": "T111",
        "minute_rate_limited": 1518467820,
        "api_app_id": "A111",
    }
    with caplog.at_level(logging.WARNING):
        answer = bot.slack.post(signed_event(bot.slack.secret, notice))
    assert answer.status_code == 200 and not answer.content
    (warning,) = [r for r in caplog.records if "app_rate_limited" in r.getMessage()]
    assert warning.levelno == logging.WARNING and "1518467820" in warning.getMessage()
    unsigned = bot.slack.http.post("/slack/events", json=notice)
    assert unsigned.status_code == 401  # still only from Slack
