"""Audit 36: the model reviews the humans (mislabel reviews, agreement), findings as strict
xfails."""

from __future__ import annotations

from collections import Counter

from engine import jobs, reviews, taxonomy, training
from tests.engine import test_reviews as tr
from tests.helpers import store_vote

flipped = tr.flipped


def _scan(ws) -> list[reviews.ReviewRow]:  # type: ignore[no-untyped-def]
    """Train bank's model and run the mislabel scan; the open reviews after it."""
    training.train_project(ws, "bank")
    jobs.review_cycle(ws)
    return reviews.list_reviews(ws, project="bank", status="open")


def test_a_merge_of_the_suggestion_does_not_open_the_same_review_twice(flipped) -> None:  # type: ignore[no-untyped-def]
    """An open review of label G suggesting S still stands after S is merged into T (README: a
    review is moot only when its two labels merge into one); the next scan, doubting G in
    favour of T (what S counts as now), asks the same question: it must not open a second
    review of the same annotation beside the first."""
    ws, _, _ = flipped
    open_ = _scan(ws)
    assert open_
    first = open_[0]
    into = next(lb for lb in tr.LABELS if lb not in (first.given, first.suggested))
    taxonomy.merge_labels(
        ws, project="bank", labels=[first.suggested, into], into=into, actor="ops"
    )
    still = _scan(ws)
    per_example = Counter(r.example_id for r in still)
    assert per_example[first.example_id] == 1, [
        (r.id, r.given, r.suggested, r.status) for r in still if r.example_id == first.example_id
    ]


def test_a_kept_label_is_not_asked_again_when_another_expert_agrees_with_it(flipped) -> None:  # type: ignore[no-untyped-def]
    """cy keeps label G against the model's S (a person decided the question); dee then gives
    the example G too. The evidence moved towards G, not away from it: the next scan must not
    ask a third expert the same question (G or S?) again."""
    ws, _, _ = flipped
    _scan(ws)
    task = reviews.next_review(ws, project="bank", annotator="cy")
    assert task is not None and task.review_id is not None and task.suggestion is not None
    kept = reviews.submit_review(
        ws, project="bank", review_id=task.review_id, annotator="cy", decision="keep", key="k"
    )
    assert kept.status == "kept"
    store_vote(ws, "bank", task.example_id, str(task.given), "dee")
    again = [
        (r.id, r.given, r.suggested, r.given_by)
        for r in _scan(ws)
        if r.example_id == task.example_id
    ]
    assert again == []


def test_an_open_review_is_not_doubled_when_another_expert_votes_its_label(flipped) -> None:  # type: ignore[no-untyped-def]
    """A review of label G (suggesting S) is open; dee then gives the example G too. The next
    scan doubts G for S again: the open review already asks that, and no second one is
    opened beside it (two experts would be asked the same question of the same example)."""
    ws, _, _ = flipped
    first = _scan(ws)[0]
    store_vote(ws, "bank", first.example_id, first.given, "dee")
    open_now = [
        (r.id, r.given, r.suggested, r.given_by)
        for r in _scan(ws)
        if r.example_id == first.example_id
    ]
    assert len(open_now) == 1, open_now


def test_a_withdrawal_after_a_merge_names_the_label_as_it_counts_now(flipped, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """cy holds a review of label G; G is merged into T (the card is redrawn as "T"); the next
    scan no longer doubts it. cy's click is answered that the review was withdrawn, naming the
    label as cy's card did: T, not the name G that no longer exists."""
    ws, _, _ = flipped
    _scan(ws)
    task = reviews.next_review(ws, project="bank", annotator="cy")
    assert task is not None and task.review_id is not None and task.suggestion is not None
    given, suggested = str(task.given), task.suggestion[0]
    into = next(lb for lb in tr.LABELS if lb not in (given, suggested))
    taxonomy.merge_labels(ws, project="bank", labels=[given, into], into=into, actor="ops")
    held = reviews.next_review(ws, project="bank", annotator="cy")  # the one cy holds
    assert held is not None and held.review_id == task.review_id
    assert held.given == into  # the card names the label as it counts today
    monkeypatch.setattr(reviews, "MIN_REVIEW_CONFIDENCE", 1.01)  # the next scan doubts none
    _scan(ws)
    answer = reviews.submit_review(
        ws, project="bank", review_id=task.review_id, annotator="cy", decision="keep", key="k"
    )
    assert answer.status == "dismissed"
    assert answer.reason == f"the latest mislabel scan no longer doubts the label {into!r}"
