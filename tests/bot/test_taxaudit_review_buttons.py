"""A review card on screen while labels are renamed from the terminal (its redraw waits for the
scheduler's next round): "Change to X" stores the label the card suggested, under its new name,
even when another label took the old name since; real Bolt over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot import ids
from engine import labeling, projects, reviews, taxonomy
from storage.db import session_scope
from storage.repositories import feedback
from storage.repositories import projects as projects_repo
from storage.repositories import reviews as reviews_repo
from tests.bot.conftest import PROJECT, Bot
from tests.fakes.slack_client import button

ANA, BOB = "U0ANA", "U0BOB"


def _review_on_screen(bot: Bot, given: str, suggested: str) -> tuple[int, dict[str, Any]]:
    task = labeling.next_task(bot.ws, project=PROJECT, annotator=ANA)
    assert task is not None
    labeling.submit_label(bot.ws, project=PROJECT, example_id=task.example_id, label=given,
                          annotator=ANA, source="slack", key="test:ana")  # fmt: skip
    with session_scope(bot.ws.db) as s:
        project = projects_repo.get_project(session=s, name=PROJECT)
        assert project.id is not None
        by_name = {
            lb.name: lb.id for lb in projects_repo.list_labels(session=s, project_id=project.id)
        }
        (row,) = feedback.example_annotations(session=s, example_id=task.example_id)
        review = reviews_repo.add_review(
            session=s, project_id=project.id, example_id=task.example_id,
            annotation_id=row.id, annotator=ANA, given_label_id=by_name[given],
            suggested_label_id=by_name[suggested], confidence=0.9, margin=0.6,
        )  # fmt: skip
        assert review is not None and review.id is not None
        review_id = review.id
    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = [m for m in bot.slack.dm(BOB) if ids.REVIEW_KEEP in str(m.get("blocks"))]
    return review_id, message


def test_change_to_a_suggestion_renamed_since_stores_that_label(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, review_share=1.0, multi_label_share=0.0)
    review_id, message = _review_on_screen(bot, "card_arrival", "age_limit")
    button(message, ids.REVIEW_CHANGE)  # the card offers "Change to age_limit"
    # from the terminal: age_limit is renamed, and another label takes its old name
    taxonomy.rename_label(bot.ws, project=PROJECT, label="age_limit", new_name="minimum_age",
                          actor="ops", rescore=False)  # fmt: skip
    taxonomy.rename_label(bot.ws, project=PROJECT, label="atm_support", new_name="age_limit",
                          actor="ops", rescore=False)  # fmt: skip

    assert bot.slack.click(BOB, message, ids.REVIEW_CHANGE).status_code == 200
    bot.settle()

    (row,) = [r for r in reviews.list_reviews(bot.ws, project=PROJECT) if r.id == review_id]
    assert (row.status, row.outcome) == ("changed", "minimum_age"), row
    updated = next(m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"])
    assert updated["text"] == f"Changed to minimum_age by <@{BOB}>"
