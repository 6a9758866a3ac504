"""Clicks made up by hand, over real signed Bolt requests on SQLite and PostgreSQL: a button
labelbot only posts in a DM (a batch's "5 more" / "Done for now"), and a held-back model's
Promote button, name in their container whatever message the click says. Neither rewrites a
message it does not belong to -- a proposal card in the project channel would lose its buttons
for good: the clicker is told, and nothing changes."""

from __future__ import annotations

import copy
from typing import Any

from bot import ids
from bot.scheduling import proposal_poster, training_notifier
from bot.views.admin import promote_value
from engine import jobs, projects, proposing, training
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_admin import _label, _trained
from tests.bot.test_proposals_slack import _merge, _posted
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity

ADMIN, EXPERT = "U0ADMIN", "U0EXPERT"


def _card(bot: Bot, ts: str) -> dict[str, Any]:
    return copy.deepcopy(next(m for m in bot.api.messages(CHANNEL) if m["ts"] == ts))


def _forge(bot: Bot, user: str, action_id: str, value: str, message: dict[str, Any]) -> None:
    """A click on ``action_id`` with ``value``, said to be on ``message`` in the project
    channel (where labelbot never put that button)."""
    body = payloads.block_actions(
        user, action_id, value, CHANNEL, message["ts"], message["blocks"],
        response_url=bot.api.response_url(user),
    )  # fmt: skip
    assert bot.slack.post(signed_interactivity(bot.slack.secret, body)).status_code == 200
    bot.settle()


def test_dm_only_buttons_clicked_on_a_channel_message_change_nothing(
    bot: Bot, bank: dict[str, str]
) -> None:
    pid = _merge(bot)
    assert proposal_poster(bot.services)() == 1
    card = _posted(bot)
    for action in (ids.BATCH_DONE, ids.BATCH_MORE):
        _forge(bot, EXPERT, action, PROJECT, card)
        assert _card(bot, card["ts"]) == card  # buttons and all
        assert "direct messages" in bot.slack.ephemerals(EXPERT)[-1]
    assert not bot.api.calls("chat.update") and not bot.slack.dm(EXPERT)  # no batch started
    assert proposing.get_proposal(bot.ws, pid).status == "open"


def test_the_same_buttons_in_the_dm_still_work(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(EXPERT, "2")  # a batch of 2 ends in its summary, with "more" and "done"
    bot.settle()
    for _ in range(2):
        bot.slack.choose(EXPERT, bot.slack.open_examples(EXPERT)[-1], "card_arrival")
        bot.settle()
    summary = next(m for m in bot.slack.dm(EXPERT) if ids.BATCH_DONE in str(m.get("blocks")))
    bot.slack.click(EXPERT, summary, ids.BATCH_DONE)
    bot.settle()
    now = next(m for m in bot.slack.dm(EXPERT) if m["ts"] == summary["ts"])
    assert ids.BATCH_DONE not in str(now.get("blocks")) and ids.BATCH_MORE not in str(now)


def test_a_promote_click_rewrites_only_that_models_notice(bot: Bot, bank: dict[str, str]) -> None:
    _trained(bot, bank, 1)
    training.pin_version(bot.ws, PROJECT, 1)
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN], retrain_every=5)
    _label(bot, bank, 10)
    (outcome,) = jobs.retrain_cycle(bot.ws, on_trained=training_notifier(bot.services))
    assert outcome.version == 2
    notice = copy.deepcopy(bot.api.messages(CHANNEL)[0])
    assert "held back" in notice["text"]
    pid = _merge(bot)
    assert proposal_poster(bot.services)() == 1
    card = _posted(bot)

    # the admin's click, made up to name the proposal card: the card keeps its buttons
    _forge(bot, ADMIN, ids.PROMOTE_MODEL, promote_value(PROJECT, 2), card)
    assert _card(bot, card["ts"]) == card and proposing.get_proposal(bot.ws, pid).status == "open"
    assert "not the notice" in bot.slack.ephemerals(ADMIN)[-1]
    # ... or naming the notice with another version than its own
    _forge(bot, ADMIN, ids.PROMOTE_MODEL, promote_value(PROJECT, 1), notice)
    assert _card(bot, notice["ts"]) == notice
    assert "not the notice" in bot.slack.ephemerals(ADMIN)[-1]
    assert not bot.api.calls("chat.update")

    bot.slack.click(ADMIN, notice, ids.PROMOTE_MODEL, channel=CHANNEL)  # the real one
    bot.settle()
    assert f"<@{ADMIN}> promoted" in _card(bot, notice["ts"])["text"]
    assert next(r.version for r in training.list_versions(bot.ws, PROJECT) if r.is_active) == 2
