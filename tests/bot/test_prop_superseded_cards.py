"""A proposal card superseded by a taxonomy change that left all its labels in place says why,
over real HTTP on SQLite and PostgreSQL: a split of the label a merge went into was found on
the examples that label had before, which the latest model has not looked at."""

from __future__ import annotations

import json

from bot import ids
from bot.scheduling import proposal_poster
from engine import proposing, taxonomy
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_proposals_slack import _split


def test_a_split_of_a_merge_target_says_its_examples_changed(
    bot: Bot, bank: dict[str, str]
) -> None:
    split = _split(bot)  # of card_arrival
    post = proposal_poster(bot.services)
    post()
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=["age_limit", "card_arrival"],
                          into="card_arrival", actor="carol", rescore=False)  # fmt: skip
    assert proposing.get_proposal(bot.ws, split).status == "superseded"
    post()
    (card,) = [
        json.dumps(m["blocks"]) for m in bot.api.messages(CHANNEL)
        if m["blocks"][0].get("block_id") == f"{ids.PROPOSAL_BLOCK}:{split}"
    ]  # fmt: skip
    assert (
        "Superseded: card_arrival's examples are not those it was found on (a taxonomy change "
        "since)" in card
    )
    assert "latest model" not in card
