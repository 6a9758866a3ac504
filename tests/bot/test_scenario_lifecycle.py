"""A project's life in Slack, end to end through real HTTP, Bolt and the local Slack Web API: three
experts label from their DMs (a label, Skip, Discuss with replies kept), two disagree and the
thread settles it, an admin changes the taxonomy while examples with the old buttons are still
out, stale clicks after each change, proposals decided by a non-admin and by admins, a digest --
after each step, what is stored, what Slack shows and what each expert was told."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest

from bot import disputes, ids
from bot.scheduling import proposal_poster
from engine import consensus, exporting, projects, proposing
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_proposals_slack import _propose
from tests.bot.test_taxonomy_slack import _open_modal, _submit
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import button, choices, example_id

ADMIN, ANA, BOB, CY = "U0ADMIN", "U0ANA", "U0BOB", "U0CY"
EXPERTS = (ANA, BOB, CY)
Message = dict[str, Any]


def _open(bot: Bot, user: str) -> list[Message]:
    return bot.slack.open_examples(user)


def _one_open(bot: Bot, user: str) -> Message:
    found = _open(bot, user)
    assert len(found) == 1, [m.get("text") for m in found]
    return found[0]


def _now(bot: Bot, user: str, message: Message) -> Message:
    (found,) = [m for m in bot.slack.dm(user) if m["ts"] == message["ts"]]
    return found


def _record(bot: Bot, eid: int | None) -> dict[str, Any]:
    (record,) = [r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(eid)]
    return record


def _votes(bot: Bot, eid: int | None) -> list[tuple[str, str]]:
    return sorted((a["annotator"], a["label"]) for a in _record(bot, eid)["annotations"])


def _active(bot: Bot) -> list[str]:
    return sorted(lb.name for lb in projects.list_labels(bot.ws, project=PROJECT, active_only=True))


def _offered(message: Message) -> set[str]:
    return {c.label for c in choices(message)}


def _roots(bot: Bot) -> list[Message]:
    return [m for m in bot.api.messages(CHANNEL) if m.get("thread_ts", m["ts"]) == m["ts"]]


def _card(bot: Bot, pid: int) -> Message:
    ts = proposing.get_proposal(bot.ws, pid).message_ts
    (found,) = [m for m in bot.api.messages(CHANNEL) if m["ts"] == ts]
    return copy.deepcopy(found)


def _actions(message: Message) -> set[str]:
    return {el["action_id"] for b in message["blocks"] if b["type"] == "actions"
            for el in b["elements"]}  # fmt: skip


def _root_of(bot: Bot, posted: Message) -> Message:
    (found,) = [m for m in bot.api.messages(CHANNEL) if m["ts"] == posted["ts"]]
    return found


def _no_trouble(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing Slack refused or warned of, no error logged, no message posted twice."""
    assert not bot.api.warnings
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], [
        r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info
    ]
    active = set(_active(bot))
    for user in EXPERTS:
        shown = [example_id(m) for m in _open(bot, user)]
        assert len(shown) == len(set(shown)), f"{user} has an example twice: {shown}"
        for m in _open(bot, user):
            assert _offered(m) <= active, (user, _offered(m) - active)


def test_a_projects_life_in_slack(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    projects.update_settings(
        bot.ws, project=PROJECT, admins=[ADMIN], audit_share=0.0, multi_label_share=0.0,
        review_share=0.0,
    )  # fmt: skip

    # 1. three experts ask for work: one example each, none shared
    for user in EXPERTS:
        bot.slack.command(user)
        bot.settle()
    first = {user: _one_open(bot, user) for user in EXPERTS}
    assert len({example_id(m) for m in first.values()}) == 3
    _no_trouble(bot, caplog)

    # 2. Ana labels: her message says so, the next example arrives at once
    eid = example_id(first[ANA])
    bot.slack.choose(ANA, first[ANA], "card_arrival")
    bot.settle()
    assert _votes(bot, eid) == [(ANA, "card_arrival")]
    labeled = _now(bot, ANA, first[ANA])
    assert "Labeled card_arrival by" in labeled["text"] and not choices(labeled)
    nxt = _one_open(bot, ANA)
    assert example_id(nxt) != eid
    _no_trouble(bot, caplog)

    # 3. Bob skips: nothing stored, the next one at once
    eid = example_id(first[BOB])
    bot.slack.click(BOB, first[BOB], ids.SKIP)
    bot.settle()
    assert _record(bot, eid)["annotations"] == []
    assert not choices(_now(bot, BOB, first[BOB]))
    assert example_id(_one_open(bot, BOB)) != eid
    _no_trouble(bot, caplog)

    # 4. Cy discusses: a thread in the channel, replies kept as comments, then labels
    eid = example_id(first[CY])
    bot.slack.click(CY, first[CY], ids.DISCUSS)
    bot.settle()
    (root,) = _roots(bot)
    assert f"Example #{eid}" in json.dumps(root["blocks"])
    for i, (who, text) in enumerate([(ANA, "I'd say card_arrival"), (BOB, "agreed")]):
        reply = payloads.message_event(CHANNEL, who, text, f"1700000000.00010{i}",
                                       thread_ts=root["ts"])  # fmt: skip
        assert bot.slack.event(reply).status_code == 200
    bot.settle()
    assert sorted(c["text"] for c in _record(bot, eid)["comments"]) == [
        "I'd say card_arrival",
        "agreed",
    ]
    still = _one_open(bot, CY)  # Discuss keeps the example on screen
    assert example_id(still) == eid
    bot.slack.choose(CY, still, "card_arrival")
    bot.settle()
    assert _votes(bot, eid) == [(CY, "card_arrival")]
    assert example_id(_one_open(bot, CY)) != eid
    _no_trouble(bot, caplog)

    # 5. two experts disagree; the thread settles it
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0)
    ana_msg = _one_open(bot, ANA)
    disputed = example_id(ana_msg)
    bot.slack.choose(ANA, ana_msg, "age_limit")
    bot.settle()
    # Bob's open example was sent before; skip it to be given the second opinion
    bob_open = _one_open(bot, BOB)
    if example_id(bob_open) != disputed:
        bot.slack.click(BOB, bob_open, ids.SKIP)
        bot.settle()
        bob_open = _one_open(bot, BOB)
    assert example_id(bob_open) == disputed, "the second opinion comes first"
    bot.slack.choose(BOB, bob_open, "exchange_rate")
    bot.settle()
    disputes = [r for r in _roots(bot) if r["ts"] != root["ts"]]
    assert len(disputes) == 1
    dispute = copy.deepcopy(disputes[0])
    bot.slack.click(CY, dispute, f"{ids.SETTLE}:1", channel=CHANNEL)  # not involved
    bot.settle()
    assert "Only an admin" in bot.slack.ephemerals(CY)[-1]
    assert consensus.disagreements(bot.ws, PROJECT)
    bot.slack.click(ADMIN, dispute, f"{ids.SETTLE}:0", channel=CHANNEL)
    bot.settle()
    (settled,) = consensus.disagreements(bot.ws, PROJECT, include_settled=True)
    assert settled.adjudicated is not None
    assert _record(bot, disputed)["label"] == settled.adjudicated.label
    assert _root_of(bot, dispute)["text"] == f"Settled as {settled.adjudicated.label} by <@{ADMIN}>"
    for user, msg in ((ANA, ana_msg), (BOB, bob_open)):  # no Undo left on a settled vote
        assert ids.UNDO not in json.dumps(_now(bot, user, msg)["blocks"])
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    _no_trouble(bot, caplog)

    # 6. taxonomy changes while examples with the old buttons are out
    out = {user: _one_open(bot, user) for user in EXPERTS}
    view = _open_modal(bot)
    before = len(bot.api.calls("chat.update"))
    _submit(bot, view, "rename", ["card_arrival"], "arrival")
    assert "arrival" in _active(bot)
    for user in EXPERTS:  # each open message redrawn with today's labels
        now = _one_open(bot, user)
        assert now["ts"] == out[user]["ts"]
        assert "arrival" in _offered(now) and "card_arrival" not in _offered(now)
    assert len(bot.api.calls("chat.update")) > before
    # a stale click on the old button: stored under the new name
    eid = example_id(out[ANA])
    bot.slack.choose(ANA, out[ANA], "card_arrival")
    bot.settle()
    assert _votes(bot, eid) == [(ANA, "arrival")]
    assert "Labeled arrival by" in _now(bot, ANA, out[ANA])["text"]
    _one_open(bot, ANA)
    _no_trouble(bot, caplog)

    # merge: an old button of a merged label counts as the merge target
    out = {user: _one_open(bot, user) for user in EXPERTS}
    _submit(bot, view, "merge", ["age_limit", "exchange_rate"], "account_rules")
    for user in EXPERTS:
        now = _one_open(bot, user)
        assert "account_rules" in _offered(now) and "age_limit" not in _offered(now)
    eid = example_id(out[BOB])
    out_merge_bob = out[BOB]
    bot.slack.choose(BOB, out[BOB], "exchange_rate")
    bot.settle()
    assert _record(bot, eid)["label"] == "account_rules"
    assert "Labeled account_rules by" in _now(bot, BOB, out[BOB])["text"]
    _one_open(bot, BOB)
    _no_trouble(bot, caplog)

    # split: an old button stores nothing, says why, and the message offers the parts
    out = {user: _one_open(bot, user) for user in EXPERTS}
    _submit(bot, view, "split", ["arrival"], "arrival_late, arrival_lost")
    eid = example_id(out[CY])
    bot.slack.choose(CY, out[CY], "arrival")  # the button as it was before the split
    bot.settle()
    answer = bot.slack.ephemerals(CY)[-1]
    assert "split into arrival_late, arrival_lost" in answer and "Nothing was changed" in answer
    assert _record(bot, eid)["annotations"] == []
    now = _one_open(bot, CY)
    assert now["ts"] == out[CY]["ts"]
    assert {"arrival_late", "arrival_lost"} <= _offered(now) and "arrival" not in _offered(now)
    _no_trouble(bot, caplog)

    # Undo on a labeled message whose label was split since: the vote is taken back and the
    # example offered again below, with today's labels; relabeled, one open example is left
    for user, answered, gone in (
        (ANA, first[ANA], "arrival"),
        (BOB, out_merge_bob, "exchange_rate"),
    ):
        eid = example_id(answered)
        waiting = _one_open(bot, user)
        bot.slack.click(user, _now(bot, user, answered), ids.UNDO)
        bot.settle()
        assert f"undid the label *{gone}*" in _now(bot, user, answered)["text"]
        assert _votes(bot, eid) == []
        (again,) = [m for m in _open(bot, user) if example_id(m) == eid]
        assert again["ts"] != answered["ts"]
        bot.slack.choose(user, again, "arrival_late")
        bot.settle()
        assert _votes(bot, eid) == [(user, "arrival_late")]
        assert [m["ts"] for m in _open(bot, user)] == [waiting["ts"]]  # not posted twice
    _no_trouble(bot, caplog)

    # retire mapped to another label: an old button counts as that label, as a merge does
    out = {user: _one_open(bot, user) for user in EXPERTS}
    _submit(bot, view, "retire", ["atm_support"], "change_pin")
    assert "atm_support" not in _active(bot)
    eid = example_id(out[ANA])
    bot.slack.choose(ANA, out[ANA], "atm_support")
    bot.settle()
    assert _votes(bot, eid) == [(ANA, "atm_support")] and _record(bot, eid)["label"] == "change_pin"
    assert "Labeled change_pin by" in _now(bot, ANA, out[ANA])["text"]
    assert example_id(_one_open(bot, ANA)) != eid
    _no_trouble(bot, caplog)

    # retire without a mapping: an old button stores nothing and says what to pick
    out = {user: _one_open(bot, user) for user in EXPERTS}
    _submit(bot, view, "retire", ["change_pin"])
    eid = example_id(out[BOB])
    told = len(bot.slack.ephemerals(BOB))
    bot.slack.choose(BOB, out[BOB], "change_pin")
    bot.settle()
    assert bot.slack.ephemerals(BOB)[told:] == [
        ":warning: The label 'change_pin' was retired; pick another (account_rules, "
        "arrival_late, arrival_lost). Nothing was changed."
    ]
    assert _votes(bot, eid) == []
    now = _one_open(bot, BOB)
    assert now["ts"] == out[BOB]["ts"] and "change_pin" not in _offered(now)
    _no_trouble(bot, caplog)

    # add: every open message offers the new label; an old button of a label still there works
    out = {user: _one_open(bot, user) for user in EXPERTS}
    _submit(bot, view, "add", names="lost_card", description="My card was lost")
    for user in EXPERTS:
        assert _offered(_one_open(bot, user)) == {
            "account_rules",
            "arrival_late",
            "arrival_lost",
            "lost_card",
        }
    eid = example_id(out[CY])
    bot.slack.choose(CY, out[CY], "arrival_lost")
    bot.settle()
    assert _votes(bot, eid) == [(CY, "arrival_lost")]
    assert example_id(_one_open(bot, CY)) != eid
    _no_trouble(bot, caplog)

    # 7. proposals: a non-admin's Approve changes nothing; an admin approves one, rejects another
    pid = _propose(bot, "merge", ["arrival_late", "arrival_lost"], {}, "merge them back")
    pid2 = _propose(bot, "rare", ["lost_card"], {}, "lost_card is rare")
    post = proposal_poster(bot.services)
    assert post() == 2 and post() == 0
    cards = {pid: _card(bot, pid), pid2: _card(bot, pid2)}
    bot.slack.click(BOB, cards[pid], ids.PROPOSAL_APPROVE, channel=CHANNEL)
    bot.settle()
    assert "Only project admins can approve" in bot.slack.ephemerals(BOB)[-1]
    assert proposing.get_proposal(bot.ws, pid).status == "open"
    assert {"arrival_late", "arrival_lost"} <= set(_active(bot))
    assert _card(bot, pid) == cards[pid]  # untouched
    out = {user: _one_open(bot, user) for user in EXPERTS}
    bot.slack.click(ADMIN, cards[pid], ids.PROPOSAL_APPROVE, channel=CHANNEL)
    bot.settle()
    assert proposing.get_proposal(bot.ws, pid).status == "applied"
    assert "arrival_lost" not in _active(bot)
    assert (
        f"Approved by <@{ADMIN}>: merged arrival_lost into arrival_late" in _card(bot, pid)["text"]
    )
    assert _actions(_card(bot, pid)) == {ids.PROPOSAL_UNDO}
    assert _record(bot, eid)["label"] == "arrival_late"  # Cy's arrival_lost counts as it
    for user in EXPERTS:
        assert "arrival_lost" not in _offered(_one_open(bot, user))
    # a click on the old button of the label the proposal merged away
    user = next(u for u in EXPERTS if _one_open(bot, u)["ts"] == out[u]["ts"])
    eid = example_id(out[user])
    bot.slack.choose(user, out[user], "arrival_lost")
    bot.settle()
    assert _votes(bot, eid) == [(user, "arrival_lost")]
    assert _record(bot, eid)["label"] == "arrival_late"
    assert "Labeled arrival_late by" in _now(bot, user, out[user])["text"]
    assert example_id(_one_open(bot, user)) != eid
    told = len(bot.slack.ephemerals(ADMIN))
    bot.slack.click(ADMIN, cards[pid2], ids.PROPOSAL_REJECT, channel=CHANNEL)
    bot.settle()
    assert proposing.get_proposal(bot.ws, pid2).status == "rejected"
    assert _card(bot, pid2)["text"].endswith(f"Rejected by <@{ADMIN}>")
    assert _actions(_card(bot, pid2)) == set()
    assert bot.slack.ephemerals(ADMIN)[told:] == []
    assert "lost_card" in _active(bot)
    _no_trouble(bot, caplog)

    # 8. the digest, posted once, counting the votes that stand
    posts = len(bot.api.messages(CHANNEL))
    bot.slack.command(ADMIN, f"digest {PROJECT}")
    bot.settle()
    assert bot.slack.ephemerals(ADMIN)[-1] == f"Digest of *{PROJECT}* posted in <#{CHANNEL}>."
    (digest,) = bot.api.messages(CHANNEL)[posts:]
    live = [a for r in exporting.export_records(bot.ws, PROJECT) for a in r["annotations"]
            if a["source"] == "slack"]  # fmt: skip
    assert digest["text"].startswith(f"{PROJECT} digest: {len(live)} new labels")
    counts = {u: sum(a["annotator"] == u for a in live) for u in EXPERTS}
    head = digest["blocks"][1]["text"]["text"]
    assert all(f"<@{u}> {n}" in head for u, n in counts.items()), head
    _no_trouble(bot, caplog)


def test_changes_while_a_dispute_and_a_proposal_are_open(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    projects.update_settings(
        bot.ws, project=PROJECT, admins=[ADMIN], audit_share=0.0, multi_label_share=1.0,
        review_share=0.0,
    )  # fmt: skip
    pid = _propose(bot, "merge", ["age_limit", "exchange_rate"], {}, "merge them")
    assert proposal_poster(bot.services)() == 1
    card = _card(bot, pid)
    bot.slack.command(ANA)
    bot.settle()
    ana_msg = _one_open(bot, ANA)
    disputed = example_id(ana_msg)
    bot.slack.choose(ANA, ana_msg, "age_limit")
    bot.settle()
    bot.slack.command(BOB)
    bot.settle()
    bob_msg = _one_open(bot, BOB)
    assert example_id(bob_msg) == disputed
    bot.slack.choose(BOB, bob_msg, "card_arrival")
    bot.settle()
    (dispute,) = _roots(bot)[1:]
    dispute = copy.deepcopy(dispute)
    view = _open_modal(bot)

    # a rename: the proposal stays open under the new name, the thread names it anew
    _submit(bot, view, "rename", ["age_limit"], "min_age")
    shown = json.dumps(_root_of(bot, dispute)["blocks"])
    assert f"<@{ANA}> chose *min_age*" in shown and "Settle: min_age" in shown
    assert "age_limit" not in shown
    assert proposing.get_proposal(bot.ws, pid).status == "open"
    _no_trouble(bot, caplog)

    # a retire makes the proposal moot: its old Approve button changes nothing and says why
    _submit(bot, view, "retire", ["exchange_rate"])
    assert proposing.get_proposal(bot.ws, pid).status == "superseded"
    assert "exchange_rate" not in json.dumps(_root_of(bot, dispute)["blocks"])
    told = len(bot.slack.ephemerals(ADMIN))
    bot.slack.click(ADMIN, card, ids.PROPOSAL_APPROVE, channel=CHANNEL)
    bot.settle()
    assert bot.slack.ephemerals(ADMIN)[told:] == [
        ":warning: Proposal 1 was already superseded: exchange_rate is no longer a label (a "
        "taxonomy change since). Nothing was changed."
    ]
    assert proposing.get_proposal(bot.ws, pid).status == "superseded"
    assert _card(bot, pid)["text"] == f"Superseded taxonomy proposal for {PROJECT}"
    assert not [b for b in _card(bot, pid)["blocks"] if b["type"] == "actions"]
    assert "min_age" in _active(bot)
    _no_trouble(bot, caplog)

    # a split of Bob's label sets his vote aside: nothing left to settle, and the root says why
    _submit(bot, view, "split", ["card_arrival"], "arrival_late, arrival_lost")
    root = _root_of(bot, dispute)
    assert root["text"] == "The experts no longer disagree on this example"
    note = json.dumps(root["blocks"])
    assert "a change to the labels set one aside or made them agree" in note
    assert ids.SETTLE not in note
    told = len(bot.slack.ephemerals(ANA))
    bot.slack.click(ANA, dispute, f"{ids.SETTLE}:1", channel=CHANNEL)  # the old Settle button
    bot.settle()
    assert bot.slack.ephemerals(ANA)[told:] == [
        f":warning: The experts no longer disagree on example {disputed}. Nothing was changed."
    ]
    assert consensus.disagreements(bot.ws, PROJECT, include_settled=True) == []
    _no_trouble(bot, caplog)

    # undoing the split brings the disagreement back, with its Settle buttons, in the same root
    _submit(bot, _open_modal(bot), "undo")
    root = _root_of(bot, dispute)
    assert root["text"] == dispute["text"]
    assert "Settle: card_arrival" in json.dumps(root["blocks"])
    for user in (ANA, BOB):
        assert "card_arrival" in _offered(_one_open(bot, user))
    bot.slack.click(ANA, root, f"{ids.SETTLE}:1", channel=CHANNEL)
    bot.settle()
    (settled,) = consensus.disagreements(bot.ws, PROJECT, include_settled=True)
    assert settled.adjudicated is not None and settled.adjudicated.label == "card_arrival"
    assert _root_of(bot, dispute)["text"] == f"Settled as card_arrival by <@{ANA}>"
    cards = [r for r in _roots(bot) if '"block_id": "example_text:' in json.dumps(r["blocks"])
             or '"block_id": "proposal:' in json.dumps(r["blocks"])]  # fmt: skip
    assert len(cards) == 2  # the proposal and the one thread: nothing posted twice
    _no_trouble(bot, caplog)


def _disagreement(bot: Bot, ana: str, bob: str) -> dict[str, Any]:
    """Every example asks two experts (ADMIN is the project's admin); Ana labels hers ``ana``,
    Bob the same example ``bob``: the disagreement thread's root."""
    projects.update_settings(
        bot.ws, project=PROJECT, admins=[ADMIN], audit_share=0.0, multi_label_share=1.0
    )
    for user, label in ((ANA, ana), (BOB, bob)):
        bot.slack.command(user)
        bot.settle()
        bot.slack.choose(user, _one_open(bot, user), label)
        bot.settle()
    (dispute,) = _roots(bot)
    return dispute


def test_a_settled_thread_keeps_its_verdict_after_a_merge_of_its_labels(
    bot: Bot, bank: dict[str, str]
) -> None:
    dispute = copy.deepcopy(
        _disagreement(bot, "age_limit", "exchange_rate")
    )  # its Settle buttons, for a stale click later
    bot.slack.click(ADMIN, dispute, f"{ids.SETTLE}:0", channel=CHANNEL)
    bot.settle()
    assert _root_of(bot, dispute)["text"] == f"Settled as age_limit by <@{ADMIN}>"

    _submit(bot, _open_modal(bot), "merge", ["age_limit", "exchange_rate"], "account_rules")
    root = _root_of(bot, dispute)  # not "no longer disagree": the verdict, as it counts today
    assert root["text"] == f"Settled as account_rules by <@{ADMIN}>"
    shown = json.dumps(root["blocks"])
    verdict = f"Settled as *account_rules* (chosen as *age_limit*) by <@{ADMIN}>"
    assert f":white_check_mark: {verdict}" in shown
    assert f"<@{ANA}> chose *age_limit* (now *account_rules*)" in shown
    assert f"<@{BOB}> chose *exchange_rate* (now *account_rules*)" in shown
    assert ids.SETTLE not in shown
    drawn = len(bot.api.calls("chat.update"))

    # the scheduler's round leaves it so (it drew "no longer disagree" over it too)
    assert disputes.post_all_disputes(bot.services, seen={}) == 0
    seen: dict[int, object] = {}
    disputes.post_all_disputes(bot.services, seen=seen)
    disputes.post_all_disputes(bot.services, seen=seen)
    assert _root_of(bot, dispute)["text"] == f"Settled as account_rules by <@{ADMIN}>"
    assert len(bot.api.calls("chat.update")) == drawn

    # a rename follows the verdict; an old Settle button is told who settled it, as what
    _submit(bot, _open_modal(bot), "rename", ["account_rules"], "rules")
    assert _root_of(bot, dispute)["text"] == f"Settled as rules by <@{ADMIN}>"
    disputes.refresh_thread(bot.services, project=PROJECT, example_id=example_id(dispute))
    assert _root_of(bot, dispute)["text"] == f"Settled as rules by <@{ADMIN}>"
    bot.slack.click(ANA, dispute, f"{ids.SETTLE}:1", channel=CHANNEL)
    bot.settle()
    assert bot.slack.ephemerals(ANA)[-1] == (
        f":warning: This was already settled as *rules* by <@{ADMIN}>. Nothing was changed."
    )
    assert _record(bot, example_id(dispute))["label"] == "rules"

    # a change of other labels leaves it as it is (no chat.update of every settled thread)
    drawn = [c for c in bot.api.calls("chat.update") if c.params.get("ts") == dispute["ts"]]
    _submit(bot, _open_modal(bot), "add", names="fees")
    _submit(bot, _open_modal(bot), "rename", ["atm_support"], "atm")
    assert [c for c in bot.api.calls("chat.update") if c.params.get("ts") == dispute["ts"]] == drawn
    assert _root_of(bot, dispute)["text"] == f"Settled as rules by <@{ADMIN}>"


def test_a_thread_whose_voted_label_was_split_offers_only_todays_labels(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Ana's card_arrival against Bob's age_limit; card_arrival is split: the votes still
    disagree, and the thread offered "Settle: card_arrival", which could only be refused, the
    refusal redrawing the same button. Now it offers today's labels (the parts in the menu)."""
    dispute = _disagreement(bot, "card_arrival", "age_limit")
    _submit(bot, _open_modal(bot), "split", ["card_arrival"], "arr_a, arr_b")
    assert consensus.disagreements(bot.ws, PROJECT)  # still a disagreement
    root = _root_of(bot, dispute)
    shown = json.dumps(root["blocks"])
    assert f"<@{ANA}> chose *card_arrival* (no longer a label)" in shown
    assert "Settle: card_arrival" not in shown and "Settle: age_limit" in shown
    block_id, menu = button(root, f"{ids.SETTLE}:other")
    option = next(o for o in menu["options"] if o["text"]["text"] == "arr_a")
    payload = bot.slack.action_payload(ADMIN, root, f"{ids.SETTLE}:other", None,
                                       block_id=block_id, selected_option=option,
                                       channel=CHANNEL)  # fmt: skip
    bot.slack.post(signed_interactivity(bot.slack.secret, payload))
    bot.settle()
    record = _record(bot, example_id(dispute))
    assert record["label"] == "arr_a" and (ADMIN, "arr_a") in _votes(bot, example_id(dispute))
    assert _root_of(bot, dispute)["text"] == f"Settled as arr_a by <@{ADMIN}>"
    _no_trouble(bot, caplog)
