"""Fresh-eyes audit of the labeling queue through the real Bolt app (audit 36): each test shows
a bug still open, marked ``xfail(strict=True)`` so that it fails loudly once fixed (then drop
the mark)."""

from __future__ import annotations

from sqlmodel import select

from storage.db import session_scope
from storage.models import Flag
from tests.bot import test_late_clicks as late
from tests.bot.conftest import Bot
from tests.bot.test_flag_threads import _flag_in_slack_from
from tests.fakes.slack_client import example_id

ALICE, BOB = late.ALICE, late.BOB


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


def test_the_nudge_comes_when_second_opinions_wait_for_the_expert(  # type: ignore[no-untyped-def]
    bot: Bot, tmp_path
) -> None:
    from bot import rhythm_flow
    from engine import labeling, projects
    from tests.bot.test_rhythm_slack import utc

    projects.create_project(bot.ws, name="small", labels=["a", "b"])
    path = tmp_path / "small.csv"
    path.write_text("text\nfirst one\nsecond one\nthird one\n")
    projects.import_file(bot.ws, project="small", path=path, embed=False)
    # every example is asked of two experts; Bob gave each its first label
    projects.update_settings(
        bot.ws, project="small", multi_label_share=1.0, multi_label_k=2, audit_share=0.0
    )
    while (task := labeling.next_task(bot.ws, project="small", annotator=BOB)) is not None:
        eid = task.example_id
        labeling.submit_label(bot.ws, project="small", example_id=eid, label="a",
                              annotator=BOB, source="slack", key=f"bob:{eid}")  # fmt: skip
    waiting = labeling.next_task(bot.ws, project="small", annotator=ALICE)
    assert waiting is not None  # there is work for Alice: the second opinions
    labeling.release(bot.ws, project="small", example_id=waiting.example_id, annotator=ALICE)
    bot.slack.command(ALICE, "nudge 09:30")
    bot.settle()
    # "a daily reminder sent only when there is work for you"
    assert rhythm_flow.send_nudges(bot.services, now=utc(25, 10, 0)) == 1
    (nudge,) = [m for m in bot.slack.dm(ALICE) if "waiting for you" in m.get("text", "")]
    assert "3 examples" in nudge["text"]
