"""A disagreement settled elsewhere than on its thread tells the thread so, once.

A Settle click on the thread redraws its root and posts a reply mentioning everyone involved
(who are notified of replies, not of edits to the root). Two other ways of settling left the
thread's participants unaware:

* `labelbot adjudicate`: the scheduler's round redrew the root and closed the voters' Undo, but
  posted no reply. It now posts one ("ops settled this as *X* from the terminal"), with the
  redraw, once across replicas and rounds; a verdict drawn before (its marker set) gets none,
  and neither does one older than two days (an upgrade does not post a project's old verdicts
  at once).
* a reviewer's change that carried the vote (engine.consensus: a review settles the question
  like an adjudication): the example dropped out of the open disagreements, so the bot's redraw
  after the review (``open_if_disputed``) found nothing and returned, the scheduler's round
  drew only adjudications, and a taxonomy change left such a root as it was. The thread kept
  its Settle buttons and the votes as if open, the voters their Undo, and nobody was told. It
  is now drawn settled as an adjudication is ("<@CY> settled this as *X* in a mislabel
  review"): at once after a review in Slack, by the round after one from the terminal, once;
  and redrawn after a rename like a thread settled by a click.

Through real HTTP and the local Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot import ids
from bot.scheduling import dispute_poster, screen_redrawer
from engine import consensus, disputes, projects, reviews, taxonomy
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import feedback
from storage.repositories import projects as projects_repo
from storage.repositories import reviews as reviews_repo
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_dispute_redraw import _root, _settle_buttons, _vote
from tests.fakes.slack_client import example_id

ANA, BOB, CY = "U0ANA", "U0BOB", "U0CY"


def _replies(bot: Bot) -> list[dict[str, Any]]:
    """The replies in the disagreement thread (not its root)."""
    root = _root(bot)
    return [
        m
        for m in bot.api.messages(CHANNEL)
        if m.get("thread_ts") == root["ts"] and m["ts"] != root["ts"]
    ]


def _undo_shown(bot: Bot, user: str, message: dict[str, Any]) -> bool:
    (shown,) = [m for m in bot.slack.dm(user) if m["ts"] == message["ts"]]
    return ids.UNDO in str(shown["blocks"])


def _disputed(bot: Bot, **settings: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """ANA votes age_limit, BOB exchange_rate on one example (its thread opens); the example
    and their two labeled messages."""
    projects.update_settings(
        bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0, **settings
    )
    anas = _vote(bot, ANA, "age_limit")
    example = example_id(anas)
    bobs = _vote(bot, BOB, "exchange_rate", example)
    assert _settle_buttons(_root(bot)) == ["age_limit", "exchange_rate"]
    assert _undo_shown(bot, ANA, anas) and _undo_shown(bot, BOB, bobs)
    assert _replies(bot) == []
    return example, anas, bobs


# --- `labelbot adjudicate` ---------------------------------------------------------------------


def test_a_verdict_from_the_terminal_is_told_in_the_thread_once(bot: Bot, bank: Any) -> None:
    example, anas, bobs = _disputed(bot)
    consensus.adjudicate(  # as `labelbot adjudicate bank #N exchange_rate --actor ops` does
        bot.ws, project=PROJECT, example_id=example, label="exchange_rate", actor="ops"
    )
    dispute_poster(bot.services)()  # one scheduler round
    assert _root(bot)["text"] == "Settled as exchange_rate by ops"
    (reply,) = _replies(bot)
    # a login name, not a broken mention; everyone involved mentioned
    assert reply["text"] == (
        f"ops settled this as *exchange_rate* from the terminal. <@{ANA}> <@{BOB}>"
    )
    assert not _undo_shown(bot, ANA, anas) and not _undo_shown(bot, BOB, bobs)

    before = len(bot.api.calls())
    rounds = dispute_poster(bot.services)  # another replica's job, and its next round
    rounds()
    rounds()
    assert len(bot.api.calls()) == before
    assert len(_replies(bot)) == 1


def test_a_verdict_drawn_before_gets_no_reply(bot: Bot, bank: Any) -> None:
    """A deployment whose rounds drew its terminal verdicts before replies were posted: its
    markers are set, and the upgraded round posts nothing for them."""
    example, _, _ = _disputed(bot)
    verdict = consensus.adjudicate(
        bot.ws, project=PROJECT, example_id=example, label="age_limit", actor="ops"
    )
    owner = disputes.claim_verdict(bot.ws, annotation_id=verdict.annotation_id)
    assert owner is not None
    assert disputes.verdict_drawn(bot.ws, annotation_id=verdict.annotation_id, owner=owner)
    before = len(bot.api.calls())
    dispute_poster(bot.services)()
    assert len(bot.api.calls()) == before
    assert _replies(bot) == []


def test_an_old_verdict_never_drawn_is_drawn_without_a_reply(bot: Bot, bank: Any) -> None:
    example, anas, _ = _disputed(bot)
    consensus.adjudicate(
        bot.ws, project=PROJECT, example_id=example, label="age_limit", actor="ops",
        now=utcnow() - disputes.REPLY_WITHIN - timedelta(minutes=1),
    )  # fmt: skip
    dispute_poster(bot.services)()
    assert _root(bot)["text"] == "Settled as age_limit by ops"
    assert _replies(bot) == []


# --- a reviewer's change that carried the vote -------------------------------------------------


def _doubt_bobs_vote(bot: Bot, example: int) -> int:
    """A review of BOB's exchange_rate on ``example``, suggesting age_limit, as a scan opens it."""
    with session_scope(bot.ws.db) as s:
        project = projects_repo.get_project(session=s, name=PROJECT)
        assert project.id is not None
        label_ids = {
            lb.name: lb.id for lb in projects_repo.list_labels(session=s, project_id=project.id)
        }
        (row,) = [
            r for r in feedback.example_annotations(session=s, example_id=example)
            if r.annotator == BOB
        ]  # fmt: skip
        review = reviews_repo.add_review(
            session=s, project_id=project.id, example_id=example, annotation_id=row.id,
            annotator=BOB, given_label_id=label_ids["exchange_rate"],
            suggested_label_id=label_ids["age_limit"], confidence=0.9, margin=0.6,
        )  # fmt: skip
        assert review is not None and review.id is not None
        return review.id


def _review_in_dm(bot: Bot, user: str) -> dict[str, Any]:
    bot.slack.command(user, "")
    bot.settle()
    (message,) = [m for m in bot.slack.dm(user) if ids.REVIEW_CHANGE in str(m["blocks"])]
    return message


def test_a_reviewers_change_that_settles_a_disagreement_is_drawn_on_its_thread(
    bot: Bot, bank: Any
) -> None:
    example, anas, bobs = _disputed(bot, review_share=1.0)
    _doubt_bobs_vote(bot, example)
    review = _review_in_dm(bot, CY)
    assert example_id(review) == example
    bot.slack.click(CY, review, ids.REVIEW_CHANGE)  # to age_limit: 2 votes to 1, it carries
    bot.settle()
    (found,) = consensus.disagreements(bot.ws, PROJECT, include_settled=True)
    assert found.adjudicated is not None and found.adjudicated.source == "review"
    assert consensus.disagreements(bot.ws, PROJECT) == []  # settled, as the CLI lists it

    # drawn at once, as a Settle click draws it: no Settle buttons, who settled it and as what
    _drawn_settled_by_cys_review(bot, anas, bobs)

    before = len(bot.api.calls())
    rounds = dispute_poster(bot.services)  # every replica's rounds: drawn already
    rounds()
    rounds()
    assert len(bot.api.calls()) == before
    assert len(_replies(bot)) == 1


def _drawn_settled_by_cys_review(bot: Bot, anas: dict[str, Any], bobs: dict[str, Any]) -> None:
    """The thread drawn settled by CY's change to age_limit: its root without Settle buttons,
    one reply telling ANA and BOB, and their labeled messages without Undo."""
    root = _root(bot)
    assert root["text"] == f"Settled as age_limit by <@{CY}>"
    assert _settle_buttons(root) == []
    (reply,) = _replies(bot)
    assert reply["text"] == (
        f"<@{CY}> settled this as *age_limit* in a mislabel review. <@{ANA}> <@{BOB}>"
    )
    assert not _undo_shown(bot, ANA, anas) and not _undo_shown(bot, BOB, bobs)


def test_a_change_from_a_review_in_the_terminal_is_drawn_by_the_next_round(
    bot: Bot, bank: Any
) -> None:
    example, anas, bobs = _disputed(bot, review_share=1.0)
    review = _doubt_bobs_vote(bot, example)
    rounds = dispute_poster(bot.services)
    rounds()  # a round before the review: the thread's votes noted
    # `labelbot review bank --actor U0CY`: delivered to CY in the terminal, changed there
    task = reviews.next_review(bot.ws, project=PROJECT, annotator=CY)
    assert task is not None and task.review_id == review
    reviews.submit_review(
        bot.ws, project=PROJECT, review_id=review, annotator=CY, decision="change", key="cli:1"
    )
    assert _settle_buttons(_root(bot)) == ["age_limit", "exchange_rate"]  # not drawn yet
    rounds()
    _drawn_settled_by_cys_review(bot, anas, bobs)

    before = len(bot.api.calls())
    dispute_poster(bot.services)()  # another replica
    rounds()
    assert len(bot.api.calls()) == before


def test_a_thread_a_review_settled_follows_a_rename(bot: Bot, bank: Any) -> None:
    """Drawn settled, it is redrawn after a rename of its verdict's label as an adjudicated
    one is (it was left as it was: it had never been drawn settled)."""
    example, _, _ = _disputed(bot, review_share=1.0)
    _doubt_bobs_vote(bot, example)
    bot.slack.click(CY, _review_in_dm(bot, CY), ids.REVIEW_CHANGE)
    bot.settle()
    assert _root(bot)["text"] == f"Settled as age_limit by <@{CY}>"
    redraw = screen_redrawer(bot.services)
    redraw()  # the round notes where things stand
    taxonomy.rename_label(
        bot.ws, project=PROJECT, label="age_limit", new_name="underage", actor="ops",
        rescore=False,
    )  # fmt: skip
    redraw()
    root = _root(bot)
    assert root["text"] == f"Settled as underage by <@{CY}>"
    assert ids.SETTLE not in str(root["blocks"])
    assert len(_replies(bot)) == 1  # a redraw, not a second word
