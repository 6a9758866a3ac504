"""A message queued because Slack rate limited it for longer than the client waits
(bot.delivery.RATE_LIMIT_WAIT_MAX_S) is first tried from the outbox once Slack's Retry-After
has passed (up to messaging.OUTBOX_MAX_BACKOFF): it used to be due at once, so the next outbox
round (within LABELBOT_OUTBOX_INTERVAL, 15 s) sent it into the same rate limit again. Edits of
one message still go out in the order they were made, whenever each is due. Over real HTTP and
the fake Slack; time is moved through the outbox's clock (Courier.flush's ``now``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.delivery import RATE_LIMIT_WAIT_MAX_S, UPDATE, message_key
from engine import exporting, messaging
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import slack as slack_repo
from tests.bot.conftest import PROJECT, Bot, true_label
from tests.fakes.slack_client import Message, choices, example_id

EXPERT = "U0EXPERT"
RETRY_AFTER_S = 10  # past RATE_LIMIT_WAIT_MAX_S: the client does not wait it out

SQLITE = pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)


def _clock(bot: Bot) -> datetime:
    """The outbox's clock (the database's)."""
    with session_scope(bot.ws.db, read_only=True) as session:
        return slack_repo.outbox_now(session=session)


def _shown(bot: Bot, ts: str) -> Message:
    (message,) = [m for m in bot.slack.dm(EXPERT) if m["ts"] == ts]
    return message


def _rate_limited_click(bot: Bot, bank: dict[str, str], retry_after: int) -> tuple[Message, str]:
    """A click whose chat.update Slack rate limits for ``retry_after`` s: the example shown and
    the label clicked."""
    assert retry_after > RATE_LIMIT_WAIT_MAX_S
    bot.slack.command(EXPERT)
    bot.settle()
    (shown,) = bot.slack.open_examples(EXPERT)
    label = true_label(bot, bank, shown)
    bot.api.fail_next(UPDATE, 429, retry_after=retry_after)
    assert bot.slack.choose(EXPERT, shown, label).status_code == 200
    bot.settle()
    assert len(bot.api.calls(UPDATE)) == 1
    return shown, label


def test_a_rate_limited_edit_waits_in_the_outbox_for_the_retry_after(
    bot: Bot, bank: dict[str, str]
) -> None:
    before = _clock(bot)
    shown, label = _rate_limited_click(bot, bank, RETRY_AFTER_S)
    after = _clock(bot)
    labeled = {r["id"]: r["label"] for r in exporting.export_records(bot.ws, PROJECT)}
    assert labeled[str(example_id(shown))] == label  # the label is stored at once
    assert messaging.outbox_size(bot.ws) == 1
    courier = bot.services.courier

    # Every round before Slack's Retry-After has passed leaves it alone: no call refused again.
    for seconds in (0, 5, RETRY_AFTER_S - 1):
        assert courier.flush(now=before + timedelta(seconds=seconds)) == 0
    assert len(bot.api.calls(UPDATE)) == 1
    assert choices(_shown(bot, shown["ts"]))  # still its buttons
    assert courier.reach.down is None  # no outage: the message was just not due

    assert courier.flush(now=after + timedelta(seconds=RETRY_AFTER_S + 0.5)) == 1
    assert len(bot.api.calls(UPDATE)) == 2
    assert not choices(_shown(bot, shown["ts"]))  # shown as labeled
    assert messaging.outbox_size(bot.ws) == 0


@SQLITE
def test_a_long_retry_after_is_waited_fifteen_minutes_at_most(
    bot: Bot, bank: dict[str, str]
) -> None:
    before = _clock(bot)
    shown, _ = _rate_limited_click(bot, bank, 3600)
    after = _clock(bot)
    cap = messaging.OUTBOX_MAX_BACKOFF
    assert cap == timedelta(minutes=15)
    assert bot.services.courier.flush(now=before + cap - timedelta(seconds=1)) == 0
    assert bot.services.courier.flush(now=after + cap + timedelta(seconds=1)) == 1
    assert not choices(_shown(bot, shown["ts"]))


@SQLITE
def test_a_later_edit_queued_due_at_once_drops_the_waiting_one(
    bot: Bot, bank: dict[str, str]
) -> None:
    """The rate-limited edit waits; a newer edit of the same message, queued due at once, is the
    one sent: the older one is dropped, and never sent after it once its wait is over."""
    shown, _ = _rate_limited_click(bot, bank, RETRY_AFTER_S)
    after = _clock(bot)
    channel = bot.api.dm_channel(EXPERT)
    bot.api.fail_next(UPDATE, error="internal_error")  # queued, due at once
    newer = {"text": "newer edit", "blocks": []}
    assert bot.services.courier.update(newer, channel=channel, ts=shown["ts"]) is False
    assert messaging.outbox_size(bot.ws) == 1
    assert messaging.outbox_size(bot.ws, status="dropped") == 1

    assert bot.services.courier.flush() == 1
    assert bot.services.courier.flush(now=after + timedelta(seconds=RETRY_AFTER_S + 1)) == 0
    assert len(bot.api.calls(UPDATE)) == 3  # the click's, the newer edit's, its resend
    assert _shown(bot, shown["ts"])["text"] == "newer edit"


@SQLITE
def test_a_later_edit_that_goes_through_drops_the_waiting_one(
    bot: Bot, bank: dict[str, str]
) -> None:
    shown, _ = _rate_limited_click(bot, bank, RETRY_AFTER_S)
    after = _clock(bot)
    channel = bot.api.dm_channel(EXPERT)
    newer = {"text": "newer edit", "blocks": []}
    assert bot.services.courier.update(newer, channel=channel, ts=shown["ts"]) is True
    assert messaging.outbox_size(bot.ws) == 0
    assert bot.services.courier.flush(now=after + timedelta(seconds=RETRY_AFTER_S + 1)) == 0
    assert len(bot.api.calls(UPDATE)) == 2
    assert _shown(bot, shown["ts"])["text"] == "newer edit"


@SQLITE
def test_an_older_edit_due_sooner_does_not_overtake_a_waiting_newer_one(
    bot: Bot, bank: dict[str, str]
) -> None:
    """An edit first tried before the waiting one but queued after it (its retries took
    longer) is due at once, the newer one only after its Retry-After: it is dropped unsent, not
    shown until the newer one overwrites it."""
    bot.slack.command(EXPERT)
    bot.settle()
    (shown,) = bot.slack.open_examples(EXPERT)
    channel = bot.api.dm_channel(EXPERT)
    key = message_key(channel, shown["ts"])
    first_try = utcnow()
    messaging.enqueue(
        bot.ws, method=UPDATE, payload={"channel": channel, "ts": shown["ts"], "text": "newer"},
        rewrites=key, first_try=first_try, retry_after=timedelta(seconds=RETRY_AFTER_S),
    )  # fmt: skip
    after = _clock(bot)
    messaging.enqueue(
        bot.ws, method=UPDATE, payload={"channel": channel, "ts": shown["ts"], "text": "older"},
        rewrites=key, first_try=first_try - timedelta(seconds=1),
    )  # fmt: skip
    assert messaging.outbox_size(bot.ws) == 1
    assert messaging.outbox_size(bot.ws, status="dropped") == 1

    assert bot.services.courier.flush() == 0  # the newer one waits; the older one is gone
    assert bot.api.calls(UPDATE) == []
    assert bot.services.courier.flush(now=after + timedelta(seconds=RETRY_AFTER_S + 1)) == 1
    assert len(bot.api.calls(UPDATE)) == 1
    assert _shown(bot, shown["ts"])["text"] == "newer"


def test_enqueue_without_a_wait_is_due_at_once(bot: Bot) -> None:
    """Other callers are unchanged: a message queued without ``retry_after`` (or with none to
    wait) is due in the next round."""
    for wait in (None, timedelta(0)):
        messaging.enqueue(
            bot.ws, method="chat.postMessage", payload={"channel": EXPERT, "text": "hi"},
            error="x", retry_after=wait,
        )  # fmt: skip
    assert bot.services.courier.flush() == 2
