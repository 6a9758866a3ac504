"""Audit 36: mislabel reviews in Slack, findings as strict xfails (real Bolt app over signed
HTTP, the local fake Slack API; SQLite and PostgreSQL)."""

from __future__ import annotations

from bot import ids
from engine import projects
from storage.db import session_scope
from storage.repositories import assignments
from storage.repositories import projects as projects_repo
from tests.bot import test_reviews_slack as rs
from tests.bot.conftest import LABELS, PROJECT, Bot

ANA, BOB = rs.ANA, rs.BOB


def test_a_changed_audit_label_is_not_said_to_train_the_next_model(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Audit labels only evaluate models (README: they do not count as labels a model learns
    from), and the mislabel scan checks them too. A reviewer's change of one must not be
    answered with "the next model trains on it": it does not."""
    projects.update_settings(
        bot.ws, project=PROJECT, review_share=1.0, multi_label_share=0.0, audit_share=0.5
    )
    labeled = [rs._label(bot, ANA, LABELS[0]) for _ in range(8)]
    with session_scope(bot.ws.db, read_only=True) as s:
        project = projects_repo.get_project(session=s, name=PROJECT)
        audited = assignments.audit_labeled_ids(session=s, project_id=int(project.id or 0))
    audit_example = next(e for e in labeled if e in audited)
    rs._doubt(bot, audit_example, LABELS[1])

    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = rs._reviews(bot, BOB)
    assert bot.slack.click(BOB, message, ids.REVIEW_CHANGE).status_code == 200
    bot.settle()
    updated = next(m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"])
    shown = str(updated["blocks"])
    assert f"Changed to *{LABELS[1]}*" in shown
    with session_scope(bot.ws.db, read_only=True) as s:
        still = assignments.audit_labeled_ids(session=s, project_id=int(project.id or 0))
    assert audit_example in still  # an audit label still: no model trains on it
    assert "the next model trains on it" not in shown, shown
