"""A message Slack keeps refusing on its own does not keep its conversation quiet for an hour.

The outbox keeps a conversation's order (tests/bot/test_outbox_order.py): a post waits for
the ones queued before it in its conversation. A post that failed with an error of its own
(``internal_error`` with HTTP 200: retried, 12 tries with backoff) used to hold the whole
conversation back for all its tries, about an hour: an expert's DM got no new example because
of one bad message. Now such a message holds its conversation for
messaging.OUTBOX_LANE_PATIENCE tries from the outbox (and while it is in flight); then the later
posts go ahead of it, and it follows when it goes through. A failure of Slack's (a rate limit,
an outage: every message would fail alike) counts none: the conversation stays held, in order.
Over real HTTP and the fake Slack, on SQLite and PostgreSQL; time is moved through the outbox's
clock (Courier.flush's ``now``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.delivery import POST, Courier, make_client
from engine import messaging
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import OutboxMessage
from storage.repositories import slack as slack_repo
from tests.bot.conftest import slack_settings
from tests.fakes.slack_api import FakeSlackAPI

CONVERSATION = "C0LIVE"
RETRY_AFTER_S = 60  # a rate limit far longer than the client waits out
# Past any wait of the outbox's between two rounds (messaging.Reach, a backoff): the next round
# tries the conversation's first message again.
NEXT_ROUND = messaging.OUTBOX_MAX_BACKOFF + timedelta(seconds=1)


def _message(text: str) -> dict[str, Any]:
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


@pytest.fixture
def courier(
    ws: Workspace, slack_api: FakeSlackAPI, db_url_and_schema: Any, embedding_cache_dir: Path
) -> Iterator[Courier]:
    """The bot's Courier with the bot's client (bot.delivery.make_client) on the fake Slack."""
    settings = slack_settings(db_url_and_schema[0], slack_api.api_url, embedding_cache_dir)
    yield Courier(make_client(settings), ws)


def _clock(ws: Workspace) -> datetime:
    with session_scope(ws.db, read_only=True) as session:
        return slack_repo.outbox_now(session=session)


def _texts(api: FakeSlackAPI) -> list[str]:
    return [str(m["text"]) for m in api.messages(CONVERSATION)]


def _attempts(ws: Workspace, text: str) -> int:
    with session_scope(ws.db, read_only=True) as session:
        rows = session.exec(select(OutboxMessage)).all()
        (row,) = [r for r in rows if r.payload.get("text") == text]
        return int(row.attempts)


def test_a_post_failing_on_its_own_twice_lets_its_conversations_later_posts_out(
    courier: Courier, slack_api: FakeSlackAPI
) -> None:
    assert messaging.OUTBOX_LANE_PATIENCE == 2
    slack_api.fail_next(POST, error="internal_error")
    assert courier.post(_message("first"), channel=CONVERSATION) is None
    assert courier.post(_message("second"), channel=CONVERSATION) is None  # behind the first
    now = _clock(courier.ws)

    # One failure of its own: the first still holds its conversation (a retry may pass).
    slack_api.fail_next(POST, error="internal_error")
    assert courier.flush(now=now) == 0
    assert _texts(slack_api) == []
    assert _attempts(courier.ws, "first") == 1

    # The second: the post behind it goes out in the same round, ahead of it.
    now += messaging.backoff(1) + timedelta(seconds=1)
    slack_api.fail_next(POST, error="internal_error")
    assert courier.flush(now=now) == 1
    assert _texts(slack_api) == ["second"]
    # A new post to the conversation no longer queues behind it: it goes out at once.
    assert courier.post(_message("third"), channel=CONVERSATION) is not None
    assert _texts(slack_api) == ["second", "third"]
    # Not due yet (its backoff): nothing goes.
    assert courier.flush(now=now) == 0
    assert messaging.outbox_size(courier.ws) == 1

    # It follows once it goes through.
    assert courier.flush(now=now + messaging.backoff(2) + timedelta(seconds=1)) == 1
    assert _texts(slack_api) == ["second", "third", "first"]
    assert messaging.outbox_size(courier.ws) == 0


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param({"status": 429, "retry_after": RETRY_AFTER_S}, id="429"),
        pytest.param({"error": "ratelimited"}, id="ratelimited"),
        pytest.param({"status": 503}, id="503"),
        pytest.param({"error": "service_unavailable"}, id="service_unavailable"),
    ],
)
def test_a_post_held_by_slack_keeps_holding_its_conversation(
    courier: Courier, slack_api: FakeSlackAPI, failure: dict[str, Any]
) -> None:
    """A failure of Slack's counts none of the first post's tries, however many: the later
    posts keep waiting behind it (one failure of its own before does not change that), and all
    go out in order once Slack takes them."""
    slack_api.fail_next(POST, 429, retry_after=RETRY_AFTER_S)
    assert courier.post(_message("first"), channel=CONVERSATION) is None
    assert courier.post(_message("second"), channel=CONVERSATION) is None
    now = _clock(courier.ws) + timedelta(seconds=RETRY_AFTER_S + 1)
    slack_api.fail_next(POST, error="internal_error")
    assert courier.flush(now=now) == 0

    for _ in range(messaging.OUTBOX_LANE_PATIENCE + 1):
        now += NEXT_ROUND
        slack_api.fail_next(POST, **failure)
        assert courier.flush(now=now) == 0
        assert _texts(slack_api) == []
        assert courier.post(_message("later"), channel=CONVERSATION) is None  # queued behind
    assert _attempts(courier.ws, "first") == 1

    assert courier.flush(now=now + NEXT_ROUND) == 2 + messaging.OUTBOX_LANE_PATIENCE + 1
    assert _texts(slack_api) == ["first", "second"] + ["later"] * (
        messaging.OUTBOX_LANE_PATIENCE + 1
    )
    assert messaging.outbox_size(courier.ws) == 0


def test_a_post_past_its_patience_holds_its_conversation_while_in_flight(
    ws: Workspace, replica: Workspace
) -> None:
    """Past its patience, the first post still holds its conversation while a flusher sends it:
    another replica's flush does not send the second one meanwhile (had the first gone through
    then, the second would have landed above it)."""
    for text in ("first", "second"):
        messaging.enqueue(ws, method=POST, payload={"channel": CONVERSATION, "text": text},
                          conversation=CONVERSATION)  # fmt: skip
    now = _clock(ws)
    for attempt in range(1, messaging.OUTBOX_LANE_PATIENCE + 1):
        assert messaging.drain(ws, send=lambda p: "HTTP 200 internal_error", limit=1, now=now) == 0
        now += messaging.backoff(attempt) + timedelta(seconds=1)
    assert _attempts(ws, "first") == messaging.OUTBOX_LANE_PATIENCE
    landed: list[str] = []
    replica_sent: list[str] = []

    def on_replica(pending: messaging.Pending) -> None:
        replica_sent.append(str(pending.payload["text"]))
        landed.append(str(pending.payload["text"]))

    def send(pending: messaging.Pending) -> None:
        if pending.payload["text"] == "first":  # in flight: the other replica flushes meanwhile
            messaging.drain(replica, send=on_replica, now=now)
        landed.append(str(pending.payload["text"]))

    assert messaging.drain(ws, send=send, now=now) == 2
    assert replica_sent == []
    assert landed == ["first", "second"]
