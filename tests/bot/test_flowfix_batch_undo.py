"""An undo after a batch's summary gives its place back (README: "an undone answer gives its
place back"): `/label 2`, both answered, "2 done" shown, the last one undone and labeled again
ends the batch again with a fresh summary. The ended batch's row was deleted with the summary,
so the relabel carried on to a third example nobody asked for. A plain `/label` still ends it
for good. Over real signed Bolt requests, on SQLite and PostgreSQL."""

from __future__ import annotations

from engine import projects
from tests.bot.conftest import PROJECT, Bot
from tests.bot.test_flow_audit_fixes import _answer, _summaries
from tests.fakes.slack_client import example_id

ALICE = "U0ALICE"


def _undo_last(bot: Bot, message: dict) -> None:  # type: ignore[type-arg]
    labeled = next(m for m in bot.slack.dm(ALICE) if m["ts"] == message["ts"])
    bot.slack.click(ALICE, labeled, "label_undo")
    bot.settle()


def test_an_undo_after_the_summary_ends_the_batch_again(bot: Bot, bank: dict[str, str]) -> None:
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
    _answer(bot, bank, ALICE)  # the relabel
    assert bot.slack.open_examples(ALICE) == []  # no example nobody asked for
    assert [s.split(" — ")[0] for s in _summaries(bot, ALICE)] == ["2 done", "2 done"]


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
