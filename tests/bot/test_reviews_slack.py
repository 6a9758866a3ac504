"""Mislabel reviews and disagreement threads through real HTTP and the local Slack Web API:
the review DM, Keep / Change / another label, the thread a disagreement opens in the project
channel, who may settle it, and the adjudication -- on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot import disputes, ids
from bot.views.disputes import DisputeCard, dispute_message, settle_value
from bot.views.limits import block_errors
from engine import consensus, labeling, projects, reviews
from storage.db import session_scope
from storage.repositories import feedback
from storage.repositories import projects as projects_repo
from storage.repositories import reviews as reviews_repo
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import button, example_id

ANA, BOB, CY = "U0ANA", "U0BOB", "U0CY"


def _label(bot: Bot, user: str, label: str) -> int:
    """``user`` labels their next example ``label`` without Slack; the example id."""
    task = labeling.next_task(bot.ws, project=PROJECT, annotator=user)
    assert task is not None
    labeling.submit_label(
        bot.ws,
        project=PROJECT,
        example_id=task.example_id,
        label=label,
        annotator=user,
        source="slack",
        key=f"test:{user}:{task.example_id}",
    )
    return task.example_id


def _doubt(bot: Bot, example: int, suggested: str) -> int:
    """Open a review of ``example``'s label as a scan would (suggesting ``suggested``)."""
    with session_scope(bot.ws.db) as s:
        project = projects_repo.get_project(session=s, name=PROJECT)
        assert project.id is not None
        ids_ = {
            lb.name: lb.id for lb in projects_repo.list_labels(session=s, project_id=project.id)
        }
        (row,) = feedback.example_annotations(session=s, example_id=example)
        review = reviews_repo.add_review(
            session=s,
            project_id=project.id,
            example_id=example,
            annotation_id=row.id,
            annotator=row.annotator,
            given_label_id=ids_[row.current],
            suggested_label_id=ids_[suggested],
            confidence=0.9,
            margin=0.6,
        )
        assert review is not None and review.id is not None
        return review.id


def _reviews(bot: Bot, user: str) -> list[dict[str, Any]]:
    """Review messages in ``user``'s DM still offering Keep."""
    found = []
    for message in bot.slack.dm(user):
        try:
            button(message, ids.REVIEW_KEEP)
        except AssertionError:
            continue
        found.append(message)
    return found


def test_review_dm_change_keep_and_other_label(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, review_share=1.0, multi_label_share=0.0)
    examples = [_label(bot, ANA, LABELS[0]) for _ in range(3)]
    first, second, third = (_doubt(bot, e, LABELS[1]) for e in examples)

    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = _reviews(bot, BOB)
    assert f"<@{ANA}> labeled this *{LABELS[0]}*" in str(message["blocks"])
    assert f"Change to {LABELS[1]}" in str(message["blocks"]) and example_id(message) in examples

    # Change to the model's suggestion -- clicked twice (a retry): stored once
    for _ in range(2):
        assert bot.slack.click(BOB, message, ids.REVIEW_CHANGE).status_code == 200
        bot.settle()
    rows = {r.id: r for r in reviews.list_reviews(bot.ws, project=PROJECT)}
    decided = [r for r in rows.values() if r.status != "open"]
    assert [(r.status, r.reviewer, r.outcome) for r in decided] == [("changed", BOB, LABELS[1])]
    updated = next(m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"])
    assert updated["text"] == f"Changed to {LABELS[1]} by <@{BOB}>"

    # the next task followed: another review (review_share 1.0); Keep it
    (message,) = _reviews(bot, BOB)
    bot.slack.click(BOB, message, ids.REVIEW_KEEP)
    bot.settle()
    updated = next(m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"])
    assert updated["text"] == f"Kept {LABELS[0]} by <@{BOB}>"

    # the last one: another label from the select
    (message,) = _reviews(bot, BOB)
    block_id, select = button(message, ids.REVIEW_SELECT)
    option = next(o for o in select["options"] if o["text"]["text"] == LABELS[3])
    payload = bot.slack.action_payload(
        BOB, message, ids.REVIEW_SELECT, None, block_id=block_id, selected_option=option
    )
    from tests.fakes.signing import signed_interactivity

    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()
    outcomes = {r.id: (r.status, r.outcome) for r in reviews.list_reviews(bot.ws, project=PROJECT)}
    assert sorted(outcomes.values()) == sorted(
        [("changed", LABELS[1]), ("kept", LABELS[0]), ("changed", LABELS[3])]
    )
    assert {first, second, third} == set(outcomes)
    assert not _reviews(bot, BOB)  # none left: the ordinary labeling message follows
    assert bot.slack.open_examples(BOB)
    assert not bot.api.warnings


def test_a_disagreement_opens_one_thread_and_is_settled_there(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(
        bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0, admins=["U0ADMIN"]
    )
    first = _label(bot, ANA, LABELS[0])
    bot.slack.command(BOB, "")  # the second opinion comes first
    bot.settle()
    (message,) = bot.slack.open_examples(BOB)
    assert example_id(message) == first
    bot.slack.choose(BOB, message, LABELS[2])
    bot.settle()

    (root,) = bot.api.messages(CHANNEL)
    text = str(root["blocks"])
    assert f"<@{ANA}> chose *{LABELS[0]}*" in text and f"<@{BOB}> chose *{LABELS[2]}*" in text
    assert disputes.post_all_disputes(bot.services) == 0  # opened once
    assert len(bot.api.messages(CHANNEL)) == 1

    # someone not involved and not an admin: told so, nothing stored
    where = {"channel": CHANNEL}
    bot.slack.click(CY, root, f"{ids.SETTLE}:1", **where)
    bot.settle()
    assert any("Only an admin" in t for t in bot.slack.ephemerals(CY))
    assert consensus.disagreements(bot.ws, PROJECT)

    # one of the experts involved settles it
    bot.slack.click(ANA, root, f"{ids.SETTLE}:1", **where)
    bot.settle()
    assert consensus.disagreements(bot.ws, PROJECT) == []
    (settled,) = consensus.disagreements(bot.ws, PROJECT, include_settled=True)
    assert settled.adjudicated is not None and settled.adjudicated.label == LABELS[2]
    assert settled.agreed == LABELS[2]
    root_now = bot.api.messages(CHANNEL)[0]
    assert root_now["text"] == f"Settled as {LABELS[2]} by <@{ANA}>"
    reply = [m for m in bot.api.messages(CHANNEL) if m.get("thread_ts") == root["ts"]]
    assert reply and f"<@{BOB}>" in reply[0]["text"]
    assert not bot.api.warnings


def test_a_disagreement_can_be_settled_on_a_label_nobody_chose(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Both experts may be wrong: the thread's "Another label…" menu offers the other labels."""
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    _label(bot, ANA, LABELS[0])
    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = bot.slack.open_examples(BOB)
    bot.slack.choose(BOB, message, LABELS[2])
    bot.settle()
    (root,) = bot.api.messages(CHANNEL)
    block_id, menu = button(root, f"{ids.SETTLE}:other")
    offered = [o["text"]["text"] for o in menu["options"]]
    model = consensus.disagreements(bot.ws, PROJECT)[0].model
    on_buttons = {LABELS[0], LABELS[2]} | ({model[0]} if model else set())
    assert sorted(offered) == sorted(set(LABELS) - on_buttons)
    other = offered[0]
    option = next(o for o in menu["options"] if o["text"]["text"] == other)
    payload = bot.slack.action_payload(ANA, root, f"{ids.SETTLE}:other", None, block_id=block_id,
                                       selected_option=option, channel=CHANNEL)  # fmt: skip
    bot.slack.post(signed_interactivity(bot.slack.secret, payload))
    bot.settle()
    (settled,) = consensus.disagreements(bot.ws, PROJECT, include_settled=True)
    assert settled.adjudicated is not None and settled.adjudicated.label == other
    assert bot.api.messages(CHANNEL)[0]["text"] == f"Settled as {other} by <@{ANA}>"
    assert not bot.api.warnings


def test_the_settle_menu_groups_many_labels_within_block_kit_limits() -> None:
    labels = [f"intent_{i:03d}" for i in range(150)]
    card = DisputeCard(example_id=7, text="t", project="p", votes=[("U1", labels[3]),
                       ("U2", labels[9])], model=("intent_042", 0.6), involved=["U1", "U2"],
                       labels=labels)  # fmt: skip
    message = dispute_message(card)
    assert block_errors(message["blocks"]) == []
    (menu,) = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
               if e["type"] == "static_select"]  # fmt: skip
    values = [o["value"] for g in menu["option_groups"] for o in g["options"]]
    assert len(values) == 147 and all(len(g["options"]) <= 100 for g in menu["option_groups"])
    assert settle_value(7, "intent_042") not in values and settle_value(7, "intent_000") in values


def test_the_scheduler_job_opens_threads_for_disagreements(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    first = _label(bot, ANA, LABELS[0])
    assert _label(bot, BOB, LABELS[1]) == first  # outside Slack: no thread yet
    assert bot.api.messages(CHANNEL) == []
    assert disputes.post_all_disputes(bot.services) == 1
    assert disputes.post_all_disputes(bot.services) == 0
    assert len(bot.api.messages(CHANNEL)) == 1


def test_review_dm_offers_a_200_character_label(bot: Bot, bank: dict[str, str]) -> None:
    """A menu option's value holds 150 characters: the long label travels as its id, so the
    review DM is accepted and choosing the label stores it."""
    long_name = ("Customer disputes a card payment made abroad in another currency " * 4)[:200]
    projects.add_labels(bot.ws, project=PROJECT, names=[long_name])
    projects.update_settings(bot.ws, project=PROJECT, review_share=1.0, multi_label_share=0.0)
    review = _doubt(bot, _label(bot, ANA, LABELS[0]), LABELS[1])
    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = _reviews(bot, BOB)  # the fake Web API rejects invalid blocks
    block_id, select = button(message, ids.REVIEW_SELECT)
    option = next(o for o in select["options"] if o["text"]["text"].startswith("Customer"))
    assert len(option["value"]) <= 150 and len(option["text"]["text"]) <= 75
    payload = bot.slack.action_payload(
        BOB, message, ids.REVIEW_SELECT, None, block_id=block_id, selected_option=option
    )
    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()
    (decided,) = [r for r in reviews.list_reviews(bot.ws, project=PROJECT) if r.id == review]
    assert (decided.status, decided.outcome) == ("changed", long_name)
    assert not _reviews(bot, BOB)
