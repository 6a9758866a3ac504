"""Taxonomy proposals in the project channel, over real HTTP: posted with their evidence, what
approving does, Approve / Edit names & approve / Reject, decided by admins only, applied through
the engine -- on SQLite and PostgreSQL. Proposals are stored directly (detection is tested in
tests/engine/test_proposing.py)."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx

from bot import ids
from bot.scheduling import proposal_poster
from bot.views.proposals import (
    ProposalCard,
    approval_effect,
    plain_reason,
    proposal_message,
    sample_groups,
)
from engine import projects, proposing, taxonomy
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import projects as project_repo
from storage.repositories import proposals as repo
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import example_id
from tests.helpers import save_found_twice

ADMIN, EXPERT = "U0ADMIN", "U0EXPERT"
LONG = "x" * 5000 + " <!channel> & more"


def _propose(bot: Bot, kind: str, labels: list[str], evidence: dict[str, Any], msg: str) -> int:
    with session_scope(bot.ws.db) as session:
        found = project_repo.get_project(session=session, name=PROJECT)
        assert found.id is not None
        row, _ = save_found_twice(
            session=session, project_id=found.id, kind=kind, labels=labels,
            key=proposing.key_text([kind, *labels]), score=0.8, evidence=evidence,
            evidence_strength=1.0, message=msg,
        )  # fmt: skip
        return int(row.id or 0)


def _merge(bot: Bot) -> int:
    evidence = {
        "confusion": 0.31,
        "mixing": 0.2,
        "counts": {"age_limit": 12, "exchange_rate": 30},
        "examples": {
            "age_limit": [{"id": 1, "text": "How old must I be? <@U123>"}],
            "exchange_rate": [{"id": 2, "text": LONG}],
        },
    }
    return _propose(bot, "merge", ["age_limit", "exchange_rate"], evidence,
                    "Merge age_limit and exchange_rate: the model confuses them")  # fmt: skip


def _active(bot: Bot) -> list[str]:
    return [lb.name for lb in projects.list_labels(bot.ws, project=PROJECT, active_only=True)]


def _posted(bot: Bot) -> dict[str, Any]:
    (message,) = [
        m for m in bot.api.messages(CHANNEL)
        if str(m["blocks"][0].get("block_id", "")).startswith(ids.PROPOSAL_BLOCK + ":")
    ]  # fmt: skip
    return copy.deepcopy(message)  # the fake updates its messages in place


def test_proposal_is_posted_once_with_its_evidence_and_buttons(
    bot: Bot, bank: dict[str, str]
) -> None:
    pid = _merge(bot)
    post = proposal_poster(bot.services)
    assert post() == 1 and post() == 0  # recorded: not posted twice
    message = _posted(bot)
    blocks = json.dumps(message["blocks"], ensure_ascii=False)
    assert "age_limit" in message["text"] and "merge" in blocks
    assert "confusion 0.31" in blocks and "*exchange_rate* 30 examples" in blocks
    head = message["blocks"][0]["text"]["text"]  # plain words first, the statistics below
    assert "The model mixes up *age_limit* and *exchange_rate*. If they mean the same" in head
    assert "Details (score 0.80): Merge age_limit and exchange_rate" in blocks
    assert "How old must I be? &lt;@U123&gt;" in blocks and "<@U123>" not in blocks
    assert "&lt;!channel&gt;" not in blocks and "…" in blocks  # the long text was cut
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in message["blocks"])
    action_ids = {el["action_id"] for b in message["blocks"] if b["type"] == "actions"
                  for el in b["elements"]}  # fmt: skip
    assert action_ids == {ids.PROPOSAL_APPROVE, ids.PROPOSAL_EDIT, ids.PROPOSAL_REJECT}
    effect = ("Approving merges age_limit and exchange_rate into exchange_rate: every label "
              "given to age_limit counts as exchange_rate from then on.")  # fmt: skip
    approve = next(el for b in message["blocks"] if b["type"] == "actions"
                   for el in b["elements"] if el["action_id"] == ids.PROPOSAL_APPROVE)  # fmt: skip
    assert effect in approve["confirm"]["text"]["text"]  # the dialog says what Apply does
    assert len(approve["confirm"]["text"]["text"]) <= 300
    assert effect in blocks
    row = proposing.get_proposal(bot.ws, pid)
    assert (row.channel, row.message_ts) == (CHANNEL, message["ts"])
    assert not bot.api.warnings


def test_a_proposal_is_posted_once_a_second_refresh_finds_it(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Near a detector's threshold a proposal comes and goes as labels arrive: found by one
    refresh it waits (the next one supersedes most such); found again, it is posted."""
    fields: dict[str, Any] = {"kind": "merge", "labels": ["age_limit", "exchange_rate"],
                              "key": proposing.key_text(["merge", "age_limit", "exchange_rate"]),
                              "score": 0.8, "evidence": {}, "evidence_strength": 1.0,
                              "message": "merge them"}  # fmt: skip
    project_id = int(projects.get_project(bot.ws, PROJECT).id or 0)
    with session_scope(bot.ws.db) as session:
        repo.save_open_proposal(session=session, project_id=project_id, **fields)
    post = proposal_poster(bot.services)
    assert post() == 0 and not bot.api.messages(CHANNEL)  # before, posted at once
    with session_scope(bot.ws.db) as session:  # the next refresh finds it again
        repo.save_open_proposal(session=session, project_id=project_id, **fields)
    assert post() == 1
    assert "merge them" in _posted(bot)["text"]


def test_a_proposal_found_again_shows_its_buttons_in_the_same_message(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Superseded, then found again soon (a proposal near a detector's threshold): its one
    message gets its buttons back; the channel gets no second post of it."""
    bot.api.add_user("U0OWNER", is_owner=True)
    pid = _merge(bot)
    post = proposal_poster(bot.services)
    assert post() == 1
    with session_scope(bot.ws.db) as session:
        repo.supersede(session=session, proposal_ids=[pid])
    post()
    assert not _action_ids(_posted(bot))

    row = proposing.get_proposal(bot.ws, pid)
    with session_scope(bot.ws.db) as session:  # the next refresh finds it again, as it saves
        again, created = repo.save_open_proposal(
            session=session, project_id=row.project_id, kind="merge", labels=row.labels,
            key=row.key, score=row.score, evidence=row.evidence,
            evidence_strength=row.evidence_strength, message=row.message,
            reopen_since=utcnow() - proposing.REOPEN_WITHIN,
        )  # fmt: skip
        assert (again.id, created) == (pid, False)
    assert post() == 0  # nothing new to post
    message = _posted(bot)  # still one proposal message in the channel: the same one
    assert message["ts"] == row.message_ts and _action_ids(message)
    bot.slack.click("U0OWNER", message, ids.PROPOSAL_APPROVE, channel=CHANNEL)
    bot.settle()
    assert proposing.get_proposal(bot.ws, pid).status == "applied"


def test_only_admins_approve_and_approval_merges(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid = _merge(bot)
    proposal_poster(bot.services)()
    message = _posted(bot)

    bot.slack.click(EXPERT, message, ids.PROPOSAL_APPROVE, channel=CHANNEL)
    bot.settle()
    assert "Only project admins can approve taxonomy proposals" in bot.slack.ephemerals(EXPERT)[-1]
    assert proposing.get_proposal(bot.ws, pid).status == "open"
    assert "exchange_rate" in _active(bot) and "age_limit" in _active(bot)

    bot.slack.click(ADMIN, message, ids.PROPOSAL_APPROVE, channel=CHANNEL)
    bot.settle()
    assert proposing.get_proposal(bot.ws, pid).status == "applied"
    assert "age_limit" not in _active(bot) and "exchange_rate" in _active(bot)  # into the larger
    updated = _posted(bot)
    assert f"Approved by <@{ADMIN}>" in updated["text"]
    assert "merged age_limit into exchange_rate" in updated["text"]
    assert _action_ids(updated) == {ids.PROPOSAL_UNDO}  # Approve / Reject gone, Undo offered

    bot.slack.click(ADMIN, message, ids.PROPOSAL_APPROVE, channel=CHANNEL)  # a double click
    bot.settle()
    assert "already applied" in bot.slack.ephemerals(ADMIN)[-1]
    assert "Nothing was changed" in bot.slack.ephemerals(ADMIN)[-1]
    assert _active(bot).count("exchange_rate") == 1


def test_reject_is_recorded_and_shown(bot: Bot, bank: dict[str, str]) -> None:
    bot.api.add_user("U0OWNER", is_owner=True)  # no project admins: the workspace's decide
    pid = _merge(bot)
    proposal_poster(bot.services)()
    message = _posted(bot)
    bot.slack.click(EXPERT, message, ids.PROPOSAL_REJECT, channel=CHANNEL)
    bot.settle()
    assert "Only project admins can reject" in bot.slack.ephemerals(EXPERT)[-1]
    bot.slack.click("U0OWNER", message, ids.PROPOSAL_REJECT, channel=CHANNEL)
    bot.settle()
    row = proposing.get_proposal(bot.ws, pid)
    assert row.status == "rejected" and row.decided_by == "U0OWNER"
    assert "Rejected by <@U0OWNER>" in _posted(bot)["text"]
    assert "age_limit" in _active(bot)


def test_proposals_command_lists_them_for_anyone(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(EXPERT, f"proposals {PROJECT}")
    bot.settle()
    assert "no open taxonomy proposals" in bot.slack.ephemerals(EXPERT)[-1]
    pid = _merge(bot)
    bot.slack.command(EXPERT, "proposals")
    bot.settle()
    listed = json.dumps(bot.api.calls("response_url")[-1].params["blocks"])
    assert f"`#{pid}` merge age_limit, exchange_rate" in listed


def test_proposals_command_lists_what_the_channel_gets_and_counts_the_rest(
    bot: Bot, bank: dict[str, str]
) -> None:
    """`/label proposals` lists what the digest lists (the proposals the channel gets), counts
    those one look found so far, and says where to decide them: a project without a channel
    has no messages to click (an audit found unposted ones listed under "on their messages in
    the channel")."""
    pid = _merge(bot)  # found twice: the channel's
    project_id = int(projects.get_project(bot.ws, PROJECT).id or 0)
    with session_scope(bot.ws.db) as session:  # found by one look: not the channel's yet
        once, _ = repo.save_open_proposal(
            session=session, project_id=project_id, kind="merge",
            labels=["atm_support", "change_pin"],
            key=proposing.key_text(["merge", "atm_support", "change_pin"]), score=0.9,
            evidence={}, evidence_strength=1.0, message="merge atm and pin",
        )  # fmt: skip
    bot.slack.command(EXPERT, f"proposals {PROJECT}")
    bot.settle()
    listed = json.dumps(bot.api.calls("response_url")[-1].params["blocks"])
    assert f"`#{pid}` merge" in listed and f"`#{once.id}`" not in listed
    assert "1 more found by one look" in listed
    assert f"on their messages in <#{CHANNEL}>" in listed

    projects.set_channel(bot.ws, project=PROJECT, channel_id=None)
    bot.slack.command(EXPERT, f"proposals {PROJECT}")
    bot.settle()
    listed = json.dumps(bot.api.calls("response_url")[-1].params["blocks"])
    assert "on their messages" not in listed
    assert f"labelbot proposals approve {PROJECT} ID" in listed


def test_messages_follow_decisions_and_undos_made_elsewhere(bot: Bot, bank: dict[str, str]) -> None:
    """A proposal approved on its message and then undone in the CLI (or the /label taxonomy
    form) said "Approved by" with a live Undo button; one approved in the CLI kept its Approve
    and Reject buttons. The scheduler's next round redraws each once, as stored."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid = _merge(bot)
    post = proposal_poster(bot.services)
    post()
    bot.slack.click(ADMIN, _posted(bot), ids.PROPOSAL_APPROVE, channel=CHANNEL)
    bot.settle()
    assert ids.PROPOSAL_UNDO in _action_ids(_posted(bot))
    updates = len(bot.api.calls("chat.update"))
    post()  # the message shows the decision already: nothing to redraw
    assert len(bot.api.calls("chat.update")) == updates

    taxonomy.undo_last(bot.ws, project=PROJECT, actor="carol")
    post()  # the scheduler's next round
    assert proposing.get_proposal(bot.ws, pid).status == "rejected"
    message = _posted(bot)
    shown = json.dumps(message["blocks"])
    assert f"Approved by <@{ADMIN}>" in shown and "Undone by carol" in shown
    assert ids.PROPOSAL_UNDO not in _action_ids(message)
    updates = len(bot.api.calls("chat.update"))
    post()
    assert len(bot.api.calls("chat.update")) == updates  # once

    # another one, approved from the terminal: its message says so, its buttons go
    again = _propose(bot, "merge", ["atm_support", "change_pin"], {"confusion": 0.3},
                     "Merge atm_support and change_pin")  # fmt: skip
    post()
    proposing.approve(bot.ws, PROJECT, again, actor="dave", actor_is_admin=True)
    post()
    (second,) = [m for m in bot.api.messages(CHANNEL) if m.get("ts") != message.get("ts")
                 and ids.PROPOSAL_UNDO in _action_ids(m)]  # fmt: skip
    assert "Approved by dave" in json.dumps(second["blocks"])
    assert not {ids.PROPOSAL_APPROVE, ids.PROPOSAL_REJECT} & set(_action_ids(second))


def test_a_deleted_proposal_message_does_not_hold_up_the_others(
    bot: Bot, bank: dict[str, str]
) -> None:
    """An admin deleted one proposal's message in the channel: chat.update of it is refused
    (message_not_found), and that stopped the sync of every later proposal message, every
    round (found by a review of the sync of decisions made elsewhere)."""
    first = _propose(bot, "merge", ["age_limit", "exchange_rate"], {"confusion": 0.3}, "Merge a")
    second = _propose(bot, "merge", ["atm_support", "change_pin"], {"confusion": 0.3}, "Merge b")
    post = proposal_poster(bot.services)
    post()
    rows = {p: proposing.get_proposal(bot.ws, p) for p in (first, second)}
    bot.api.delete_message(CHANNEL, str(rows[first].message_ts))
    for pid in (first, second):
        proposing.reject(bot.ws, PROJECT, pid, actor="carol", actor_is_admin=True)
    post()
    (message,) = [m for m in bot.api.messages(CHANNEL) if m["ts"] == rows[second].message_ts]
    assert "Rejected by carol" in json.dumps(message["blocks"])
    updates = len(bot.api.calls("chat.update"))
    post()  # the gone message is not tried again, round after round
    assert len(bot.api.calls("chat.update")) == updates


def test_split_evidence_renders_each_cluster_within_limits() -> None:
    clusters = [
        {"suggested_name": f"part_{i}", "size": 10, "words": [{"word": "w", "share": 0.5,
         "share_other": 0.1}], "examples": [{"id": j, "text": LONG} for j in range(5)]}
        for i in range(9)
    ]  # fmt: skip
    card = ProposalCard(
        id=7,
        project="p",
        kind="split",
        labels=["a" * 300],
        score=0.5,
        message="Split " + "a" * 300,
        evidence={"z": 4.2, "clusters": clusters},
    )
    message = proposal_message(card)
    assert len(message["blocks"]) <= 12 and "Cluster 1: *part_0*" in json.dumps(message)
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in message["blocks"])
    assert all(len(el["text"]["text"]) <= 75 for b in message["blocks"] if b["type"] == "actions"
               for el in b["elements"])  # fmt: skip


def test_split_groups_say_how_many_unlabeled_examples_they_hold() -> None:
    """A split found with the unlabeled examples the model assigns to the label shows both
    counts; samples may be unlabeled examples when a group has few labeled ones."""
    evidence = {"clusters": [
        {"suggested_name": "card_pin", "size": 2, "unlabeled": 140,
         "words": [{"word": "pin"}], "examples": [{"id": 7, "text": "my pin", "unlabeled": True}]},
        {"suggested_name": "fees", "size": 9, "words": [], "examples": [{"id": 8, "text": "fee"}]},
    ]}  # fmt: skip
    groups = list(sample_groups(evidence))
    assert groups == [
        ("Cluster 1: *card_pin* (2 labeled + 140 unlabeled examples) · pin", ["my pin"]),
        ("Cluster 2: *fees* (9 examples)", ["fee"]),
    ]


def _split(bot: Bot) -> int:
    evidence = {
        "z": 6.1,
        "clusters": [
            {"suggested_name": "arrival_late", "size": 3, "words": [], "examples": []},
            {"suggested_name": "arrival_track", "size": 2, "words": [], "examples": []},
        ],
    }
    return _propose(bot, "split", ["card_arrival"], evidence, "Split card_arrival? Two groups")


def _edit_submit(
    bot: Bot, view: dict[str, Any], names: str, *, user: str = ADMIN, reason: str = ""
) -> httpx.Response:
    values = {
        ids.PROPOSAL_NAMES_BLOCK: {ids.TAXONOMY_INPUT: {"value": names}},
        ids.PROPOSAL_REASON_BLOCK: {ids.TAXONOMY_INPUT: {"value": reason or None}},
    }
    body = payloads.view_submission(
        user, ids.PROPOSAL_MODAL, values, private_metadata=view["private_metadata"]
    )
    response = bot.slack.post(signed_interactivity(bot.slack.secret, body))
    bot.settle()
    return response


def _errors(response: httpx.Response) -> str:
    answer = response.json()
    assert answer["response_action"] == "errors" and list(answer["errors"]) == [
        ids.PROPOSAL_NAMES_BLOCK
    ], answer
    return str(answer["errors"][ids.PROPOSAL_NAMES_BLOCK])


def test_an_admin_approves_a_split_under_names_of_their_own(bot: Bot, bank: dict[str, str]) -> None:
    """Edit names & approve: refused to a non-admin; for an admin a modal with the suggested
    names; a wrong count or a taken name keeps it open and changes nothing; the admin's names
    are applied, the labeled example comes back to be relabeled into them, the channel message
    shows the verdict and a second submission is stale."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    bot.slack.command(EXPERT)
    bot.settle()
    (first,) = bot.slack.open_examples(EXPERT)
    bot.slack.choose(EXPERT, first, "card_arrival")
    bot.settle()
    pid = _split(bot)
    proposal_poster(bot.services)()
    message = _posted(bot)
    assert "its 5 labeled examples go back to the queue" in json.dumps(message["blocks"])

    bot.slack.click(EXPERT, message, ids.PROPOSAL_EDIT, channel=CHANNEL)
    bot.settle()
    assert "Only project admins can approve" in bot.slack.ephemerals(EXPERT)[-1]
    assert not bot.api.calls("views.open")

    bot.slack.click(ADMIN, message, ids.PROPOSAL_EDIT, channel=CHANNEL)
    bot.settle()
    view: dict[str, Any] = bot.api.calls("views.open")[-1].params["view"]
    assert view["callback_id"] == ids.PROPOSAL_MODAL and len(view["title"]["text"]) <= 24
    names_input = next(b for b in view["blocks"] if b.get("block_id") == ids.PROPOSAL_NAMES_BLOCK)
    assert names_input["element"]["initial_value"] == "arrival_late, arrival_track"

    before = sorted(_active(bot))
    assert "takes 2 or more new labels; got 1" in _errors(_edit_submit(bot, view, "only_one"))
    assert "already" in _errors(_edit_submit(bot, view, "age_limit, lost_card"))
    assert _errors(_edit_submit(bot, view, "card_delayed,,card_tracking")) == (
        "An empty label name in 'card_delayed,,card_tracking': write the names with one comma "
        "between each, none at either end (A,B)"
    )  # a name left out, not dropped (as in the CLI and the `/label taxonomy` form)
    forged = _edit_submit(bot, view, "a_part, b_part", user=EXPERT)  # not an admin
    assert "Only project admins can approve" in _errors(forged)
    assert sorted(_active(bot)) == before
    assert proposing.get_proposal(bot.ws, pid).status == "open"

    closed = _edit_submit(bot, view, "card_delayed , card_tracking", reason="clearer names")
    assert closed.status_code == 200 and not closed.content  # an empty ack closes the modal
    assert {"card_delayed", "card_tracking"} <= set(_active(bot))
    assert "card_arrival" not in _active(bot) and "arrival_late" not in _active(bot)
    row = proposing.get_proposal(bot.ws, pid)
    assert row.status == "applied" and row.decided_by == ADMIN
    (event,) = [h for h in taxonomy.label_history(bot.ws, project=PROJECT) if h.kind == "split"]
    assert event.actor == ADMIN and event.reason == f"proposal {pid}: clearer names"
    updated = _posted(bot)
    assert f"Approved by <@{ADMIN}>" in updated["text"] and "card_delayed" in updated["text"]
    assert _action_ids(updated) == {ids.PROPOSAL_UNDO}  # Approve / Reject gone, Undo offered

    stale = _errors(_edit_submit(bot, view, "x_part, y_part"))
    assert f"Proposal {pid} was already applied by {ADMIN}: nothing was changed" in stale
    assert "x_part" not in _active(bot)

    # the example labeled card_arrival is back, to be labeled as one of the admin's names
    for fresh in bot.slack.open_examples(EXPERT):
        bot.slack.post(signed_interactivity(bot.slack.secret, bot.slack.action_payload(
            EXPERT, fresh, ids.SKIP, str(example_id(fresh)))))  # fmt: skip
        bot.settle()
    back = next(m for m in bot.slack.open_examples(EXPERT) if example_id(m) == example_id(first))
    assert "is it *card_delayed* or *card_tracking*?" in json.dumps(back["blocks"])


def test_edit_names_merges_under_a_new_name_and_is_stale_once_decided(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid = _merge(bot)
    proposal_poster(bot.services)()
    message = _posted(bot)
    bot.slack.click(ADMIN, message, ids.PROPOSAL_EDIT, channel=CHANNEL)
    bot.settle()
    view: dict[str, Any] = bot.api.calls("views.open")[-1].params["view"]
    assert "takes one name for the merged label; got 2" in _errors(_edit_submit(bot, view, "a, b"))
    assert not _edit_submit(bot, view, "rates_and_limits").content
    assert "rates_and_limits" in _active(bot)
    assert "age_limit" not in _active(bot) and "exchange_rate" not in _active(bot)
    assert proposing.get_proposal(bot.ws, pid).status == "applied"

    opened = len(bot.api.calls("views.open"))
    bot.slack.click(ADMIN, message, ids.PROPOSAL_EDIT, channel=CHANNEL)  # the old message
    bot.settle()
    assert "already applied" in bot.slack.ephemerals(ADMIN)[-1]
    assert len(bot.api.calls("views.open")) == opened  # no modal for a decided proposal


def test_what_approving_does_is_said_for_every_kind() -> None:
    def card(kind: str, labels: list[str], names: list[str], **evidence: Any) -> ProposalCard:
        return ProposalCard(id=1, project="p", kind=kind, labels=labels, score=0.5, message="m",
                            evidence=evidence, names=names)  # fmt: skip

    assert approval_effect(card("merge", ["a", "b", "c"], ["c"])) == (
        "Approving merges a, b and c into c: every label given to a and b counts as c from then "
        "on. Nothing is deleted."
    )
    assert approval_effect(card("merge", ["a", "b"], ["b"]), ["ab"]).startswith(
        "Approving merges a and b into a new label ab: every label given to a and b counts as ab"
    )
    split = card("split", ["a"], ["a1", "a2"], clusters=[{"size": 1200}, {"size": 34}])
    assert approval_effect(split) == (
        "Approving splits a into a1 and a2: its 1,234 labeled examples go back to the queue to be "
        "labeled again; the old label stays in their history."
    )
    assert approval_effect(card("add", ["lost"], ["lost"])) == (
        "Approving adds the label lost; the queue then looks for its first examples by name."
    )
    rare = card("rare", ["tiny"], ["big"], suggestion="merge", nearest_label="big")
    assert approval_effect(rare).startswith("Approving merges big and tiny into big: every label "
                                            "given to tiny counts as big")  # fmt: skip
    gather = card("rare", ["tiny"], [], suggestion="gather")
    assert approval_effect(gather) == (
        "Approving changes no label: it records that tiny needs more examples."
    )
    message = proposal_message(gather)  # nothing to name: no Edit names button
    action_ids = {el["action_id"] for b in message["blocks"] if b["type"] == "actions"
                  for el in b["elements"]}  # fmt: skip
    assert action_ids == {ids.PROPOSAL_APPROVE, ids.PROPOSAL_REJECT}


def _action_ids(message: dict[str, Any]) -> set[str]:
    return {el["action_id"] for b in message["blocks"] if b["type"] == "actions"
            for el in b["elements"]}  # fmt: skip


def test_undo_on_an_applied_proposal_takes_its_change_back(bot: Bot, bank: dict[str, str]) -> None:
    """Undo on the approved message: admins only; refused while a later change stands; then
    the merged label is back, the message says who undid it, the proposal counts as rejected,
    and a second click is stale."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid = _merge(bot)
    proposal_poster(bot.services)()
    bot.slack.click(ADMIN, _posted(bot), ids.PROPOSAL_APPROVE, channel=CHANNEL)
    bot.settle()
    approved = _posted(bot)
    assert "age_limit" not in _active(bot)

    bot.slack.click(EXPERT, approved, ids.PROPOSAL_UNDO, channel=CHANNEL)
    bot.settle()
    assert "Only project admins can undo taxonomy changes" in bot.slack.ephemerals(EXPERT)[-1]
    assert "age_limit" not in _active(bot)

    later = taxonomy.rename_label(bot.ws, project=PROJECT, label="change_pin",
                                  new_name="pin_change", actor=ADMIN)  # fmt: skip
    bot.slack.click(ADMIN, approved, ids.PROPOSAL_UNDO, channel=CHANNEL)
    bot.settle()
    refused = bot.slack.ephemerals(ADMIN)[-1]
    assert (
        f"is not the latest: undo #{later.event_id} (renamed change_pin to pin_change)" in refused
    )
    assert "age_limit" not in _active(bot)
    taxonomy.undo_last(bot.ws, project=PROJECT, actor=ADMIN)  # the rename

    bot.slack.click(ADMIN, approved, ids.PROPOSAL_UNDO, channel=CHANNEL)
    bot.settle()
    assert "age_limit" in _active(bot) and "exchange_rate" in _active(bot)
    undone = _posted(bot)
    assert f"Undone by <@{ADMIN}>: undid #" in undone["text"] and not _action_ids(undone)
    row = proposing.get_proposal(bot.ws, pid)
    assert row.status == "rejected" and "undone by #" in row.reason

    bot.slack.click(ADMIN, approved, ids.PROPOSAL_UNDO, channel=CHANNEL)  # the old message
    bot.settle()
    assert f"its change undone by <@{ADMIN}>" in bot.slack.ephemerals(ADMIN)[-1]
    assert [h.kind for h in taxonomy.label_history(bot.ws, project=PROJECT)].count("undo") == 2


def test_each_kind_says_why_in_plain_words() -> None:
    def card(kind: str, labels: list[str], **evidence: Any) -> ProposalCard:
        return ProposalCard(id=1, project="p", kind=kind, labels=labels, score=0.5,
                            message="technical", evidence=evidence)  # fmt: skip

    merge = card("merge", ["a", "b<"], confident_joint={"a->b<": 3, "b<->a": 2}, disagreements=4)
    assert plain_reason(merge) == (
        "The model mixes up *a* and *b&lt;*: 5 examples confidently look like the other label, "
        "and experts chose differently between them 4 times. If they mean the same thing to "
        "your team, merge them."
    )
    split = card("split", ["bill"], clusters=[
        {"suggested_name": "invoice", "size": 12, "unlabeled": 140},
        {"suggested_name": "refund", "size": 9},
    ])  # fmt: skip
    assert plain_reason(split).startswith(
        "*bill* may hold two different things, *invoice* (152 examples) and *refund* (9 examples)"
    )
    assert plain_reason(card("add", ["lost_card"], size=14)).startswith(
        "14 examples that your experts skipped, flagged or discussed without labeling look "
        "alike: a label such as *lost_card* may be missing."
    )
    rare = card("rare", ["tiny"], count=3, suggestion="merge", nearest_label="big")
    assert plain_reason(rare) == (
        "*tiny* has only 3 examples, too few for the model to learn: merge it into *big*, or "
        "label more of it."
    )
    # one example, one disagreement: said in the singular ("1 examples ... 1 times")
    one = card("merge", ["a", "b"], confident_joint={"a->b": 1}, disagreements=1)
    assert plain_reason(one).startswith(
        "The model mixes up *a* and *b*: 1 example confidently looks like the other label, "
        "and experts chose differently between them once."
    )
    assert "has only 1 example, too few" in plain_reason(card("rare", ["tiny"], count=1))


def test_the_proposals_list_shows_twenty_without_cutting_a_line() -> None:
    from bot.views.proposals import proposals_list

    cards = [
        ProposalCard(id=i, project="p", kind="merge", labels=[f"label_{i}_" + "x" * 60, "b"],
                     score=0.5, message="m", evidence={"confident_joint": {"x": i}})
        for i in range(25)
    ]  # fmt: skip
    listed = proposals_list("p", cards)
    sections = [b["text"]["text"] for b in listed["blocks"] if b["type"] == "section"]
    assert all(len(t) <= 3000 for t in sections) and len(sections) >= 3
    text = "\n".join(sections)
    assert all(f"`#{i}` merge label_{i}_" in text for i in range(20)) and "`#20`" not in text
    assert "The model mixes up *label_19_" in text
    assert "… and 5 more" in json.dumps(listed, ensure_ascii=False)


def test_posted_messages_follow_refreshes_and_supersession(bot: Bot, bank: dict[str, str]) -> None:
    """A refresh that changes a proposal's evidence updates its message once; one that drops
    it turns the message into a superseded note without buttons, once."""
    bot.api.add_user("U0OWNER", is_owner=True)  # no project admins: the workspace's decide
    pid = _merge(bot)
    post = proposal_poster(bot.services)
    assert post() == 1
    updates = len(bot.api.calls("chat.update"))
    post()
    assert len(bot.api.calls("chat.update")) == updates  # nothing changed: no update

    row = proposing.get_proposal(bot.ws, pid)
    with session_scope(bot.ws.db) as session:  # the next refresh finds more confusion
        repo.save_open_proposal(
            session=session, project_id=row.project_id, kind="merge", labels=row.labels,
            key=row.key, score=0.9, evidence={**row.evidence, "confusion": 0.45},
            evidence_strength=2.0, message=row.message,
        )  # fmt: skip
    post()
    post()
    assert len(bot.api.calls("chat.update")) == updates + 1
    refreshed = _posted(bot)
    assert "confusion 0.45" in json.dumps(refreshed["blocks"]) and _action_ids(refreshed)

    with session_scope(bot.ws.db) as session:  # a later refresh no longer finds it
        repo.supersede(session=session, proposal_ids=[pid])
    post()
    post()
    assert len(bot.api.calls("chat.update")) == updates + 2
    superseded = _posted(bot)
    assert "Superseded: the latest model no longer finds this" in json.dumps(superseded["blocks"])
    assert not _action_ids(superseded) and "age_limit" in superseded["blocks"][0]["text"]["text"]
    bot.slack.click("U0OWNER", refreshed, ids.PROPOSAL_APPROVE, channel=CHANNEL)  # a stale copy
    bot.settle()
    assert "already superseded" in bot.slack.ephemerals("U0OWNER")[-1]


def test_counts_of_one_read_in_the_singular() -> None:
    """The nudge, the digest's weakest classes, a rare label's and a merge's engine message:
    "1 examples ... are waiting", "(1 labels)", "has 1 examples", "1 times" read wrong."""
    from bot.views.rhythm import nudge_message
    from engine.proposals.rare import _message

    assert nudge_message(project="p", waiting=1)["text"] == "1 example in *p* is waiting for you."
    assert nudge_message(project="p", waiting=3)["text"].startswith("3 examples in *p* are")
    said = _message("tiny", 1, 0.0, "label more of it", min_examples=5)
    assert said == "tiny has 1 example (out-of-fold F1 0.00), too few to learn: label more of it."
