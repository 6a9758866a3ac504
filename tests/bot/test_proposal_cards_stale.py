"""Proposal cards and forms that the taxonomy changed under, over real HTTP on SQLite and
PostgreSQL: an "Edit names & approve" form opened before a rename, a click on a card decided
elsewhere, cards of a project whose channel was unset."""

from __future__ import annotations

import json
from typing import Any

from bot import ids
from bot.scheduling import proposal_poster
from engine import projects, proposing, taxonomy
from storage.db import session_scope
from storage.repositories import proposals as proposal_repo
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_proposals_slack import (
    ADMIN,
    _action_ids,
    _active,
    _edit_submit,
    _errors,
    _merge,
    _posted,
    _propose,
    _split,
)


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


def test_approve_after_a_label_took_the_suggested_name(bot: Bot, bank: dict[str, str]) -> None:
    """The split suggests arrival_late; a label of that name is added by hand: the card is
    redrawn with a free name, and Approve applies it."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid = _split(bot)
    post = proposal_poster(bot.services)
    post()
    taxonomy.add_labels(bot.ws, project=PROJECT, names=["arrival_late"], actor="carol")
    post()  # the sync redraws the card
    message = _posted(bot)
    assert "arrival_late_2" in json.dumps(message["blocks"])
    bot.slack.click(ADMIN, message, ids.PROPOSAL_APPROVE, channel=CHANNEL)
    bot.settle()
    assert proposing.get_proposal(bot.ws, pid).status == "applied"
    assert {"arrival_late", "arrival_late_2"} <= set(_active(bot))


def test_a_name_taken_points_to_edit_names(bot: Bot, bank: dict[str, str]) -> None:
    """A proposal stored before its suggestions were kept free (or a name taken between the
    redraw and the click): the refusal points to the card's own way out, not a CLI flag."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    taxonomy.add_labels(bot.ws, project=PROJECT, names=["lost_card"], actor="carol")
    taxonomy.retire_label(bot.ws, project=PROJECT, label="lost_card", actor="carol")
    pid = _propose(bot, "add", ["lost_card"], {"ids": [1, 2]}, "Add a label like 'lost_card'?")
    proposal_poster(bot.services)()
    bot.slack.click(ADMIN, _posted(bot), ids.PROPOSAL_APPROVE, channel=CHANNEL)
    bot.settle()
    said = bot.slack.ephemerals(ADMIN)[-1]
    assert "a retired label has the name 'lost_card'" in said.lower()
    assert "Choose other names with Edit names &amp; approve" in said and "--" not in said
    assert proposing.get_proposal(bot.ws, pid).status == "open"


def test_a_click_on_a_card_decided_elsewhere_redraws_it_and_names_the_decider(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Approved in the CLI (or another process) before the sync redrew the card: the click is
    refused with a mention of who approved it, and the card shows the verdict at once."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid = _merge(bot)
    proposal_poster(bot.services)()
    stale = _posted(bot)
    proposing.approve(bot.ws, PROJECT, pid, actor="U0ALICE", actor_is_admin=True, rescore=False)
    bot.slack.click(ADMIN, stale, ids.PROPOSAL_APPROVE, channel=CHANNEL)
    bot.settle()
    said = bot.slack.ephemerals(ADMIN)[-1]
    assert f"Proposal {pid} was already applied by <@U0ALICE>. Nothing was changed." in said
    assert _action_ids(_posted(bot)) == {ids.PROPOSAL_UNDO}  # no next scheduler round needed

    bot.slack.click(ADMIN, stale, ids.PROPOSAL_EDIT, channel=CHANNEL)  # no modal either
    bot.settle()
    assert "already applied by <@U0ALICE>" in bot.slack.ephemerals(ADMIN)[-1]


def test_a_click_after_an_undo_says_who_approved_and_who_undid(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid = _merge(bot)
    proposal_poster(bot.services)()
    stale = _posted(bot)
    proposing.approve(bot.ws, PROJECT, pid, actor="U0ALICE", actor_is_admin=True, rescore=False)
    taxonomy.undo_last(bot.ws, project=PROJECT, actor="U0BOB", rescore=False)
    bot.slack.click(ADMIN, stale, ids.PROPOSAL_REJECT, channel=CHANNEL)
    bot.settle()
    said = bot.slack.ephemerals(ADMIN)[-1]
    assert f"Proposal {pid} was already approved by <@U0ALICE>, and its change undone by " in said
    assert "<@U0BOB>" in said and "rejected" not in said
    card = json.dumps(_posted(bot)["blocks"])
    assert "Undone by <@U0BOB>" in card and not _action_ids(_posted(bot))


def test_cards_follow_their_proposals_after_the_channel_is_unset(
    bot: Bot, bank: dict[str, str]
) -> None:
    """No channel now: nothing new is posted, but a card posted before shows its proposal's
    verdict (decided in the CLI) instead of buttons for ever."""
    pid = _merge(bot)
    post = proposal_poster(bot.services)
    post()
    projects.set_channel(bot.ws, project=PROJECT, channel_id=None)
    proposing.approve(bot.ws, PROJECT, pid, actor="alice", actor_is_admin=True, rescore=False)
    _propose(bot, "split", ["change_pin"], {}, "Split change_pin?")
    assert post() == 0
    assert _action_ids(_posted(bot)) == {ids.PROPOSAL_UNDO}
    assert len(bot.api.messages(CHANNEL)) == 1  # the new proposal is not posted anywhere


def test_a_card_in_a_channel_the_project_left_does_not_stop_the_others(
    bot: Bot, bank: dict[str, str]
) -> None:
    """The project moved to another channel and the old one was archived: its cards cannot be
    redrawn, and that refusal is not the new channel's. It is not tried again, and the round
    goes on."""
    first = _merge(bot)
    post = proposal_poster(bot.services)
    post()
    projects.set_channel(bot.ws, project=PROJECT, channel_id="C0NEW")
    proposing.reject(bot.ws, PROJECT, first, actor="alice", actor_is_admin=True)
    _propose(bot, "split", ["change_pin"], {}, "Split change_pin?")
    bot.api.fail_next("chat.update", error="is_archived")
    assert post() == 1  # the new proposal goes to the new channel
    updates = len(bot.api.calls("chat.update"))
    assert post() == 0 and len(bot.api.calls("chat.update")) == updates  # not tried again


def test_a_card_superseded_by_a_hand_change_says_so(bot: Bot, bank: dict[str, str]) -> None:
    """Superseded because an admin retired one of its labels, the card says that, not that the
    latest model no longer finds it; superseded by a refresh, it says the latter."""
    merge = _merge(bot)
    split = _split(bot)
    post = proposal_poster(bot.services)
    post()
    taxonomy.retire_label(bot.ws, project=PROJECT, label="age_limit", actor="carol")
    with session_scope(bot.ws.db) as session:  # as a refresh that no longer finds it does
        proposal_repo.supersede(session=session, proposal_ids=[split])
    assert proposing.get_proposal(bot.ws, merge).status == "superseded"
    post()
    cards = {m["blocks"][0]["block_id"]: json.dumps(m["blocks"]) for m in bot.api.messages(CHANNEL)}
    by_hand = cards[f"{ids.PROPOSAL_BLOCK}:{merge}"]
    assert "Superseded: age_limit is no longer a label (a taxonomy change since)" in by_hand
    assert "latest model" not in by_hand
    assert "the latest model no longer finds this" in cards[f"{ids.PROPOSAL_BLOCK}:{split}"]
