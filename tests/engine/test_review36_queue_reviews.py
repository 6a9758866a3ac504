"""Review 36 of the queue and review fixes (6b49939 flag releases, d938fb7 late Skip, 83a7b98
one review per question): findings as strict xfails, real engine calls on SQLite and
PostgreSQL (the ``ws`` fixture)."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from engine import flags, jobs, labeling, projects, reviews, training
from storage.db import session_scope
from storage.errors import StaleActionError
from storage.models import utcnow
from storage.repositories import feedback
from storage.repositories import flags as flag_repo
from storage.repositories import projects as project_repo
from storage.repositories import reviews as reviews_repo
from tests.engine import test_reviews as tr
from tests.helpers import load_slice, store_vote
from tests.storage.test_settings_races import HUNG, wait_until_done_or_blocked

flipped = tr.flipped


def test_a_flagged_example_is_not_delivered_for_review(flipped) -> None:  # type: ignore[no-untyped-def]
    """README: "A flag takes the example out of everyone's queue until `labelbot flags
    resolve`" (Flag sets aside broken or private text). The flag fix lets go of every open
    labeling delivery of the example; an open mislabel review of it stays in the review
    queue, and a reviewer is sent the flagged (private, broken) text to keep or change."""
    ws, _, _ = flipped
    training.train_project(ws, "bank")
    jobs.review_cycle(ws)
    open_ = reviews.list_reviews(ws, project="bank", status="open")
    assert open_
    doubted = sorted({r.example_id for r in open_})
    for example_id in doubted:  # flagged by an expert who never labeled them (a second opinion)
        labeling.flag(
            ws, project="bank", example_id=example_id, annotator="zed", reason="private data"
        )
    assert {f.example_id for f in flags.list_flags(ws, project="bank")} >= set(doubted)
    task = reviews.next_review(ws, project="bank", annotator="cy")
    assert task is None, f"flagged example {task.example_id} was sent to cy for review"


def test_a_late_skip_of_an_audit_pick_keeps_the_example_away(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """ana's audit pick lapses; bob is drawn the same example and labels it; an audit label
    asks another expert's opinion (multi_label_audit), so it waits for ana's. ana clicks Skip
    on her old message: "Skip: it never comes back to you". The Skip is refused ("no longer
    assigned to you": skip_lapsed asks whether the example waits for her *audit* label) and
    the queue hands her the example again, as the second opinion it wants of her."""
    truth = load_slice(ws, banking_slice[:1], tmp_path)
    projects.update_settings(ws, project="bank", audit_share=1.0, multi_label_share=1.0)
    t0 = utcnow()
    picked = labeling.next_task(ws, project="bank", annotator="ana", now=t0)
    assert picked is not None
    later = t0 + timedelta(minutes=ws.settings.assignment_ttl_minutes + 1)
    bob = labeling.next_task(ws, project="bank", annotator="bob", now=later)
    assert bob is not None and bob.example_id == picked.example_id
    labeling.submit_label(
        ws, project="bank", example_id=bob.example_id, label=truth[bob.text], annotator="bob",
        source="slack", key="bob:1",
    )  # fmt: skip
    # it waits for ana's opinion now
    assert labeling.waiting_for(ws, project="bank", annotator="ana", now=later) == 1
    with contextlib.suppress(StaleActionError):
        labeling.skip(ws, project="bank", example_id=picked.example_id, annotator="ana")
    again = labeling.next_task(ws, project="bank", annotator="ana", now=later)
    assert again is None or again.example_id != picked.example_id, (
        f"example {picked.example_id}, which ana skipped, was sent to her again"
    )


def test_two_scans_at_once_open_one_review_per_question(flipped) -> None:  # type: ignore[no-untyped-def]
    """Two experts voted the same label G on an example. Scan 1 read the votes before dee's
    arrived and reviews ana's vote; scan 2 reads after and reviews dee's (the latest live vote
    behind the label). Both ask "G or S?" of the same example: one review per question
    (83a7b98). The unique key is (annotation, suggestion), so both inserts go through on
    PostgreSQL, where the two transactions overlap (the second one's thread is started while
    the first holds its uncommitted review: it waits for the first, or goes ahead)."""
    ws, _, _ = flipped
    if ws.db.url.get_backend_name() != "postgresql":
        pytest.skip("two write transactions overlap on PostgreSQL only (SQLite serialises them)")
    with session_scope(ws.db, read_only=True) as s:
        project = project_repo.get_project(session=s, name="bank")
        assert project.id is not None
        rows = feedback.list_annotations(session=s, project_id=project.id)
        first = rows[0]
        label_ids = {
            lb.name: int(lb.id or 0)
            for lb in project_repo.list_labels(session=s, project_id=project.id)
        }
    given = first.current
    suggested = next(lb for lb in tr.LABELS if lb != given)
    store_vote(ws, "bank", first.example_id, str(given), "dee")
    with session_scope(ws.db, read_only=True) as s:
        dee = [
            r
            for r in feedback.list_annotations(session=s, project_id=project.id)
            if r.example_id == first.example_id and r.annotator == "dee"
        ][0]

    def add(session, vote) -> object:  # type: ignore[no-untyped-def]
        return reviews_repo.add_review(
            session=session, project_id=project.id, example_id=first.example_id,
            annotation_id=vote.id, annotator=vote.annotator, given_label_id=label_ids[given],
            suggested_label_id=label_ids[suggested], confidence=0.9, margin=0.5,
            model_version=1,
        )  # fmt: skip

    # the second scan's transaction, in its own thread: it starts while the first is open, and
    # with the fix waits for it (a lock per example), then reads the review it stored
    started = threading.Event()
    done = threading.Event()
    pid: list[int] = []
    errors: list[BaseException] = []

    def second_scan() -> None:
        try:
            assert started.wait(HUNG), "the first scan never stored its review"
            with session_scope(ws.db) as two:
                pid.append(int(two.execute(text("SELECT pg_backend_pid()")).scalar_one()))
                add(two, dee)
        except BaseException as exc:  # noqa: BLE001 -- reported by the assertion below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=second_scan)
    thread.start()
    try:
        with session_scope(ws.db) as one:
            assert add(one, first) is not None
            started.set()
            # until the second either went ahead (stored its own review) or waits for a lock
            wait_until_done_or_blocked(ws.db, pid=lambda: pid[0] if pid else None, done=done)
    finally:
        started.set()
        thread.join(HUNG)
    assert not thread.is_alive(), "the second scan never finished"
    assert not errors, errors
    with session_scope(ws.db, read_only=True) as s:
        open_ = [
            r
            for r in reviews_repo.list_reviews(session=s, project_id=project.id, status="open")
            if r.example_id == first.example_id
        ]
    assert len(open_) == 1, [(r.id, r.annotation_id, r.annotator) for r in open_]


def test_a_flag_lets_go_of_a_review_held_of_the_example(flipped) -> None:  # type: ignore[no-untyped-def]
    """cy holds a review of an example; zed (sent it for a second opinion before, his hold
    lapsed) flags it: private text. The flag takes the example out of everyone's queue, and
    the expert holding it is told so (6b49939): not cy, whose review of it stays hers."""
    ws, _, _ = flipped
    training.train_project(ws, "bank")
    jobs.review_cycle(ws)
    held = reviews.next_review(ws, project="bank", annotator="cy")
    assert held is not None
    flagged = labeling.flag(
        ws, project="bank", example_id=held.example_id, annotator="zed", reason="private data"
    )
    assert flagged.created
    again = reviews.next_review(ws, project="bank", annotator="cy")
    assert again is None or again.example_id != held.example_id, (
        f"cy still holds the review of flagged example {held.example_id}"
    )


def test_a_vote_undone_and_given_again_is_still_reviewed(flipped) -> None:  # type: ignore[no-untyped-def]
    """A review of ben's label G is open. ben undoes G and gives G again (Undo, then the same
    button): the open review is moot (its vote was undone) but nothing dismissed it yet. The
    next scan doubts the new vote just as it doubted the old one: it must leave a review
    open for the example. Before 83a7b98 it opened one for the new vote (the old one then
    dismissed as moot); now the moot open review counts as asking, the add is refused, the
    moot one is dismissed after it, and the example has no open review until a newer model's
    scan (the scheduler scans once per model)."""
    ws, _, _ = flipped
    training.train_project(ws, "bank")
    jobs.review_cycle(ws)
    first = reviews.list_reviews(ws, project="bank", status="open")[0]
    with session_scope(ws.db) as s:
        review = reviews_repo.get_review(session=s, review_id=first.id)
        annotation_id, who = review.annotation_id, review.annotator
        assert feedback.retract_annotation(session=s, annotation_id=annotation_id, annotator=who)
    store_vote(ws, "bank", first.example_id, first.given, who)
    report = reviews.scan_project(ws, "bank")
    assert report.suspects > 0
    open_now = [
        (r.id, r.given, r.suggested, r.given_by)
        for r in reviews.list_reviews(ws, project="bank", status="open")
        if r.example_id == first.example_id
    ]
    assert len(open_now) == 1, (open_now, report)


def test_a_review_held_of_an_example_flagged_before_the_fix_is_let_go_of(flipped) -> None:  # type: ignore[no-untyped-def]
    """A flag stored while cy held a review of its example, without letting go of her delivery
    (as flags did before review36): her next request lets go of it and hands her another
    review, or none; the review stays open for when the flag is resolved."""
    ws, _, _ = flipped
    training.train_project(ws, "bank")
    jobs.review_cycle(ws)
    held = reviews.next_review(ws, project="bank", annotator="cy")
    assert held is not None
    with session_scope(ws.db) as s:
        flag_repo.add_flag(
            session=s, example_id=held.example_id, annotator="zed", reason="private data"
        )
    again = reviews.next_review(ws, project="bank", annotator="cy")
    assert again is None or again.example_id != held.example_id
    assert held.review_id in {r.id for r in reviews.list_reviews(ws, project="bank", status="open")}
