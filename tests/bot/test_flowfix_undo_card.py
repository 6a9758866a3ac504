"""The example offered again after Undo reads as a fresh delivery does (README: "Each message
says why it is asked … and what the model thinks"): the model's guess, why it is asked ("Asked
early …") and the "↩ … labeled it" line of an example back after a split. It was drawn from the
labels alone. Audit picks stay blind. Over real signed Bolt requests, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from bot import ids
from engine import projects, taxonomy
from tests.bot.conftest import PROJECT, Bot, train_bank, true_label
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import example_id

ALICE = "U0ALICE"


def _first(bot: Bot) -> dict[str, Any]:
    bot.slack.command(ALICE)
    bot.settle()
    (message,) = bot.slack.open_examples(ALICE)
    return message


def _label_and_undo(bot: Bot, message: dict[str, Any], label: str) -> dict[str, Any]:
    """Label ``message`` ``label``, undo it: the message it is offered again in."""
    bot.slack.choose(ALICE, message, label)
    bot.settle()
    labeled = next(m for m in bot.slack.dm(ALICE) if m["ts"] == message["ts"])
    bot.slack.click(ALICE, labeled, ids.UNDO)
    bot.settle()
    again = [m for m in bot.slack.open_examples(ALICE) if example_id(m) == example_id(message)]
    assert len(again) == 1 and again[0]["ts"] != message["ts"]
    return again[0]


def _said(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def test_offered_again_with_why_it_is_asked(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0, review_share=0.0)
    message = _first(bot)
    assert "Asked early" in _said(message)  # before the first model
    again = _label_and_undo(bot, message, true_label(bot, bank, message))
    assert "Asked early" in _said(again)


def test_offered_again_with_the_models_guess_and_an_audit_pick_blind(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0, review_share=0.0,
                             audit_share=0.0)  # fmt: skip
    train_bank(bot, bank)
    message = _first(bot)
    assert "Model's guess" in _said(message)
    again = _label_and_undo(bot, message, true_label(bot, bank, message))
    assert "Model's guess" in _said(again)

    projects.update_settings(bot.ws, project=PROJECT, audit_share=1.0)
    bot.slack.choose(ALICE, again, true_label(bot, bank, again))
    bot.settle()
    (waiting,) = bot.slack.open_examples(ALICE)  # sent after the first label, before the undo
    bot.slack.choose(ALICE, waiting, true_label(bot, bank, waiting))
    bot.settle()
    (pick,) = bot.slack.open_examples(ALICE)  # an audit pick: asked blind
    assert "Model's guess" not in _said(pick)
    again = _label_and_undo(bot, pick, true_label(bot, bank, pick))
    assert "Model's guess" not in _said(again) and "Asked" not in _said(again)


def test_offered_again_after_a_split_says_what_it_was(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0, review_share=0.0)
    message = _first(bot)
    bot.slack.choose(ALICE, message, "card_arrival")
    bot.settle()
    taxonomy.split_label(bot.ws, project=PROJECT, label="card_arrival",
                         into=["card_delivery", "card_tracking"], actor="admin")  # fmt: skip
    for fresh in bot.slack.open_examples(ALICE):  # the one sent after the click: give it back
        bot.slack.post(signed_interactivity(bot.slack.secret, bot.slack.action_payload(
            ALICE, fresh, ids.SKIP, str(example_id(fresh)))))  # fmt: skip
        bot.settle()
    back = next(m for m in bot.slack.open_examples(ALICE) if example_id(m) == example_id(message))
    line = f"<@{ALICE}> labeled it *card_arrival*, since split"
    assert line in _said(back)
    again = _label_and_undo(bot, back, "card_tracking")
    assert line in _said(again)
