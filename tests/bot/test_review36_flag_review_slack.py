"""A flag takes its example out of the review queue too, through the real Bolt app (review 36):
the reviewer whose review of the example is on screen is told so on that message, which loses
its buttons, and a click they send from it anyway stores nothing."""

from __future__ import annotations

from bot import ids
from engine import projects, reviews
from tests.bot import test_late_clicks as late
from tests.bot import test_reviews_slack as rs
from tests.bot.conftest import LABELS, PROJECT, Bot
from tests.bot.test_flag_threads import _flag_in_slack_from
from tests.fakes.slack_client import example_id

ALICE, BOB, CY = late.ALICE, late.BOB, rs.CY


def test_a_flag_retires_the_review_on_a_reviewers_screen(bot: Bot, bank: dict[str, str]) -> None:
    """Alice's hold lapsed and the example went on to Bob, who labeled it; the model doubts
    Bob's label and Cy is reviewing it. Alice flags the example from her old message (private
    text): it leaves everyone's queue, Cy's review included."""
    alices = late._taken_by_bob(bot, bank, bob_labels=True)
    eid = example_id(alices)
    assert eid is not None
    given = bank[late._text(bot, alices)]
    review_id = rs._doubt(bot, eid, next(lb for lb in LABELS if lb != given))
    projects.update_settings(bot.ws, project=PROJECT, review_share=1.0)
    bot.slack.command(CY, "")
    bot.settle()
    (cys,) = rs._reviews(bot, CY)
    assert example_id(cys) == eid

    _flag_in_slack_from(bot, ALICE, alices, "a customer's card number")

    # Cy's message says so, without buttons; nothing of the example is offered to her
    shown = next(m for m in bot.slack.dm(CY) if m["ts"] == cys["ts"])
    assert f"Flagged by <@{ALICE}>" in str(shown), shown
    assert all(example_id(m) != eid for m in rs._reviews(bot, CY))
    assert all(example_id(m) != eid for m in bot.slack.open_examples(CY))
    # a Keep from the old copy of the message (sent before it was redrawn) stores nothing and
    # is answered
    bot.slack.click(CY, cys, ids.REVIEW_KEEP)
    bot.settle()
    assert "flagged" in bot.slack.ephemerals(CY)[-1]
    (row,) = [r for r in reviews.list_reviews(bot.ws, project=PROJECT) if r.id == review_id]
    assert (row.status, row.reviewer) == ("open", None)
    assert not bot.api.warnings
