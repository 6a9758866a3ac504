"""A mislabel scan withdraws the open reviews it no longer doubts (audit 34): one out with a
reviewer answers a verdict as withdrawn, saying why ("the latest mislabel scan no longer doubts
…"), and changes nothing; a review a person answered before stays as they decided it. Real
SQLite and PostgreSQL, the real encoder, scan and reviews."""

from __future__ import annotations

from pathlib import Path

from engine import projects, reviews, training
from storage.db import session_scope
from storage.repositories import feedback
from tests.engine.test_audit34_engine import CARD_LABELS, _card_rows
from tests.helpers import labeled_csv


def test_a_review_the_newer_scan_no_longer_doubts_is_withdrawn(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path
) -> None:
    rows = _card_rows(40)
    projects.create_project(ws, name="bank", labels=CARD_LABELS)
    projects.import_file(ws, project="bank", path=labeled_csv(tmp_path / "a.csv", rows[:48]))
    training.train_project(ws, "bank")
    reviews.scan_project(ws, "bank")
    first = reviews.list_reviews(ws, project="bank", status="open")
    assert len(first) >= 3
    # one answered before the next scan, the others out with a reviewer each
    delivered: dict[int, str] = {}
    for n in range(len(first)):
        task = reviews.next_review(ws, project="bank", annotator=f"U0REV{n}")
        assert task is not None and task.review_id is not None
        delivered[task.review_id] = f"U0REV{n}"
    kept_id = first[0].id
    kept = reviews.submit_review(ws, project="bank", review_id=kept_id,
                                 annotator=delivered.pop(kept_id), decision="keep",
                                 key="keep")  # fmt: skip
    assert kept.status == "kept"

    projects.import_file(ws, project="bank", path=labeled_csv(tmp_path / "b.csv", rows[48:]))
    training.train_project(ws, "bank")
    report = reviews.scan_project(ws, "bank")
    still = {r.id for r in reviews.list_reviews(ws, project="bank", status="open")}
    withdrawn = [i for i in delivered if i not in still]
    assert withdrawn, "the newer scan doubts every label the first one did"
    assert report.dismissed >= len(withdrawn)
    after = {r.id: r for r in reviews.list_reviews(ws, project="bank")}
    assert after[kept_id].status == "kept"  # answered: as it was decided
    assert {after[i].status for i in withdrawn} == {"dismissed"}

    review = after[withdrawn[0]]
    with session_scope(ws.db, read_only=True) as session:
        votes = len(feedback.example_annotations(session=session, example_id=review.example_id))
    said = reviews.submit_review(ws, project="bank", review_id=review.id,
                                 annotator=delivered[review.id], decision="change",
                                 key="late")  # fmt: skip
    assert said.status == "dismissed"
    assert said.reason == f"the latest mislabel scan no longer doubts the label {review.given!r}"
    with session_scope(ws.db, read_only=True) as session:
        assert len(feedback.example_annotations(session=session, example_id=review.example_id)) \
            == votes  # fmt: skip
