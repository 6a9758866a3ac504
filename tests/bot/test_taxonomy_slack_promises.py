"""README's "Taxonomy in Slack" and "Proposals from the model" promises that no other test
drove through the real Bolt app, over real HTTP on SQLite and PostgreSQL: describe and retire
from the `/label taxonomy` form, every bad change answered in the form (a refusal too, naming
the project as typed), old buttons of a retired, split or removed label, and proposal cards
clicked twice at once, clicked once superseded or once their change was undone elsewhere,
clicked with another card's value, approved while an expert holds an example, rejected and
found again, and an *add* approved under the admin's own names."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from bot import ids
from bot.scheduling import proposal_poster
from engine import projects, proposing, taxonomy
from storage.db import session_scope
from storage.repositories import feedback
from tests.bot.conftest import CHANNEL, PROJECT, Bot, taxonomy_form
from tests.bot.test_proposals_slack import (
    _action_ids,
    _edit_submit,
    _errors,
    _merge,
    _posted,
    _propose,
)
from tests.bot.test_taxonomy_slack import ADMIN, EXPERT, _active, _deliver, _open_modal, _submit
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import choices, example_id


def _labels_of(bot: Bot, message: dict[str, Any]) -> list[str]:
    """The labels stored on the example a labeling message shows (live votes)."""
    eid = example_id(message)
    assert eid is not None
    with session_scope(bot.ws.db, read_only=True) as session:
        return [a.label for a in feedback.example_annotations(session=session, example_id=eid)]


def _history(bot: Bot) -> list[str]:
    return [h.kind for h in taxonomy.label_history(bot.ws, project=PROJECT)]


def test_describe_and_retire_from_the_modal(bot: Bot, bank: dict[str, str]) -> None:
    """Describe sets the guidelines anyone reads with `/label guidelines`; retire with a label
    under New name(s) maps its examples there, without one sends them back to the queue. Each is
    recorded under the admin's id and announced in the channel."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    view = _open_modal(bot)

    closed = _submit(bot, view, "describe", ["atm_support"], description="Cash machines & ATMs")
    assert closed.status_code == 200 and not closed.content
    (label,) = [
        lb for lb in projects.list_labels(bot.ws, project=PROJECT) if lb.name == "atm_support"
    ]
    assert label.description == "Cash machines & ATMs"
    bot.slack.command(EXPERT, f"guidelines {PROJECT}")  # anyone who labels reads them
    bot.settle()
    assert "Cash machines &amp; ATMs" in json.dumps(bot.api.calls("response_url")[-1].params)

    message = _deliver(bot)
    bot.slack.choose(EXPERT, message, "age_limit")
    bot.settle()
    assert not _submit(bot, view, "retire", ["age_limit"], "exchange_rate").content
    assert "age_limit" not in _active(bot)
    assert _labels_of(bot, message) == ["age_limit"]  # stored as given: it counts as the target
    assert not _submit(bot, view, "retire", ["change_pin"]).content  # unmapped
    assert "change_pin" not in _active(bot)

    history = taxonomy.label_history(bot.ws, project=PROJECT)
    assert [h.kind for h in history] == ["describe", "retire", "retire"]
    assert {h.actor for h in history} == {ADMIN}
    said = [m["text"] for m in bot.api.messages(CHANNEL)]
    assert any(f"<@{ADMIN}> changed the labels" in t and "atm_support" in t for t in said)
    assert any("retired age_limit" in t and "exchange_rate" in t for t in said), said
    assert any("retired change_pin" in t for t in said), said


def test_every_bad_change_is_shown_in_the_form(bot: Bot, bank: dict[str, str]) -> None:
    """A name taken (in another case too), a label merged with itself, a retire mapped to
    itself, an empty or invisible name, duplicate new names, a label changed since the form
    opened: each keeps the form open with the reason under its field, and changes nothing."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    view = _open_modal(bot)
    by_name = {lb.name: str(lb.id) for lb in projects.list_labels(bot.ws, project=PROJECT)}
    names, labels = ids.TAXONOMY_NAMES_BLOCK, ids.TAXONOMY_LABELS_BLOCK
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"op": "rename", "label_ids": [by_name["change_pin"]], "names": "   "}, names,
         "Give the new name"),
        ({"op": "rename", "label_ids": [by_name["change_pin"]], "names": "Age_Limit"}, names,
         "age_limit"),
        ({"op": "rename", "label_ids": [by_name["change_pin"]], "names": "change_pin"}, names,
         "already called that"),
        ({"op": "rename", "label_ids": [by_name["change_pin"]], "names": "pin\u200bchange"},
         names, "invisible"),
        ({"op": "add", "names": "   "}, names, "Name the label"),
        ({"op": "add", "names": " , ,"}, names, "An empty label name in ', ,'"),  # as the CLI
        ({"op": "add", "names": "lost_card, Lost_Card"}, names, "Duplicate label names"),
        ({"op": "split", "label_ids": [by_name["card_arrival"]], "names": "late, Late"}, names,
         "Duplicate label names"),
        # Slack's menu sends a label once; a payload naming it twice is a merge with itself
        ({"op": "merge", "label_ids": [by_name["age_limit"]] * 2}, labels, "with itself"),
        ({"op": "merge", "label_ids": [by_name["age_limit"]], "names": "age_limit"}, labels,
         "two or more"),
        ({"op": "retire", "label_ids": [by_name["age_limit"]], "names": "age_limit"}, names,
         "map it to itself"),
        ({"op": "retire", "label_ids": [by_name["age_limit"]], "names": "nope"}, names, "nope"),
    ]  # fmt: skip
    for fields, block, words in cases:
        body = taxonomy_form(ADMIN, private_metadata=view["private_metadata"], **fields)
        response = bot.slack.post(signed_interactivity(bot.slack.secret, body))
        assert response.status_code == 200, (fields, response.text)
        answer = response.json()
        assert answer["response_action"] == "errors", (fields, answer)
        assert list(answer["errors"]) == [block], (fields, answer)
        assert words in answer["errors"][block], (fields, answer)
    bot.settle()
    assert _history(bot) == [] and sorted(_active(bot)) == sorted(by_name)

    # a label merged away since the form opened: the form says so and changes nothing
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=["atm_support", "change_pin"],
                          actor="carol")  # fmt: skip
    answer = _submit(bot, view, "rename", ["change_pin"], "pin_change").json()
    assert "changed meanwhile" in answer["errors"][labels]
    assert _history(bot) == ["merge"]


def test_old_buttons_of_a_retired_or_removed_label_store_nothing(
    bot: Bot, bank: dict[str, str]
) -> None:
    """An expert's message still showing a label an admin retired (no mapping), split, or added
    and then undid (the label is removed): the click stores nothing, says why, and the same
    message offers today's labels, whose click is stored."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    view = _open_modal(bot)
    message = _deliver(bot)

    _submit(bot, view, "retire", ["age_limit"])
    bot.slack.choose(EXPERT, message, "age_limit")
    bot.settle()
    assert "age_limit" in bot.slack.ephemerals(EXPERT)[-1]
    assert "Nothing was changed" in bot.slack.ephemerals(EXPERT)[-1]
    assert _labels_of(bot, message) == []

    _submit(bot, view, "split", ["card_arrival"], "card_delivery, card_tracking")
    bot.slack.choose(EXPERT, message, "card_arrival")
    bot.settle()
    assert "split into card_delivery, card_tracking" in bot.slack.ephemerals(EXPERT)[-1]
    assert _labels_of(bot, message) == []

    assert not _submit(bot, view, "add", names="lost_card").content
    (with_new,) = bot.slack.open_examples(EXPERT)  # redrawn with the new label
    assert "lost_card" in {c.label for c in choices(with_new)}
    assert not _submit(bot, _open_modal(bot), "undo").content  # the add undone: removed
    assert "lost_card" not in {lb.name for lb in projects.list_labels(bot.ws, project=PROJECT)}
    *_, added, undo = taxonomy.label_history(bot.ws, project=PROJECT)
    bot.slack.choose(EXPERT, with_new, "lost_card")
    bot.settle()
    answer = bot.slack.ephemerals(EXPERT)[-1]
    assert (  # the button's label by name, and why it went
        f"The label 'lost_card' no longer exists: it was removed when change #{added.id}, which "
        f"added it, was undone (#{undo.id}); the message now shows today's labels. Nothing was "
        "changed."
    ) in answer, answer
    assert _labels_of(bot, message) == []

    (now,) = bot.slack.open_examples(EXPERT)
    assert now["ts"] == message["ts"] and example_id(now) == example_id(message)
    offered = {c.label for c in choices(now)}
    assert not {"age_limit", "card_arrival", "lost_card"} & offered
    bot.slack.choose(EXPERT, now, "card_tracking")
    bot.settle()
    assert _labels_of(bot, message) == ["card_tracking"]


def _click(bot: Bot, user: str, message: dict[str, Any], action_id: str) -> httpx.Response:
    return bot.slack.click(user, message, action_id, channel=CHANNEL)


def test_two_approve_clicks_at_once_apply_the_change_once(bot: Bot, bank: dict[str, str]) -> None:
    """A double click (or two admins at once) on Approve: both acked, one change applied, the
    other click told the proposal was already applied, and the card shows one verdict."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN, "U0ADMIN2"])
    pid = _merge(bot)
    proposal_poster(bot.services)()
    message = _posted(bot)
    answers: list[httpx.Response] = []
    clicks = [
        threading.Thread(target=lambda u=user: answers.append(_click(bot, u, message,
                                                                     ids.PROPOSAL_APPROVE)))
        for user in (ADMIN, "U0ADMIN2")
    ]  # fmt: skip
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    bot.settle()
    assert [a.status_code for a in answers] == [200, 200]
    assert _history(bot) == ["merge"]
    row = proposing.get_proposal(bot.ws, pid)
    assert row.status == "applied" and row.decided_by in (ADMIN, "U0ADMIN2")
    loser = "U0ADMIN2" if row.decided_by == ADMIN else ADMIN
    (refusal,) = bot.slack.ephemerals(loser)
    assert f"Proposal {pid} was already applied by <@{row.decided_by}>" in refusal
    assert "Nothing was changed" in refusal and not bot.slack.ephemerals(str(row.decided_by))
    card = _posted(bot)
    assert f"Approved by <@{row.decided_by}>" in card["text"]
    assert _action_ids(card) == {ids.PROPOSAL_UNDO}


def test_clicks_on_a_superseded_card_change_nothing(bot: Bot, bank: dict[str, str]) -> None:
    """An admin retired one of a merge proposal's labels, which superseded it; the card still
    shows its buttons until the scheduler's next round. Approve, Edit names and Reject on it
    say it was superseded, apply and record nothing, and redraw the card at once."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid = _merge(bot)  # age_limit + exchange_rate
    proposal_poster(bot.services)()
    stale = _posted(bot)
    taxonomy.retire_label(bot.ws, project=PROJECT, label="age_limit", actor="carol")
    assert proposing.get_proposal(bot.ws, pid).status == "superseded"
    before = (_history(bot), sorted(_active(bot)))

    for action in (ids.PROPOSAL_APPROVE, ids.PROPOSAL_EDIT, ids.PROPOSAL_REJECT):
        _click(bot, ADMIN, stale, action)
        bot.settle()
        said = bot.slack.ephemerals(ADMIN)[-1]
        assert f"Proposal {pid} was already superseded" in said, (action, said)
        assert "age_limit is no longer a label (a taxonomy change since)" in said  # as its card
        assert "Nothing was changed" in said
    assert not bot.api.calls("views.open")  # no form for a proposal nobody can approve
    assert (_history(bot), sorted(_active(bot))) == before
    row = proposing.get_proposal(bot.ws, pid)
    assert row.status == "superseded" and row.decided_by is None
    card = _posted(bot)  # redrawn by the click, not left for the next round
    assert not _action_ids(card)
    assert "Superseded: age_limit is no longer a label" in json.dumps(card["blocks"])


def test_an_approval_and_its_undo_redraw_the_examples_waiting(
    bot: Bot, bank: dict[str, str]
) -> None:
    """After Approve on a merge proposal, the example waiting in an expert's DM offers the
    merged labels no more; after Undo on the card, it offers them again."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    held = _deliver(bot)
    assert {"age_limit", "exchange_rate"} <= {c.label for c in choices(held)}
    _merge(bot)
    proposal_poster(bot.services)()
    _click(bot, ADMIN, _posted(bot), ids.PROPOSAL_APPROVE)
    bot.settle()

    (now,) = bot.slack.open_examples(EXPERT)
    assert now["ts"] == held["ts"] and example_id(now) == example_id(held)
    offered = {c.label for c in choices(now)}
    assert "age_limit" not in offered and "exchange_rate" in offered

    _click(bot, ADMIN, _posted(bot), ids.PROPOSAL_UNDO)
    bot.settle()
    (again,) = bot.slack.open_examples(EXPERT)
    assert again["ts"] == held["ts"]
    assert {"age_limit", "exchange_rate"} <= {c.label for c in choices(again)}


def _found(strength: float) -> Any:
    """The merge of age_limit and exchange_rate as the detectors find it, at ``strength``."""
    from engine.proposals import Proposal

    return Proposal(
        kind="merge", labels=("age_limit", "exchange_rate"), score=0.8,
        evidence={"confusion": 0.3, "counts": {"age_limit": 4, "exchange_rate": 6}},
        key=("merge", "age_limit", "exchange_rate"),
        message="Merge age_limit and exchange_rate: the model confuses them",
        evidence_strength=strength,
    )  # fmt: skip


def test_a_proposal_rejected_on_its_card_returns_only_on_grown_evidence(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rejected on its card, the merge is found again by the next looks: on the same evidence it
    is not proposed (no card), on evidence grown by half it is a new proposal with a card of its
    own. The detectors are stood in for (detection: tests/engine/test_proposing.py); the
    refresh around them, the filter, the rejection and the posting are the real ones."""
    import engine.proposals as detectors
    from engine import labeling

    strength = {"now": 6.0}
    monkeypatch.setattr(detectors, "out_of_fold_proba", lambda *a, **k: None)
    monkeypatch.setattr(detectors, "split_views", lambda *a, **k: None)
    monkeypatch.setattr(detectors, "propose_merges", lambda *a, **k: [_found(strength["now"])])
    for name in ("propose_splits", "rare_labels", "propose_additions"):
        monkeypatch.setattr(detectors, name, lambda *a, **k: [])
    bot.api.add_user("U0OWNER", is_owner=True)  # no project admins: the workspace's decide
    for i, label in enumerate(["age_limit", "exchange_rate"]):  # two labels: something to read
        task = labeling.next_task(bot.ws, project=PROJECT, annotator="U0SEED")
        assert task is not None
        labeling.submit_label(bot.ws, project=PROJECT, example_id=task.example_id, label=label,
                              annotator="U0SEED", source="cli", key=f"seed:{i}")  # fmt: skip
    post = proposal_poster(bot.services)
    for _ in range(2):  # found by two looks: the channel gets it
        proposing.refresh_proposals(bot.ws, PROJECT)
    assert post() == 1
    (first,) = proposing.list_proposals(bot.ws, PROJECT)
    _click(bot, "U0OWNER", _posted(bot), ids.PROPOSAL_REJECT)
    bot.settle()
    assert proposing.get_proposal(bot.ws, first.id).status == "rejected"

    strength["now"] = 8.0  # grown, but not by half
    for _ in range(2):
        assert proposing.refresh_proposals(bot.ws, PROJECT) == []
    assert post() == 0 and len(bot.api.messages(CHANNEL)) == 1

    strength["now"] = 9.0  # 1.5 x 6
    for _ in range(2):
        (again,) = proposing.refresh_proposals(bot.ws, PROJECT)
    assert again.id != first.id and post() == 1
    cards = [m for m in bot.api.messages(CHANNEL) if m["ts"] != first.message_ts]
    (card,) = cards
    assert ids.PROPOSAL_APPROVE in _action_ids(card)
    assert proposing.get_proposal(bot.ws, first.id).status == "rejected"  # its card says so


def test_edit_names_of_an_add_proposal(bot: Bot, bank: dict[str, str]) -> None:
    """The form of an *add* offers the label to add; the admin's own names are added instead
    (one or more), a name taken is shown in the form, and the card shows the verdict."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid = _propose(bot, "add", ["lost_card"], {"ids": [], "size": 3}, "Add a label 'lost_card'?")
    proposal_poster(bot.services)()
    _click(bot, ADMIN, _posted(bot), ids.PROPOSAL_EDIT)
    bot.settle()
    view: dict[str, Any] = bot.api.calls("views.open")[-1].params["view"]
    names = next(b for b in view["blocks"] if b.get("block_id") == ids.PROPOSAL_NAMES_BLOCK)
    assert names["element"]["initial_value"] == "lost_card"

    assert "already exists" in _errors(_edit_submit(bot, view, "lost_card, Age_Limit"))
    assert "lost_card" not in _active(bot) and proposing.get_proposal(bot.ws, pid).status == "open"
    assert not _edit_submit(bot, view, "card_lost, card_stolen").content
    assert {"card_lost", "card_stolen"} <= set(_active(bot)) and "lost_card" not in _active(bot)
    row = proposing.get_proposal(bot.ws, pid)
    assert (row.status, row.decided_by) == ("applied", ADMIN)
    card = _posted(bot)
    assert f"Approved by <@{ADMIN}>" in card["text"] and "card_stolen" in card["text"]
    assert _action_ids(card) == {ids.PROPOSAL_UNDO}


def test_a_non_admin_is_refused_in_the_form_with_the_project_named_as_typed(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Slack shows a form's errors as plain text: the refusal named the project "bank_" as
    mrkdwn escapes it, "bank<!date^00000000^{_}|_>", in the taxonomy and proposal forms."""
    projects.create_project(bot.ws, name="bank_", labels=["a", "b"])
    projects.update_settings(bot.ws, project="bank_", admins=[ADMIN])
    body = taxonomy_form(
        EXPERT, "add", names="c", private_metadata=json.dumps({"project": "bank_"})
    )
    answer = bot.slack.post(signed_interactivity(bot.slack.secret, body)).json()
    said = answer["errors"][ids.TAXONOMY_OPERATION_BLOCK]
    assert said.startswith("Only project admins can change the labels in bank_: ")
    assert "labelbot project set bank_ --admins" in said and "<!date" not in said
    assert [lb.name for lb in projects.list_labels(bot.ws, project="bank_")] == ["a", "b"]


def test_undo_on_a_card_whose_change_was_undone_elsewhere(bot: Bot, bank: dict[str, str]) -> None:
    """Approved on its card, its change undone in the CLI (or the form) before the scheduler's
    round redrew the card: Undo on it names who approved and who undid it, undoes nothing more,
    and redraws the card at once."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid = _merge(bot)
    proposal_poster(bot.services)()
    _click(bot, ADMIN, _posted(bot), ids.PROPOSAL_APPROVE)
    bot.settle()
    approved = _posted(bot)
    taxonomy.undo_last(bot.ws, project=PROJECT, actor="U0BOB", rescore=False)
    assert ids.PROPOSAL_UNDO in _action_ids(_posted(bot))  # the round has not come yet

    _click(bot, ADMIN, approved, ids.PROPOSAL_UNDO)
    bot.settle()
    said = bot.slack.ephemerals(ADMIN)[-1]
    assert f"Proposal {pid} was already approved by <@{ADMIN}>, and its change undone by " in said
    assert "<@U0BOB>" in said and "Nothing was changed" in said
    assert _history(bot) == ["merge", "undo"]
    card = _posted(bot)
    assert not _action_ids(card) and "Undone by <@U0BOB>" in json.dumps(card["blocks"])


def _value(message: dict[str, Any], action_id: str) -> str:
    return str(next(el["value"] for b in message["blocks"] if b["type"] == "actions"
                    for el in b["elements"] if el["action_id"] == action_id))  # fmt: skip


def test_a_decision_is_shown_on_the_proposals_own_card(bot: Bot, bank: dict[str, str]) -> None:
    """An admin's Approve whose click names another card than its proposal's (made up by hand):
    the verdict went on the card clicked, which lost its own proposal's buttons for good, and
    the approved proposal's card kept Approve (its sync saw the verdict recorded as shown). The
    verdict goes on the proposal's own card, and the other card is left as it was; Undo alike."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    first = _merge(bot)
    other = _propose(bot, "merge", ["atm_support", "change_pin"], {"confusion": 0.3}, "Merge b")
    post = proposal_poster(bot.services)
    post()
    cards = {int(m["blocks"][0]["block_id"].split(":")[1]): m for m in bot.api.messages(CHANNEL)}
    mine, theirs = json.loads(json.dumps(cards[first])), json.loads(json.dumps(cards[other]))

    for action in (ids.PROPOSAL_APPROVE, ids.PROPOSAL_UNDO):
        source = mine if action == ids.PROPOSAL_APPROVE else _card_of(bot, first)
        body = bot.slack.action_payload(ADMIN, theirs, action, _value(source, action),
                                        channel=CHANNEL)  # fmt: skip
        assert bot.slack.post(signed_interactivity(bot.slack.secret, body)).status_code == 200
        bot.settle()
        assert _card_of(bot, other) == theirs  # buttons and all
        assert proposing.get_proposal(bot.ws, other).status == "open"
        post()  # the scheduler's round: nothing left to put right
        assert _card_of(bot, other) == theirs
    assert _history(bot) == ["merge", "undo"]
    shown = _card_of(bot, first)
    blocks = json.dumps(shown["blocks"])
    assert f"Approved by <@{ADMIN}>" in blocks and f"Undone by <@{ADMIN}>" in blocks
    assert not _action_ids(shown)


def _card_of(bot: Bot, proposal_id: int) -> dict[str, Any]:
    block = f"{ids.PROPOSAL_BLOCK}:{proposal_id}"
    found = next(m for m in bot.api.messages(CHANNEL) if m["blocks"][0].get("block_id") == block)
    return json.loads(json.dumps(found))
