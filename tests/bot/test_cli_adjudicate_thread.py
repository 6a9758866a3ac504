"""A disagreement settled from the terminal (`labelbot adjudicate`) left its Slack thread's root
with its Settle buttons (a click then answered "already settled") and the voters' labeled
messages with their Undo until clicked. The scheduler's round now draws it as a Settle click
does, once across processes (a second round, or another replica's, calls Slack for nothing)
-- through real HTTP and the local Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot import ids
from bot.scheduling import dispute_poster
from engine import consensus, projects
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_dispute_redraw import _root, _settle_buttons, _vote
from tests.fakes.slack_client import example_id

ANA, BOB = "U0ANA", "U0BOB"


def _shown(bot: Bot, user: str, message: dict[str, Any]) -> dict[str, Any]:
    (shown,) = [m for m in bot.slack.dm(user) if m["ts"] == message["ts"]]
    return shown


def test_a_verdict_from_the_cli_is_drawn_on_the_thread_once(bot: Bot, bank: Any) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    anas = _vote(bot, ANA, "age_limit")
    example = example_id(anas)
    bobs = _vote(bot, BOB, "exchange_rate", example)
    assert _settle_buttons(_root(bot)) == ["age_limit", "exchange_rate"]
    assert ids.UNDO in str(_shown(bot, ANA, anas)["blocks"])
    assert ids.UNDO in str(_shown(bot, BOB, bobs)["blocks"])

    consensus.adjudicate(  # as `labelbot adjudicate bank #N exchange_rate --actor ops` does
        bot.ws, project=PROJECT, example_id=example, label="exchange_rate", actor="ops"
    )
    dispute_poster(bot.services)()  # one scheduler round
    root = _root(bot)
    assert root["text"] == "Settled as exchange_rate by ops"  # a login name, not a mention
    assert _settle_buttons(root) == []
    assert ids.UNDO not in str(_shown(bot, ANA, anas)["blocks"])
    assert ids.UNDO not in str(_shown(bot, BOB, bobs)["blocks"])

    before = len(bot.api.calls())
    rounds = dispute_poster(bot.services)  # another replica's job, and its next round
    rounds()
    rounds()
    assert len(bot.api.calls()) == before


def test_a_verdict_given_on_the_thread_is_not_drawn_again(bot: Bot, bank: Any) -> None:
    projects.update_settings(
        bot.ws, project=PROJECT, admins=["U0ADMIN"], multi_label_share=1.0, audit_share=0.0
    )
    example = example_id(_vote(bot, ANA, "age_limit"))
    _vote(bot, BOB, "exchange_rate", example)
    bot.slack.click("U0ADMIN", _root(bot), f"{ids.SETTLE}:0", channel=CHANNEL)
    bot.settle()
    assert _root(bot)["text"] == "Settled as age_limit by <@U0ADMIN>"
    before = len(bot.api.calls())
    dispute_poster(bot.services)()
    assert len(bot.api.calls()) == before
