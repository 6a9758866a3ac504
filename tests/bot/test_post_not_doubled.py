"""A chat.postMessage that Slack stored but whose answer was lost (a 5xx, a dropped connection,
an answer past the client's timeout) is not posted a second time, by the client's retries or by
the outbox: each post carries a delivery key in its message metadata, and before it is sent
again the conversation's history is searched for that key (bot.delivery.find_post).

The real Courier and WebClient talk over HTTP to the fake Slack, which stores the message and
then loses the answer (`FakeSlackAPI.lose_answer`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot import delivery, ids
from bot.delivery import Courier, make_client
from engine import messaging, projects
from engine.workspace import Workspace
from storage.models import utcnow
from storage.repositories import slack as outbox_repo
from tests.bot.conftest import BOT_TOKEN, CHANNEL, PROJECT, Bot, slack_settings, true_label
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_api import FakeSlackAPI

SQLITE = pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)
U1 = "U0LATE"
HELLO = {"text": "An example to label", "blocks": [{"type": "section", "text": {
    "type": "mrkdwn", "text": "An example to label"}}]}  # fmt: skip


@pytest.fixture
def courier(
    ws: Workspace, slack_api: FakeSlackAPI, db_url_and_schema: Any, embedding_cache_dir: Path
) -> Iterator[Courier]:
    """The bot's Courier with the bot's client (bot.delivery.make_client) on the fake Slack."""
    url, _ = db_url_and_schema
    client = make_client(slack_settings(url, slack_api.api_url, embedding_cache_dir))
    yield Courier(client, ws)


def _dm(api: FakeSlackAPI, user: str = U1) -> list[dict[str, Any]]:
    return api.messages(api.dm_channel(user))


LOST = [
    pytest.param({"status": 503}, id="503-after-storing"),
    pytest.param({"status": 500}, id="500-after-storing"),
    pytest.param({"status": 502}, id="502-after-storing"),
    pytest.param({"status": None}, id="connection-dropped-after-storing"),
]


@SQLITE
@pytest.mark.parametrize("lost", LOST)
def test_a_post_whose_answer_was_lost_is_posted_once(
    courier: Courier, slack_api: FakeSlackAPI, lost: dict[str, Any]
) -> None:
    slack_api.lose_answer("chat.postMessage", **lost)
    where = courier.post(HELLO, channel=U1)
    assert courier.flush() == 0  # nothing was left for the outbox to send
    (message,) = _dm(slack_api)  # once, not once per try
    assert where == (slack_api.dm_channel(U1), message["ts"])  # its result is the stored message
    assert messaging.outbox_size(courier.ws) == 0
    assert len(slack_api.calls("chat.postMessage")) == 1
    (search,) = slack_api.calls("conversations.history")
    assert search.params["channel"] == slack_api.dm_channel(U1)
    assert search.params["include_all_metadata"] in ("1", "true", True)
    assert float(search.params["oldest"]) < float(message["ts"])
    meta = message["metadata"]
    assert meta["event_type"] == "labelbot_delivery" and meta["event_payload"]["delivery_key"]


@SQLITE
def test_an_answer_past_the_timeout_is_found_before_the_outbox_sends_again(
    courier: Courier, slack_api: FakeSlackAPI
) -> None:
    # Slack takes longer than the client waits, and stores the message after the client's own
    # search: the post is queued; the outbox finds it and sends nothing.
    courier.client.timeout = 0.5
    slack_api.slow_down("chat.postMessage", 3.0)
    assert courier.post(HELLO, channel=U1) is None
    slack_api.slow_down("chat.postMessage", 0)
    assert messaging.outbox_size(courier.ws) == 1
    deadline = time.monotonic() + 10
    while not _dm(slack_api) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_dm(slack_api)) == 1  # Slack stored it, late
    assert courier.flush() == 1  # delivered: the message that landed
    assert len(_dm(slack_api)) == 1
    assert len(slack_api.calls("chat.postMessage")) == 1
    assert messaging.outbox_size(courier.ws) == 0


@SQLITE
def test_the_outbox_does_not_resend_a_post_that_landed(
    courier: Courier, slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = utcnow()  # the outbox's clock (the database's) stands still unless the test moves it
    monkeypatch.setattr(outbox_repo, "database_now", lambda session: now)
    slack_api.fail_next("chat.postMessage", status=503, times=3)  # refused: nothing stored
    assert courier.post(HELLO, channel=U1) is None
    assert _dm(slack_api) == [] and messaging.outbox_size(courier.ws) == 1
    slack_api.lose_answer("chat.postMessage", status=503)  # the outbox's try lands, unanswered
    assert courier.flush() == 0
    assert len(_dm(slack_api)) == 1 and messaging.outbox_size(courier.ws) == 1
    now += messaging.backoff(1)
    assert courier.flush() == 1
    assert len(_dm(slack_api)) == 1  # found, not sent a second time
    assert messaging.outbox_size(courier.ws) == 0


@SQLITE
def test_a_threaded_reply_is_looked_for_in_its_thread(
    courier: Courier, slack_api: FakeSlackAPI
) -> None:
    root = courier.post(HELLO, channel=U1)
    assert root is not None
    slack_api.lose_answer("chat.postMessage", status=503)
    note = {"text": "Discussion on this example in the channel"}
    reply = courier.post(note, channel=root[0], thread_ts=root[1])
    replies = [m for m in _dm(slack_api) if m.get("thread_ts") == root[1]]
    assert len(replies) == 1 and reply == (root[0], replies[0]["ts"])
    assert slack_api.calls("conversations.replies")


@SQLITE
def test_a_channel_post_through_the_client_is_posted_once(
    courier: Courier, slack_api: FakeSlackAPI
) -> None:
    # As bot.flow opens a discussion thread, bot.disputes and bot.digests post: the bot's client.
    slack_api.lose_answer("chat.postMessage", status=None)
    posted = courier.client.chat_postMessage(channel=CHANNEL, text="Discussion of example 7")
    (message,) = slack_api.messages(CHANNEL)
    assert (posted["channel"], posted["ts"]) == (CHANNEL, message["ts"])


@SQLITE
def test_each_post_has_its_own_key(courier: Courier, slack_api: FakeSlackAPI) -> None:
    # The same message sent twice on purpose is two posts: a third one whose try failed is not
    # taken for either of them.
    courier.post(HELLO, channel=U1)
    courier.post(HELLO, channel=U1)
    slack_api.fail_next("chat.postMessage", status=503)
    courier.post(HELLO, channel=U1)
    keys = {m["metadata"]["event_payload"]["delivery_key"] for m in _dm(slack_api)}
    assert len(_dm(slack_api)) == 3 and len(keys) == 3


@SQLITE
def test_a_rate_limited_post_is_sent_again_without_a_search(
    courier: Courier, slack_api: FakeSlackAPI
) -> None:
    # A 429 means Slack did not process the call: no history to read.
    slack_api.fail_next("chat.postMessage", status=429, retry_after=0)
    assert courier.post(HELLO, channel=U1) is not None
    assert len(_dm(slack_api)) == 1 and len(slack_api.calls("chat.postMessage")) == 2
    assert slack_api.calls("conversations.history") == []


@SQLITE
def test_a_search_that_fails_is_logged_and_the_post_sent_again(
    courier: Courier, slack_api: FakeSlackAPI, caplog: pytest.LogCaptureFixture
) -> None:
    # Better a rare double than a lost message: without the history (a missing scope, say),
    # the post is tried again as before.
    slack_api.fail_next("chat.postMessage", status=503)  # refused: nothing stored
    slack_api.fail_next("conversations.history", error="missing_scope")
    with caplog.at_level(logging.WARNING, logger="bot.delivery"):
        assert courier.post(HELLO, channel=U1) is not None
    assert len(_dm(slack_api)) == 1
    assert "missing_scope" in caplog.text and "sending it again" in caplog.text


OTHERS = 50  # other messages in the window: past the first page, and the old 2 pages


def _landed_among_others(
    courier: Courier, slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch, *, thread: bool
) -> tuple[dict[str, Any], list[Any]]:
    """A post whose outbox try landed unanswered, and OTHERS messages in its window where the
    search reaches them first: after it in the conversation (conversations.history reads newest
    first), before it in its thread for a reply (conversations.replies reads oldest first).
    Returns the landed message and the outbox's clock (the database's "now", to move)."""
    now = [utcnow()]
    monkeypatch.setattr(outbox_repo, "database_now", lambda session: now[0])
    dm = slack_api.dm_channel(U1)
    posted = courier.post(HELLO, channel=U1) if thread else None
    root = posted[1] if posted else None
    chatter = WebClient(token=BOT_TOKEN, base_url=slack_api.api_url)

    def others() -> None:
        for i in range(OTHERS):
            chatter.chat_postMessage(channel=dm, text=f"other {i}", thread_ts=root)

    if thread:
        others()
    slack_api.fail_next("chat.postMessage", status=503, times=3)  # refused: nothing stored
    assert courier.post(HELLO, channel=dm, thread_ts=root) is None
    slack_api.lose_answer("chat.postMessage", status=503)  # the outbox's try lands, unanswered
    assert courier.flush() == 0 and messaging.outbox_size(courier.ws) == 1
    (landed,) = [m for m in _dm(slack_api) if m.get("text") == HELLO["text"]][thread:]
    if not thread:
        others()
    return landed, now


@SQLITE
@pytest.mark.parametrize("thread", [False, True], ids=["conversation", "thread"])
def test_an_earlier_try_far_back_in_the_conversation_is_found(
    courier: Courier, slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch, thread: bool
) -> None:
    """The search read 30 messages only: an earlier try with 50 other messages read before it
    was missed and the post doubled. It reads the whole window since the first try, paging."""
    method = "conversations.replies" if thread else "conversations.history"
    landed, now = _landed_among_others(courier, slack_api, monkeypatch, thread=thread)
    searched = len(slack_api.calls(method))
    now[0] += messaging.backoff(1)
    assert courier.flush() == 1
    key = landed["metadata"]["event_payload"]["delivery_key"]
    assert [m["ts"] for m in _dm(slack_api) if delivery.delivery_key(m) == key] == [landed["ts"]]
    assert messaging.outbox_size(courier.ws) == 0
    pages = slack_api.calls(method)[searched:]
    # one window (the first try, less the margin), paged with the cursor Slack gave: 51
    # messages in pages of 15
    first_try = landed["metadata"]["event_payload"]["first_try"]
    assert {p.params["oldest"] for p in pages} == {f"{first_try - delivery.LOOKUP_MARGIN_S:.6f}"}
    assert {int(p.params["limit"]) for p in pages} == {delivery.LOOKUP_LIMIT}
    assert len(pages) == -(-(OTHERS + 1) // delivery.LOOKUP_LIMIT)
    cursors = [p.params.get("cursor") for p in pages]
    assert cursors[0] is None and all(cursors[1:]) and len(set(cursors)) == len(pages)


@SQLITE
@pytest.mark.parametrize("cap", ["pages", "time"])
def test_a_search_cut_short_is_logged_and_the_post_sent_again(
    courier: Courier,
    slack_api: FakeSlackAPI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    cap: str,
) -> None:
    """A window too long to read (LOOKUP_PAGES pages, LOOKUP_TIMEOUT_S seconds) is not taken
    for one without the post: better a rare double than a lost message, and the log says so."""
    landed, now = _landed_among_others(courier, slack_api, monkeypatch, thread=False)
    if cap == "pages":
        monkeypatch.setattr(delivery, "LOOKUP_PAGES", 2)
    else:
        monkeypatch.setattr(delivery, "LOOKUP_TIMEOUT_S", 0.5)
        slack_api.slow_down("conversations.history", 0.2)
    now[0] += messaging.backoff(1)
    with caplog.at_level(logging.WARNING, logger="bot.delivery"):
        assert courier.flush() == 1
    key = landed["metadata"]["event_payload"]["delivery_key"]
    assert len([m for m in _dm(slack_api) if delivery.delivery_key(m) == key]) == 2
    assert "sending it again" in caplog.text
    # cut short between pages, or in the middle of one (that call's time is what was left)
    why = ["2 pages of 15"] if cap == "pages" else ["0.5 s ran out", "timed out"]
    assert any(w in caplog.text for w in why)


@SQLITE
@pytest.mark.parametrize("lost", ["answer-lost", "refused"])
def test_a_post_through_bolts_request_client_is_posted_once(
    bot: Bot, caplog: pytest.LogCaptureFixture, lost: str
) -> None:
    """The client Bolt gives listeners and the error handler for each request is a
    DeliveryClient: the DM telling of an error after a modal (no response_url) is keyed, found
    when its answer is lost, and tried again when Slack refused it. Bolt's plain WebClient
    copy gave up on both (the user not told)."""
    user = "U0FLAGGER"
    if lost == "answer-lost":
        bot.api.lose_answer("chat.postMessage", status=503)
    else:
        bot.api.fail_next("chat.postMessage", status=503)  # refused: nothing stored
    reason = {ids.FLAG_REASON_INPUT: {"type": "plain_text_input", "value": "x"}}
    submission = payloads.view_submission(
        user, ids.FLAG_MODAL, {ids.FLAG_REASON_BLOCK: reason},
        private_metadata=json.dumps({"example_id": 999999}),
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="bot"):
        assert bot.slack.post(signed_interactivity(bot.slack.secret, submission)).status_code == 200
        bot.settle()
    (told,) = bot.slack.dm(user)  # once
    assert "999999" in told["text"] and told["metadata"]["event_payload"]["delivery_key"]
    assert len(bot.api.calls("chat.postMessage")) == (1 if lost == "answer-lost" else 2)
    assert "could not tell" not in caplog.text


def test_an_example_whose_post_was_unanswered_is_delivered_once(
    bot: Bot, bank: dict[str, str]
) -> None:
    """`/label` end to end (SQLite and PostgreSQL): one DM, recorded on its assignment, and the
    expert's click on it is stored."""
    bot.api.lose_answer("chat.postMessage", status=503)
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    assert bot.services.courier.flush() == 0 and messaging.outbox_size(bot.ws) == 0
    bot.slack.choose(U1, message, true_label(bot, bank, message))
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1
    assert len(bot.slack.open_examples(U1)) == 1  # the next example, once


def test_fake_history_answers_as_slack_does(slack_api: FakeSlackAPI) -> None:
    """conversations.history on the fake: newest first, `oldest` exclusive, `limit` and
    `cursor` page, thread replies left out, metadata only with include_all_metadata."""
    from slack_sdk import WebClient

    from tests.bot.conftest import BOT_TOKEN

    client = WebClient(token=BOT_TOKEN, base_url=slack_api.api_url)
    meta = {"event_type": "x", "event_payload": {"k": "v"}}
    sent = [client.chat_postMessage(channel=CHANNEL, text=f"m{i}", metadata=meta) for i in range(4)]
    client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=sent[0]["ts"])
    plain = client.conversations_history(channel=CHANNEL, oldest=sent[0]["ts"], limit=2)
    assert [m["text"] for m in plain["messages"]] == ["m3", "m2"] and plain["has_more"]
    assert all("metadata" not in m for m in plain["messages"])
    cursor = plain["response_metadata"]["next_cursor"]
    rest = client.conversations_history(
        channel=CHANNEL, oldest=sent[0]["ts"], limit=2, cursor=cursor, include_all_metadata=True
    )
    assert [m["text"] for m in rest["messages"]] == ["m1"] and not rest["has_more"]
    assert rest["messages"][0]["metadata"] == meta


def test_fake_cursors_are_slacks(slack_api: FakeSlackAPI) -> None:
    """Cursors are opaque (base64 "next_ts:…", as Slack's), a page resumes where the last one
    stopped even when messages arrive in between, one the fake did not make is invalid_cursor,
    and conversations.replies pages the same way (the root first on every page)."""
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=BOT_TOKEN, base_url=slack_api.api_url)
    sent = [client.chat_postMessage(channel=CHANNEL, text=f"m{i}")["ts"] for i in range(5)]
    first = client.conversations_history(channel=CHANNEL, limit=2)
    cursor = first["response_metadata"]["next_cursor"]
    assert not cursor.isdigit()
    client.chat_postMessage(channel=CHANNEL, text="newer")  # arrives between the pages
    rest = client.conversations_history(channel=CHANNEL, limit=2, cursor=cursor)
    assert [m["text"] for m in [*first["messages"], *rest["messages"]]] == ["m4", "m3", "m2", "m1"]
    with pytest.raises(SlackApiError) as refused:
        client.conversations_history(channel=CHANNEL, cursor="2")
    assert refused.value.response["error"] == "invalid_cursor"
    for i in range(3):
        client.chat_postMessage(channel=CHANNEL, text=f"r{i}", thread_ts=sent[0])
    thread = {"channel": CHANNEL, "ts": sent[0], "oldest": sent[0], "limit": 2}
    page = client.conversations_replies(**thread)
    more = client.conversations_replies(**thread, cursor=page["response_metadata"]["next_cursor"])
    assert [m["text"] for m in page["messages"]] == ["m0", "r0", "r1"] and page["has_more"]
    assert [m["text"] for m in more["messages"]] == ["m0", "r2"] and not more["has_more"]
