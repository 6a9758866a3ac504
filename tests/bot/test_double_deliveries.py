"""One click (or one `/label`) that reaches labelbot twice at once -- a double click, or Slack's
request answered by two replicas -- is acted on once: the same signed request is posted from
two threads to the real Bolt app over HTTP, on SQLite and PostgreSQL.

On PostgreSQL the two deliveries are held at the point where the old code went wrong (both had
read "still open", neither had written) until the other arrives or waits for a lock: see
``tests.storage.test_labeling_races.Rendezvous``.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pytest

from bot import flow, ids, views
from engine import messaging, projects
from storage.db import is_sqlite, session_scope
from storage.repositories import assignments, feedback
from storage.repositories import reviews as reviews_repo
from tests.bot.conftest import PROJECT, Bot
from tests.fakes import payloads
from tests.fakes.signing import SignedRequest, signed_interactivity, signed_slash_command
from tests.fakes.slack_client import button, choices, example_id
from tests.storage.test_labeling_races import (
    Rendezvous,
    label_and_doubt,
    open_assignments,
    pause_after,
    pause_before,
    together,
)

U1, ANA = "U0DOUBLE", "U0ANA"


@pytest.fixture
def quiet(bot: Bot, bank: dict[str, str]) -> dict[str, str]:
    """The bank project without audit picks, second opinions or review turns: each answer has
    one thing to send next."""
    projects.update_settings(
        bot.ws, project=PROJECT, audit_share=0.0, multi_label_share=0.0, review_share=0.0
    )
    return bank


def _click(bot: Bot, user: str, message: dict[str, Any], action_id: str) -> SignedRequest:
    block_id, el = button(message, action_id)
    payload = bot.slack.action_payload(user, message, action_id, el.get("value"), block_id=block_id)
    return signed_interactivity(bot.slack.secret, payload)


def _twice(bot: Bot, signed: SignedRequest) -> None:
    """Post one signed request twice at once, as Slack would to two replicas; let both finish."""
    answers = together(lambda: bot.slack.post(signed), lambda: bot.slack.post(signed))
    assert [a.status_code for a in answers] == [200, 200]
    bot.settle()


def _updates(bot: Bot, message: dict[str, Any]) -> int:
    return sum(c.params.get("ts") == message["ts"] for c in bot.api.calls("chat.update"))


def _first_task(bot: Bot, user: str) -> list[dict[str, Any]]:
    """`/label` in ``user``'s DM; the DM's messages after it."""
    bot.slack.command(user, PROJECT)
    bot.settle()
    return bot.slack.dm(user)


def _first_example(bot: Bot, user: str) -> dict[str, Any]:
    _first_task(bot, user)
    (message,) = bot.slack.open_examples(user)
    return message


def test_one_skip_delivered_twice_sends_the_next_example_once(
    bot: Bot, quiet: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    message = _first_example(bot, U1)
    bot.services.batches.start(U1, PROJECT, 2)  # "Label 2 now": the skip is one answer of two
    before = len(bot.slack.dm(U1))
    pause_after(monkeypatch, assignments, "get_assignment", Rendezvous(bot.ws.db))

    _twice(bot, _click(bot, U1, message, ids.SKIP))

    new = bot.slack.dm(U1)[before:]
    # one next example, not two (nor a batch summary: the skip was counted once)
    assert [example_id(m) is not None for m in new] == [True], [m.get("text") for m in new]
    assert [example_id(m) for m in bot.slack.open_examples(U1)] == [example_id(new[0])]
    assert [a.example_id for a in open_assignments(bot.ws, U1)] == [example_id(new[0])]
    assert _updates(bot, message) == 1  # marked skipped once
    assert bot.slack.ephemerals(U1) == []  # the repeat is answered quietly


def test_label_typed_twice_at_once_hands_out_one_example(
    bot: Bot, quiet: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bot lets one delivery to an expert run at a time (bot.flow's lease); the claim in
    # storage must hold without it too (a lease that lapsed, a wait that ran out): off here.
    monkeypatch.setattr(flow, "_one_delivery_at_a_time", lambda *a, **k: nullcontext())
    # held after "does U1 hold an example already?", before claiming one
    pause_before(monkeypatch, assignments, "_next_free_example", Rendezvous(bot.ws.db))
    form = payloads.slash_command(
        U1, PROJECT, bot.api.dm_channel(U1), response_url=bot.api.response_url(U1)
    )

    _twice(bot, signed_slash_command(bot.slack.secret, form))

    held = open_assignments(bot.ws, U1)
    assert len(held) == 1, [a.example_id for a in held]
    # both answers show the example U1 holds (a copy is harmless: labeling one retires it)
    shown = {example_id(m) for m in bot.slack.open_examples(U1)}
    assert shown == {held[0].example_id}


def test_one_review_verdict_delivered_twice_is_answered_once(
    bot: Bot, quiet: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    review_id = label_and_doubt(bot.ws, annotator=ANA)
    projects.update_settings(bot.ws, project=PROJECT, review_share=1.0)
    (message,) = [m for m in _first_task(bot, U1) if ids.REVIEW_KEEP in str(m.get("blocks"))]
    before = len(bot.slack.dm(U1))
    pause_after(monkeypatch, reviews_repo, "review_by_key", Rendezvous(bot.ws.db))

    _twice(bot, _click(bot, U1, message, ids.REVIEW_KEEP))

    assert _updates(bot, message) == 1  # "kept by U1", once
    new = bot.slack.dm(U1)[before:]
    assert len(new) == 1 and choices(new[0]), [m.get("text") for m in new]  # one next task
    assert len(open_assignments(bot.ws, U1)) == 1
    assert bot.slack.ephemerals(U1) == []
    with session_scope(bot.ws.db, read_only=True) as s:
        assert reviews_repo.get_review(session=s, review_id=review_id).status == "kept"


def test_one_undo_delivered_twice_offers_the_example_once(
    bot: Bot, quiet: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    message = _first_example(bot, U1)
    eid = example_id(message)
    assert eid is not None
    bot.slack.choose(U1, message, quiet[messaging.example_ref(bot.ws, example_id=eid).text])
    bot.settle()
    (labeled,) = [m for m in bot.slack.dm(U1) if m["ts"] == message["ts"]]
    pause_before(monkeypatch, feedback, "retract_annotation", Rendezvous(bot.ws.db))

    _twice(bot, _click(bot, U1, labeled, ids.UNDO))

    offering = [m for m in bot.slack.open_examples(U1) if example_id(m) == eid]
    assert len(offering) == 1, f"example {eid} offered again in {len(offering)} messages"
    assert _updates(bot, message) == 2  # labeled, then "undid the label": once each
    if not is_sqlite(bot.ws.db):  # there the repeat runs after the first: "already undone"
        assert bot.slack.ephemerals(U1) == []


def _second_copy(bot: Bot, message: dict[str, Any]) -> tuple[int, messaging.ExampleRef]:
    """Post a second live copy of the example ``message`` shows in U1's DM (as a re-post whose
    older copy Slack would not let labelbot retire leaves); its id and text."""
    eid = example_id(message)
    assert eid is not None
    ref = messaging.example_ref(bot.ws, example_id=eid)
    card = flow._current_card(bot.services, user=U1, project=PROJECT, ref=ref)
    bot.services.courier.post(views.labeling_message(card), channel=U1)
    return eid, ref


def test_two_live_copies_of_one_example_clicked_at_once_store_one_vote(
    bot: Bot, quiet: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two messages of one example in one DM (a re-post whose older copy Slack would not let
    labelbot retire), a label clicked on each at once: two keys, neither a repeat of the other.
    One vote is stored; the other copy says it was labeled from another message."""
    message = _first_example(bot, U1)
    eid, ref = _second_copy(bot, message)
    copies = [m for m in bot.slack.open_examples(U1) if example_id(m) == eid]
    assert len(copies) == 2
    right = quiet[ref.text]
    wrong = next(lb for lb in set(quiet.values()) if lb != right)
    pause_before(monkeypatch, feedback, "add_annotation", Rendezvous(bot.ws.db))

    answers = together(
        lambda: bot.slack.choose(U1, copies[0], right),
        lambda: bot.slack.choose(U1, copies[1], wrong),
    )
    assert [a.status_code for a in answers] == [200, 200]
    bot.settle()

    with session_scope(bot.ws.db, read_only=True) as s:
        votes = feedback.example_annotations(session=s, example_id=eid)
    assert len(votes) == 1 and votes[0].annotator == U1, votes
    shown = {m["ts"]: m["text"] for m in bot.slack.dm(U1)}
    texts = sorted(shown[c["ts"]] for c in copies)
    assert any("Labeled" in t for t in texts), texts
    assert any("labeled this example from another message" in t for t in texts), texts
    assert [m for m in bot.slack.open_examples(U1) if example_id(m) == eid] == []
    assert any("already labeled" in e for e in bot.slack.ephemerals(U1))


def test_a_label_from_another_copy_retires_the_delivered_one(
    bot: Bot, quiet: dict[str, str]
) -> None:
    """The example's delivered message (the one its assignment records) loses its buttons when
    the expert labels it from another live copy, rather than waiting to refuse a click."""
    delivered = _first_example(bot, U1)
    eid, ref = _second_copy(bot, delivered)
    (copy,) = [
        m
        for m in bot.slack.open_examples(U1)
        if example_id(m) == eid and m["ts"] != delivered["ts"]
    ]

    assert bot.slack.choose(U1, copy, quiet[ref.text]).status_code == 200
    bot.settle()

    shown = {m["ts"]: m for m in bot.slack.dm(U1)}
    assert "Labeled" in shown[copy["ts"]]["text"]
    assert "labeled this example from another message" in shown[delivered["ts"]]["text"]
    assert [m for m in bot.slack.open_examples(U1) if example_id(m) == eid] == []
    assert bot.slack.ephemerals(U1) == []
