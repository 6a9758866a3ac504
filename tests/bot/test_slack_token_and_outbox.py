"""A bot token Slack refuses (the app uninstalled, the token revoked or rotated), outbox
messages given up for good, and queued examples that are no longer wanted when the outbox can
send them: through the real courier and outbox, the fake Slack Web API and /healthz over HTTP.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.error import URLError

import pytest
from slack_sdk.errors import SlackApiError
from sqlmodel import col, select

from bot.delivery import TokenWatch
from engine import messaging, projects
from storage.db import session_scope
from storage.models import Assignment, OutboxMessage, utcnow
from storage.repositories import slack as outbox_repo
from tests.bot.conftest import PROJECT, SIGNING_SECRET, Bot
from tests.fakes import payloads
from tests.fakes.signing import signed_event
from tests.fakes.slack_client import example_id

U1, U2 = "U0ALICE", "U0BOB"
POST = "chat.postMessage"
ADVICE = "reinstall the app or update SLACK_BOT_TOKEN"


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and r.getMessage().startswith("Slack refuses the bot token")
    ]


def _given_up(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "given up" in r.getMessage()
    ]


def _health(bot: Bot) -> dict[str, Any]:
    answer = bot.slack.http.get("/healthz")
    assert answer.status_code == 200  # a refused token is no reason to pull the replica out
    body: dict[str, Any] = answer.json()
    return body


def _outbox(bot: Bot) -> list[dict[str, Any]]:
    """The outbox's messages, oldest first."""
    with session_scope(bot.ws.db, read_only=True) as session:
        rows = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
        return [row.model_dump() for row in rows]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The outbox's clock (the database's), standing still until a test moves ``clock[0]``."""
    now = [utcnow()]
    monkeypatch.setattr(outbox_repo, "database_now", lambda session: now[0])
    return now


@pytest.fixture
def quiet(bot: Bot, bank: dict[str, str]) -> dict[str, str]:
    """The bank project, handing out plain queue examples only."""
    projects.update_settings(
        bot.ws, project=PROJECT, audit_share=0.0, multi_label_share=0.0, review_share=0.0
    )
    return bank


# --- F5: a refused bot token -------------------------------------------------------------------


def _revoke(bot: Bot, error: str, calls: int) -> Callable[[], None]:
    """Slack refuses the bot token for the next ``calls`` chat.postMessage calls; returns what
    fixes it (invalid_auth: the token was rotated, every call is refused until it is set)."""
    if error == "invalid_auth":
        token = bot.api.token
        bot.api.token = "xoxb-rotated"

        def fix() -> None:
            bot.api.token = token

        return fix
    bot.api.fail_next(POST, error=error, times=calls)
    return lambda: None


@pytest.mark.parametrize("error", ["token_revoked", "invalid_auth", "account_inactive"])
def test_the_outbox_keeps_its_messages_while_slack_refuses_the_token(
    bot: Bot,
    bank: dict[str, str],
    clock: list[datetime],
    error: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for text in ("first", "second"):
        messaging.enqueue(bot.ws, method=POST, payload={"channel": U1, "text": text}, error="x")
    fix = _revoke(bot, error, calls=3)
    caplog.set_level(logging.INFO)
    for _ in range(3):  # three rounds, a minute apart
        assert bot.services.courier.flush() == 0
        clock[0] += messaging.OUTBOX_BLOCKED_RETRY
    # One call a round: every other message would be refused alike. Nothing is given up.
    assert len(bot.api.calls(POST)) == 3
    rows = _outbox(bot)
    assert [(m["status"], m["attempts"]) for m in rows] == [("pending", 0), ("pending", 0)]
    assert error in rows[0]["last_error"]
    assert _given_up(caplog) == []
    assert _refusals(caplog) == [f"Slack refuses the bot token ({error}): {ADVICE}"]  # once
    assert _health(bot) == {"ok": True, "outbox": 2, "dead": 0, "slack": error}
    fix()  # a new token (or the bot user reactivated): the messages go out
    assert bot.services.courier.flush() == 2
    assert [m["status"] for m in _outbox(bot)] == ["sent", "sent"]
    assert [m["text"] for m in bot.api.messages(bot.api.dm_channel(U1))] == ["first", "second"]
    assert _health(bot) == {"ok": True, "outbox": 0, "dead": 0, "slack": "ok"}


def test_a_refused_token_is_logged_once_an_hour_per_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    moments = iter([0.0, 10.0, 20.0, 3700.0])
    watch = TokenWatch(clock=lambda: next(moments))
    watch.refused("token_revoked")  # 0 s: logged
    watch.refused("token_revoked")  # 10 s: not again
    watch.refused("invalid_auth")  # 20 s: another error, logged
    watch.refused("token_revoked")  # an hour on: logged again
    assert _refusals(caplog) == [
        f"Slack refuses the bot token ({code}): {ADVICE}"
        for code in ("token_revoked", "invalid_auth", "token_revoked")
    ]
    assert watch.problem == "token_revoked"


def test_a_token_refused_to_bolt_is_logged_and_shown(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The clients Bolt makes for each request, and its auth.test, report to the same watch."""
    bot.api.token = "xoxb-rotated"  # the app reinstalled: SLACK_BOT_TOKEN is the old token
    caplog.set_level(logging.INFO)
    for _ in range(2):
        bot.slack.command(U1)
        bot.settle()
    assert len(bot.api.calls("auth.test")) == 2 and bot.api.calls(POST) == []
    assert _refusals(caplog) == [f"Slack refuses the bot token (invalid_auth): {ADVICE}"]
    assert _health(bot)["slack"] == "invalid_auth"


@pytest.mark.parametrize("kind", ["app_uninstalled", "tokens_revoked"])
def test_slacks_notice_that_the_token_is_gone_is_answered_logged_and_shown(
    bot: Bot, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    event: dict[str, Any] = {"type": kind}
    if kind == "tokens_revoked":
        event["tokens"] = {"oauth": [], "bot": ["UBOT"]}
    envelope = payloads.event_callback(event)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    codes = []
    for extra in ({}, retry):  # Slack's redelivery is answered, and not logged again
        signed = signed_event(SIGNING_SECRET, envelope)
        codes.append(
            bot.slack.http.post(
                "/slack/events", content=signed.body, headers={**signed.headers, **extra}
            ).status_code
        )
    bot.settle()
    assert codes == [200, 200]
    assert bot.api.calls("auth.test") == []  # answered without the token Slack no longer takes
    assert _refusals(caplog) == [f"Slack refuses the bot token ({kind}): {ADVICE}"]
    assert _health(bot)["slack"] == kind
    bot.services.client.auth_test()  # Slack takes the token again (say, reinstalled): clear
    assert _health(bot)["slack"] == "ok"


def test_revoked_user_tokens_leave_the_bot_token_alone(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    envelope = payloads.event_callback({"type": "tokens_revoked", "tokens": {"oauth": ["U1"]}})
    signed = signed_event(SIGNING_SECRET, envelope)
    answer = bot.slack.http.post("/slack/events", content=signed.body, headers=signed.headers)
    bot.settle()
    assert answer.status_code == 200
    assert _refusals(caplog) == [] and _health(bot)["slack"] == "unverified"  # no call yet


def test_healthz_says_whether_slack_has_answered(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """Before any call has been answered Slack is ``unverified``, not ``ok``; a call that gets no
    answer at all makes it ``unreachable`` until the next answer; a refused token outranks both."""
    client = bot.services.client
    assert _health(bot)["slack"] == "unverified"
    client.auth_test()
    assert _health(bot)["slack"] == "ok"
    with socket.socket() as closed:  # a port nobody listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/api/"
    reachable = client.base_url
    client.base_url = dead
    try:
        with pytest.raises(URLError):
            client.auth_test()
        assert _health(bot)["slack"] == "unreachable"
        caplog.set_level(logging.INFO)
        client.base_url = reachable
        client.auth_test()
        assert _health(bot)["slack"] == "ok"
        assert "Slack's Web API answers again" in caplog.messages
        bot.api.token = "xoxb-rotated"  # refused: the error code, unreachable or not
        with pytest.raises(SlackApiError):
            client.auth_test()
        client.base_url = dead
        with pytest.raises(URLError):
            client.auth_test()
        assert _health(bot)["slack"] == "invalid_auth"
    finally:
        client.base_url = reachable


# --- F6: messages given up ---------------------------------------------------------------------


def test_a_message_given_up_is_logged_and_counted(
    bot: Bot, quiet: dict[str, str], clock: list[datetime], caplog: pytest.LogCaptureFixture
) -> None:
    bot.api.fail_next(POST, status=503, times=3)  # Slack down: U1's example is queued
    bot.slack.command(U1)
    bot.settle()
    (queued,) = _outbox(bot)
    caplog.set_level(logging.INFO)
    bot.api.fail_next(POST, error="channel_not_found")  # then refused for good
    assert bot.services.courier.flush() == 0
    (line,) = _given_up(caplog)
    for part in (POST, U1, f"assignment {queued['assignment_id']}", "channel_not_found"):
        assert part in line, line
    assert _health(bot) == {"ok": True, "outbox": 0, "dead": 1, "slack": "ok"}

    # A message Slack answers with an error of its own OUTBOX_MAX_ATTEMPTS times is given up
    # too, and says so (a Slack that takes no call at all counts against no message).
    caplog.clear()
    worn = messaging.enqueue(bot.ws, method=POST, payload={"channel": "C0X", "text": "x"})
    with session_scope(bot.ws.db) as session:
        message = session.get(OutboxMessage, worn)
        assert message is not None
        message.attempts = messaging.OUTBOX_MAX_ATTEMPTS - 1
        session.add(message)
    bot.api.fail_next(POST, error="internal_error")
    assert bot.services.courier.flush() == 0
    (line,) = _given_up(caplog)
    parts = (POST, "C0X", "assignment None", "internal_error", "12 attempts")
    assert all(part in line for part in parts), line
    assert _health(bot)["dead"] == 2
    clock[0] += messaging.DEAD_WITHIN + timedelta(minutes=5)  # /healthz counts the last 24 h
    assert _health(bot)["dead"] == 0


# --- F8: a queued example no longer wanted -----------------------------------------------------


def test_a_queued_example_the_expert_got_again_is_not_sent_twice(
    bot: Bot, quiet: dict[str, str]
) -> None:
    bot.api.fail_next(POST, status=503, times=3)  # Slack down: the example is queued
    bot.slack.command(U1)
    bot.settle()
    assert messaging.outbox_size(bot.ws) == 1 and bot.slack.open_examples(U1) == []
    bot.slack.command(U1)  # Slack is back; the expert asks again and gets it
    bot.settle()
    (shown,) = bot.slack.open_examples(U1)
    assert bot.services.courier.flush() == 0
    assert bot.slack.open_examples(U1) == [shown]  # one live message of the example
    ((status, why),) = [(m["status"], m["last_error"]) for m in _outbox(bot)]
    assert status == "dropped" and "delivered already" in why


@pytest.mark.parametrize("how", ["ttl_passed", "expired"])
def test_a_queued_example_that_went_to_another_expert_is_not_sent(
    bot: Bot, quiet: dict[str, str], how: str, caplog: pytest.LogCaptureFixture
) -> None:
    bot.api.fail_next(POST, status=503, times=3)  # Slack down: U1's example is queued
    bot.slack.command(U1)
    bot.settle()
    with session_scope(bot.ws.db) as session:  # Slack stays down past the assignment's TTL
        (held,) = session.exec(select(Assignment).where(Assignment.annotator == U1)).all()
        held.expires_at = utcnow() - timedelta(minutes=1)
        held.status = "expired" if how == "expired" else held.status
        session.add(held)
        example = held.example_id
    bot.slack.command(U2)  # U2 asks for work and gets the example back in the pool
    bot.settle()
    (theirs,) = bot.slack.open_examples(U2)
    assert example_id(theirs) == example
    caplog.set_level(logging.INFO)
    assert bot.services.courier.flush() == 0
    assert bot.slack.open_examples(U1) == []  # not live with two experts at once
    assert [m["status"] for m in _outbox(bot)] == ["dropped"]
    assert _given_up(caplog) == [] and _health(bot)["dead"] == 0
