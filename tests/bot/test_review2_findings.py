"""Review findings (review2), each a real problem in the commits reviewed, first committed as a
strict xfail test, now fixed: each test failed before its fix (a thread Slack refuses for good
is given up for good; a read cut short by the rate limit goes on where it stopped; an Undo of
the previous batch's answer leaves the new batch's tally). Over real signed Bolt requests to
the fake Slack server, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from bot import flow, ids
from engine import projects
from storage.db import session_scope
from storage.models import Lease
from tests.bot.conftest import PROJECT, Bot
from tests.bot.test_flow_audit_fixes import _answer, _summaries, _text
from tests.bot.test_flowfix_batch_undo import ALICE, _model_guesses_right, _undo_last, _wrong
from tests.bot.test_flowfix_discuss_replies_later import _lapse, _reply
from tests.bot.test_labeling_dm_promises import U1, _comments, _first
from tests.fakes.slack_client import example_id


def _reply_claims(bot: Bot) -> list[str]:
    with session_scope(bot.ws.db) as session:
        names = session.exec(select(Lease.name)).all()
    return [n for n in names if n.startswith(flow.EARLIER_REPLIES_CLAIM)]


def test_a_thread_slack_refuses_for_good_is_given_up_for_good(
    bot: Bot, bank: dict[str, str]
) -> None:
    message = _first(bot, U1)
    _reply(bot, message, "an earlier reply", "Ev0GONE")
    bot.api.fail_next("conversations.replies", status=429, retry_after=60)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    assert len(_reply_claims(bot)) == 1  # the read waits for the scheduler's round
    _lapse(bot)
    bot.api.fail_next("conversations.replies", error="thread_not_found")
    assert flow.read_due_replies(bot.services) == 0  # refused for good: given up, warned
    calls = len(bot.api.calls("conversations.replies"))
    assert _reply_claims(bot) == []  # given up: nothing left for a later round

    _lapse(bot)  # two minutes on, as the next rounds see it
    flow.read_due_replies(bot.services)
    assert len(bot.api.calls("conversations.replies")) == calls  # no call for a given-up thread


def test_an_undo_of_the_previous_batchs_answer_leaves_the_new_batchs_tally(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    _model_guesses_right(bot, bank)
    bot.slack.command(ALICE, "1")
    bot.settle()
    first = _answer(bot, bank, ALICE)  # agreed with the model; the batch of one ends
    assert _summaries(bot, ALICE) == ["1 done — 1 agreed with the model"]
    bot.slack.command(ALICE, "2")  # a new batch, within the first answer's undo window
    bot.settle()
    _answer(bot, bank, ALICE)  # agreed with the model: the new batch's first answer
    _undo_last(bot, first)  # the previous batch's answer taken back
    for _ in range(3):  # the relabel, and whatever else is open, all against the model
        shown = bot.slack.open_examples(ALICE)
        if not shown:
            break
        message = shown[-1]
        bot.slack.choose(ALICE, message, _wrong(bank[_text(bot, message)]))
        bot.settle()
    assert bot.slack.open_examples(ALICE) == []
    # The new batch's answer that agreed with the model still counts as agreeing in its summary.
    assert _summaries(bot, ALICE)[-1] == "2 done — 1 agreed with the model"


class _OneCallAMinute:
    """conversations.replies as Slack allows it to an app outside the Marketplace: one call a
    minute, a second one within it answered 429 (Retry-After 60) by the fake Slack itself."""

    def __init__(self, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bot, self.used = bot, False
        self.real = bot.services.client.conversations_replies
        monkeypatch.setattr(bot.services.client, "conversations_replies", self)

    def __call__(self, **kwargs: Any) -> Any:
        if self.used:
            self.bot.api.fail_next("conversations.replies", status=429, retry_after=60)
        self.used = True
        return self.real(**kwargs)

    def a_minute_passes(self) -> None:
        self.used = False
        _lapse(self.bot)


def test_earlier_replies_two_pages_long_are_all_read_at_one_call_a_minute(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slack gives such an app at most 15 messages a call (the root among them), whatever the
    # limit asked; at this test's scale: the root and one reply a page.
    monkeypatch.setattr(flow, "EARLIER_REPLIES_PAGE", 1)
    message = _first(bot, U1)
    eid = example_id(message)
    _reply(bot, message, "first earlier reply", "Ev0PAGE1")
    _reply(bot, message, "second earlier reply", "Ev0PAGE2")
    slack = _OneCallAMinute(bot, monkeypatch)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    assert bot.slack.ephemerals(U1) == []
    for _ in range(4):  # four scheduler rounds, a minute apart
        slack.a_minute_passes()
        flow.read_due_replies(bot.services)
    kept = sorted(t for _, t, _ in _comments(bot, eid))
    assert kept == ["first earlier reply", "second earlier reply"]
    assert _reply_claims(bot) == []
