"""Taxonomy changes seen from Slack through the real Bolt app: an old labeling button after a
chain of changes, and a posted proposal whose label is renamed (it stays, redrawn)."""

from __future__ import annotations

from typing import Any

from bot import ids
from bot.scheduling import proposal_poster
from engine import projects, proposing
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_proposals_slack import _merge, _posted
from tests.bot.test_taxonomy_slack import ADMIN, EXPERT, _deliver, _open_modal, _submit


def _buttons(message: dict[str, Any]) -> list[str]:
    return [el.get("action_id", "") for b in message["blocks"] if b["type"] == "actions"
            for el in b["elements"]]  # fmt: skip


def test_an_old_button_after_rename_merge_split_names_the_split_parts(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    view = _open_modal(bot)
    message = _deliver(bot)
    _submit(bot, view, "rename", ["card_arrival"], "arrival")
    _submit(bot, view, "merge", ["arrival", "atm_support"], "card_and_atm")
    _submit(bot, view, "split", ["card_and_atm"], "cards, atms")

    bot.slack.choose(EXPERT, message, "card_arrival")
    bot.settle()
    answer = bot.slack.ephemerals(EXPERT)[-1]
    assert "card_arrival" in answer  # the name the button showed
    assert "was merged into card_and_atm, which was split into cards, atms" in answer
    assert "retired" not in answer

    bot.slack.choose(EXPERT, message, "atm_support")
    bot.settle()
    answer = bot.slack.ephemerals(EXPERT)[-1]
    assert "'atm_support' was merged into card_and_atm, which was split into cards, atms" in answer


def test_a_posted_proposal_follows_a_rename_and_can_still_be_approved(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid = _merge(bot)  # age_limit + exchange_rate
    proposal_poster(bot.services)()
    message = _posted(bot)
    _submit(bot, _open_modal(bot), "rename", ["age_limit"], "minimum_age")
    proposal_poster(bot.services)()  # the scheduler's round: posts new ones, syncs the rest
    bot.settle()

    row = proposing.get_proposal(bot.ws, pid)
    assert (row.status, row.labels) == ("open", ["exchange_rate", "minimum_age"])
    now = _posted(bot)
    assert now["ts"] == message["ts"]  # the same message, redrawn
    assert "minimum_age" in str(now["blocks"]) and "age_limit" not in str(now["blocks"])
    assert ids.PROPOSAL_APPROVE in _buttons(now)

    bot.slack.click(ADMIN, now, ids.PROPOSAL_APPROVE, channel=CHANNEL)
    bot.settle()
    assert proposing.get_proposal(bot.ws, pid).status == "applied"
    names = [lb.name for lb in projects.list_labels(bot.ws, project=PROJECT, active_only=True)]
    assert not {"minimum_age", "exchange_rate"} <= set(names)  # one merged into the other
