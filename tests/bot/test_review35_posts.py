"""Review 35 (second round) of the planned-post notes (bot.posting.post_once): a note whose
search can never be answered (its channel deleted, the bot removed from it, a scope missing),
on real SQLite/PostgreSQL against the local fake Slack Web API."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot import flow, taxonomy_flow
from bot.services import Services
from engine import discussions, messaging, proposing
from engine import projects as engine_projects
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import ConflictError
from tests.fakes.slack_api import FakeSlackAPI
from tests.storage import test_audit35_crash as audit

# the crash audit's project (its channel is the one a killed try posted to), its fixtures (a
# Slack-backed Services, the fake Slack) and its SIGKILL of a try between post and record
PROJECT, LABELS, OLD, NEW = audit.PROJECT, audit.LABELS, audit.CHANNEL, "C0NEWCHAN"
services, slack_api = audit.services, audit.slack_api
_killed_once_posted, _propose = audit._killed_once_posted, audit._propose
_disagree = audit._disagree
KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _channel_deleted(slack_api: FakeSlackAPI, ws: Workspace) -> None:
    """The project's channel is deleted (Slack answers channel_not_found for it from now on:
    enough for this test's few calls) and an admin points the project at a new one, as
    `labelbot project set bank --channel C0NEWCHAN` does."""
    slack_api.fail_next("conversations.history", error="channel_not_found", times=20)
    engine_projects.set_channel(ws, project=PROJECT, channel_id=NEW)


@pytest.mark.parametrize("db_url_and_schema", KINDS, indirect=True)
def test_discuss_after_the_channel_a_killed_click_posted_to_was_deleted(
    services: Services, slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    ws = services.ws
    monkeypatch.setattr(flow, "THREAD_WAIT_S", 0.5)  # the click's wait, shortened for the test
    with session_scope(ws.db, read_only=True) as session:
        example = int(session.execute(sa.text("SELECT min(id) FROM examples")).scalar_one())

    def click() -> discussions.Thread:  # an expert's Discuss click, as flow.discuss opens it
        ref = messaging.example_ref(ws, example_id=example)
        return flow._team_thread(services, user="U0ANA", ref=ref, channel=ref.channel or "")

    _killed_once_posted(services, slack_api, click, OLD)
    assert discussions.team_thread(ws, example_id=example) is None  # never recorded
    _channel_deleted(slack_api, ws)
    try:
        thread = click()  # the expert clicks Discuss again, the project now in NEW
    except ConflictError as exc:  # today, for 12 hours
        pytest.fail(f"the click was answered {exc}")
    assert thread.channel == NEW
    assert [m["ts"] for m in slack_api.messages(NEW)] == [thread.thread_ts]


@pytest.mark.parametrize("db_url_and_schema", KINDS, indirect=True)
def test_discuss_after_labelbot_was_removed_from_the_channel_says_to_invite_it(
    services: Services, slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same channel, labelbot removed from it since the killed click: the search is refused
    for good (not_in_channel), so the click posts, and Slack's refusal of the post comes back
    as the usual 'invite labelbot' (not 'being opened' for 12 hours); once invited, the next
    click opens the thread at once."""
    import sqlalchemy as sa

    from storage.errors import ConfigurationError

    ws = services.ws
    monkeypatch.setattr(flow, "THREAD_WAIT_S", 5.0)
    with session_scope(ws.db, read_only=True) as session:
        example = int(session.execute(sa.text("SELECT min(id) FROM examples")).scalar_one())

    def click() -> discussions.Thread:
        ref = messaging.example_ref(ws, example_id=example)
        return flow._team_thread(services, user="U0ANA", ref=ref, channel=ref.channel or "")

    _killed_once_posted(services, slack_api, click, OLD)
    slack_api.fail_next("conversations.history", error="not_in_channel")
    slack_api.fail_next("chat.postMessage", error="not_in_channel")
    looked = _count_thread_reads(monkeypatch)
    with pytest.raises(ConfigurationError, match="invite"):
        click()
    assert len(looked) <= 2  # answered, not waited out (a wait reads the thread every poll)
    assert len(slack_api.messages(OLD)) == 1  # the killed click's, unrecorded
    thread = click()  # invited since: the thread opens (no note left holding it back)
    assert thread.channel == OLD
    assert len(slack_api.messages(OLD)) == 2


@pytest.mark.parametrize("db_url_and_schema", KINDS, indirect=True)
def test_a_note_in_a_deleted_channel_does_not_hold_back_the_other_proposals(
    services: Services, slack_api: FakeSlackAPI
) -> None:
    ws = services.ws
    first = _propose(ws, "merge", LABELS[:2])
    _killed_once_posted(
        services, slack_api, lambda: taxonomy_flow.post_proposals(services, project=PROJECT), OLD
    )
    assert proposing.get_proposal(ws, first).message_ts is None  # noted, never recorded
    second = _propose(ws, "retire", LABELS[2:])  # a proposal made since: never tried
    _channel_deleted(slack_api, ws)
    taxonomy_flow.post_proposals(services, project=PROJECT)  # the next round
    texts = [str(m.get("text")) for m in slack_api.messages(NEW)]
    assert proposing.get_proposal(ws, second).message_ts is not None, texts
    assert len(slack_api.messages(NEW)) >= 1


@pytest.mark.parametrize("db_url_and_schema", KINDS, indirect=True)
def test_a_note_slack_cannot_look_up_just_now_holds_back_only_its_own_card(
    services: Services, slack_api: FakeSlackAPI
) -> None:
    """A note in the project's channel whose search fails for now (a 500): that card waits for
    the next round, the proposals made since are posted in this one."""
    ws = services.ws
    first = _propose(ws, "merge", LABELS[:2])
    _killed_once_posted(
        services, slack_api, lambda: taxonomy_flow.post_proposals(services, project=PROJECT), OLD
    )
    second = _propose(ws, "retire", LABELS[2:])
    slack_api.fail_next("conversations.history", status=500)
    assert taxonomy_flow.post_proposals(services, project=PROJECT) == 1
    assert proposing.get_proposal(ws, first).message_ts is None  # looked for next round
    assert proposing.get_proposal(ws, second).message_ts is not None
    assert len(slack_api.messages(OLD)) == 2
    taxonomy_flow.post_proposals(services, project=PROJECT)  # found now: recorded, not posted
    assert proposing.get_proposal(ws, first).message_ts == slack_api.messages(OLD)[0]["ts"]
    assert len(slack_api.messages(OLD)) == 2


@pytest.mark.parametrize("db_url_and_schema", KINDS, indirect=True)
def test_a_link_another_hosts_killed_replica_claimed_is_made_by_a_later_round(
    services: Services, slack_api: FakeSlackAPI
) -> None:
    from bot import disputes
    from bot.scheduling import dispute_poster
    from engine.disputes import DRAWING_FOR
    from storage.repositories import leases

    ws = services.ws
    engine_projects.set_channel(ws, project=PROJECT, channel_id=NEW)
    example = _disagree(ws)
    ref = messaging.example_ref(ws, example_id=example)
    # the Discuss thread was opened before the votes disagreed
    discussed = flow._team_thread(services, user="U0ANA", ref=ref, channel=NEW)
    # a replica on another host (web-2) opens the disagreement's thread and claims the link,
    # as claim_link does there; it is killed before posting it
    name = f"dispute-link:{example}:{discussed.thread_ts}"
    owner = "web-2:4242:9f3a0c1d2e4b6a80:1a2b3c4d"
    with session_scope(ws.db) as session:
        assert leases.try_acquire(session=session, name=name, owner=owner, ttl=DRAWING_FOR)
    assert disputes.post_all_disputes(services) == 1  # the thread opens (here: same rows)
    # DRAWING_FOR later its claim has lapsed (released: the row a lapsed claim leaves)
    with session_scope(ws.db) as session:
        leases.release(session=session, name=name, owner=owner)
    rounds = dispute_poster(services)  # this replica's scheduler job
    rounds()
    rounds()
    words = [
        str(m.get("text"))
        for m in slack_api.messages(NEW)
        if m.get("thread_ts") == discussed.thread_ts and m["ts"] != discussed.thread_ts
    ]
    assert len([w for w in words if "disagree" in w]) == 1, words  # linked, once


def _count_thread_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each read of an example's discussion thread from now on (a Discuss click waiting for
    another click's thread reads it every flow.THREAD_POLL_S): the count says whether it waited."""
    real = discussions.team_thread
    looked: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        looked.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(discussions, "team_thread", counted)
    return looked


@pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)
def test_a_discuss_click_whose_own_search_was_refused_answers_at_once(
    services: Services, slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    ws = services.ws
    with session_scope(ws.db, read_only=True) as session:
        example = int(session.execute(sa.text("SELECT min(id) FROM examples")).scalar_one())

    def click() -> discussions.Thread:
        ref = messaging.example_ref(ws, example_id=example)
        return flow._team_thread(services, user="U0ANA", ref=ref, channel=ref.channel or "")

    _killed_once_posted(services, slack_api, click, OLD)
    slack_api.fail_next("conversations.history", status=429, retry_after=60)
    looked = _count_thread_reads(monkeypatch)
    with pytest.raises(ConflictError):  # nothing posted: click again (this much is fine)
        click()
    assert len(slack_api.messages(OLD)) == 1
    # answered at once: a wait for another click's thread reads it every THREAD_POLL_S
    assert len(looked) <= 2, f"the click polled {len(looked)} times for nothing"


@pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)
def test_a_noted_card_in_a_busy_channel_is_found_at_one_history_call_a_minute(
    services: Services, slack_api: FakeSlackAPI
) -> None:
    import threading

    ws = services.ws
    pid = _propose(ws, "merge", LABELS[:2])
    _killed_once_posted(
        services, slack_api, lambda: taxonomy_flow.post_proposals(services, project=PROJECT), OLD
    )
    for n in range(20):  # the channel goes on: people talk, labelbot posts its threads
        slack_api.add_message(OLD, text=f"message {n}", user="U0ANA")
    slack_api.slow_down("conversations.history", 0.3)
    for _ in range(3):  # three rounds, a minute or more apart: one history call each

        def one_call_a_minute(before: int = len(slack_api.calls("conversations.history"))) -> None:
            try:  # the round's second call, held 0.3 s before it is answered: refused
                slack_api.wait_for("conversations.history", before + 2, timeout=5)
            except AssertionError:
                return  # one call was enough
            slack_api.fail_next("conversations.history", status=429, retry_after=60)

        limiting = threading.Thread(target=one_call_a_minute)
        limiting.start()
        taxonomy_flow.post_proposals(services, project=PROJECT)
        limiting.join()
    # the first round: a page read, the next refused; the second reads on from there (one
    # page: the card found and recorded); the third has nothing to look for
    assert len(slack_api.calls("conversations.history")) == 3
    cards = [m for m in slack_api.messages(OLD) if m.get("user") != "U0ANA"]
    assert len(cards) == 1, [m.get("text") for m in cards]
    assert proposing.get_proposal(ws, pid).message_ts == cards[0]["ts"]


@pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)
def test_a_noted_card_is_looked_for_only_among_the_messages_of_its_tries_span(
    services: Services, slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The channel's messages after the card's tries could have ended (bot.delivery.post_window,
    shortened to a second here) are not read: one page finds it under twenty later messages."""
    from bot import posting

    ws = services.ws
    pid = _propose(ws, "merge", LABELS[:2])
    _killed_once_posted(
        services, slack_api, lambda: taxonomy_flow.post_proposals(services, project=PROJECT), OLD
    )
    monkeypatch.setattr(posting, "post_window", lambda client: 1.0)
    time.sleep(1.2)
    for n in range(20):
        slack_api.add_message(OLD, text=f"message {n}", user="U0ANA")
    taxonomy_flow.post_proposals(services, project=PROJECT)
    assert len(slack_api.calls("conversations.history")) == 1
    cards = [m for m in slack_api.messages(OLD) if m.get("user") != "U0ANA"]
    assert len(cards) == 1
    assert proposing.get_proposal(ws, pid).message_ts == cards[0]["ts"]
