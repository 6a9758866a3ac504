"""A review is answered by the expert it was delivered to (security audit, finding 5): not by
someone it never reached, and not by an expert whose hold expired and who was replaced."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import reviews
from engine.workspace import Workspace
from storage.errors import StaleActionError
from storage.models import utcnow
from tests.storage.test_labeling_races import PROJECT, bank, label_and_doubt  # noqa: F401

NOT_YOURS = "not yours to answer"


def verdict(ws: Workspace, review_id: int, who: str, **kw: object) -> reviews.ReviewResult:
    return reviews.submit_review(
        ws, project=PROJECT, review_id=review_id, annotator=who, decision="keep",
        key=f"test:{who}:{review_id}", **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_review_never_delivered_cannot_be_answered(bank: Workspace) -> None:  # noqa: F811
    review_id = label_and_doubt(bank, annotator="U1")
    with pytest.raises(StaleActionError, match=NOT_YOURS):
        verdict(bank, review_id, "U2")
    task = reviews.next_review(bank, project=PROJECT, annotator="U2")
    assert task is not None and task.review_id == review_id
    with pytest.raises(StaleActionError, match=NOT_YOURS):
        verdict(bank, review_id, "U3")  # sent to U2, not to U3
    assert verdict(bank, review_id, "U2").status == "kept"


def test_a_late_answer_counts_unless_someone_else_was_sent_it(bank: Workspace) -> None:  # noqa: F811
    first, second = (label_and_doubt(bank, annotator="U1") for _ in range(2))
    ttl = timedelta(minutes=bank.settings.assignment_ttl_minutes)
    start = utcnow()
    late = start + ttl + timedelta(minutes=1)
    held = reviews.next_review(bank, project=PROJECT, annotator="U2", now=start)
    assert held is not None and held.review_id in (first, second)
    # U2's hold expired and U3 was sent the review: U2's click comes too late
    replaced = reviews.next_review(bank, project=PROJECT, annotator="U3", now=late)
    assert replaced is not None and replaced.review_id == held.review_id
    with pytest.raises(StaleActionError, match=NOT_YOURS):
        verdict(bank, held.review_id, "U2", now=late)
    assert verdict(bank, held.review_id, "U3", now=late).created
    # expired, but nobody else was sent it: the answer still counts
    other = reviews.next_review(bank, project=PROJECT, annotator="U2", now=late)
    assert other is not None and other.review_id not in (None, held.review_id)
    assert other.review_id is not None
    much_later = late + ttl + timedelta(minutes=1)
    assert verdict(bank, other.review_id, "U2", now=much_later).created
