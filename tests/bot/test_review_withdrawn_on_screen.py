"""A review on a reviewer's screen that a change made moot says so at once, as an example a
change settled does: its message reads "This review was withdrawn: …", loses its Keep/Change
buttons, and the reviewer's next task follows -- once, not again at each later redraw. Before,
only a click on it said so (the message kept its buttons, and a later `/label` sent another task
beside it). For a change in Slack (the taxonomy form, a Settle in a disagreement thread) at once,
for one from the CLI at the scheduler's round; through real HTTP and the local Slack Web API, on
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot import disputes, ids
from bot.scheduling import screen_redrawer
from engine import consensus, labeling, projects, taxonomy
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot
from tests.bot.test_review_moot import _example_messages, _setup, _status
from tests.bot.test_reviews_slack import ANA, BOB, _doubt, _label, _reviews
from tests.bot.test_taxonomy_slack import ADMIN, _open_modal, _submit
from tests.fakes.slack_client import example_id

WITHDRAWN = (
    f"This review was withdrawn: the label '{LABELS[0]}' was split or retired since. "
    "Nothing was changed."
)


def _on_screen(bot: Bot) -> tuple[int, dict[str, Any]]:
    """Ana's LABELS[0] under review, the review in Bob's DM: (review id, its message)."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    _, review = _setup(bot)
    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = _reviews(bot, BOB)
    return review, message


def _now(bot: Bot, message: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"])


def _updates_of(bot: Bot, message: dict[str, Any]) -> int:
    return len([c for c in bot.api.calls("chat.update") if c.params.get("ts") == message["ts"]])


def test_a_review_a_change_in_slack_made_moot_says_so_at_once(bot: Bot, bank: Any) -> None:
    review, message = _on_screen(bot)
    _submit(bot, _open_modal(bot), "retire", [LABELS[0]])
    assert _status(bot, review) == "dismissed"

    assert _now(bot, message)["text"] == WITHDRAWN
    assert not _reviews(bot, BOB)  # no Keep/Change left
    (task,) = _example_messages(bot, BOB)  # the next task followed
    drawn, posted = _updates_of(bot, message), len(bot.slack.dm(BOB))

    # once: a later change (and the round after it) does not say it again nor send more work
    _submit(bot, _open_modal(bot), "add", names="fees")
    redraw = screen_redrawer(bot.services)
    redraw()
    taxonomy.add_labels(bot.ws, project=PROJECT, names=["charges"], actor="ops")
    redraw()
    assert _updates_of(bot, message) == drawn
    assert [m["ts"] for m in _example_messages(bot, BOB)] == [task["ts"]]
    assert len(bot.slack.dm(BOB)) == posted

    # the old button, clicked anyway, is answered as before, and no second next task follows
    bot.slack.click(BOB, message, ids.REVIEW_KEEP)
    bot.settle()
    assert _now(bot, message)["text"] == WITHDRAWN and not bot.slack.ephemerals(BOB)
    assert [example_id(m) for m in _example_messages(bot, BOB)] == [example_id(task)]


def test_a_review_a_change_from_the_cli_made_moot_says_so_at_the_round(bot: Bot, bank: Any) -> None:
    review, message = _on_screen(bot)
    redraw = screen_redrawer(bot.services)
    redraw()  # the first round notes where the project stands
    taxonomy.retire_label(bot.ws, project=PROJECT, label=LABELS[0], actor="ops")
    assert _status(bot, review) == "dismissed" and _reviews(bot, BOB)  # not drawn yet

    assert redraw() >= 1
    assert _now(bot, message)["text"] == WITHDRAWN and not _reviews(bot, BOB)
    assert len(_example_messages(bot, BOB)) == 1
    drawn = _updates_of(bot, message)
    taxonomy.add_labels(bot.ws, project=PROJECT, names=["fees"], actor="ops")
    redraw()
    assert _updates_of(bot, message) == drawn and len(_example_messages(bot, BOB)) == 1


def test_a_review_clicked_withdrawn_is_not_redrawn_again(bot: Bot, bank: Any) -> None:
    """Clicked first (the change from the CLI, no round yet): the click answers; the round
    after does not draw the same note again nor send another task."""
    _, message = _on_screen(bot)
    redraw = screen_redrawer(bot.services)
    redraw()
    taxonomy.retire_label(bot.ws, project=PROJECT, label=LABELS[0], actor="ops")
    bot.slack.click(BOB, message, ids.REVIEW_CHANGE)
    bot.settle()
    assert _now(bot, message)["text"] == WITHDRAWN
    drawn, shown = _updates_of(bot, message), [m["ts"] for m in _example_messages(bot, BOB)]
    assert len(shown) == 1
    redraw()
    assert _updates_of(bot, message) == drawn
    assert [m["ts"] for m in _example_messages(bot, BOB)] == shown


def test_a_settle_in_slack_withdraws_the_review_of_its_example_on_screen(
    bot: Bot, bank: Any
) -> None:
    """A review of an example that a disagreement thread settles meanwhile."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN], review_share=1.0,
                             multi_label_share=1.0, audit_share=0.0)  # fmt: skip
    eid = _label(bot, ANA, LABELS[0])  # asked blind of a second expert too
    review = _doubt(bot, eid, LABELS[1])
    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = _reviews(bot, BOB)
    labeling.submit_label(bot.ws, project=PROJECT, example_id=eid, label=LABELS[2],
                          annotator="U0CY", source="slack", key="test:cy")  # fmt: skip
    assert disputes.open_if_disputed(bot.services, project=PROJECT, example_id=eid)
    (root,) = [m for m in bot.api.messages(CHANNEL) if m.get("thread_ts", m["ts"]) == m["ts"]]
    assert _reviews(bot, BOB)  # still asking

    bot.slack.click(ADMIN, root, f"{ids.SETTLE}:0", channel=CHANNEL)
    bot.settle()
    assert consensus.disagreements(bot.ws, PROJECT, include_settled=True)[0].adjudicated
    assert _status(bot, review) == "dismissed"
    assert _now(bot, message)["text"].startswith("This review was withdrawn: ")
    assert not _reviews(bot, BOB) and len(_example_messages(bot, BOB)) == 1
