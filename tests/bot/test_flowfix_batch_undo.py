"""Undo in a batch. After the summary: `/label 2`, both answered, "2 done" shown, the last one
undone and labeled again posts nothing more: no second summary (it read as a second batch), no
third example nobody asked for; the one summary, with its buttons, stays. A plain `/label`
ends the batch for good. Within the batch, an undone answer gives its place back and leaves
the summary's tally ("N agreed with the model"), its relabel counted instead: an undone
answer that agreed, relabeled otherwise, was still counted as agreeing. Over real signed Bolt
requests, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select, update

from engine import messaging, projects
from storage.db import session_scope
from storage.models import Example, Prediction
from tests.bot.conftest import LABELS, PROJECT, Bot
from tests.bot.test_flow_audit_fixes import _answer, _summaries, _text
from tests.fakes.slack_client import example_id

ALICE = "U0ALICE"


def _undo_last(bot: Bot, message: dict) -> None:  # type: ignore[type-arg]
    labeled = next(m for m in bot.slack.dm(ALICE) if m["ts"] == message["ts"])
    bot.slack.click(ALICE, labeled, "label_undo")
    bot.settle()


def test_an_undo_after_the_summary_leaves_the_one_summary(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    bot.slack.command(ALICE, "2")
    bot.settle()
    _answer(bot, bank, ALICE)
    last = _answer(bot, bank, ALICE)
    assert [s.split(" — ")[0] for s in _summaries(bot, ALICE)] == ["2 done"]
    assert bot.slack.open_examples(ALICE) == []

    _undo_last(bot, last)
    (again,) = bot.slack.open_examples(ALICE)
    assert example_id(again) == example_id(last)
    dm_before = len(bot.slack.dm(ALICE))
    _answer(bot, bank, ALICE)  # the relabel
    assert bot.slack.open_examples(ALICE) == []  # no example nobody asked for
    assert len(bot.slack.dm(ALICE)) == dm_before  # nothing new: the relabel drawn in place
    (summary,) = [m for m in bot.slack.dm(ALICE) if " done — " in m.get("text", "")]
    assert summary["text"].startswith("2 done")
    assert "actions" in [b["type"] for b in summary["blocks"]]  # "5 more" still offered


def _model_guesses_right(bot: Bot, bank: dict[str, str]) -> None:
    """A model whose guess for every example is its true label."""
    with session_scope(bot.ws.db) as session:
        for eid, text in session.execute(select(Example.id, Example.text)).all():
            session.execute(
                update(Prediction).where(Prediction.example_id == eid).values(label=bank[text])
            )


def _wrong(right: str) -> str:
    return next(label for label in LABELS if label != right)


def test_an_undo_within_the_batch_keeps_its_count_and_tally(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    _model_guesses_right(bot, bank)
    bot.slack.command(ALICE, "3")
    bot.settle()
    first = _answer(bot, bank, ALICE)  # agreed with the model
    _undo_last(bot, first)
    shown = bot.slack.open_examples(ALICE)  # the next one, and the undone one below it
    assert [example_id(m) for m in shown][1:] == [example_id(first)]
    bot.slack.choose(ALICE, shown[1], _wrong(bank[_text(bot, shown[1])]))  # relabeled otherwise
    bot.settle()
    assert _summaries(bot, ALICE) == []  # still 2 to go
    _answer(bot, bank, ALICE)
    assert _summaries(bot, ALICE) == []
    _answer(bot, bank, ALICE)
    assert _summaries(bot, ALICE) == ["3 done — 2 agreed with the model"]
    assert bot.slack.open_examples(ALICE) == []
    assert messaging.holds_example(bot.ws, project=PROJECT, annotator=ALICE) is False


def test_a_plain_label_after_the_summary_goes_on_without_a_batch(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    bot.slack.command(ALICE, "1")
    bot.settle()
    last = _answer(bot, bank, ALICE)
    assert len(_summaries(bot, ALICE)) == 1
    bot.slack.command(ALICE, "")  # a plain /label: no batch any more
    bot.settle()
    _undo_last(bot, last)
    _answer(bot, bank, ALICE, example_id(last))  # the relabel goes on, as the plain /label does
    _answer(bot, bank, ALICE)
    assert len(_summaries(bot, ALICE)) == 1
    assert len(bot.slack.open_examples(ALICE)) == 1
