"""A click on an old copy of a labeling message, after a taxonomy change, through the real Bolt
app over signed HTTP (SQLite and PostgreSQL): the answer says what the change did.

The expert labeled the example on that copy, and its label was split, retired or mapped since:
the copy is redrawn naming the change and where the example stands (back in the queue, waiting
in the expert's DM, labeled again), and a click on it is answered so; before, it read "you
labeled this example card_arrival already; to change it, click Undo" as if that label counted.
A button of a label an undo removed names the label and the undo, not just "That label no
longer exists". Every click stores nothing (the database says so)."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select

from bot import ids
from engine import projects, taxonomy
from storage.db import session_scope
from storage.models import Annotation
from tests.bot.conftest import PROJECT, Bot
from tests.bot.test_taxonomy_slack import ADMIN, EXPERT, _deliver, _open_modal, _submit
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import choices, example_id

SPLIT_NOTE = "the label 'card_arrival' was split into card_arrival_late, card_arrival_lost"
AS_PARTS = "as *card_arrival_late* or *card_arrival_lost*"


def _stored(bot: Bot) -> list[tuple[int, int, str, str | None, bool]]:
    """Every annotation in the database: (example, label id, annotator, key, retracted)."""
    with session_scope(bot.ws.db, read_only=True) as session:
        rows = session.exec(select(Annotation).order_by(col(Annotation.id))).all()
        return [(a.example_id, a.label_id, a.annotator, a.idempotency_key,
                 a.retracted_at is not None) for a in rows]  # fmt: skip


def _click(bot: Bot, message: dict[str, Any], label: str) -> str:
    """``label`` clicked on ``message`` as it was drawn then (an old copy): the ephemeral
    answer, or "" when there was none."""
    before = len(bot.slack.ephemerals(EXPERT))
    bot.slack.choose(EXPERT, message, label)
    bot.settle()
    said = bot.slack.ephemerals(EXPERT)[before:]
    assert len(said) <= 1, said
    return said[0] if said else ""


def _copy(bot: Bot, message: dict[str, Any]) -> str:
    """The DM's copy of ``message`` as it reads now (its blocks' text)."""
    (now,) = [m for m in bot.slack.dm(EXPERT) if m["ts"] == message["ts"]]
    assert not choices(now)  # an answered message: its labels are gone
    return json.dumps(now["blocks"], ensure_ascii=False)


def _skip(bot: Bot, message: dict[str, Any]) -> None:
    value = str(example_id(message))
    body = bot.slack.action_payload(EXPERT, message, ids.SKIP, value)
    bot.slack.post(signed_interactivity(bot.slack.secret, body))
    bot.settle()


def test_an_old_copy_of_a_label_split_since_says_so_and_where_the_example_is(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN], audit_share=0.0,
                             multi_label_share=0.0)  # fmt: skip
    old = _deliver(bot)  # kept as drawn: its buttons stay on this copy
    eid = example_id(old)
    bot.slack.choose(EXPERT, old, "card_arrival")
    bot.settle()
    (held,) = bot.slack.open_examples(EXPERT)  # the next example
    _submit(
        bot, _open_modal(bot), "split", ["card_arrival"], "card_arrival_late, card_arrival_lost"
    )
    stored = _stored(bot)

    # another label on the old copy: the example went back to the queue, nobody has it yet
    answer = _click(bot, old, "age_limit")
    assert (
        f"You labeled this example *card_arrival* on this message; since then, {SPLIT_NOTE}: "
        "your label no longer counts, and the example is back in the queue, to be labeled "
        f"again {AS_PARTS}. Nothing was changed."
    ) in answer, answer
    assert "already; to change it" not in answer
    assert (
        f"Since then, {SPLIT_NOTE}: your label no longer counts, and the example is back in "
        f"the queue, to be labeled again {AS_PARTS}"
    ) in _copy(bot, old)
    assert _stored(bot) == stored

    # the expert skips the one they hold: the split example, first in line, comes to them
    _skip(bot, held)
    (back,) = bot.slack.open_examples(EXPERT)
    assert example_id(back) == eid
    answer = _click(bot, old, "card_arrival")  # the old label itself: answered too
    assert (
        f"since then, {SPLIT_NOTE}: your label no longer counts, and the example waits in your "
        f"direct messages to be labeled again {AS_PARTS}."
    ) in answer, answer
    assert "the example waits in your direct messages" in _copy(bot, old)
    assert [m["ts"] for m in bot.slack.open_examples(EXPERT)] == [back["ts"]]  # not posted again
    assert _stored(bot) == stored

    # labeled again into a part: the old copy says what the example counts as now
    bot.slack.choose(EXPERT, back, "card_arrival_late")
    bot.settle()
    stored = _stored(bot)
    assert [row[0] for row in stored].count(eid) == 2  # the old vote and the new one
    answer = _click(bot, old, "change_pin")
    assert (
        f"since then, {SPLIT_NOTE}: your label no longer counts, and the example counts as "
        "*card_arrival_late* now."
    ) in answer, answer
    assert _stored(bot) == stored


def test_an_old_copy_of_a_label_retired_since_says_if_it_counts_or_went_back(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN], audit_share=0.0,
                             multi_label_share=0.0)  # fmt: skip
    mapped = _deliver(bot)
    bot.slack.choose(EXPERT, mapped, "age_limit")
    bot.settle()
    (requeued,) = bot.slack.open_examples(EXPERT)
    bot.slack.choose(EXPERT, requeued, "change_pin")
    bot.settle()
    view = _open_modal(bot)
    _submit(bot, view, "retire", ["age_limit"], "exchange_rate")
    _submit(bot, view, "retire", ["change_pin"])
    stored = _stored(bot)

    answer = _click(bot, mapped, "card_arrival")
    assert (
        "You labeled this example *age_limit* on this message; since then, the label "
        "'age_limit' was retired, mapped to exchange_rate: your label counts as "
        "*exchange_rate*; to change it, click Undo on the message (while it is offered)."
    ) in answer, answer
    assert (
        "Since then, the label 'age_limit' was retired, mapped to exchange_rate: your label "
        "counts as *exchange_rate*"
    ) in _copy(bot, mapped)
    assert _click(bot, mapped, "age_limit") == ""  # the same label: its vote stands, as it is
    assert _stored(bot) == stored

    answer = _click(bot, requeued, "card_arrival")
    assert (
        "since then, the label 'change_pin' was retired: your label no longer counts, and the "
        "example is back in the queue, to be labeled again with today's labels."
    ) in answer, answer
    assert "was retired: your label no longer counts" in _copy(bot, requeued)
    assert _stored(bot) == stored


def test_a_button_of_a_split_part_an_undo_removed_names_it_and_the_undo(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    message = _deliver(bot)
    _submit(bot, _open_modal(bot), "split", ["card_arrival"], "card_delivery, card_tracking")
    (with_parts,) = bot.slack.open_examples(EXPERT)  # redrawn with the parts
    assert "card_tracking" in {c.label for c in choices(with_parts)}
    assert not _submit(bot, _open_modal(bot), "undo").content  # unused parts: removed
    split, undo = taxonomy.label_history(bot.ws, project=PROJECT)
    stored = _stored(bot)

    answer = _click(bot, with_parts, "card_tracking")
    assert (
        f"The label 'card_tracking' no longer exists: it was removed when change #{split.id}, "
        f"which made it by a split, was undone (#{undo.id}); the message now shows today's "
        "labels. Nothing was changed."
    ) in answer, answer
    assert _stored(bot) == stored == []
    (now,) = bot.slack.open_examples(EXPERT)
    assert now["ts"] == message["ts"]
    offered = {c.label for c in choices(now)}
    assert "card_arrival" in offered and not {"card_delivery", "card_tracking"} & offered
