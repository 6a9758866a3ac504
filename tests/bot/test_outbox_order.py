"""The order of one conversation's messages survives the outbox.

A post Slack rate limits for longer than the client waits (bot.delivery.RATE_LIMIT_WAIT_MAX_S)
is queued, due once its Retry-After is over. A later post to the same conversation used to go
out at once, and showed above the earlier one; the outbox sent a later queued post of the
conversation while an earlier one still waited (or was in flight on another replica); and an
edit made while the outbox was sending an older edit of the same message went out directly and
was then overwritten by the older one. Now a post joins its conversation's queue while that
holds anything, each conversation's posts (each message's edits) go out one at a time in the
order they were made, across replicas, and an edit waits for an older edit of its message that
is in flight. Over real HTTP and the fake Slack, on SQLite and PostgreSQL; time is moved
through the outbox's clock (Courier.flush's ``now``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.delivery import NOT_LANDED, POST, UPDATE, Courier, make_client, message_key
from engine import messaging
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import slack as slack_repo
from tests.bot.conftest import slack_settings
from tests.fakes.slack_api import FakeSlackAPI

CONVERSATION = "C0ORDER"
ELSEWHERE = "C0OTHER"
RETRY_AFTER_S = 60  # a rate limit far longer than the client waits out
IN_FLIGHT_S = 2.0  # how long the fake Slack holds the answer to the outbox's call in flight


def _message(text: str) -> dict[str, Any]:
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def _courier(ws: Workspace, api: FakeSlackAPI, url: str, cache: Path) -> Courier:
    return Courier(make_client(slack_settings(url, api.api_url, cache)), ws)


@pytest.fixture
def courier(
    ws: Workspace, slack_api: FakeSlackAPI, db_url_and_schema: Any, embedding_cache_dir: Path
) -> Iterator[Courier]:
    """The bot's Courier with the bot's client (bot.delivery.make_client) on the fake Slack."""
    yield _courier(ws, slack_api, db_url_and_schema[0], embedding_cache_dir)


@pytest.fixture
def other_courier(
    replica: Workspace, slack_api: FakeSlackAPI, db_url_and_schema: Any, embedding_cache_dir: Path
) -> Iterator[Courier]:
    """A second replica's Courier: its own engine on the same database."""
    yield _courier(replica, slack_api, db_url_and_schema[0], embedding_cache_dir)


def _clock(ws: Workspace) -> datetime:
    with session_scope(ws.db, read_only=True) as session:
        return slack_repo.outbox_now(session=session)


def _texts(api: FakeSlackAPI, channel: str = CONVERSATION) -> list[str]:
    return [str(m["text"]) for m in api.messages(channel)]


def _rate_limited_post(courier: Courier, api: FakeSlackAPI, text: str) -> datetime:
    """Post ``text`` into a rate limit of RETRY_AFTER_S: queued. When it is due at the latest."""
    api.fail_next(POST, 429, retry_after=RETRY_AFTER_S)
    assert courier.post(_message(text), channel=CONVERSATION) is None
    return _clock(courier.ws) + timedelta(seconds=RETRY_AFTER_S + 1)


def test_a_post_made_while_an_earlier_one_waits_out_a_rate_limit_goes_after_it(
    courier: Courier, slack_api: FakeSlackAPI
) -> None:
    before = _clock(courier.ws)
    due = _rate_limited_post(courier, slack_api, "first")
    # The conversation has a queue: the second post joins it, Slack is not called for it.
    assert courier.post(_message("second"), channel=CONVERSATION) is None
    assert len(slack_api.calls(POST)) == 1
    assert _texts(slack_api) == []
    assert messaging.outbox_size(courier.ws) == 2
    # Not even a round in which only the second would be due sends it ahead of the first.
    assert courier.flush(now=before + timedelta(seconds=RETRY_AFTER_S / 2)) == 0
    assert _texts(slack_api) == []

    assert courier.flush(now=due) == 2
    assert _texts(slack_api) == ["first", "second"]
    # The queued-behind post was never tried, so nothing is searched for before sending it.
    assert slack_api.calls("conversations.history") == []
    assert messaging.outbox_size(courier.ws) == 0


def test_other_conversations_are_not_held_back(courier: Courier, slack_api: FakeSlackAPI) -> None:
    _rate_limited_post(courier, slack_api, "first")
    where = courier.post(_message("elsewhere"), channel=ELSEWHERE)
    assert where is not None and where[0] == ELSEWHERE
    assert _texts(slack_api, ELSEWHERE) == ["elsewhere"]
    assert messaging.outbox_size(courier.ws) == 1


def test_a_post_to_a_conversation_with_nothing_queued_costs_one_read(
    courier: Courier, slack_api: FakeSlackAPI
) -> None:
    """The common case stays fast: one SELECT of the outbox, no write, then the call."""
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()).lower())

    event.listen(courier.ws.db, "before_cursor_execute", seen)
    try:
        assert courier.post(_message("hello"), channel=CONVERSATION) is not None
    finally:
        event.remove(courier.ws.db, "before_cursor_execute", seen)
    outbox = [s for s in statements if "outbox" in s]
    assert len(outbox) == 1 and outbox[0].startswith("select"), statements
    assert not [s for s in statements if s.startswith(("insert", "update", "delete"))]
    assert _texts(slack_api) == ["hello"]


def test_a_later_queued_post_due_sooner_waits_for_the_earlier_one(
    courier: Courier, slack_api: FakeSlackAPI
) -> None:
    """The outbox sends one conversation's posts in the order they were queued, whenever each
    is due: the second, due at once, waits for the first one's Retry-After."""
    waiting = timedelta(seconds=RETRY_AFTER_S)
    messaging.enqueue(courier.ws, method=POST, payload={"channel": CONVERSATION, "text": "first"},
                      error=NOT_LANDED + "HTTP 429 ratelimited", retry_after=waiting,
                      conversation=CONVERSATION)  # fmt: skip
    due = _clock(courier.ws) + waiting + timedelta(seconds=1)
    messaging.enqueue(courier.ws, method=POST, payload={"channel": CONVERSATION, "text": "second"},
                      error=NOT_LANDED + "HTTP 503", conversation=CONVERSATION)  # fmt: skip
    messaging.enqueue(courier.ws, method=POST, payload={"channel": ELSEWHERE, "text": "other"},
                      error=NOT_LANDED + "HTTP 503", conversation=ELSEWHERE)  # fmt: skip
    assert courier.flush() == 1  # the other conversation's only
    assert _texts(slack_api) == [] and _texts(slack_api, ELSEWHERE) == ["other"]
    assert courier.flush(now=due) == 2
    assert _texts(slack_api) == ["first", "second"]


def test_a_post_that_keeps_failing_holds_its_conversation_until_it_goes(
    courier: Courier, slack_api: FakeSlackAPI
) -> None:
    """A failure of the first post's own (backoff) keeps the second one behind it, for
    messaging.OUTBOX_LANE_PATIENCE tries (tests/bot/test_outbox_lane_liveness.py: then the
    second goes ahead); once the first goes through, the second follows in the same round."""
    for text in ("first", "second"):
        messaging.enqueue(
            courier.ws,
            method=POST,
            payload={"channel": CONVERSATION, "text": text},
            error=NOT_LANDED + "HTTP 429 ratelimited",
            conversation=CONVERSATION,
        )
    now = _clock(courier.ws)
    slack_api.fail_next(POST, error="internal_error")
    assert courier.flush(now=now) == 0
    assert _texts(slack_api) == [] and len(slack_api.calls(POST)) == 1
    assert courier.flush(now=now + messaging.backoff(1) + timedelta(seconds=1)) == 2
    assert _texts(slack_api) == ["first", "second"]


def test_two_replicas_flushing_at_once_keep_a_conversations_order(
    ws: Workspace, replica: Workspace
) -> None:
    """While one replica sends a conversation's first post, another replica's flush sends none
    of that conversation's later posts (it used to send them all, ahead of the first), but
    does send other conversations'."""
    for i in range(4):
        messaging.enqueue(ws, method=POST, payload={"channel": CONVERSATION, "text": f"m{i}"},
                          conversation=CONVERSATION)  # fmt: skip
    messaging.enqueue(ws, method=POST, payload={"channel": ELSEWHERE, "text": "other"},
                      conversation=ELSEWHERE)  # fmt: skip
    landed: list[str] = []
    second_sent: list[str] = []

    def second(pending: messaging.Pending) -> None:
        second_sent.append(str(pending.payload["text"]))
        landed.append(str(pending.payload["text"]))

    def first(pending: messaging.Pending) -> None:
        if pending.payload["text"] == "m0":  # in flight: the other replica flushes meanwhile
            messaging.drain(replica, send=second)
        landed.append(str(pending.payload["text"]))

    messaging.drain(ws, send=first)
    assert second_sent == ["other"]
    assert [t for t in landed if t != "other"] == ["m0", "m1", "m2", "m3"]
    assert messaging.outbox_size(ws, status="sent") == 5


def _older_edit_queued(courier: Courier, slack_api: FakeSlackAPI) -> tuple[str, str, datetime]:
    """A message posted, then an edit of it ("older") queued for a 429: the message's channel
    and ts, and when the edit is due."""
    where = courier.post(_message("posted"), channel=CONVERSATION)
    assert where is not None
    channel, ts = where
    slack_api.fail_next(UPDATE, 429, retry_after=RETRY_AFTER_S)
    assert courier.update(_message("older"), channel=channel, ts=ts) is False
    return channel, ts, _clock(courier.ws) + timedelta(seconds=RETRY_AFTER_S + 1)


def test_an_edit_made_while_the_outbox_sends_an_older_one_is_not_overwritten_by_it(
    courier: Courier, other_courier: Courier, slack_api: FakeSlackAPI
) -> None:
    """An older edit of a message, queued for a rate limit, is in flight from the outbox when
    a newer edit of the message is made: the newer one waits for it (and another replica's
    flush does not send the newer one meanwhile), so the message ends up as the newer one
    says. It used to go out directly and be overwritten by the older one landing after it."""
    channel, ts, due = _older_edit_queued(courier, slack_api)

    slack_api.slow_down(UPDATE, IN_FLIGHT_S)
    flusher = threading.Thread(target=courier.flush, kwargs={"now": due})
    flusher.start()
    try:
        slack_api.wait_for(UPDATE, count=2)  # the outbox's try of the older edit is in flight
        slack_api.slow_down(UPDATE, 0)
        courier.update(_message("newer"), channel=channel, ts=ts)
        assert other_courier.flush(now=due) == 0  # the newer edit waits for the older one
        assert flusher.is_alive(), "the older edit landed before the check: Slack too fast"
    finally:
        flusher.join(timeout=30)
    courier.flush(now=due)
    texts = [c.params.get("text") for c in slack_api.calls(UPDATE)]
    assert texts[-1] == "newer" and texts.count("newer") == 1
    (shown,) = [m for m in slack_api.messages(channel) if m["ts"] == ts]
    assert shown["text"] == "newer"
    assert messaging.outbox_size(courier.ws) == 0


def test_an_edit_with_only_a_waiting_older_edit_goes_out_at_once(
    courier: Courier, slack_api: FakeSlackAPI
) -> None:
    """An older edit that merely waits (not in flight) does not hold a newer one back: the
    newer one goes out directly, and the older one is dropped unsent."""
    channel, ts, due = _older_edit_queued(courier, slack_api)
    assert courier.update(_message("newer"), channel=channel, ts=ts) is True
    assert messaging.outbox_size(courier.ws) == 0
    assert messaging.outbox_size(courier.ws, status="dropped") == 1
    assert courier.flush(now=due) == 0
    (shown,) = [m for m in slack_api.messages(channel) if m["ts"] == ts]
    assert shown["text"] == "newer"


def test_a_queued_older_edit_claimed_by_the_outbox_is_not_dropped_under_it(
    ws: Workspace, replica: Workspace
) -> None:
    """Queueing a newer edit drops the older ones waiting, but not one the outbox is sending
    right now (it is sent, then the newer one): dropped, it would free the newer one for
    another replica while the older one is still in flight."""
    key = message_key(CONVERSATION, "1.000100")
    first = utcnow()
    older = {"channel": CONVERSATION, "ts": "1.000100", "text": "older"}
    messaging.enqueue(ws, method=UPDATE, rewrites=key, first_try=first, payload=older)
    sent: list[tuple[str, str]] = []

    def second(pending: messaging.Pending) -> None:
        sent.append(("second", str(pending.payload["text"])))

    def send(pending: messaging.Pending) -> None:
        if pending.payload["text"] == "older":
            messaging.enqueue(replica, method=UPDATE, rewrites=key,
                              first_try=first + timedelta(seconds=1),
                              payload={"channel": CONVERSATION, "ts": "1.000100",
                                       "text": "newer"})  # fmt: skip
            messaging.drain(replica, send=second)
        sent.append(("first", str(pending.payload["text"])))

    messaging.drain(ws, send=send)
    assert sent == [("first", "older"), ("first", "newer")]
    assert messaging.outbox_size(ws, status="sent") == 2


def test_an_edit_that_went_out_while_the_outbox_took_an_older_one_is_sent_again_after_it(
    courier: Courier, slack_api: FakeSlackAPI
) -> None:
    """The outbox takes the older edit while the newer one is already on its way (after the
    newer one looked, before it landed): the older one may land last, so the newer one is
    queued again, behind it."""
    channel, ts, due = _older_edit_queued(courier, slack_api)

    slack_api.slow_down(UPDATE, IN_FLIGHT_S)
    went: list[bool] = []
    newer = threading.Thread(
        target=lambda: went.append(courier.update(_message("newer"), channel=channel, ts=ts))
    )
    newer.start()
    try:
        slack_api.wait_for(UPDATE, count=2)  # the newer edit is in flight
        slack_api.slow_down(UPDATE, 0)
        with session_scope(courier.ws.db) as session:  # a flusher takes the older one now
            claimed = slack_repo.claim_next_message(
                session=session, after_id=0, lease=messaging.OUTBOX_LEASE, now=due
            )
            assert claimed is not None and claimed.payload["text"] == "older"
            older_id, older = int(claimed.id or 0), dict(claimed.payload)
        assert newer.is_alive(), "the newer edit landed before the claim: Slack too fast"
    finally:
        newer.join(timeout=30)
    assert went == [True]
    assert messaging.outbox_size(courier.ws) == 2  # the older one, and the newer one again
    # The flusher's older edit lands after the newer one, and is marked sent.
    courier.once.api_call(UPDATE, json=older)
    with session_scope(courier.ws.db) as session:
        slack_repo.mark_sent(session=session, message_id=older_id)
    (shown,) = [m for m in slack_api.messages(channel) if m["ts"] == ts]
    assert shown["text"] == "older"
    # The newer one follows it.
    assert courier.flush(now=due) == 1
    assert [c.params.get("text") for c in slack_api.calls(UPDATE)][-1] == "newer"
    (shown,) = [m for m in slack_api.messages(channel) if m["ts"] == ts]
    assert shown["text"] == "newer"
    assert messaging.outbox_size(courier.ws) == 0
