"""Resolve writes only to the example's own flag thread: a click made up to name another
message (another example's flag thread, any message of the channel) drew this example's flags
over that message for good and posted "resolved" in its thread. Now it changes nothing and the
clicker is told, as a Promote click on a message that is not its notice is. Over real signed
Bolt requests with the fake Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy

from bot import ids
from engine import projects
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_flag_threads import _flag_in_slack, _replies, _roots
from tests.fakes.slack_client import button

ANA = "U0ANA"


def test_a_resolve_click_naming_another_thread_changes_nothing(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    first = _flag_in_slack(bot, ANA, "a card number")
    second = _flag_in_slack(bot, ANA, "not English")
    roots = {r["ts"]: copy.deepcopy(r) for r in _roots(bot)}
    (one, two) = sorted(roots.values(), key=lambda r: float(r["ts"]))
    assert button(one, ids.FLAG_RESOLVE)[1]["value"] == str(first)
    # Ana flagged both, so she may resolve both; her click resolves the first, named on the
    # second's root
    bot.slack.click(ANA, two, ids.FLAG_RESOLVE, value=str(first), channel=CHANNEL)
    bot.settle()
    assert "Nothing was changed." in bot.slack.ephemerals(ANA)[-1]
    assert {r["ts"]: r for r in _roots(bot)} == roots  # both roots as they were
    assert _replies(bot, two) == [] and _replies(bot, one) == []
    assert projects.project_status(bot.ws, PROJECT)["open_flags"] == 2

    bot.slack.click(ANA, one, ids.FLAG_RESOLVE, channel=CHANNEL)  # on its own root: resolved
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["open_flags"] == 1
    assert len(_replies(bot, one)) == 1 and second != first
