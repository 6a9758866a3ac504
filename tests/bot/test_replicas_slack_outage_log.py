"""Slack answering 5xx while experts click (an outage, met by every replica at once): each
click's message that Slack did not take is queued and said once, as a WARNING in labelbot's
words. slack_sdk's own ERROR line for every failed try ("Failed to decode Slack API response:
... <html>", "Failed to send a request to Slack API server") is no more than a DEBUG line: the
failure reaches labelbot, which says it itself (README: the outbox logs one WARNING an outage).
Found by running two `labelbot serve` replicas and a worker through a Slack outage: 41 ERROR
lines on one replica for one outage."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from storage.db import session_scope
from storage.models import OutboxMessage
from tests.bot.conftest import Bot

EXPERT = "U0EXPERT"


def test_a_slack_outage_is_no_error_line_per_failed_try(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # serve's default --log-level
    bot.api.fail_next("chat.postMessage", status=500, retry_after=None, times=3)  # every try
    bot.slack.command(EXPERT)
    bot.settle()

    with session_scope(bot.ws.db, read_only=True) as session:
        queued = session.exec(select(OutboxMessage)).all()
    assert [m.method for m in queued] == ["chat.postMessage"]  # nothing lost: it waits
    assert len(bot.api.calls("chat.postMessage")) == 3  # the client's tries went out
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("queued as outbox" in line for line in said), said
