"""Undo offers the example to its expert again, and holds it for them meanwhile: back in the
pool it went to the next expert who asked, whose label then refused the undoer's relabel (found
by bench/soak.py: ~3% of the clicks it made were acknowledged and not stored). On SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot import ids
from engine import exporting, messaging, projects, training
from storage.db import session_scope
from storage.models import Assignment
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot
from tests.fakes.slack_client import choices, example_id

U1, U2 = "U0ALICE", "U0BOB"


@pytest.fixture
def pair(bot: Bot, banking_slice: list[tuple[str, str]], tmp_path: Path) -> dict[str, str]:
    """A project of two examples, with no audit picks or review turns: while one expert holds
    one of them, the other is the only one free."""
    chosen = banking_slice[:2]
    projects.create_project(bot.ws, name=PROJECT, labels=LABELS, channel_id=CHANNEL)
    path = tmp_path / "pair.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text"], *([t] for t, _ in chosen)])
    projects.import_file(bot.ws, project=PROJECT, path=path)
    training.rescore_project(bot.ws, PROJECT)
    projects.update_settings(
        bot.ws, project=PROJECT, audit_share=0.0, multi_label_share=0.0, review_share=0.0
    )
    return dict(chosen)


def _truth(bot: Bot, truth: dict[str, str], message: dict) -> str:  # type: ignore[type-arg]
    eid = example_id(message)
    assert eid is not None
    return truth[messaging.example_ref(bot.ws, example_id=eid).text]


def _label_first(bot: Bot, truth: dict[str, str], user: str) -> tuple[dict, int]:  # type: ignore[type-arg]
    """``user`` types /label and labels the example sent; the message and the example's id."""
    bot.slack.command(user)
    bot.settle()
    (message,) = bot.slack.open_examples(user)
    eid = example_id(message)
    assert eid is not None
    bot.slack.choose(user, message, _truth(bot, truth, message))
    bot.settle()
    return message, eid


def _label_then_undo(bot: Bot, truth: dict[str, str], user: str) -> int:
    """``user`` labels their first example, then undoes it; returns its id."""
    message, eid = _label_first(bot, truth, user)
    (labeled,) = [m for m in bot.slack.dm(user) if m["ts"] == message["ts"]]
    assert bot.slack.click(user, labeled, ids.UNDO).status_code == 200
    bot.settle()
    return eid


def _open(eid: int) -> tuple[Any, ...]:
    return (Assignment.example_id == eid, Assignment.status == "open")


def _open_holders(bot: Bot, eid: int) -> list[str]:
    with session_scope(bot.ws.db, read_only=True) as session:
        return list(session.exec(select(Assignment.annotator).where(*_open(eid))).all())


def test_an_undone_example_is_not_sent_to_anyone_else_before_its_relabel(
    bot: Bot, pair: dict[str, str]
) -> None:
    undone = _label_then_undo(bot, pair, U1)
    offered = [m for m in bot.slack.open_examples(U1) if example_id(m) == undone]
    assert len(offered) == 1  # below again, with its buttons
    assert _open_holders(bot, undone) == [U1]

    # Bob asks for work: the other example is out with Alice (her next), this one is hers too
    bot.slack.command(U2)
    bot.settle()
    assert bot.slack.open_examples(U2) == []
    assert "Nothing left to label" in " ".join(bot.slack.ephemerals(U2)), bot.slack.ephemerals(U2)

    # her relabel is stored, not refused as "already labeled by Bob"
    wrong = next(lb for lb in LABELS if lb != _truth(bot, pair, offered[0]))
    assert bot.slack.choose(U1, offered[0], wrong).status_code == 200
    bot.settle()
    assert bot.slack.ephemerals(U1) == []
    text = messaging.example_ref(bot.ws, example_id=undone).text
    (record,) = [r for r in exporting.export_records(bot.ws, PROJECT) if r["text"] == text]
    assert record["label"] == wrong and record["annotations"][0]["annotator"] == U1
    assert _open_holders(bot, undone) == []  # answered: the hold is closed


def test_the_offered_copy_is_recorded_on_the_hold_so_it_is_not_posted_twice(
    bot: Bot, pair: dict[str, str]
) -> None:
    undone = _label_then_undo(bot, pair, U1)
    # Alice answers the other example (her next) first: the undone one is still in her DM,
    # delivered; the loop sends it no second time
    (other,) = [m for m in bot.slack.open_examples(U1) if example_id(m) != undone]
    bot.slack.choose(U1, other, _truth(bot, pair, other))
    bot.settle()
    assert [example_id(m) for m in bot.slack.open_examples(U1)] == [undone]
    with session_scope(bot.ws.db, read_only=True) as session:
        (hold,) = session.exec(select(Assignment).where(*_open(undone))).all()
        assert hold.message_ts == bot.slack.open_examples(U1)[0]["ts"]


def test_an_undone_second_opinion_out_with_another_expert_offers_no_rival_copy(
    bot: Bot, pair: dict[str, str]
) -> None:
    # every example asks two experts: after Alice's label it goes on to Bob
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0)
    message, eid = _label_first(bot, pair, U1)
    bot.slack.command(U2)
    bot.settle()
    assert [example_id(m) for m in bot.slack.open_examples(U2)] == [eid]

    (labeled,) = [m for m in bot.slack.dm(U1) if m["ts"] == message["ts"]]
    bot.slack.click(U1, labeled, ids.UNDO)
    bot.settle()
    # Bob holds it: Alice gets no second live copy to race his, but is told why
    assert [m for m in bot.slack.open_examples(U1) if example_id(m) == eid] == []
    (undone,) = [m for m in bot.slack.dm(U1) if m["ts"] == message["ts"]]
    assert "undid the label" in undone["text"] and "Another expert" in undone["text"]
    assert not choices(undone)
    assert _open_holders(bot, eid) == [U2]
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 0


def test_a_delivery_between_the_undo_and_its_post_leaves_one_copy(
    bot: Bot, pair: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/label` on another replica just after the undo held the example and before the undo
    posted it: that delivery finds it held for the expert and posts it; the undo then does not
    post a second live copy (bench/soak.py saw one, whose second click was refused)."""
    from bot import flow
    from engine import labeling

    message, eid = _label_first(bot, pair, U1)
    # Alice answers her next example too, so that the undone one is what a delivery hands her
    (other,) = bot.slack.open_examples(U1)
    bot.slack.choose(U1, other, _truth(bot, pair, other))
    bot.settle()
    original = labeling.undo_to_relabel

    def then_a_delivery(*args: Any, **kwargs: Any) -> Any:
        undone = original(*args, **kwargs)
        flow.send_next(bot.services, user=U1, project=PROJECT, again=False)
        return undone

    monkeypatch.setattr(labeling, "undo_to_relabel", then_a_delivery)
    (labeled,) = [m for m in bot.slack.dm(U1) if m["ts"] == message["ts"]]
    bot.slack.click(U1, labeled, ids.UNDO)
    bot.settle()

    offered = [m for m in bot.slack.open_examples(U1) if example_id(m) == eid]
    assert len(offered) == 1, [m["ts"] for m in offered]
    assert bot.slack.choose(U1, offered[0], _truth(bot, pair, offered[0])).status_code == 200
    bot.settle()
    assert bot.slack.ephemerals(U1) == []
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 2
