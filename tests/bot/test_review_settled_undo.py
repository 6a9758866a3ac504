"""A disagreement a reviewer's change settled stays settled.

* A reviewer's change that carries the vote settles the disagreement like an adjudication: its
  thread is drawn settled and the voters' messages lose their Undo. An Undo click already on
  its way (or a stale copy of the message) still took the vote back, though (the refusal
  that follows an adjudication was not given after a review): the vote the verdict was given
  over left the record and the example was offered to its expert again, under a thread that
  says it is settled. It is refused now, as after an adjudication, and the message loses the
  button it no longer honours.

Through real HTTP and the local Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from bot import ids
from engine import consensus, exporting
from tests.bot.conftest import PROJECT, Bot
from tests.bot.test_dispute_redraw import _root, _settle_buttons
from tests.bot.test_verdict_replies import (
    BOB,
    CY,
    _disputed,
    _doubt_bobs_vote,
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
