"""A disagreement thread follows the votes: given again after an Undo, its Settle buttons come
back; a third expert's vote (multi_label_k 3) appears on it -- through real HTTP and the local
Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot import ids
from engine import projects
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot
from tests.fakes.slack_client import example_id

ANA, BOB, CY = "U0ANA", "U0BOB", "U0CY"


def _vote(bot: Bot, user: str, label: str, example: int | None = None) -> dict[str, Any]:
    """``user`` asks for work and labels the example (``example``, or the one sent) ``label``."""
    bot.slack.command(user, "")
    bot.settle()
    (message,) = [
        m for m in bot.slack.open_examples(user) if example is None or example_id(m) == example
    ]
    bot.slack.choose(user, message, label)
    bot.settle()
    return message


def _settle_buttons(root: dict[str, Any]) -> list[str]:
    """The labels the root's Settle buttons offer."""
    return [
        e["text"]["text"].removeprefix("Settle: ")
        for block in root["blocks"]
        if block["type"] == "actions"
        for e in block["elements"]
        if e["type"] == "button" and e["action_id"].startswith(ids.SETTLE)
    ]


def _root(bot: Bot) -> dict[str, Any]:
    (root,) = [m for m in bot.api.messages(CHANNEL) if m.get("thread_ts", m["ts"]) == m["ts"]]
    return root


def test_a_disagreement_given_again_after_an_undo_gets_its_settle_buttons_back(
    bot: Bot, bank: Any
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    example = example_id(_vote(bot, ANA, LABELS[0]))
    shown = _vote(bot, BOB, LABELS[2], example)
    assert _settle_buttons(_root(bot)) == [LABELS[0], LABELS[2]]

    (labeled,) = [m for m in bot.slack.dm(BOB) if m["ts"] == shown["ts"]]
    bot.slack.click(BOB, labeled, ids.UNDO)  # they agree again: the buttons go
    bot.settle()
    assert _settle_buttons(_root(bot)) == []

    _vote(bot, BOB, LABELS[3], example)  # and disagree again, on another label
    root = _root(bot)  # the same thread, not a second one
    assert _settle_buttons(root) == [LABELS[0], LABELS[3]]
    assert f"<@{BOB}> chose *{LABELS[3]}*" in str(root["blocks"])


def test_a_third_experts_vote_appears_on_the_thread(bot: Bot, bank: Any) -> None:
    projects.update_settings(
        bot.ws, project=PROJECT, multi_label_share=1.0, multi_label_k=3, audit_share=0.0
    )
    example = example_id(_vote(bot, ANA, LABELS[0]))
    _vote(bot, BOB, LABELS[2], example)
    assert f"<@{CY}>" not in str(_root(bot)["blocks"])
    _vote(bot, CY, LABELS[3], example)
    root = _root(bot)
    assert f"<@{CY}> chose *{LABELS[3]}*" in str(root["blocks"])
    assert _settle_buttons(root) == [LABELS[0], LABELS[2], LABELS[3]]
