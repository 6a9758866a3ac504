"""storage.repositories.reviews and the queue's second-opinion rule, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import assignments, examples, feedback, projects, reviews
from storage.repositories.examples import NewExample

TTL = timedelta(minutes=30)


def _setup(db):  # type: ignore[no-untyped-def]
    """Project p (labels a, b), examples 0..3; ana labeled 0 and 1 a. Returns (pid, ids, labels)."""
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="p", labels=["a", "b"])
        pid = int(project.id or 0)
        labels = {
            lb.name: int(lb.id or 0) for lb in projects.list_labels(session=s, project_id=pid)
        }
        ids = examples.add_examples(
            session=s, project_id=pid, rows=[NewExample(f"text {i}") for i in range(4)]
        ).ids
        for i in ids[:2]:
            feedback.add_annotation(
                session=s, example_id=i, label_id=labels["a"], annotator="ana", source="cli",
                key=f"ana:{i}",
            )  # fmt: skip
    return pid, ids, labels


def _open_review(db, pid, example_id, labels, margin=0.5):  # type: ignore[no-untyped-def]
    with session_scope(db) as s:
        [row] = feedback.example_annotations(session=s, example_id=example_id)
        return reviews.add_review(
            session=s, project_id=pid, example_id=example_id, annotation_id=row.id,
            annotator=row.annotator, given_label_id=labels["a"], suggested_label_id=labels["b"],
            confidence=0.9, margin=margin,
        )  # fmt: skip


def test_one_review_per_annotation_and_suggestion(db) -> None:  # type: ignore[no-untyped-def]
    pid, ids, labels = _setup(db)
    first = _open_review(db, pid, ids[0], labels)
    assert first is not None and first.status == "open"
    assert _open_review(db, pid, ids[0], labels) is None  # queued already
    with session_scope(db) as s:
        reviews.decide_review(
            session=s, review_id=int(first.id or 0), status="kept", reviewer="ben",
            outcome_label_id=labels["a"], key="k",
        )  # fmt: skip
    assert _open_review(db, pid, ids[0], labels) is None  # decided: never re-opened
    with session_scope(db) as s:
        assert reviews.count_reviews(session=s, project_id=pid)["kept"] == 1
        assert reviews.review_by_key(session=s, key="k") is not None


def test_reviews_go_to_other_experts_one_at_a_time(db) -> None:  # type: ignore[no-untyped-def]
    pid, ids, labels = _setup(db)
    doubtful = _open_review(db, pid, ids[0], labels, margin=0.8)
    other = _open_review(db, pid, ids[1], labels, margin=0.3)
    assert doubtful is not None and other is not None
    with session_scope(db) as s:
        # ana's own labels are never hers to review
        assert reviews.claim_next_review(session=s, project_id=pid, reviewer="ana", ttl=TTL) is None
        got = reviews.claim_next_review(session=s, project_id=pid, reviewer="ben", ttl=TTL)
        assert got is not None and got[0].id == doubtful.id and got[1].purpose == "review"
        again = reviews.claim_next_review(session=s, project_id=pid, reviewer="ben", ttl=TTL)
        assert again is not None and again[0].id == doubtful.id  # the one held
        cy = reviews.claim_next_review(session=s, project_id=pid, reviewer="cy", ttl=TTL)
        assert cy is not None and cy[0].id == other.id  # the first is out with ben
        # a review is not an example to label: ben's labeling queue is unaffected
        claimed = assignments.claim_next_example(
            session=s, project_id=pid, annotator="ben", ttl=TTL
        )
        assert claimed is not None and claimed[0].id not in ids[:2]
        assignments.close_assignment(session=s, assignment_id=got[1].id or 0, status="skipped")
        assignments.close_assignment(session=s, assignment_id=claimed[1].id or 0, status="released")
    with session_scope(db) as s:
        # ben skipped it, cy holds the other: nothing for ben; dee gets the skipped one
        assert reviews.claim_next_review(session=s, project_id=pid, reviewer="ben", ttl=TTL) is None
        dee = reviews.claim_next_review(session=s, project_id=pid, reviewer="dee", ttl=TTL)
        assert dee is not None and dee[0].id == doubtful.id
    later = utcnow() + TTL * 2  # unanswered reviews expire back to the pool
    with session_scope(db) as s:
        eve = reviews.claim_next_review(
            session=s, project_id=pid, reviewer="eve", ttl=TTL, now=later
        )
        assert eve is not None and eve[0].id == doubtful.id


def test_second_opinion_rule_of_the_queue(db) -> None:  # type: ignore[no-untyped-def]
    pid, ids, labels = _setup(db)
    with session_scope(db) as s:
        assert assignments.request_more_labels(session=s, project_id=pid, example_id=ids[1], k=2)
        assert not assignments.request_more_labels(
            session=s, project_id=pid, example_id=ids[1], k=2
        )
        assert assignments.count_waiting_for_opinions(session=s, project_id=pid) == 1
        # ana labeled it: not hers again; ben gets it first (before unlabeled examples)
        got = assignments.claim_next_example(session=s, project_id=pid, annotator="ana", ttl=TTL)
        assert got is not None and got[0].id not in ids[:2]
        ben = assignments.claim_next_example(session=s, project_id=pid, annotator="ben", ttl=TTL)
        assert ben is not None and ben[0].id == ids[1]
        # an audit pick never takes a labeled example, wanted or not
        audit = assignments.claim_next_example(
            session=s, project_id=pid, annotator="cy", ttl=TTL, audit=True
        )
        assert audit is not None and audit[0].id not in ids[:2]
        feedback.add_annotation(
            session=s, example_id=ids[1], label_id=labels["b"], annotator="ben", source="cli",
            key="ben:1",
        )  # fmt: skip
        assignments.close_assignment(session=s, assignment_id=ben[1].id or 0, status="done")
        assert assignments.count_waiting_for_opinions(session=s, project_id=pid) == 0
        # two experts labeled it: it left the queue (the two unlabeled ones are out)
        assert (
            assignments.claim_next_example(session=s, project_id=pid, annotator="dee", ttl=TTL)
            is None
        )
