"""Signatures, rate limits, server errors and the outbox, and secrets kept out of logs."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest

from engine import messaging, projects
from storage.models import utcnow
from storage.repositories import slack as outbox_repo
from tests.bot.conftest import API_TOKEN, BOT_TOKEN, PROJECT, SIGNING_SECRET, Bot, true_label
from tests.fakes.signing import signed_interactivity

U1 = "U0ALICE"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda s: s.sign("wrong-secret"), id="forged"),
        pytest.param(lambda s: s.unsigned(), id="unsigned"),
        pytest.param(
            lambda s: s.sign(SIGNING_SECRET, timestamp=int(time.time()) - 6 * 60), id="stale"
        ),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    bot: Bot, bank: dict[str, str], tamper
) -> None:  # type: ignore[no-untyped-def]
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    calls_before = len(bot.api.calls())
    payload = bot.slack.choice_payload(U1, message, true_label(bot, bank, message))

    class Tamper:
        def sign(self, secret: str, **kw: int) -> dict[str, str]:
            signed = signed_interactivity(secret, payload, **kw)
            return {"content": signed.body, "headers": signed.headers}  # type: ignore[dict-item]

        def unsigned(self) -> dict[str, str]:
            signed = signed_interactivity(SIGNING_SECRET, payload)
            headers = {"Content-Type": signed.headers["Content-Type"]}
            return {"content": signed.body, "headers": headers}  # type: ignore[dict-item]

    response = bot.slack.http.post("/slack/events", **tamper(Tamper()))
    bot.settle()
    assert response.status_code == 401
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 0
    assert len(bot.api.calls()) == calls_before  # nothing posted either


def test_rate_limited_post_is_retried_and_delivered(bot: Bot, bank: dict[str, str]) -> None:
    bot.api.fail_next("chat.postMessage", status=429, retry_after=1)
    bot.slack.command(U1)
    bot.settle()
    posts = bot.api.calls("chat.postMessage")
    assert len(posts) == 2  # the 429, then the retry after Retry-After
    assert len(bot.slack.open_examples(U1)) == 1


def test_undeliverable_message_waits_in_the_outbox(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    # Slack is down for longer than the client's retries: the next example is queued...
    bot.api.fail_next("chat.postMessage", status=503, times=3)
    bot.slack.choose(U1, message, true_label(bot, bank, message))
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1  # the label is safe
    assert bot.slack.open_examples(U1) == [] and messaging.outbox_size(bot.ws) == 1
    # ... and delivered by the next outbox round, recorded on its assignment.
    assert bot.services.courier.flush() == 1
    assert messaging.outbox_size(bot.ws) == 0 and len(bot.slack.open_examples(U1)) == 1
    assert bot.services.courier.flush() == 0
    (nxt,) = bot.slack.open_examples(U1)
    bot.slack.choose(U1, nxt, true_label(bot, bank, nxt))
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 2


def test_outbox_gives_up_on_a_message_slack_will_never_take(bot: Bot, bank: dict[str, str]) -> None:
    messaging.enqueue(
        bot.ws, method="chat.postMessage", payload={"channel": U1, "text": "x" * 10}, error="test"
    )
    bot.api.fail_next("chat.postMessage", error="channel_not_found")
    assert bot.services.courier.flush() == 0
    assert messaging.outbox_size(bot.ws) == 0 and messaging.outbox_size(bot.ws, status="dead") == 1


def test_an_outbox_send_is_one_call_and_leaves_retrying_to_the_outbox(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client retry would sleep through Slack's Retry-After inside the message's lease; a long
    # one outlasts the lease and another replica sends the message again.
    messaging.enqueue(
        bot.ws, method="chat.postMessage", payload={"channel": U1, "text": "later"}, error="test"
    )
    now = utcnow()  # the outbox's clock (the database's) stands still unless the test moves it
    monkeypatch.setattr(outbox_repo, "database_now", lambda session: now)
    bot.api.fail_next("chat.postMessage", status=429, retry_after=30)
    assert bot.services.courier.flush() == 0
    assert len(bot.api.calls("chat.postMessage")) == 1  # no sleep, no second call
    assert messaging.outbox_size(bot.ws) == 1  # still pending, tried again after its backoff
    assert bot.services.courier.flush() == 0  # not due yet
    now += messaging.backoff(1)
    assert bot.services.courier.flush() == 0  # nor after its backoff: Slack asked for 30 s
    now += timedelta(seconds=30) - messaging.backoff(1)
    assert bot.services.courier.flush() == 1  # due after the Retry-After: sent by the outbox
    assert len(bot.api.calls("chat.postMessage")) == 2 and messaging.outbox_size(bot.ws) == 0


def test_secrets_never_reach_the_logs(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot.api.fail_next("chat.postMessage", status=429, retry_after=0)
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    bot.slack.choose("U0BOB", message, true_label(bot, bank, message))  # a stale click: logged
    bot.settle()
    bot.slack.http.get("/api/projects", headers={"Authorization": f"Bearer {API_TOKEN}"})
    logged = "\n".join(r.getMessage() for r in caplog.records) + repr(bot.services.settings)
    assert caplog.records and "Sending a request" in logged  # slack_sdk's debug log ran
    for secret in (BOT_TOKEN, SIGNING_SECRET, API_TOKEN):
        assert secret not in logged
