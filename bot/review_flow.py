"""Mislabel reviews in the DM: show one, store the verdict once, move on.

The engine (engine.reviews) decides what a keep or a change means, and that only the expert the
review was sent to may answer it; here a click becomes ``submit_review`` with the click's
idempotency key (message ts + user, as for labels). The example is the review's own: a button's
copy of its id is only what the message showed.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot import disputes, flow
from bot.services import Services
from bot.slack_errors import error_code, is_auth_error
from bot.views.models import LabelChoice, LabelRef
from bot.views.review import ReviewCard, review_message, reviewed_message, withdrawn_message
from bot.views.text import Block
from engine import messaging, reviews
from engine.labeling import Task
from storage.errors import StaleActionError

log = logging.getLogger(__name__)


def card(task: Task) -> ReviewCard:
    assert task.review_id is not None and task.given is not None and task.suggestion
    return ReviewCard(
        review_id=task.review_id,
        example_id=task.example_id,
        text=task.text,
        project=task.project,
        given=task.given,
        given_by=task.given_by or "someone",
        suggested=task.suggestion[0],
        confidence=task.suggestion[1],
        labels=[LabelChoice(lb.name, lb.description or None, lb.id) for lb in task.labels],
    )


def message(task: Task) -> Block:
    """The review's DM as it should read now (``task`` from engine.reviews / labeling)."""
    return review_message(card(task))


def _redraw(services: Services, *, project: str, review_id: int, channel: str, ts: str) -> None:
    """Redraw the review's message with today's labels, if it is still open and shown there."""
    for task, shown_channel, shown_ts in reviews.reviews_on_screen(
        services.ws, project=project, review_id=review_id
    ):
        if (shown_channel, shown_ts) == (channel, ts):
            services.courier.update(message(task), channel=channel, ts=ts)


def retire_withdrawn(services: Services, *, project: str) -> int:
    """Tell each reviewer whose review on screen was withdrawn (a taxonomy change made it moot,
    an adjudication settled its example) why, on that message, which loses its buttons; their
    next task follows, as for an example a change settled (bot.flow.redraw_on_screen). Each is
    told once (engine.reviews.let_go_of_withdrawn); how many. A refused token is raised (every
    update would fail alike); any other refusal (the message deleted, say) is logged and the
    next task still follows."""
    gone = reviews.let_go_of_withdrawn(services.ws, project=project)
    for review in gone:
        note = withdrawn_message(
            example_id=review.example_id, text=review.text, reason=review.reason
        )
        try:
            services.courier.update(note, channel=review.channel, ts=review.ts)
        except SlackApiError as exc:
            if is_auth_error(exc):
                raise
            log.info("could not retire the review of %d in %s: %s", review.example_id,
                     review.channel, error_code(exc))  # fmt: skip
        flow.send_next(services, user=review.reviewer, project=project, again=False)
    return len(gone)


def post_review(services: Services, *, user: str, task: Task) -> tuple[str, str] | None:
    """DM the review; where it was posted (None when queued for later)."""
    return services.courier.post(message(task), channel=user, assignment_id=task.assignment_id)


def decide(
    services: Services,
    *,
    user: str,
    review_id: int,
    decision: str,
    label: LabelRef,
    agreed: bool,
    channel: str,
    ts: str,
) -> None:
    """Store the verdict exactly once; the message says who decided (or, for a review withdrawn
    meanwhile, why it asks nothing now); the next task follows.
    The review says which example it is about (not the button, whose copy a forged payload
    could change)."""
    own = reviews.review_example(services.ws, review_id=review_id)
    ref = messaging.example_ref(services.ws, example_id=own)
    # in the reviewer's turn: a taxonomy change's redraw of this message does not land
    # between the verdict's store and its chat.update (bot.flow.expert_turn)
    with flow.expert_turn(services, user=user, project=ref.project):
        try:
            result = reviews.submit_review(
                services.ws,
                project=ref.project,
                review_id=review_id,
                annotator=user,
                decision=decision,
                label=label,
                key=flow.click_key(channel, ts, user),
            )
        except StaleActionError:
            # a label split or retired since the card was drawn: the refusal says where it went,
            # and the same message now offers today's labels (nothing was stored)
            _redraw(services, project=ref.project, review_id=review_id, channel=channel, ts=ts)
            raise
        if not result.created:
            return  # a retry or a double click: stored and answered already
        if result.status == "dismissed":  # withdrawn while on screen: nothing stored, next one
            why = withdrawn_message(example_id=own, text=ref.text, reason=result.reason or "")
            services.courier.update(why, channel=channel, ts=ts)
            flow.next_or_done(services, user=user, project=ref.project)
            return
        done = reviewed_message(
            example_id=own,
            text=ref.text,
            status=result.status,
            label=result.label,
            user_id=user,
            agreed=result.agreed,
            audit=result.audit,
        )
        services.courier.update(done, channel=channel, ts=ts)  # before the next task can fail
        flow.answered(services, user=user, project=ref.project, agreed=agreed)
    # a change that did not carry the vote is a disagreement; one that did settles the
    # example's thread (drawn settled, once)
    if result.status == "changed":
        disputes.open_if_disputed(services, project=ref.project, example_id=own)
