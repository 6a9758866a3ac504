"""Session 37: the "proposals due?" check (``proposals.refresh_watermark``, asked of every
project at every scheduler poll) is the project's own: work in another project neither has an
idle project counted afresh nor costs it reads that grow with it, and what the check remembers
still hides none of the project's own growth. The set-aside examples read the labels that count
once, not once per discussion thread. Work is counted as tests/engine/test_audit36_scale.py
does (``Work``: SQLite's steps, PostgreSQL's rows); no timings. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event
from sqlmodel import select

from engine import labeling
from storage.db import session_scope
from storage.models import Example
from storage.repositories import flags, slack
from storage.repositories import projects as projects_repo
from storage.repositories import proposals as repo
from tests.engine.test_audit36_scale import LARGE, SMALL, Work, _grows, build
from tests.engine.test_proposing import make_project


def _pid(ws: Any, name: str) -> int:
    with session_scope(ws.db, read_only=True) as s:
        pid = projects_repo.get_project(session=s, name=name).id
        assert pid is not None
        return int(pid)


def _example(ws: Any, pid: int, n: int = 0) -> int:
    with session_scope(ws.db, read_only=True) as s:
        ids = s.exec(select(Example.id).where(Example.project_id == pid).order_by(Example.id))
        return int(list(ids)[n] or 0)


def _check(ws: Any, pid: int, counter: Work | None = None) -> tuple[dict[str, int], int, int]:
    """One check of ``pid``: what it says, its statements and (with ``counter``) its work."""
    with session_scope(ws.db, read_only=True) as s:
        assert projects_repo.get_project_by_id(session=s, project_id=pid).id == pid  # begun
        if counter is None:
            return repo.refresh_watermark(session=s, project_id=pid), 0, 0
        with counter.count() as log:
            marks = repo.refresh_watermark(session=s, project_id=pid)
    return marks, len(log), sum(w for w, _ in log)


def _work_elsewhere(ws: Any, other: int, n: int) -> None:
    """A label, a flag, a thread and a delivery in project ``other`` (its ``n``-th example)."""
    e = _example(ws, other, n)
    labeling.next_task(ws, project="other", annotator=f"U{n}")  # a delivery
    with session_scope(ws.db) as s:
        flags.add_flag(session=s, example_id=e, annotator="cy", reason="fits no label")
        slack.add_thread(session=s, example_id=e, channel="C1", thread_ts=f"9.{n}",
                         kind="team", opened_by="cy")  # fmt: skip
    task = labeling.next_task(ws, project="other", annotator="cy")
    assert task is not None
    labeling.submit_label(ws, project="other", example_id=task.example_id, label="intent_0",
                          annotator="cy", source="slack", key=f"other-{n}")  # fmt: skip


def test_an_idle_project_checked_after_work_elsewhere_reads_nothing_of_its_own(ws) -> None:  # type: ignore[no-untyped-def]
    """Before: the check watched the database's highest ids, so a label, flag, thread or
    delivery of any project had every other project counted afresh (every annotation, flag,
    skip and thread of it) at the next poll: work that grew with the idle project."""
    other = build(ws, "other", 50)
    work = []
    for name, n in (("small", SMALL), ("large", LARGE)):
        pid = build(ws, name, n)
        counter = Work(ws.db)
        before, _, _ = _check(ws, pid)
        for round_ in range(2):  # the ids move on: the second round is like the first
            _work_elsewhere(ws, other, 2 * len(work) + round_)
            marks, statements, done = _check(ws, pid, counter)
            assert marks == before, (name, marks, before)
            assert statements == 1, (name, statements)
        work.append(done)
    small, large = work
    assert not _grows(small, large), f"idle check: {small} at {SMALL}, {large} at {LARGE}"


def test_growth_after_work_elsewhere_is_still_seen(ws, banking_slice, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The ids the check remembers move on past another project's rows; the project's own rows
    after them are each counted at its next check (a label, a flag, a thread, a skip)."""
    truth = make_project(ws, tmp_path, banking_slice[:40], labeled=4, name="bank")
    shop = make_project(ws, tmp_path, banking_slice[40:80], labeled=0, name="shop")
    bank = _pid(ws, "bank")

    def elsewhere(key: str) -> None:
        task = labeling.next_task(ws, project="shop", annotator="cy")
        assert task is not None
        labeling.submit_label(ws, project="shop", example_id=task.example_id,
                              label=shop[task.text], annotator="cy", source="slack",
                              key=key)  # fmt: skip
        assert _check(ws, bank)[0] == marks  # remembered; the ids move on

    marks, _, _ = _check(ws, bank)
    elsewhere("shop-1")
    task = labeling.next_task(ws, project="bank", annotator="cy")
    assert task is not None
    labeling.submit_label(ws, project="bank", example_id=task.example_id, label=truth[task.text],
                          annotator="cy", source="slack", key="bank-1")  # fmt: skip
    grown, _, _ = _check(ws, bank)
    assert grown["labels"] == marks["labels"] + 1, (grown, marks)

    marks = grown
    elsewhere("shop-2")
    e = _example(ws, bank, 30)
    with session_scope(ws.db) as s:
        flags.add_flag(session=s, example_id=e, annotator="cy", reason="fits no label")
    grown, _, _ = _check(ws, bank)
    assert grown["flags"] == marks["flags"] + 1, (grown, marks)

    marks = grown
    elsewhere("shop-3")
    with session_scope(ws.db) as s:
        slack.add_thread(session=s, example_id=e, channel="C1", thread_ts="1.1", kind="team",
                         opened_by="cy")  # fmt: skip
    grown, _, _ = _check(ws, bank)
    assert grown["discussions"] == marks["discussions"] + 1, (grown, marks)

    task = labeling.next_task(ws, project="bank", annotator="cy")
    assert task is not None
    marks, _, _ = _check(ws, bank)
    elsewhere("shop-4")
    labeling.skip(ws, project="bank", example_id=task.example_id, annotator="cy")
    grown, _, _ = _check(ws, bank)
    assert grown["skips"] == marks["skips"] + 1, (grown, marks)


def test_set_aside_examples_read_the_counting_labels_once(ws, banking_slice, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each thread's example is looked up for a live label of the labels that count: given as
    read once (as ``feedback.count_open_discussions`` does), not as a subquery of the labels
    table in the threads' statement, which PostgreSQL ran again for every thread."""
    make_project(ws, tmp_path, banking_slice[:40], labeled=4, name="bank")
    bank = _pid(ws, "bank")
    threads = [_example(ws, bank, n) for n in range(30, 36)]  # unlabeled examples
    with session_scope(ws.db) as s:
        for n, e in enumerate(threads):
            slack.add_thread(session=s, example_id=e, channel="C1", thread_ts=f"2.{n}",
                             kind="team", opened_by="cy")  # fmt: skip
    ran: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        ran.append(" ".join(statement.split()))

    with session_scope(ws.db, read_only=True) as s:
        event.listen(ws.db, "before_cursor_execute", seen)
        try:
            aside = repo.set_aside_example_ids(session=s, project_id=bank)
        finally:
            event.remove(ws.db, "before_cursor_execute", seen)
    assert set(threads) <= set(aside), (threads, aside)
    reading_labels = [sql for sql in ran if re.search(r"\bFROM labels\b", sql)]
    assert len(reading_labels) == 1, ran
    [of_threads] = [sql for sql in ran if "discussion_threads" in sql]
    assert not re.search(r"\blabels\b", of_threads), of_threads
