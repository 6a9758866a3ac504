"""A disagreement thread settled in Slack keeps its verdict when a change from the CLI merges its
two labels (the votes then agree): the scheduler's rounds (the dispute poster, which follows
votes, and the screen redrawer, which follows taxonomy changes) drew "The experts no longer
disagree" over "Settled as … by …". Now the root shows the verdict as it counts today -- through
real HTTP and the local Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot import disputes, ids
from bot.scheduling import screen_redrawer
from engine import consensus, projects, taxonomy
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_dispute_redraw import _root, _vote

ADMIN, ANA, BOB = "U0ADMIN", "U0ANA", "U0BOB"


def test_a_merge_from_the_cli_leaves_a_settled_thread_settled(bot: Bot, bank: Any) -> None:
    projects.update_settings(
        bot.ws, project=PROJECT, admins=[ADMIN], audit_share=0.0, multi_label_share=1.0
    )
    _vote(bot, ANA, "age_limit")
    _vote(bot, BOB, "exchange_rate")
    bot.slack.click(ADMIN, _root(bot), f"{ids.SETTLE}:0", channel=CHANNEL)
    bot.settle()
    assert _root(bot)["text"] == f"Settled as age_limit by <@{ADMIN}>"
    seen: dict[int, object] = {}
    disputes.post_all_disputes(bot.services, seen=seen)  # the rounds note where things stand
    redraw = screen_redrawer(bot.services)
    redraw()

    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=["age_limit", "exchange_rate"],
                          into="account_rules", actor="ops")  # fmt: skip
    assert not consensus.disagreements(bot.ws, PROJECT, include_settled=True)  # votes agree
    disputes.post_all_disputes(bot.services, seen=seen)
    assert _root(bot)["text"] == f"Settled as age_limit by <@{ADMIN}>"  # left as it was
    redraw()
    root = _root(bot)
    assert root["text"] == f"Settled as account_rules by <@{ADMIN}>"
    assert "(chosen as *age_limit*)" in str(root["blocks"])
    assert ids.SETTLE not in str(root["blocks"])
    disputes.post_all_disputes(bot.services, seen=seen)
    assert _root(bot)["text"] == f"Settled as account_rules by <@{ADMIN}>"
