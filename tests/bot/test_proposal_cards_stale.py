"""Proposal cards and forms that the taxonomy changed under, over real HTTP on SQLite and
PostgreSQL: an "Edit names & approve" form opened before a rename, a click on a card decided
elsewhere, cards of a project whose channel was unset."""

from __future__ import annotations

from typing import Any

from bot import ids
from bot.scheduling import proposal_poster
from engine import projects, proposing, taxonomy
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_proposals_slack import ADMIN, _active, _edit_submit, _errors, _merge, _posted


def test_a_form_opened_before_a_rename_does_not_make_a_new_label(
    bot: Bot, bank: dict[str, str]
) -> None:
    """The form shows the merge's target as it was called when it opened; renamed meanwhile,
    the unchanged submission would have merged both into a new, empty-guidelines label of the
    old name. It is refused in the form, and nothing changes."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid = _merge(bot)
    proposal_poster(bot.services)()
    bot.slack.click(ADMIN, _posted(bot), ids.PROPOSAL_EDIT, channel=CHANNEL)
    bot.settle()
    view: dict[str, Any] = bot.api.calls("views.open")[-1].params["view"]
    names = next(b for b in view["blocks"] if b.get("block_id") == ids.PROPOSAL_NAMES_BLOCK)
    assert names["element"]["initial_value"] == "exchange_rate"
    taxonomy.rename_label(bot.ws, project=PROJECT, label="exchange_rate", new_name="fx",
                          actor="carol")  # fmt: skip
    events = len(taxonomy.label_history(bot.ws, project=PROJECT))

    error = _errors(_edit_submit(bot, view, "exchange_rate"))
    assert error.startswith("exchange_rate is now called fx: close this form and reopen")
    assert "Nothing was changed" in error
    assert "exchange_rate" not in _active(bot) and {"fx", "age_limit"} <= set(_active(bot))
    assert len(taxonomy.label_history(bot.ws, project=PROJECT)) == events
    assert proposing.get_proposal(bot.ws, pid).status == "open"

    # the label's new name, or one of the admin's own, is approved as before
    assert not _edit_submit(bot, view, "fx").content
    assert "age_limit" not in _active(bot) and "fx" in _active(bot)
    assert proposing.get_proposal(bot.ws, pid).status == "applied"
