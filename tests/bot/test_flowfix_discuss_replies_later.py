"""Discuss reads the replies written under the labeling message before the click with
conversations.replies, whose rate limit for an app outside the Slack Marketplace is one call a
minute (Retry-After up to 60 s): a second Discuss within the minute (or anyone's) got a 429,
and the expert who clicked was told "Slack is limiting how fast labelbot may write just now
... please try again in a minute", though the thread was opened and noted, while the replies
stayed unread until Discuss was clicked again. Now the click succeeds, and the replies are
read by the scheduler's round once Slack's wait is over (on whichever replica: the wait is a
lease in the database), each kept once. A read cut short (a rate limit, a reader that died)
goes on after the last reply it read, whoever takes it up: at one call a minute, one that
started at page 1 again never read past it. Over real signed Bolt requests, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot import flow, ids
from storage.db import session_scope
from storage.models import Lease
from storage.repositories import leases
from tests.bot.conftest import Bot
from tests.bot.test_labeling_dm_promises import U1, _comments, _first
from tests.fakes import payloads
from tests.fakes.slack_client import example_id


def _reply(bot: Bot, message: dict, text: str, event_id: str) -> None:  # type: ignore[type-arg]
    dm = bot.api.dm_channel(U1)
    ts = bot.api.add_message(dm, text=text, user=U1, thread_ts=message["ts"])
    event = payloads.message_event(dm, U1, text, ts, thread_ts=message["ts"], event_id=event_id)
    assert bot.slack.event(event).status_code == 200
    bot.settle()


def _lapse(bot: Bot) -> None:
    """Slack's wait is over: the claims it left lapse now."""
    with session_scope(bot.ws.db) as session:
        for lease in session.exec(select(Lease)).all():
            if lease.name.startswith(flow.EARLIER_REPLIES_CLAIM):
                lease.expires_at = leases.database_now(session) - timedelta(seconds=1)
                session.add(lease)


def test_a_rate_limited_read_is_no_failure_and_is_done_later(
    bot: Bot, bank: dict[str, str]
) -> None:
    message = _first(bot, U1)
    eid = example_id(message)
    _reply(bot, message, "is a refund a card question?", "Ev0EARLY")
    bot.api.fail_next("conversations.replies", status=429, retry_after=60)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    assert bot.slack.ephemerals(U1) == []  # no failure told: the click did what it says
    notes = [m for m in bot.slack.dm(U1) if m.get("bot_id") and m.get("thread_ts")]
    assert len(notes) == 1 and "(and here) are saved" in notes[0]["text"]
    assert _comments(bot, eid) == []
    calls = len(bot.api.calls("conversations.replies"))

    # within Slack's wait: another click, and the scheduler's round, call nothing
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    assert flow.read_due_replies(bot.services) == 0
    assert bot.slack.ephemerals(U1) == []
    assert len(bot.api.calls("conversations.replies")) == calls

    _lapse(bot)
    assert flow.read_due_replies(bot.services) == 1  # the next round once the wait is over
    assert [t for _, t, _ in _comments(bot, eid)] == ["is a refund a card question?"]
    assert flow.read_due_replies(bot.services) == 0  # read for good: no call again
    assert len(bot.api.calls("conversations.replies")) == calls + 1
    bot.slack.click(U1, message, ids.DISCUSS)  # Discuss again reads, and keeps nothing twice
    bot.settle()
    assert [t for _, t, _ in _comments(bot, eid)] == ["is a refund a card question?"]


def test_a_round_stops_at_a_rate_limit_and_gives_up_a_thread_slack_refuses(
    bot: Bot, bank: dict[str, str]
) -> None:
    first = _first(bot, U1)
    _reply(bot, first, "first thread's reply", "Ev0ONE")
    bot.api.fail_next("conversations.replies", status=429, retry_after=60)
    bot.slack.click(U1, first, ids.DISCUSS)
    bot.settle()
    bot.slack.click(U1, first, ids.SKIP)
    bot.settle()
    (second,) = bot.slack.open_examples(U1)
    _reply(bot, second, "second thread's reply", "Ev0TWO")
    bot.api.fail_next("conversations.replies", status=429, retry_after=60)
    bot.slack.click(U1, second, ids.DISCUSS)
    bot.settle()
    _lapse(bot)
    calls = len(bot.api.calls("conversations.replies"))
    bot.api.fail_next("conversations.replies", status=429, retry_after=30)
    assert flow.read_due_replies(bot.services) == 0
    assert len(bot.api.calls("conversations.replies")) == calls + 1  # one, not one per thread
    _lapse(bot)
    bot.api.fail_next("conversations.replies", error="thread_not_found")
    assert flow.read_due_replies(bot.services) == 1  # one given up, the other read
    assert flow.read_due_replies(bot.services) == 0
    comments = _comments(bot, example_id(first)) + _comments(bot, example_id(second))
    assert len(comments) == 1


class _Calls:
    """conversations.replies answered ``allowed`` times, the next call 429 (a minute to wait)
    or ``then`` raised (a reader that dies mid-read)."""

    def __init__(self, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bot, self.allowed, self.then = bot, 0, None
        self.real = bot.services.client.conversations_replies
        monkeypatch.setattr(bot.services.client, "conversations_replies", self)

    def __call__(self, **kwargs: Any) -> Any:
        if self.allowed == 0:
            if self.then is not None:
                raise self.then
            self.bot.api.fail_next("conversations.replies", status=429, retry_after=60)
        self.allowed -= 1
        return self.real(**kwargs)

    def allow(self, calls: int, then: Exception | None = None) -> None:
        self.allowed, self.then = calls, then


def test_a_read_cut_short_goes_on_after_the_last_reply_read(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """By whoever takes the read up: a Discuss click once the wait is over, the scheduler's
    round after a rate limit, or after the reader died mid-read."""
    monkeypatch.setattr(flow, "EARLIER_REPLIES_PAGE", 1)  # the root and one reply a page
    message = _first(bot, U1)
    eid = example_id(message)
    written = [f"earlier reply {n}" for n in range(1, 5)]
    for n, text in enumerate(written, 1):
        _reply(bot, message, text, f"Ev0PAGE{n}")
    ts = [m["ts"] for m in bot.api.messages(bot.api.dm_channel(U1)) if m.get("text") in written]
    slack = _Calls(bot, monkeypatch)

    def asked() -> list[str | None]:
        return [c.params.get("oldest") for c in bot.api.calls("conversations.replies")]

    slack.allow(1)
    bot.slack.click(U1, message, ids.DISCUSS)  # page 1 read, page 2 rate limited
    bot.settle()
    assert bot.slack.ephemerals(U1) == []
    _lapse(bot)
    slack.allow(1)
    bot.slack.click(U1, message, ids.DISCUSS)  # the click goes on: page 2, then the limit
    bot.settle()
    assert asked() == [None, None, ts[0], ts[0]]  # after reply 1 (page 3 asked by cursor)
    _lapse(bot)
    slack.allow(1, then=RuntimeError("the reader died"))
    with pytest.raises(RuntimeError):
        flow.read_due_replies(bot.services)  # page 3 read; the reader dies before page 4
    assert [t for _, t, _ in _comments(bot, eid)] == written[:3]
    _lapse(bot)  # its claim lapses: the next round reads on from page 4
    slack.allow(2)
    assert flow.read_due_replies(bot.services) == 1
    # after reply 2; after reply 3 (page 5 by cursor: Discuss's note, a reply in the thread too)
    assert asked() == [None, None, ts[0], ts[0], ts[1], ts[2], ts[2]]
    assert sorted(t for _, t, _ in _comments(bot, eid)) == written
    assert flow.read_due_replies(bot.services) == 0  # read through: the claim is dropped
    assert len(asked()) == 7


def test_a_thread_read_in_rounds_stops_at_the_pages_it_may_read(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages a read may take count across the rounds it is read in: a long thread is read
    that far once, not for good."""
    monkeypatch.setattr(flow, "EARLIER_REPLIES_PAGE", 1)
    monkeypatch.setattr(flow, "EARLIER_REPLIES_PAGES", 2)
    message = _first(bot, U1)
    eid = example_id(message)
    written = [f"earlier reply {n}" for n in range(1, 4)]
    for n, text in enumerate(written, 1):
        _reply(bot, message, text, f"Ev0CAP{n}")
    slack = _Calls(bot, monkeypatch)
    slack.allow(1)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    _lapse(bot)
    slack.allow(1)
    assert flow.read_due_replies(bot.services) == 1  # page 2, the last it may read
    assert [t for _, t, _ in _comments(bot, eid)] == written[:2]
    _lapse(bot)
    assert flow.read_due_replies(bot.services) == 0  # nothing left to read
    assert len(bot.api.calls("conversations.replies")) == 3
