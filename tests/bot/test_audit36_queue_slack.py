"""Fresh-eyes audit of the labeling queue through the real Bolt app (audit 36): each test shows
a bug still open, marked ``xfail(strict=True)`` so that it fails loudly once fixed (then drop
the mark)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from storage.db import session_scope
from storage.models import Flag
from tests.bot import test_late_clicks as late
from tests.bot.conftest import Bot
from tests.bot.test_flag_threads import _flag_in_slack_from
from tests.fakes.slack_client import example_id

ALICE, BOB = late.ALICE, late.BOB


@pytest.mark.xfail(
    strict=True,
    reason="audit36: a Flag from a lapsed message stores a flag while the example stays out, "
    "with live buttons, to the expert now holding it",
)
def test_a_late_flag_leaves_no_flagged_example_with_another_expert(bot: Bot, bank: dict) -> None:  # type: ignore[type-arg]
    alices = late._taken_by_bob(bot, bank, bob_labels=False)  # her hold lapsed; Bob holds it
    eid = example_id(alices)
    # Alice comes back to her message and flags it (private text), as a label or Skip there
    # would be answered: "This example went to Bob while it waited for you"
    _flag_in_slack_from(bot, ALICE, alices, "a customer's card number")
    with session_scope(bot.ws.db) as session:
        flagged = session.exec(
            select(Flag).where(Flag.example_id == eid, Flag.resolved_at.is_(None))  # type: ignore[union-attr]
        ).all()
    bot.slack.command(BOB)  # Bob asks for his work again
    bot.settle()
    bobs = [example_id(m) for m in bot.slack.open_examples(BOB)]
    # either the late flag is refused (the example is Bob's now), or the flagged example leaves
    # Bob's queue ("It left the queue until someone reviews it"): never both a flag and Bob's
    # live buttons on it
    assert not (flagged and eid in bobs), (
        f"example {eid} is flagged ({len(flagged)} open flag) and still offered to Bob: {bobs}"
    )


@pytest.mark.xfail(
    strict=True,
    reason="audit36: Skip on a message whose hold lapsed is refused and the example is sent "
    "straight back to the expert who skipped it",
)
def test_a_skip_after_the_hold_lapsed_is_for_good(bot: Bot, bank: dict) -> None:  # type: ignore[type-arg]
    from engine import projects
    from tests.bot.conftest import PROJECT

    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0, audit_share=0.0)
    bot.slack.command(BOB)
    bot.settle()
    (first,) = bot.slack.open_examples(BOB)
    bot.slack.click(BOB, first, "label_skip")  # Bob passes on it: it goes to Alice next
    bot.settle()
    bot.slack.command(ALICE)
    bot.settle()
    (alices,) = bot.slack.open_examples(ALICE)
    eid = example_id(alices)
    assert eid == example_id(first)
    late._lapse(bot, ALICE)  # Alice went for lunch
    bot.slack.command(BOB)  # Bob's next request lets her hold go; nobody else takes it
    bot.settle()
    assert eid not in [example_id(m) for m in bot.slack.open_examples(BOB)]
    bot.slack.click(ALICE, alices, "label_skip")  # back, she skips it from her message
    bot.settle()
    bot.slack.command(ALICE)
    bot.settle()
    # "Skip: it never comes back to you"
    offered = [example_id(m) for m in bot.slack.open_examples(ALICE)]
    assert eid not in offered, (
        f"Alice skipped example {eid} and was sent it again; she was told "
        f"{bot.slack.ephemerals(ALICE)[-1:]}"
    )
