"""A disagreement a reviewer's change settled stays settled, and is drawn so when it comes back.

* A reviewer's change that carries the vote settles the disagreement like an adjudication: its
  thread is drawn settled and the voters' messages lose their Undo. An Undo click already on
  its way (or a stale copy of the message) still took the vote back, though (the refusal
  that follows an adjudication was not given after a review): the vote the verdict was given
  over left the record and the example was offered to its expert again, under a thread that
  says it is settled. It is refused now, as after an adjudication, and the message loses the
  button it no longer honours.
* A change that did not carry the vote settled nothing: the voters' Undo still works.
* With three experts or more, a later vote can outvote the change (the thread reopens, its
  Settle buttons back); when that vote is undone the change decides again, but the thread kept
  its Settle buttons: the verdict had been drawn once already, and an Undo's redraw skipped
  settled threads. It is drawn settled again (without a second reply).

Through real HTTP and the local Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from bot import ids
from bot.scheduling import dispute_poster
from engine import consensus, exporting, labeling, reviews
from tests.bot.conftest import PROJECT, Bot
from tests.bot.test_dispute_redraw import _root, _settle_buttons, _vote
from tests.bot.test_verdict_replies import (
    BOB,
    CY,
    _disputed,
    _doubt_bobs_vote,
    _replies,
    _review_in_dm,
    _undo_shown,
)

DAN = "U0DAN"


def _votes(bot: Bot, example: int) -> list[tuple[str, str]]:
    """The example's live labels in its export: (annotator, label), sorted."""
    record = next(r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(example))
    return sorted((a["annotator"], a["label"]) for a in record["annotations"])


def test_a_voters_undo_after_a_review_settled_the_example_is_refused(bot: Bot, bank: Any) -> None:
    example, _, bobs = _disputed(bot, review_share=1.0)
    (offered,) = [m for m in bot.slack.dm(BOB) if m["ts"] == bobs["ts"]]  # Undo shown
    assert ids.UNDO in json.dumps(offered)
    _doubt_bobs_vote(bot, example)
    bot.slack.click(CY, _review_in_dm(bot, CY), ids.REVIEW_CHANGE)  # to age_limit: it carries
    bot.settle()
    assert _root(bot)["text"] == f"Settled as age_limit by <@{CY}>"
    assert not _undo_shown(bot, BOB, bobs)
    before = _votes(bot, example)

    # BOB's click on the message as it was (on its way as it was redrawn, or a stale copy)
    posts = len(bot.api.calls("chat.postMessage"))
    bot.slack.click(BOB, offered, ids.UNDO)
    bot.settle()
    assert bot.slack.ephemerals(BOB)[-1] == (
        ":warning: This example was settled as 'age_limit' in a mislabel review since your "
        "label: your label stays part of its record. Nothing was changed."
    )
    assert _votes(bot, example) == before  # his vote stays
    assert len(bot.api.calls("chat.postMessage")) == posts  # the example not offered again
    root = _root(bot)  # still settled, not "no longer disagree"
    assert root["text"] == f"Settled as age_limit by <@{CY}>"
    assert _settle_buttons(root) == []
    (after,) = [m for m in bot.slack.dm(BOB) if m["ts"] == bobs["ts"]]
    assert "Labeled *exchange_rate*" in json.dumps(after) and ids.UNDO not in json.dumps(after)
    assert consensus.disagreements(bot.ws, PROJECT) == []


def test_a_settlement_that_comes_back_is_drawn_settled_again(bot: Bot, bank: Any) -> None:
    """Three experts: CY's change carries the vote (2 to 1), DAN's later vote makes it a tie
    his latest vote wins (the change no longer decides: the thread reopens, and DAN may undo
    his vote, a change that does not carry the vote blocking no Undo), and his Undo gives the
    change the vote again: the thread is drawn settled again."""
    example, _, _ = _disputed(bot, review_share=1.0, multi_label_k=3)
    review = _doubt_bobs_vote(bot, example)
    # `labelbot review bank --actor U0CY`, then the scheduler's round draws the verdict
    task = reviews.next_review(bot.ws, project=PROJECT, annotator=CY)
    assert task is not None and task.review_id == review
    reviews.submit_review(
        bot.ws, project=PROJECT, review_id=review, annotator=CY, decision="change", key="cli:1"
    )
    rounds = dispute_poster(bot.services)
    rounds()
    assert _root(bot)["text"] == f"Settled as age_limit by <@{CY}>"
    assert len(_replies(bot)) == 1

    dans = _vote(bot, DAN, "exchange_rate", example)  # 2 to 2, his the latest: it reopens
    assert _settle_buttons(_root(bot)) == ["age_limit", "exchange_rate"]
    assert _undo_shown(bot, DAN, dans)

    (labeled,) = [m for m in bot.slack.dm(DAN) if m["ts"] == dans["ts"]]
    bot.slack.click(DAN, labeled, ids.UNDO)
    bot.settle()
    assert bot.slack.ephemerals(DAN) == []  # not refused: the change had not carried the vote
    assert (DAN, "exchange_rate") not in _votes(bot, example)
    root = _root(bot)
    assert root["text"] == f"Settled as age_limit by <@{CY}>"
    assert _settle_buttons(root) == []
    assert len(_replies(bot)) == 1  # told once
    (found,) = consensus.disagreements(bot.ws, PROJECT, include_settled=True)
    assert found.adjudicated is not None and found.adjudicated.source == "review"

    rounds()  # the next round leaves it settled
    assert _settle_buttons(_root(bot)) == []
    assert len(_replies(bot)) == 1


def test_a_settlement_that_comes_back_from_the_terminal_is_drawn_by_the_next_round(
    bot: Bot, bank: Any
) -> None:
    """The same with DAN's vote and Undo given in the terminal (`labelbot label`): the
    scheduler's rounds draw the thread open, then settled again."""
    example, _, _ = _disputed(bot, review_share=1.0, multi_label_k=3)
    review = _doubt_bobs_vote(bot, example)
    assert reviews.next_review(bot.ws, project=PROJECT, annotator=CY) is not None
    reviews.submit_review(
        bot.ws, project=PROJECT, review_id=review, annotator=CY, decision="change", key="cli:1"
    )
    rounds = dispute_poster(bot.services)
    rounds()
    assert _root(bot)["text"] == f"Settled as age_limit by <@{CY}>"

    dans = labeling.submit_label(bot.ws, project=PROJECT, example_id=example,
                                 label="exchange_rate", annotator=DAN, source="cli",
                                 key="cli:dan")  # fmt: skip
    rounds()
    assert _settle_buttons(_root(bot)) == ["age_limit", "exchange_rate"]
    assert labeling.undo(bot.ws, annotation_id=dans.annotation_id, annotator=DAN) == example
    rounds()
    root = _root(bot)
    assert root["text"] == f"Settled as age_limit by <@{CY}>"
    assert _settle_buttons(root) == []
    assert len(_replies(bot)) == 1

    before = len(bot.api.calls())
    rounds()  # nothing changed since: nothing drawn
    dispute_poster(bot.services)()  # another replica: drawn already
    assert len(bot.api.calls()) == before
