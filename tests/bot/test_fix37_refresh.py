"""fix37: the screen redrawer's pass covers every taxonomy change since the one its last pass
covered, not only the latest (disputes.refresh_threads, consensus.taxonomy_changes): a merge
then another change before its round still redraws the threads the merge touched, and a later
rename alone still leaves them. Through the real services and the local Slack Web API, on
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot import disputes, flow
from bot.scheduling import screen_redrawer
from engine import projects, taxonomy
from tests.bot.conftest import LABELS, PROJECT, Bot
from tests.bot.test_audit37_long_life import _disagreements
from tests.bot.test_review37_disputes import _root, _thread


def _updates_of(bot: Bot, roots: list[str], before: int) -> list[Any]:
    return [c for c in bot.api.calls("chat.update")[before:] if c.params.get("ts") in roots]


def test_a_settled_thread_shows_the_merged_name_after_a_merge_and_a_rename(
    bot: Bot, bank: Any
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    made = _disagreements(bot, 1, first=0)  # adjudicated as LABELS[0], then drawn settled
    disputes.post_all_disputes(bot.services, seen={})
    ts = _thread(bot, made[0])
    assert f"Settled as {LABELS[0]}" in _root(bot, ts)
    redraw = screen_redrawer(bot.services)
    redraw()
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=LABELS[:2], into="card_or_age",
                          actor="ops")  # fmt: skip
    taxonomy.rename_label(bot.ws, project=PROJECT, label=LABELS[4], new_name="fx_rate",
                          actor="ops")  # fmt: skip
    redraw()
    assert "Settled as card_or_age" in _root(bot, ts), _root(bot, ts)


def test_a_rename_after_the_redrawn_merge_leaves_the_agreed_threads(bot: Bot, bank: Any) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    roots = [_thread(bot, e) for e in _disagreements(bot, 3, first=0, settle=False)]
    redraw = screen_redrawer(bot.services)
    redraw()
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=LABELS[:2], into="card_or_age",
                          actor="ops")  # fmt: skip
    redraw()  # the merge: each says so
    assert all("no longer disagree" in _root(bot, ts) for ts in roots)
    for change in range(2):  # then renames, each picked up by a round of its own
        before = len(bot.api.calls("chat.update"))
        taxonomy.rename_label(bot.ws, project=PROJECT, label=LABELS[3 + change],
                              new_name=f"renamed_{change}", actor="ops")  # fmt: skip
        redraw()
        assert _updates_of(bot, roots, before) == [], f"rewritten after rename {change}"


def test_a_redraw_from_an_unknown_point_covers_every_change(bot: Bot, bank: Any) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    roots = [_thread(bot, e) for e in _disagreements(bot, 2, first=0, settle=False)]
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=LABELS[:2], into="card_or_age",
                          actor="ops")  # fmt: skip
    taxonomy.add_labels(bot.ws, project=PROJECT, names=["fees"], actor="ops")
    # a process that does not know what it drew last (its first round): every change since 0
    flow.redraw_on_screen(bot.services, project=PROJECT, after_change=0)
    assert all("no longer disagree" in _root(bot, ts) for ts in roots)
