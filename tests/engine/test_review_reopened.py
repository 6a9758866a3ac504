"""A review that a taxonomy change withdrew (its two labels merged into one) comes back when the
change is undone: the next scan reopens it, rather than counting the mislabel and never asking
about it again. A review a person decided stays decided. On SQLite and PostgreSQL."""

from __future__ import annotations

from engine import reviews, taxonomy, training
from tests.engine.test_reviews import flipped  # noqa: F401  (the fixture)


def test_undoing_the_merge_that_withdrew_a_review_reopens_it(flipped) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ws, _, _ = flipped
    training.train_project(ws, "bank")
    reviews.scan_project(ws, "bank")
    task = reviews.next_review(ws, project="bank", annotator="zed")
    assert task is not None and task.review_id is not None
    decided = reviews.submit_review(
        ws, project="bank", review_id=task.review_id, annotator="zed", decision="keep", key="k1"
    )
    assert decided.status == "kept"
    opened = reviews.list_reviews(ws, project="bank", status="open")
    second = next(r for r in opened if r.example_id != task.example_id)
    pair = [second.given, second.suggested]
    taxonomy.merge_labels(ws, project="bank", labels=pair, into="merged", actor="ana")
    withdrawn = {r.id for r in reviews.list_reviews(ws, project="bank", status="dismissed")}
    assert second.id in withdrawn
    taxonomy.undo_last(ws, project="bank", actor="ana", rescore=False)

    report = reviews.scan_project(ws, "bank")

    now_open = {r.id: r for r in reviews.list_reviews(ws, project="bank", status="open")}
    assert second.id in now_open, report
    assert now_open[second.id].given == second.given
    assert now_open[second.id].suggested == second.suggested
    assert report.opened >= len(withdrawn & set(now_open))
    assert task.review_id not in now_open  # kept by zed: decided for good
    # a second scan finds nothing new: the reopened reviews are open already
    assert reviews.scan_project(ws, "bank").opened == 0
