"""After a taxonomy change, every message still waiting for an answer offers today's labels:
not only labeling messages, but a review on a reviewer's screen and an unsettled disagreement
thread in the project channel. Before, those two kept their old menus (an audit found it: a label
added or split since could not be picked there, and a click on a split label was told to "pick
one of those" from a menu that did not have them). A stale pick on them is refused, naming
where the label went, and the message redrawn -- through real HTTP and the local Slack Web API,
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot import ids
from bot.scheduling import screen_redrawer
from engine import consensus, projects, reviews, taxonomy
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot
from tests.bot.test_dispute_redraw import _root, _settle_buttons, _vote
from tests.bot.test_reviews_slack import ANA, BOB, _doubt, _label, _reviews
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import button


def _menu(message: dict[str, Any], action_id: str) -> dict[str, dict[str, Any]]:
    """The options of the menu ``action_id`` on ``message``, by label name."""
    _, menu = button(message, action_id)
    options = menu.get("options") or [o for g in menu["option_groups"] for o in g["options"]]
    return {o["text"]["text"]: o for o in options}


def _pick(bot: Bot, user: str, message: dict[str, Any], action_id: str, option: dict[str, Any],
          *, channel: str | None = None) -> None:  # fmt: skip
    block_id, _ = button(message, action_id)
    payload = bot.slack.action_payload(user, message, action_id, None, block_id=block_id,
                                       selected_option=option, channel=channel)  # fmt: skip
    bot.slack.post(signed_interactivity(bot.slack.secret, payload))
    bot.settle()


def _dispute(bot: Bot) -> int:
    """Ana says LABELS[0], Bob LABELS[2]: the example, its thread opened in the channel."""
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    example = _label(bot, ANA, LABELS[0])
    _vote(bot, BOB, LABELS[2], example)
    return example


def test_a_change_from_the_cli_redraws_the_disagreement_thread(bot: Bot, bank: Any) -> None:
    _dispute(bot)
    redraw = screen_redrawer(bot.services)
    assert redraw() == 0  # the first round notes where the project stands
    other = next(n for n in _menu(_root(bot), f"{ids.SETTLE}:other") if n != LABELS[2])
    taxonomy.rename_label(bot.ws, project=PROJECT, label=LABELS[2], new_name="atm_help",
                          actor="ops")  # fmt: skip
    taxonomy.add_labels(bot.ws, project=PROJECT, names=["fees"], actor="ops")
    taxonomy.split_label(bot.ws, project=PROJECT, label=other, into=["part_a", "part_b"],
                         actor="ops")  # fmt: skip

    assert redraw() >= 1
    root = _root(bot)
    assert _settle_buttons(root) == [LABELS[0], "atm_help"]  # Bob's vote, as it counts now
    assert f"<@{BOB}> chose *atm_help*" in str(root["blocks"])
    offered = _menu(root, f"{ids.SETTLE}:other")
    assert {"fees", "part_a", "part_b"} <= set(offered) and other not in offered


def test_a_stale_settle_pick_is_refused_with_where_it_went_and_the_thread_redrawn(
    bot: Bot, bank: Any
) -> None:
    example = _dispute(bot)
    stale = _root(bot)
    menu = _menu(stale, f"{ids.SETTLE}:other")
    gone = next(iter(menu))
    taxonomy.split_label(bot.ws, project=PROJECT, label=gone, into=["part_a", "part_b"],
                         actor="ops")  # the CLI: nothing redrawn yet  # fmt: skip

    _pick(bot, ANA, stale, f"{ids.SETTLE}:other", menu[gone], channel=CHANNEL)

    assert bot.slack.ephemerals(ANA)[-1] == (
        f":warning: The label '{gone}' was split into part_a, part_b: pick one of those. "
        "Nothing was changed."
    )
    offered = _menu(_root(bot), f"{ids.SETTLE}:other")
    assert {"part_a", "part_b"} <= set(offered) and gone not in offered
    (found,) = consensus.disagreements(bot.ws, PROJECT, example_id=example)
    assert found.adjudicated is None  # nothing settled

    _pick(bot, ANA, _root(bot), f"{ids.SETTLE}:other", offered["part_a"], channel=CHANNEL)
    (settled,) = consensus.disagreements(bot.ws, PROJECT, include_settled=True)
    assert settled.adjudicated is not None and settled.adjudicated.label == "part_a"


def _review_on_screen(bot: Bot) -> tuple[int, dict[str, Any]]:
    projects.update_settings(bot.ws, project=PROJECT, review_share=1.0, multi_label_share=0.0)
    example = _label(bot, ANA, LABELS[0])
    review = _doubt(bot, example, LABELS[1])
    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = _reviews(bot, BOB)
    return review, message


def test_a_change_from_the_cli_redraws_a_review_on_screen(bot: Bot, bank: Any) -> None:
    review, before = _review_on_screen(bot)
    redraw = screen_redrawer(bot.services)
    assert redraw() == 0
    third = LABELS[3]
    assert third in _menu(before, ids.REVIEW_SELECT)
    taxonomy.add_labels(bot.ws, project=PROJECT, names=["fees"], actor="ops")
    taxonomy.split_label(bot.ws, project=PROJECT, label=third, into=["part_a", "part_b"],
                         actor="ops")  # fmt: skip

    assert redraw() >= 1
    (now,) = _reviews(bot, BOB)
    assert now["ts"] == before["ts"]  # the same message, redrawn
    offered = _menu(now, ids.REVIEW_SELECT)
    assert {"fees", "part_a", "part_b"} <= set(offered) and third not in offered
    assert [r.status for r in reviews.list_reviews(bot.ws, project=PROJECT) if r.id == review] == [
        "open"
    ]


def test_a_stale_review_pick_is_refused_with_where_it_went_and_the_card_redrawn(
    bot: Bot, bank: Any
) -> None:
    review, stale = _review_on_screen(bot)
    menu = _menu(stale, ids.REVIEW_SELECT)
    third = LABELS[3]
    taxonomy.split_label(bot.ws, project=PROJECT, label=third, into=["part_a", "part_b"],
                         actor="ops")  # the CLI: nothing redrawn yet  # fmt: skip

    _pick(bot, BOB, stale, ids.REVIEW_SELECT, menu[third])

    assert bot.slack.ephemerals(BOB)[-1] == (
        f":warning: The label '{third}' was split into part_a, part_b: pick one of those. "
        "Nothing was changed."
    )
    (now,) = _reviews(bot, BOB)  # still open, and now offering the parts
    offered = _menu(now, ids.REVIEW_SELECT)
    assert {"part_a", "part_b"} <= set(offered) and third not in offered

    _pick(bot, BOB, now, ids.REVIEW_SELECT, offered["part_b"])
    (row,) = [r for r in reviews.list_reviews(bot.ws, project=PROJECT) if r.id == review]
    assert row.status == "changed"
