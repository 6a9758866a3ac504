"""One expert's action delivered twice at once (a double click, one Slack delivery answered by
two replicas), and a click racing a taxonomy change: each is applied once, and the duplicate is
answered as a repeat -- on SQLite and PostgreSQL.

On PostgreSQL the interleaving is forced, not hoped for: a ``Rendezvous`` holds each racer
inside its transaction at the point the old code went wrong (after its read, before its write)
until the other racer has reached the same point, or waits for a lock the first one holds (the
fix at work). SQLite's writers take turns (BEGIN IMMEDIATE), so there the duplicate runs after
the first and must still be answered as a repeat.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from engine import labeling, projects, reviews, taxonomy
from engine.workspace import Workspace
from storage.db import is_sqlite, session_scope
from storage.errors import ConflictError, LabeledByOther, StaleActionError
from storage.models import Assignment
from storage.repositories import assignments, feedback
from storage.repositories import projects as projects_repo
from storage.repositories import reviews as reviews_repo
from storage.repositories import taxonomy as taxonomy_repo

PROJECT = "bank"
LABELS = ["card_arrival", "age_limit", "atm_support"]
WAIT = 20.0  # seconds before a stuck race fails the test (never reached when all is well)


def wait_until(done: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll ``done`` until it holds (a condition, not a guess at how long things take)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def backend_pid(session: Any) -> int:
    return int(session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar())


def blocks_someone(db: Any, pid: int) -> bool:
    """Another PostgreSQL backend waits for a lock that backend ``pid`` holds."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    with db.connect() as connection:
        return int(connection.execute(query, {"pid": pid}).scalar() or 0) > 0


class Rendezvous:
    """Holds the first of two racers at a point of its transaction until the second reaches the
    same point, or is blocked by a lock the first holds; later calls pass straight through.
    On SQLite, where write transactions take turns, it does nothing."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.arrived: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, session: Any) -> None:
        if is_sqlite(self.db):
            return
        pid = backend_pid(session)
        with self.lock:
            self.arrived.append(pid)
        wait_until(
            lambda: len(self.arrived) >= 2 or blocks_someone(self.db, pid),
            "the other racer to arrive, or to wait for this one's lock",
        )


def pause_after(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, meet: Any) -> None:
    """Make ``owner.name`` call ``meet(session)`` once it has read (before the caller writes)."""
    original = getattr(owner, name)

    def paused(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        meet(kwargs["session"] if "session" in kwargs else args[0])
        return result

    monkeypatch.setattr(owner, name, paused)


def pause_before(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, meet: Any) -> None:
    """Make ``owner.name`` call ``meet(session)`` first (after the caller read, as it writes)."""
    original = getattr(owner, name)

    def paused(*args: Any, **kwargs: Any) -> Any:
        meet(kwargs["session"] if "session" in kwargs else args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, paused)


def together(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable in its own thread, started at once; their results or exceptions."""
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work[i]()
        except Exception as exc:  # returned, for the test to look at
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a racer is stuck"
    return results


def open_assignments(ws: Workspace, annotator: str) -> list[Assignment]:
    from sqlmodel import select

    with session_scope(ws.db, read_only=True) as session:
        query = select(Assignment).where(
            Assignment.annotator == annotator, Assignment.status == "open"
        )
        return list(session.exec(query).all())


@pytest.fixture
def bank(ws: Workspace, tmp_path: Path) -> Iterator[Workspace]:
    """A project of 20 texts, no model, no audit picks or second opinions (one path per click)."""
    projects.create_project(ws, name=PROJECT, labels=LABELS)
    path = tmp_path / "bank.csv"
    path.write_text("text\n" + "".join(f"text number {i}\n" for i in range(20)), "utf-8")
    projects.import_file(ws, project=PROJECT, path=path, embed=False)
    projects.update_settings(ws, project=PROJECT, audit_share=0.0, multi_label_share=0.0)
    yield ws


# --- #5: Skip twice, /label twice --------------------------------------------------------------


def test_a_skip_delivered_twice_is_applied_once(
    bank: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = labeling.next_task(bank, project=PROJECT, annotator="U1")
    assert task is not None
    pause_after(monkeypatch, assignments, "get_assignment", Rendezvous(bank.db))

    def skip() -> bool:
        return labeling.skip(bank, project=PROJECT, example_id=task.example_id, annotator="U1")

    results = together(skip, skip)
    # one of them skipped it; the other is told it was done already (nothing to send next)
    assert results.count(True) == 1 and results.count(False) == 1, results
    # and a later click of Skip (say, on a second copy of the message) is no error either
    assert skip() is False


def test_two_deliveries_at_once_hand_out_one_example(
    bank: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the pause sits after the "does U1 hold one already" read, before the claim's insert
    pause_before(monkeypatch, assignments, "_next_free_example", Rendezvous(bank.db))

    def deliver() -> int | None:
        task = labeling.next_task(bank, project=PROJECT, annotator="U1")
        return None if task is None else task.example_id

    first, second = together(deliver, deliver)
    assert first is not None and first == second  # the same example, offered to both
    assert [a.example_id for a in open_assignments(bank, "U1")] == [first]


def test_two_deliveries_at_once_on_a_review_turn_hand_out_one_task(
    bank: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both deliveries find U2's review turn; one review is waiting: U2 holds it, and no
    labeling example besides."""
    label_and_doubt(bank, annotator="U1")
    projects.update_settings(bank, project=PROJECT, review_share=1.0)
    pause_before(monkeypatch, reviews_repo, "_next_review", Rendezvous(bank.db))

    def deliver() -> tuple[str, int] | None:
        task = labeling.next_task(bank, project=PROJECT, annotator="U2", reviews=True)
        return None if task is None else (task.kind, task.example_id)

    first, second = together(deliver, deliver)
    assert first is not None and first[0] == "review" and first == second, (first, second)
    held = open_assignments(bank, "U2")
    assert [(a.purpose, a.example_id) for a in held] == [("review", first[1])]


# --- #6: a review verdict twice ----------------------------------------------------------------


def label_and_doubt(ws: Workspace, *, annotator: str) -> int:
    """``annotator`` labels one example card_arrival; a review doubts it (suggesting age_limit).
    The review's id."""
    task = labeling.next_task(ws, project=PROJECT, annotator=annotator)
    assert task is not None
    labeling.submit_label(
        ws, project=PROJECT, example_id=task.example_id, label=LABELS[0], annotator=annotator,
        source="cli", key=f"first:{task.example_id}",
    )  # fmt: skip
    with session_scope(ws.db) as s:
        project = projects_repo.get_project(session=s, name=PROJECT)
        assert project.id is not None
        ids = {lb.name: lb.id for lb in projects_repo.list_labels(session=s, project_id=project.id)}
        (row,) = feedback.example_annotations(session=s, example_id=task.example_id)
        review = reviews_repo.add_review(
            session=s, project_id=project.id, example_id=task.example_id, annotation_id=row.id,
            annotator=annotator, given_label_id=ids[LABELS[0]], suggested_label_id=ids[LABELS[1]],
            confidence=0.9, margin=0.6,
        )  # fmt: skip
        assert review is not None and review.id is not None
        return review.id


@pytest.mark.parametrize("decision", ["keep", "change"])
def test_a_review_verdict_delivered_twice_is_new_once(
    bank: Workspace, monkeypatch: pytest.MonkeyPatch, decision: str
) -> None:
    review_id = label_and_doubt(bank, annotator="U1")
    sent = reviews.next_review(bank, project=PROJECT, annotator="U2")  # only U2 may answer it
    assert sent is not None and sent.review_id == review_id
    pause_after(monkeypatch, reviews_repo, "review_by_key", Rendezvous(bank.db))

    def verdict() -> reviews.ReviewResult:
        return reviews.submit_review(
            bank, project=PROJECT, review_id=review_id, annotator="U2", decision=decision,
            key="slack:D1:1.0:U2",
        )  # fmt: skip

    results = together(verdict, verdict)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(r.created for r in results) == [False, True]  # answered as new once
    assert len({(r.status, r.label, r.annotation_id) for r in results}) == 1  # the same answer
    with session_scope(bank.db, read_only=True) as s:
        review = reviews_repo.get_review(session=s, review_id=review_id)
        stored = feedback.example_annotations(session=s, example_id=review.example_id)
    assert review.status == ("kept" if decision == "keep" else "changed")
    assert len(stored) == (1 if decision == "keep" else 2)


def test_two_reviewers_at_once_one_verdict_counts(
    bank: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two verdicts on one review at once (its expert answers it in Slack and in `labelbot
    review`, say): the second is told it was decided, and nothing of it is stored."""
    review_id = label_and_doubt(bank, annotator="U1")
    sent = reviews.next_review(bank, project=PROJECT, annotator="U2")  # only U2 may answer it
    assert sent is not None and sent.review_id == review_id
    pause_after(monkeypatch, reviews_repo, "review_by_key", Rendezvous(bank.db))

    def verdict(where: str) -> Callable[[], reviews.ReviewResult]:
        return lambda: reviews.submit_review(
            bank, project=PROJECT, review_id=review_id, annotator="U2", decision="change",
            key=f"{where}:U2",
        )  # fmt: skip

    results = together(verdict("cli"), verdict("slack"))
    won = [r for r in results if isinstance(r, reviews.ReviewResult)]
    lost = [r for r in results if isinstance(r, StaleActionError)]
    assert len(won) == 1 and won[0].created and len(lost) == 1, results
    assert "already decided" in str(lost[0])
    with session_scope(bank.db, read_only=True) as s:
        review = reviews_repo.get_review(session=s, review_id=review_id)
        stored = feedback.example_annotations(session=s, example_id=review.example_id)
    assert [a.annotator for a in stored] == ["U1", "U2"]  # one vote: the loser's is gone


# --- #9: Undo twice ----------------------------------------------------------------------------


def test_an_undo_delivered_twice_is_applied_once(
    bank: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = labeling.next_task(bank, project=PROJECT, annotator="U1")
    assert task is not None
    stored = labeling.submit_label(
        bank, project=PROJECT, example_id=task.example_id, label=LABELS[0], annotator="U1",
        source="cli", key="k1",
    )  # fmt: skip
    pause_before(monkeypatch, feedback, "retract_annotation", Rendezvous(bank.db))

    def undo() -> int | None:
        return labeling.undo(bank, annotation_id=stored.annotation_id, annotator="U1")

    results = together(undo, undo)
    if is_sqlite(bank.db):  # the second one runs after the first, and finds it undone
        assert results[0] == task.example_id or results[1] == task.example_id
        assert sum(isinstance(r, StaleActionError) for r in results) == 1, results
    else:  # the one that lost the race returns quietly: the other offers the example again
        assert sorted(results, key=str) == [task.example_id, None], results


def test_two_copies_of_one_example_clicked_at_once_store_one_vote(
    bank: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One expert, two live messages of one example (a re-post whose older copy could not be
    retired, say), a click on each at once: two keys, so key idempotency lets both through;
    one vote is stored, the other click is told the expert labeled it already (found by
    bench/soak.py: an expert with two live votes on one example)."""
    task = labeling.next_task(bank, project=PROJECT, annotator="U1")
    assert task is not None
    pause_before(monkeypatch, feedback, "add_annotation", Rendezvous(bank.db))

    def click(key: str, label: str) -> labeling.LabelResult:
        return labeling.submit_label(
            bank, project=PROJECT, example_id=task.example_id, label=label, annotator="U1",
            source="slack", key=key,
        )  # fmt: skip

    results = together(
        lambda: click("slack:D1:1.0:U1", LABELS[0]), lambda: click("slack:D1:2.0:U1", LABELS[1])
    )
    stored = [r for r in results if isinstance(r, labeling.LabelResult)]
    refused = [r for r in results if isinstance(r, StaleActionError)]
    assert len(stored) == 1 and len(refused) == 1, results
    assert "already labeled" in str(refused[0])
    with session_scope(bank.db, read_only=True) as s:
        votes = feedback.example_annotations(session=s, example_id=task.example_id)
    assert [(v.annotator, v.label) for v in votes] == [("U1", stored[0].label)]
    # a retry of the stored click is still answered as stored, not refused
    again = click("slack:D1:1.0:U1" if stored[0].label == LABELS[0] else "slack:D1:2.0:U1",
                  stored[0].label)  # fmt: skip
    assert not again.created and again.annotation_id == stored[0].annotation_id


def test_two_experts_clicking_one_example_at_once_store_one_vote(
    bank: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """U1's hold lapsed and the example went to U2; both click at once (two replicas): the
    second is told who labeled it first, as when the clicks come one after the other (found by
    an audit: on PostgreSQL both votes were stored, neither told, no disagreement opened)."""
    task = labeling.next_task(bank, project=PROJECT, annotator="U1")
    assert task is not None
    pause_before(monkeypatch, feedback, "add_annotation", Rendezvous(bank.db))

    def click(annotator: str, label: str) -> labeling.LabelResult:
        return labeling.submit_label(
            bank, project=PROJECT, example_id=task.example_id, label=label,
            annotator=annotator, source="slack", key=f"slack:D1:1.0:{annotator}",
        )  # fmt: skip

    results = together(lambda: click("U1", LABELS[0]), lambda: click("U2", LABELS[1]))
    stored = [r for r in results if isinstance(r, labeling.LabelResult)]
    refused = [r for r in results if isinstance(r, LabeledByOther)]
    assert len(stored) == 1 and len(refused) == 1, results
    assert refused[0].label == stored[0].label
    with session_scope(bank.db, read_only=True) as s:
        votes = feedback.example_annotations(session=s, example_id=task.example_id)
    assert [v.label for v in votes if v.current is not None] == [stored[0].label]


def test_two_creates_of_one_project_name_at_once_answer_already_exists(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ``labelbot project create bank`` at once (two terminals, two replicas): one project;
    the other is told it exists, a ConflictError, not a unique-constraint traceback (found by
    an audit on PostgreSQL)."""
    pause_after(monkeypatch, projects_repo, "project_named", Rendezvous(ws.db))
    results = together(
        lambda: projects.create_project(ws, name=PROJECT, labels=LABELS),
        lambda: projects.create_project(ws, name=PROJECT, labels=LABELS),
    )
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], ConflictError), results
    assert "already exists" in str(refused[0])
    with session_scope(ws.db, read_only=True) as s:
        assert [p.name for p in projects_repo.list_projects(session=s)] == [PROJECT]


# --- #10: a click racing a split of its label --------------------------------------------------


def _split(ws: Workspace) -> taxonomy.TaxonomyChange:
    return taxonomy.split_label(
        ws, project=PROJECT, label=LABELS[0], into=["card_new", "card_lost"], actor="admin",
        rescore=False,
    )  # fmt: skip


def _click(ws: Workspace, example_id: int) -> labeling.LabelResult:
    return labeling.submit_label(
        ws, project=PROJECT, example_id=example_id, label=LABELS[0], annotator="U1",
        source="slack", key="slack:D1:2.0:U1",
    )  # fmt: skip


def _counts(ws: Workspace, example_id: int) -> bool:
    """Whether the example has a label that counts now."""
    with session_scope(ws.db, read_only=True) as s:
        project = projects_repo.get_project(session=s, name=PROJECT)
        return example_id in feedback.current_labels(session=s, project_id=int(project.id or 0))


def _label_gone_or_seen(
    click: labeling.LabelResult | Exception, split: taxonomy.TaxonomyChange | Exception
) -> None:
    """What the README promises: a click on a split label stores nothing and says why; a click
    stored before the split is one the split sends back to the queue (it counts it)."""
    assert isinstance(split, taxonomy.TaxonomyChange), split
    if isinstance(click, StaleActionError):
        assert "split" in str(click)
        assert split.requeued == 0
    else:
        assert isinstance(click, labeling.LabelResult) and click.created, click
        assert split.requeued == 1, "the click was told it counts, and the split never saw it"


# PostgreSQL only: SQLite runs one write transaction at a time, there is no interleaving to force.


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_a_click_during_a_split_waits_and_sees_it(
    bank: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = labeling.next_task(bank, project=PROJECT, annotator="U1")
    assert task is not None
    clicked = threading.Event()
    outcome: dict[str, Any] = {}

    def click() -> None:
        outcome["click"] = _run(_click, bank, task.example_id)
        clicked.set()

    def split_paused(session: Any) -> None:  # in the split's transaction, labels changed
        pid = backend_pid(session)
        threading.Thread(target=click).start()
        wait_until(lambda: clicked.is_set() or blocks_someone(bank.db, pid), "the click")

    pause_before(monkeypatch, taxonomy_repo, "record_event", split_paused)
    split = _split(bank)
    assert clicked.wait(WAIT)
    _label_gone_or_seen(outcome["click"], split)
    assert isinstance(outcome["click"], StaleActionError)  # it waited, and saw the split
    assert not _counts(bank, task.example_id)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_a_split_during_a_click_waits_for_it(
    bank: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = labeling.next_task(bank, project=PROJECT, annotator="U1")
    assert task is not None
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def split() -> None:
        outcome["split"] = _run(_split, bank)
        done.set()

    def click_paused(session: Any) -> None:  # in the click's transaction, the label read
        pid = backend_pid(session)
        threading.Thread(target=split).start()
        wait_until(lambda: done.is_set() or blocks_someone(bank.db, pid), "the split")

    pause_before(monkeypatch, feedback, "add_annotation", click_paused)
    click = _run(_click, bank, task.example_id)
    assert done.wait(WAIT)
    _label_gone_or_seen(click, outcome["split"])


def _run(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # the outcome, for the test to look at
        return exc
