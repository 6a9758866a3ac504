"""Taxonomy proposals in the project channel, over real HTTP: posted with their evidence and
Approve / Reject, decided by admins only, applied through the engine -- on SQLite and PostgreSQL.
Proposals are stored directly (detection is tested in tests/engine/test_proposing.py)."""

from __future__ import annotations

import copy
import json
from typing import Any

from bot import ids
from bot.scheduling import proposal_poster
from bot.views.proposals import ProposalCard, proposal_message, sample_groups
from engine import projects, proposing
from storage.db import session_scope
from storage.repositories import projects as project_repo
from storage.repositories import proposals as repo
from tests.bot.conftest import CHANNEL, PROJECT, Bot

ADMIN, EXPERT = "U0ADMIN", "U0EXPERT"
LONG = "x" * 5000 + " <!channel> & more"


def _propose(bot: Bot, kind: str, labels: list[str], evidence: dict[str, Any], msg: str) -> int:
    with session_scope(bot.ws.db) as session:
        found = project_repo.get_project(session=session, name=PROJECT)
        assert found.id is not None
        row, _ = repo.save_open_proposal(
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
    assert "How old must I be? &lt;@U123&gt;" in blocks and "<@U123>" not in blocks
    assert "&lt;!channel&gt;" not in blocks and "…" in blocks  # the long text was cut
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in message["blocks"])
    action_ids = {el["action_id"] for b in message["blocks"] if b["type"] == "actions"
                  for el in b["elements"]}  # fmt: skip
    assert action_ids == {ids.PROPOSAL_APPROVE, ids.PROPOSAL_REJECT}
    row = proposing.get_proposal(bot.ws, pid)
    assert (row.channel, row.message_ts) == (CHANNEL, message["ts"])
    assert not bot.api.warnings


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
    assert not any(b["type"] == "actions" for b in updated["blocks"])

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
