"""A review on a reviewer's screen that the mislabel scan dismissed (its label taken back, or
outvoted, since) says so at the scheduler's next round: "This review was withdrawn: …", its
Keep/Change buttons gone, and the reviewer's next task follows; once, across processes. Before,
only a taxonomy change or a Settle redrew it, so until then it kept its buttons. A round with
nothing withdrawn writes nothing and calls Slack for nothing. Through real HTTP and the local
Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from bot.scheduling import screen_redrawer
from engine import labeling, projects, reviews
from storage.db import session_scope
from storage.repositories import feedback
from tests.bot.conftest import LABELS, PROJECT, Bot
from tests.bot.test_review_moot import _example_messages, _status
from tests.bot.test_reviews_slack import ANA, BOB, _doubt, _label, _reviews

CY, DEE = "U0CY", "U0DEE"


def _take_back(bot: Bot, example: int) -> str:
    """Ana undoes her label under review."""
    with session_scope(bot.ws.db) as s:
        (row,) = feedback.example_annotations(session=s, example_id=example)
    assert labeling.undo(bot.ws, annotation_id=row.id, annotator=ANA) == example
    return f"the label '{LABELS[0]}' under review was taken back"


def _outvote(bot: Bot, example: int) -> str:
    """Two more experts label it LABELS[2], asked blind for a second and third opinion
    (:func:`_on_screen`): Ana's label is no longer the agreed one."""
    for user in (CY, DEE):
        labeling.submit_label(bot.ws, project=PROJECT, example_id=example, label=LABELS[2],
                              annotator=user, source="slack", key=f"test:{user}")  # fmt: skip
    return "the example's label changed since"


def _on_screen(bot: Bot) -> tuple[int, int, dict[str, Any]]:
    """Ana's LABELS[0] under review, the review in Bob's DM: (example, review, its message).
    Every example is asked of three experts (only :func:`_outvote` asks the other two)."""
    projects.update_settings(bot.ws, project=PROJECT, review_share=1.0, multi_label_share=1.0,
                             multi_label_k=3)  # fmt: skip
    example = _label(bot, ANA, LABELS[0])
    review = _doubt(bot, example, LABELS[1])
    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = _reviews(bot, BOB)
    return example, review, message


def _now(bot: Bot, message: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"])


def _updates_of(bot: Bot, message: dict[str, Any]) -> int:
    return len([c for c in bot.api.calls("chat.update") if c.params.get("ts") == message["ts"]])


@pytest.mark.parametrize("moot", [_take_back, _outvote], ids=["taken-back", "outvoted"])
def test_a_review_the_scan_dismissed_says_so_at_the_next_round(
    bot: Bot, bank: Any, moot: Callable[[Bot, int], str]
) -> None:
    example, review, message = _on_screen(bot)
    # two processes' scheduler rounds, each past its first one (no taxonomy change since)
    here, there = screen_redrawer(bot.services), screen_redrawer(bot.services)
    here(), there()
    reason = moot(bot, example)
    reviews.scan_project(bot.ws, PROJECT)  # the scheduler's scan, after a retrain
    assert _status(bot, review) == "dismissed"
    assert _reviews(bot, BOB)  # still asking: nothing drew it yet

    assert here() == 1
    withdrawn = f"This review was withdrawn: {reason}. Nothing was changed."
    assert _now(bot, message)["text"] == withdrawn
    assert not _reviews(bot, BOB)  # no Keep/Change left
    (task,) = _example_messages(bot, BOB)  # the next task followed
    drawn, posted = _updates_of(bot, message), len(bot.slack.dm(BOB))

    # once: the other process, and later rounds, neither draw it again nor send more work
    assert there() == 0 and here() == 0
    assert _updates_of(bot, message) == drawn and len(bot.slack.dm(BOB)) == posted
    assert [m["ts"] for m in _example_messages(bot, BOB)] == [task["ts"]]


@contextmanager
def _statements(bot: Bot) -> Iterator[list[str]]:
    """The SQL statements run on the bot's database meanwhile."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(bot.ws.db, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(bot.ws.db, "before_cursor_execute", record)


def test_a_round_with_nothing_withdrawn_is_one_look_per_project(bot: Bot, bank: Any) -> None:
    """A review on screen still asking, and a second project: a round writes nothing, calls
    Slack for nothing, and reads little (no redraw: no taxonomy change)."""
    _, review, message = _on_screen(bot)
    projects.create_project(bot.ws, name="other", labels=["a", "b"])
    redraw = screen_redrawer(bot.services)
    redraw()
    calls = len(bot.api.calls())
    with _statements(bot) as seen:
        assert redraw() == 0
    assert len(bot.api.calls()) == calls
    assert _status(bot, review) == "open" and _reviews(bot, BOB) == [_now(bot, message)]
    verbs = [s.lstrip().split()[0].upper() for s in seen]
    assert not {"INSERT", "UPDATE", "DELETE"} & set(verbs)
    assert verbs.count("SELECT") <= 1 + 2 * 2  # the projects; each one's row and its withdrawn
    # and no write lock taken to find nothing (SQLite: it would queue behind a long import)
    assert not [s for s in seen if "IMMEDIATE" in s.upper()], seen
