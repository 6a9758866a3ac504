"""Findings of the review of this morning's commits, each shown by a test that failed before
its fix (marked ``xfail(strict=True)`` until then).

* An Undo racing a reviewer's change that carries the vote (PostgreSQL): the Undo reads the
  example's votes without the per-example vote lock (engine.labeling._retract) that the
  review's store holds (engine.reviews.submit_review: feedback.lock_votes), so it reads them
  before the change commits and takes the vote back all the same: the refusal 9c360b3 added
  (and the one after an adjudication, engine.consensus.adjudicate takes the same lock) is
  only as good as the order of two commits.
* A label given after a reviewer's change settled the example (multi_label_k 3: the queue
  still asks a third expert) has its Undo refused "since your label", though the settlement
  came before it; and in Slack, the thread's redraw after that vote took its Undo away, and
  redrew every voter's message on each later vote.
* A taxonomy change draws "Settled as X by <reviewer>" on a thread whose reviewer's change
  settled no disagreement (a single vote left), which the round and the Undo treat as
  unsettled (bot.disputes.refresh_threads skips _drawn_settled).

Through the bot's fixtures (the `bank` project, real SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from bot import flow, ids
from bot.scheduling import dispute_poster
from engine import consensus, labeling, reviews, taxonomy
from storage.db import session_scope
from storage.repositories import feedback
from storage.repositories import projects as projects_repo
from storage.repositories import reviews as reviews_repo
from tests.bot.conftest import PROJECT, Bot
from tests.bot.test_dispute_redraw import _root, _settle_buttons, _vote
from tests.bot.test_verdict_replies import (
    ANA,
    BOB,
    CY,
    _disputed,
    _doubt_bobs_vote,
    _undo_shown,
)

DAN = "U0DAN"
# How long the racing Undo is given to finish while the review's transaction is open: a fixed
# Undo waits for the review's vote lock, so it is not done by then, and goes on once it is.
RACE_WAIT_S = 2.0


def _annotation_of(bot: Bot, example: int, annotator: str) -> int:
    with session_scope(bot.ws.db, read_only=True) as s:
        (row,) = [
            r for r in feedback.example_annotations(session=s, example_id=example)
            if r.annotator == annotator
        ]  # fmt: skip
        return row.id


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_an_undo_racing_a_reviewers_change_that_carries_the_vote_is_refused(
    bot: Bot, bank: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BOB's Undo lands while CY's change to age_limit (which carries the vote, 2 to 1) is
    being committed: either it waits and is refused, as after the change, or the change sees
    his vote gone. Today both commit: his vote is taken back under a change stored as settling
    the disagreement over it (the state 9c360b3 refuses to reach)."""
    example, _, _ = _disputed(bot, review_share=1.0)
    review = _doubt_bobs_vote(bot, example)
    task = reviews.next_review(bot.ws, project=PROJECT, annotator=CY)
    assert task is not None and task.review_id == review
    bobs = _annotation_of(bot, example, BOB)

    stored, go = threading.Event(), threading.Event()
    decide = reviews.reviews.decide_review

    def paused(**kw: Any) -> Any:  # the change is stored, its transaction not yet committed
        decided = decide(**kw)
        stored.set()
        assert go.wait(30), "the test never let the review commit"
        return decided

    monkeypatch.setattr(reviews.reviews, "decide_review", paused)
    outcome: dict[str, Any] = {}

    def review_it() -> None:
        outcome["review"] = reviews.submit_review(
            bot.ws, project=PROJECT, review_id=review, annotator=CY, decision="change",
            key="cli:race",
        )  # fmt: skip

    def undo_it() -> None:
        try:
            outcome["undo"] = labeling.undo_to_relabel(bot.ws, annotation_id=bobs, annotator=BOB)
        except Exception as exc:  # noqa: BLE001 -- what the Undo met is the result
            outcome["undo"] = exc

    reviewer = threading.Thread(target=review_it)
    reviewer.start()
    assert stored.wait(30)
    undoer = threading.Thread(target=undo_it)
    undoer.start()
    undoer.join(RACE_WAIT_S)  # done by now today: it never waited for the review
    go.set()
    reviewer.join(30)
    undoer.join(30)
    assert outcome["review"].status == "changed"
    assert isinstance(outcome["undo"], labeling.UndoClosed), outcome["undo"]
    with session_scope(bot.ws.db, read_only=True) as s:
        live = {r.annotator for r in feedback.example_annotations(session=s, example_id=example)}
    assert BOB in live  # his vote stays part of the record the change settled


def test_a_label_given_after_a_review_settled_the_example_is_not_refused_as_settled_since(
    bot: Bot, bank: Any
) -> None:
    """Three experts asked: CY's change carries the vote (ANA's and his age_limit against
    BOB's exchange_rate); DAN, the third expert the queue still asks, labels age_limit after
    it. His Undo, within its window, was refused: 'This example was settled ... since your
    label', which is false (the settlement came first), and his Undo taken back changes
    nothing the settlement decided (it still carries the vote). BOB's, given before it, stays
    refused."""
    example, _, _ = _disputed(bot, review_share=1.0, multi_label_k=3)
    review = _doubt_bobs_vote(bot, example)
    assert reviews.next_review(bot.ws, project=PROJECT, annotator=CY) is not None
    reviews.submit_review(
        bot.ws, project=PROJECT, review_id=review, annotator=CY, decision="change", key="cli:1"
    )
    dans = labeling.submit_label(bot.ws, project=PROJECT, example_id=example,
                                 label="age_limit", annotator=DAN, source="cli",
                                 key="cli:dan")  # fmt: skip
    assert labeling.undo(bot.ws, annotation_id=dans.annotation_id, annotator=DAN) == example
    with session_scope(bot.ws.db, read_only=True) as s:
        rows = feedback.example_annotations(session=s, example_id=example)
    assert DAN not in {r.annotator for r in rows}
    settling = consensus.settling_review(rows)
    assert settling is not None and settling.annotator == CY  # it still settles the example
    with pytest.raises(labeling.UndoClosed, match="since your label"):
        labeling.undo(bot.ws, annotation_id=_annotation_of(bot, example, BOB), annotator=BOB)


def test_a_later_vote_in_slack_keeps_its_undo_and_redraws_the_root_only(
    bot: Bot, bank: Any
) -> None:
    """The same in Slack: DAN's age_limit after CY's change settled the thread redraws its root
    (his vote on it) and nothing else: his labeled message keeps its Undo (each later vote
    closed the voters' Undo again, his own too, and redrew each voter's message), and his Undo
    takes the vote back, the thread still settled by the change."""
    example, anas, bobs = _disputed(bot, review_share=1.0, multi_label_k=3)
    review = _doubt_bobs_vote(bot, example)
    assert reviews.next_review(bot.ws, project=PROJECT, annotator=CY) is not None
    reviews.submit_review(
        bot.ws, project=PROJECT, review_id=review, annotator=CY, decision="change", key="cli:1"
    )
    rounds = dispute_poster(bot.services)
    rounds()  # the round draws the verdict: the voters lose their Undo
    settled = f"Settled as age_limit by <@{CY}>"
    assert _root(bot)["text"] == settled
    assert not _undo_shown(bot, ANA, anas) and not _undo_shown(bot, BOB, bobs)
    updates = len(bot.api.calls("chat.update"))

    dans = _vote(bot, DAN, "age_limit", example)
    rounds()  # the round sees the votes changed: the root drawn again, nothing more
    assert _undo_shown(bot, DAN, dans)
    root = _root(bot)
    assert root["text"] == settled and f"<@{DAN}>" in json.dumps(root["blocks"])
    redrawn = {c.params.get("ts") for c in bot.api.calls("chat.update")[updates:]}
    assert anas["ts"] not in redrawn and bobs["ts"] not in redrawn

    (labeled,) = [m for m in bot.slack.dm(DAN) if m["ts"] == dans["ts"]]
    bot.slack.click(DAN, labeled, ids.UNDO)
    bot.settle()
    assert bot.slack.ephemerals(DAN) == []  # not refused
    with session_scope(bot.ws.db, read_only=True) as s:
        live = {r.annotator for r in feedback.example_annotations(session=s, example_id=example)}
    assert DAN not in live
    assert _root(bot)["text"] == settled
    assert _settle_buttons(_root(bot)) == []


def test_a_vote_given_before_the_round_first_draws_the_verdict_keeps_its_undo(
    bot: Bot, bank: Any
) -> None:
    """CY's change is given from the terminal; DAN labels in Slack before the scheduler's
    round draws it. The round's first draw closed every voter's Undo, DAN's too, though his
    vote came after the verdict and his Undo is allowed: a button drawn away for nothing.
    ANA's and BOB's, given before it, go."""
    example, anas, bobs = _disputed(bot, review_share=1.0, multi_label_k=3)
    review = _doubt_bobs_vote(bot, example)
    assert reviews.next_review(bot.ws, project=PROJECT, annotator=CY) is not None
    reviews.submit_review(
        bot.ws, project=PROJECT, review_id=review, annotator=CY, decision="change", key="cli:1"
    )
    dans = _vote(bot, DAN, "age_limit", example)
    assert _undo_shown(bot, DAN, dans)
    dispute_poster(bot.services)()  # the verdict's first draw
    assert _root(bot)["text"] == f"Settled as age_limit by <@{CY}>"
    assert not _undo_shown(bot, ANA, anas) and not _undo_shown(bot, BOB, bobs)
    assert _undo_shown(bot, DAN, dans)


def test_a_repeated_click_after_a_verdict_does_not_bring_the_undo_back(bot: Bot, bank: Any) -> None:
    """ANA's label click comes again (a retry, or her message's old buttons) after a verdict
    closed her Undo: her message was drawn as answered again with Undo, which a click then
    refused. It is drawn without it; BOB's, not clicked, stays as the verdict left it."""
    example, anas, bobs = _disputed(bot)
    consensus.adjudicate(
        bot.ws, project=PROJECT, example_id=example, label="exchange_rate", actor="ops"
    )
    dispute_poster(bot.services)()
    assert not _undo_shown(bot, ANA, anas) and not _undo_shown(bot, BOB, bobs)
    bot.slack.choose(ANA, anas, "age_limit")  # the same click, on the buttons as delivered
    bot.settle()
    assert not _undo_shown(bot, ANA, anas)
    (shown,) = [m for m in bot.slack.dm(ANA) if m["ts"] == anas["ts"]]
    assert "age_limit" in json.dumps(shown["blocks"])  # drawn as answered, her label on it


def _doubt_anas_vote(bot: Bot, example: int) -> int:
    """A review of ANA's age_limit on ``example``, suggesting exchange_rate, as a scan opens it."""
    with session_scope(bot.ws.db) as s:
        project = projects_repo.get_project(session=s, name=PROJECT)
        assert project.id is not None
        label_ids = {
            lb.name: lb.id for lb in projects_repo.list_labels(session=s, project_id=project.id)
        }
        row = _annotation_of(bot, example, ANA)
        review = reviews_repo.add_review(
            session=s, project_id=project.id, example_id=example, annotation_id=row,
            annotator=ANA, given_label_id=label_ids["age_limit"],
            suggested_label_id=label_ids["exchange_rate"], confidence=0.9, margin=0.6,
        )  # fmt: skip
        assert review is not None and review.id is not None
        return review.id


def test_a_rename_does_not_draw_settled_a_thread_a_review_settled_nothing_on(
    bot: Bot, bank: Any
) -> None:
    """ANA and BOB disagree (the thread opens); BOB takes his vote back (the thread: 'no longer
    disagree'); CY's review changes ANA's vote, the only one left. That settled no
    disagreement: the round leaves the thread as it is and ANA may still undo her vote. A
    rename of one of the labels then redraws it 'Settled as exchange_rate by CY'."""
    example, _, bobs = _disputed(bot, review_share=1.0)
    (labeled,) = [m for m in bot.slack.dm(BOB) if m["ts"] == bobs["ts"]]
    bot.slack.click(BOB, labeled, ids.UNDO)
    bot.settle()
    assert "no longer disagree" in _root(bot)["text"]
    # he leaves the example offered to him again (it goes back to the pool)
    assert labeling.release(bot.ws, project=PROJECT, example_id=example, annotator=BOB)
    review = _doubt_anas_vote(bot, example)
    task = reviews.next_review(bot.ws, project=PROJECT, annotator=CY)
    assert task is not None and task.review_id == review
    reviews.submit_review(
        bot.ws, project=PROJECT, review_id=review, annotator=CY, decision="change", key="cli:2"
    )
    rounds = dispute_poster(bot.services)
    rounds()
    rounds()
    assert "no longer disagree" in _root(bot)["text"]  # settled nothing: left as it was
    with session_scope(bot.ws.db, read_only=True) as s:
        rows = feedback.example_annotations(session=s, example_id=example)
    assert consensus.settling_review(rows) is None  # her Undo is not refused

    taxonomy.rename_label(bot.ws, project=PROJECT, label="exchange_rate", new_name="fx_rate",
                          actor="ops", rescore=False)  # fmt: skip
    flow.redraw_on_screen(bot.services, project=PROJECT)
    assert not _root(bot)["text"].startswith("Settled"), _root(bot)["text"]
