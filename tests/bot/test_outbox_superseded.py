"""A queued chat.update never undoes a newer update of the same message.

Found by an audit: a redraw of an expert's labeling message, rate limited and queued, went out
after the expert had labeled the message, bringing its buttons back (and taking its Undo away).
"""

from __future__ import annotations

from datetime import timedelta

from bot import flow, ids, views
from bot.delivery import UPDATE, message_key
from engine import messaging, projects, taxonomy
from storage.models import utcnow
from tests.bot.conftest import PROJECT, Bot, true_label
from tests.fakes.slack_client import button, choices

U1 = "U0ALICE"


def _now(bot: Bot, ts: str) -> dict[str, object]:
    return next(m for m in bot.slack.dm(U1) if m["ts"] == ts)


def test_a_queued_redraw_is_not_sent_after_the_expert_labeled_the_message(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.slack.command(U1)
    bot.settle()
    (m,) = bot.slack.open_examples(U1)
    right = true_label(bot, bank, m)
    # a taxonomy change from the CLI: the redraw of the message is rate limited, and queued
    taxonomy.add_labels(bot.ws, project=PROJECT, names=["lost_card"], actor="cli")
    bot.api.fail_next(UPDATE, status=429, retry_after=0, times=3)
    assert flow.redraw_on_screen(bot.services, project=PROJECT) == 1
    assert messaging.outbox_size(bot.ws) == 1
    bot.slack.choose(U1, m, right)
    bot.settle()
    # the label's chat.update went through: the queued redraw is older, and dropped unsent
    assert messaging.outbox_size(bot.ws) == 0
    assert messaging.outbox_size(bot.ws, status="dropped") == 1
    updates = len(bot.api.calls(UPDATE))
    assert bot.services.courier.flush() == 0
    assert len(bot.api.calls(UPDATE)) == updates
    shown = _now(bot, m["ts"])
    assert choices(shown) == []
    assert str(shown["text"]).startswith(f"Labeled {right} by <@{U1}>")
    button(shown, ids.UNDO)  # the Undo is still there, and works
    assert bot.slack.click(U1, shown, ids.UNDO).status_code == 200
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 0


def test_a_newer_queued_update_supersedes_an_older_queued_one(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.slack.command(U1)
    bot.settle()
    (m,) = bot.slack.open_examples(U1)
    channel, ts = bot.api.dm_channel(U1), str(m["ts"])
    for text in ("first", "second"):
        bot.api.fail_next(UPDATE, status=429, retry_after=0, times=3)
        assert not bot.services.courier.update(views.info_message(text), channel=channel, ts=ts)
    assert messaging.outbox_size(bot.ws) == 1  # the first was superseded when the second queued
    assert messaging.outbox_size(bot.ws, status="dropped") == 1
    updates = len(bot.api.calls(UPDATE))
    assert bot.services.courier.flush() == 1
    assert len(bot.api.calls(UPDATE)) == updates + 1
    assert _now(bot, ts)["text"] == "second"


def test_an_update_older_than_one_sent_is_never_sent(bot: Bot, bank: dict[str, str]) -> None:
    """Edits are ordered by when they were first tried: one whose retries took longer than a
    newer one's is queued after it, and must not be sent after it."""
    bot.slack.command(U1)
    bot.settle()
    (m,) = bot.slack.open_examples(U1)
    channel, ts = bot.api.dm_channel(U1), str(m["ts"])
    key = message_key(channel, ts)
    now = utcnow()
    newer = {"channel": channel, "ts": ts, **views.info_message("newer")}
    older = {"channel": channel, "ts": ts, **views.info_message("older")}
    messaging.enqueue(bot.ws, method=UPDATE, payload=newer, rewrites=key, first_try=now)
    assert bot.services.courier.flush() == 1
    messaging.enqueue(bot.ws, method=UPDATE, payload=older, rewrites=key,
                      first_try=now - timedelta(seconds=30))  # fmt: skip
    assert messaging.outbox_size(bot.ws) == 0  # dropped at once: a newer one was sent
    assert bot.services.courier.flush() == 0
    assert _now(bot, ts)["text"] == "newer"


def test_an_update_that_fails_after_a_newer_one_went_through_is_not_queued(
    bot: Bot, bank: dict[str, str]
) -> None:
    """The courier remembers the newest update of a message that went through: an older one
    whose retries fail only after it (a rate limit's Retry-After) is not queued at all."""
    bot.slack.command(U1)
    bot.settle()
    (m,) = bot.slack.open_examples(U1)
    channel, ts = bot.api.dm_channel(U1), str(m["ts"])
    courier = bot.services.courier
    first_try = utcnow()
    assert courier.update(views.info_message("newer"), channel=channel, ts=ts)
    older = {"channel": channel, "ts": ts, **views.info_message("older")}
    bot.api.fail_next(UPDATE, status=429, retry_after=0, times=3)
    assert courier._call(UPDATE, older, rewrites=message_key(channel, ts),
                         first_try=first_try - timedelta(seconds=1)) is None  # fmt: skip
    assert messaging.outbox_size(bot.ws) == 0
    assert _now(bot, ts)["text"] == "newer"
