"""Review findings (review3), each a real problem shown by a test that failed before its fix.

* An Undo is refused "this example was settled as 'X' since your label" after the label X of
  the adjudication was split (or retired without a mapping): the verdict no longer decides
  (consensus.settlements lists nothing; the example waits to be labeled again), yet
  engine.labeling._settled_since counted every adjudication given since the vote, whether or
  not it still counts (now only one that still decides). undo_refused_for_good (f768438)
  shares the predicate, so a repeated click on the labeled message drew it without its Undo
  as well.

Through the bot's fixtures (the `bank` project, real SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from engine import consensus, labeling, taxonomy
from storage.db import session_scope
from storage.repositories import feedback
from tests.bot.conftest import PROJECT, Bot
from tests.bot.test_verdict_replies import BOB, _disputed


def test_an_undo_is_not_refused_by_a_verdict_whose_label_was_split_since(
    bot: Bot, bank: Any
) -> None:
    """ANA votes age_limit, BOB exchange_rate; `labelbot adjudicate` settles age_limit; an admin
    then splits age_limit into two labels. The verdict decides nothing now: the example waits
    to be labeled again and no settlement is listed. BOB's Undo, within its window, is refused
    all the same, as 'settled as age_limit since your label'."""
    example, _, _ = _disputed(bot)
    consensus.adjudicate(
        bot.ws, project=PROJECT, example_id=example, label="age_limit", actor="ops"
    )
    taxonomy.split_label(
        bot.ws, project=PROJECT, label="age_limit", into=["age_limit_a", "age_limit_b"],
        actor="ops", rescore=False,
    )  # fmt: skip
    with session_scope(bot.ws.db, read_only=True) as s:
        rows = feedback.example_annotations(session=s, example_id=example)
    (bobs,) = [r.id for r in rows if r.annotator == BOB]
    # the verdict no longer decides: the example waits for a label, nothing settles it
    assert feedback.agreed_label(rows) is None
    assert consensus.settlements(bot.ws, PROJECT, example_id=example) == {}

    assert not labeling.undo_refused_for_good(bot.ws, annotation_id=bobs)
    assert labeling.undo(bot.ws, annotation_id=bobs, annotator=BOB) == example
