"""Slack down for a long time, and back: the outbox gives up none of its messages for it, sends
them all, once each and in order, as soon as Slack answers again, logs the outage once instead
of every message's every try, and a server shutting down stops sending after the message in
flight. A rate limit on the search for a post's earlier try (a limit of conversations.*, not
Slack down) holds up no message.

The real Courier and WebClient talk over HTTP to the fake Slack, which answers every Web API call
with a 503, a 429 or a dropped connection while it is "down". The outbox's clock (the
database's) is simulated: a flush every 15 s for 90 minutes takes seconds.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.api import create_api
from bot.delivery import (
    LOOKUP_LIMIT,
    NOT_LANDED,
    Courier,
    delivery_key,
    make_client,
    message_key,
    with_delivery_key,
)
from bot.services import build_services
from engine import messaging
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import OutboxMessage, utcnow
from storage.repositories import slack as outbox_repo
from tests.bot.conftest import BOT_TOKEN, slack_settings
from tests.fakes.slack_api import DROP, FakeSlackAPI

U1, U2 = "U0ALICE", "U0BOB"
POST = "chat.postMessage"
ROUND = timedelta(seconds=15)  # LABELBOT_OUTBOX_INTERVAL's default
SQLITE = pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)


class DownSlack(FakeSlackAPI):
    """The fake Slack, which can go down whole: with ``down`` set, every Web API call is
    answered with that HTTP status (503: an HTML page; 429: ``ratelimited``, Retry-After 0) or,
    for DROP, a connection closed without an answer. ``on_call(method)`` runs as a call comes
    in."""

    down: int | None = None
    on_call: Callable[[str], None] | None = None
    retry_after = "0"  # a 429's Retry-After header

    def _handle(
        self, method: str, params: Any, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if self.on_call is not None:
            self.on_call(method)
        status = self.down
        if status is None or method in ("response_url", "upload"):
            return super()._handle(method, params, headers, body)
        with self._cond:
            self.down_calls.append(method)
        if status == DROP:
            return DROP, {}, b""
        if status == 429:
            json_type = {
                "Content-Type": "application/json; charset=utf-8",
                "Retry-After": self.retry_after,
            }
            return 429, json_type, b'{"ok": false, "error": "ratelimited"}'
        return status, {"Content-Type": "text/html"}, b"<html>down</html>"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.down_calls: list[str] = []


@pytest.fixture
def slack_api() -> Iterator[DownSlack]:
    with DownSlack(token=BOT_TOKEN) as api:
        yield api


@pytest.fixture
def courier(
    ws: Workspace, slack_api: DownSlack, db_url_and_schema: Any, embedding_cache_dir: Path
) -> Courier:
    """The bot's Courier with the bot's client (bot.delivery.make_client) on the fake Slack."""
    url, _ = db_url_and_schema
    return Courier(make_client(slack_settings(url, slack_api.api_url, embedding_cache_dir)), ws)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The outbox's clock (the database's), standing still until a test moves ``clock[0]``."""
    now = [utcnow()]
    monkeypatch.setattr(outbox_repo, "database_now", lambda session: now[0])
    return now


def _outbox(ws: Workspace) -> list[OutboxMessage]:
    with session_scope(ws.db, read_only=True) as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def _texts(api: FakeSlackAPI, user: str) -> list[str]:
    return [str(m.get("text")) for m in api.messages(api.dm_channel(user))]


def _queue_while_down(courier: Courier, api: DownSlack, status: int) -> None:
    """Slack goes down while labelbot has news for two experts: an edit of a message posted
    before, and new posts, all queued (through the Courier, as the listeners send them)."""
    shown = courier.post({"text": "example 1"}, channel=U1)
    assert shown is not None
    api.down = status
    assert courier.update({"text": "example 1: labeled"}, channel=shown[0], ts=shown[1]) is False
    for user, text in ((U1, "example 2"), (U2, "example 1"), (U1, "example 3")):
        assert courier.post({"text": text}, channel=user) is None
    assert [m.status for m in _outbox(courier.ws)] == ["pending"] * 4


def _flush_for(courier: Courier, clock: list[datetime], span: timedelta) -> int:
    """A flush each ROUND for ``span`` of the outbox's clock; how many were sent."""
    sent = 0
    for _ in range(int(span / ROUND)):
        clock[0] += ROUND
        sent += courier.flush()
    return sent


def _all_sent_once_in_order(courier: Courier, api: DownSlack) -> None:
    rows = _outbox(courier.ws)
    assert [m.status for m in rows] == ["sent"] * 4
    assert _texts(api, U1) == ["example 1: labeled", "example 2", "example 3"]
    assert _texts(api, U2) == ["example 1"]
    posted = [delivery_key(m) for u in (U1, U2) for m in api.messages(api.dm_channel(u))]
    assert len(posted) == len(set(posted)) == 4  # the first post and three queued ones, once


@pytest.mark.parametrize("status", [503, 429, DROP], ids=["503", "429", "dropped"])
def test_a_long_outage_gives_up_no_message(
    courier: Courier,
    slack_api: DownSlack,
    clock: list[datetime],
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    """90 minutes of Slack down: every message was given up after 12 tries (~66 minutes).
    Now none is tried more than once a minute, none is given up, and all go out once Slack is
    back; the log says so twice, not three lines per message per try."""
    _queue_while_down(courier, slack_api, status)
    calls = len(slack_api.down_calls)
    caplog.clear()
    caplog.set_level(logging.INFO)
    assert _flush_for(courier, clock, timedelta(minutes=90)) == 0
    rows = _outbox(courier.ws)
    assert [(m.status, m.attempts) for m in rows] == [("pending", 0)] * 4
    # one call a round (the oldest message: its search, or its send), a minute apart at most
    probes = len(slack_api.down_calls) - calls
    assert 85 <= probes <= 100
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and said[0][1].startswith("outbox: Slack takes no calls"), said
    if status == 429:  # no try can have landed: no history is read, before or after
        assert slack_api.calls("conversations.history") == []
        assert slack_api.calls("conversations.open") == []

    slack_api.down = None
    caplog.clear()
    clock[0] += messaging.OUTBOX_PROBE_EVERY
    assert courier.flush() == 4
    _all_sent_once_in_order(courier, slack_api)
    back = [r.getMessage() for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(back) == 1 and back[0].startswith("outbox: Slack reachable again")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("retry_after", ["120", "3600", "soon"])
def test_a_rate_limits_retry_after_paces_the_probes(
    courier: Courier, slack_api: DownSlack, clock: list[datetime], retry_after: str
) -> None:
    """Slack answering 429 with Retry-After: 120 was probed every minute regardless (each
    probe refused again, and counted against the app's rate). Probes now wait as long as Slack
    asks, up to the outbox's longest backoff (15 minutes); a header that is no number is read
    as no request (probes a minute apart, as for any outage)."""
    _queue_while_down(courier, slack_api, 429)
    # from here on (the live calls above sleep through a Retry-After, as they should)
    slack_api.retry_after = retry_after
    calls = len(slack_api.down_calls)
    assert _flush_for(courier, clock, timedelta(minutes=60)) == 0
    probes = len(slack_api.down_calls) - calls
    # 60 minutes / the wait (without one: 5 s, 10 s, 20 s, 40 s, then a minute apart)
    low, high = {"120": (29, 32), "3600": (4, 5), "soon": (60, 66)}[retry_after]
    assert low <= probes <= high, probes
    assert [(m.status, m.attempts) for m in _outbox(courier.ws)] == [("pending", 0)] * 4
    slack_api.down = None
    sent, waited = 0, timedelta(0)
    while sent == 0 and waited < timedelta(minutes=16):
        clock[0] += ROUND
        waited += ROUND
        sent = courier.flush()
    assert sent == 4
    _all_sent_once_in_order(courier, slack_api)


@pytest.mark.parametrize("how", ["probe", "live-post"])
def test_after_an_outage_the_waiting_messages_go_out_at_once(
    courier: Courier, slack_api: DownSlack, clock: list[datetime], how: str
) -> None:
    """After 30 minutes down each message had backed off on its own, to 15 minutes: they went
    out one by one over the next quarter hour. Now the first call that goes through (the
    outbox's next probe, within a minute, or any post of the Courier's) makes them all due."""
    _queue_while_down(courier, slack_api, 503)
    assert _flush_for(courier, clock, timedelta(minutes=30)) == 0
    slack_api.down = None
    rounds = 0
    if how == "live-post":
        assert courier.post({"text": "a digest"}, channel="C0PROJECT") is not None
        clock[0] += ROUND
        rounds, sent = 1, courier.flush()
    else:
        sent = 0
        while sent == 0 and rounds < 60:  # 15 minutes
            clock[0] += ROUND
            rounds, sent = rounds + 1, courier.flush()
    assert sent == 4
    assert rounds <= (1 if how == "live-post" else messaging.OUTBOX_PROBE_EVERY / ROUND + 1)
    _all_sent_once_in_order(courier, slack_api)


@SQLITE
def test_a_message_unsent_for_a_day_is_given_up(
    courier: Courier,
    slack_api: DownSlack,
    clock: list[datetime],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An outage counts against no message: age does (the README's 24 hours)."""
    _queue_while_down(courier, slack_api, 503)
    with session_scope(courier.ws.db) as session:
        first = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).first()
        assert first is not None
        first.created_at = clock[0] - messaging.OUTBOX_MAX_AGE - timedelta(minutes=1)
        session.add(first)
    slack_api.down = None
    caplog.set_level(logging.WARNING)
    assert courier.flush() == 3
    rows = _outbox(courier.ws)
    assert [m.status for m in rows] == ["dead", "sent", "sent", "sent"]
    assert rows[0].last_error is not None and "unsent 24 h" in rows[0].last_error
    assert "given up (dead)" in caplog.text
    assert _texts(slack_api, U1) == ["example 1", "example 2", "example 3"]  # not edited


def _backlog(ws: Workspace, count: int) -> None:
    for i in range(count):
        payload = with_delivery_key({"channel": U1, "text": f"queued {i}"})
        messaging.enqueue(ws, method=POST, payload=payload, error="HTTP 503")


@SQLITE
def test_a_flush_told_to_stop_ends_after_the_message_in_flight(
    courier: Courier, slack_api: DownSlack
) -> None:
    _backlog(courier.ws, 3)
    stop = threading.Event()
    slack_api.on_call = lambda method: stop.set() if method == POST else None
    assert courier.flush(stop=stop) == 1  # the post in flight when told to stop
    assert [m.status for m in _outbox(courier.ws)] == ["sent", "pending", "pending"]
    assert len(slack_api.calls(POST)) == 1


@SQLITE
def test_a_server_shutting_down_stops_the_outbox_round_under_way(
    ws: Workspace, slack_api: DownSlack, db_url_and_schema: Any, embedding_cache_dir: Path
) -> None:
    """`labelbot serve` on SIGTERM while the outbox sends a backlog to a slow Slack: the
    lifespan's cancel could not stop the thread of the round, which sent the whole backlog
    (minutes) before the process could exit. It ends after the message in flight."""
    url, _ = db_url_and_schema
    settings = slack_settings(url, slack_api.api_url, embedding_cache_dir).model_copy(
        update={"outbox_interval_s": 0.01}
    )
    services = build_services(settings, ws=ws)
    _backlog(ws, 3)
    in_flight = threading.Event()
    leave = threading.Event()

    def slow(method: str) -> None:
        if method == POST:
            in_flight.set()
            assert leave.wait(30)  # Slack answers once the server is shutting down

    slack_api.on_call = slow
    rounds: list[int] = []
    done = threading.Event()
    flush = services.courier.flush

    def recorded(*args: Any, **kwargs: Any) -> int:
        try:
            rounds.append(flush(*args, **kwargs))
            return rounds[-1]
        finally:
            done.set()

    services.courier.flush = recorded  # type: ignore[method-assign]
    api = create_api(settings, services)

    async def serve_then_stop() -> None:
        async with api.router.lifespan_context(api):
            assert await asyncio.to_thread(in_flight.wait, 30)
        leave.set()  # shut down: the post in flight is answered

    try:
        asyncio.run(serve_then_stop())
        assert done.wait(30)
    finally:
        leave.set()
        services.listener_executor.shutdown(wait=True)
        services.dispatch_executor.shutdown(wait=True)
    assert rounds == [1]
    assert [m.status for m in _outbox(ws)] == ["sent", "pending", "pending"]
    assert len(slack_api.calls(POST)) == 1


@pytest.mark.parametrize("limited_from", [1, 2], ids=["every-search", "second-page"])
def test_a_rate_limited_search_holds_up_no_other_message(
    courier: Courier,
    slack_api: DownSlack,
    clock: list[datetime],
    caplog: pytest.LogCaptureFixture,
    limited_from: int,
) -> None:
    """A post one of whose tries may have landed is searched for before it is sent. Slack's
    429 to that search (conversations.history gives an app outside the Marketplace about one
    call a minute: a window longer than a page meets it on page 2 every time) was taken for
    Slack down: the round ended, the post stayed the next round's first, and nothing behind it
    went out (the other expert's edit neither) for its 24 hours. A 429 is that method's own
    limit: the search failed (logged), the post goes out, then the rest, in order, and the
    outbox does not count Slack out of reach."""
    shown = courier.post({"text": "example 1"}, channel=U2)
    assert shown is not None
    dm = slack_api.dm_channel(U1)
    lost = with_delivery_key({"channel": dm, "text": "example 2"})  # its answer was lost
    messaging.enqueue(courier.ws, method=POST, payload=lost, error="connection: TimeoutError")
    messaging.enqueue(
        courier.ws, method="chat.update", payload={"channel": shown[0], "ts": shown[1],
        "text": "example 1: labeled"}, error="HTTP 503", rewrites=message_key(*shown),
    )  # fmt: skip
    later = with_delivery_key({"channel": dm, "text": "example 3"})
    messaging.enqueue(courier.ws, method=POST, payload=later, error=NOT_LANDED + "HTTP 429")
    for i in range(2 * LOOKUP_LIMIT):  # the window since its first try: two pages
        slack_api.add_message(dm, text=f"chatter {i}", user=U1)
    searches: list[str] = []

    def history_limited(method: str) -> None:
        search = method.startswith("conversations.")
        if search:
            searches.append(method)
        slack_api.down = 429 if search and len(searches) >= limited_from else None

    slack_api.on_call = history_limited
    caplog.set_level(logging.INFO)
    clock[0] += ROUND
    assert courier.flush() == 3  # the first round, not after a day
    assert courier.reach.down is None
    assert [m.status for m in _outbox(courier.ws)] == ["sent"] * 3
    assert _texts(slack_api, U2) == ["example 1: labeled"]
    ours = [t for t in _texts(slack_api, U1) if not t.startswith("chatter")]
    assert ours == ["example 2", "example 3"]  # sent once each, in order
    assert searches == ["conversations.history"] * limited_from  # page 1 answered, or none
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and said[0].startswith("could not check whether an earlier try"), said
    assert "ratelimited" in said[0] and "sending it again" in said[0]
