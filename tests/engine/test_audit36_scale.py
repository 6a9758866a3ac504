"""Audit 36: work per click that grows with the project (its examples and its label history).

Every click hands the expert the next example (``labeling.next_task``). Two projects of one
database are built cheaply by bulk inserts (the storage repositories and an ``insert`` of the
history): ``SMALL`` and ``LARGE`` examples, 60 labels, half of the examples labeled by 20 experts
(each with its done delivery), a tenth of those asked of a second expert who answered (a
complete second opinion, the default ``multi_label_share``), every example scored. Then one
click's database work is counted in each project, the same way: on SQLite the virtual machine
steps of each statement (a progress handler every 100 steps), on PostgreSQL the rows each plan
node produced or filtered out (``EXPLAIN ANALYZE`` of each statement, rolled back to a
savepoint). A click's work must not grow with the project: ``LARGE`` is 8 times ``SMALL``, and
the work may not even double. No timings."""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, update
from sqlmodel import col, select

from engine import labeling, projects, taxonomy
from storage.db import refresh_statistics, session_scope
from storage.models import Assignment, Label, MultiLabelRequest, utcnow
from storage.repositories import examples, feedback, models
from storage.repositories import projects as projects_repo
from storage.repositories.examples import NewExample
from storage.repositories.feedback import NewAnnotation
from storage.repositories.models import PredictionRow

LABELS = [f"intent_{i}" for i in range(60)]
EXPERTS = [f"U{i:02d}" for i in range(20)]
SMALL, LARGE = 1000, 8000


def build(ws: Any, name: str, n: int) -> int:
    """Project ``name`` of ``n`` examples with the history described above; its id."""
    rng = random.Random(n)
    projects.create_project(ws, name=name, labels=LABELS)
    projects.update_settings(ws, project=name, audit_share=0.0)  # no random audit picks
    with session_scope(ws.db) as s:
        pid = projects_repo.get_project(session=s, name=name).id
        assert pid is not None
        rows = [NewExample(f"{name} text {i} {rng.random()}") for i in range(n)]
        ids = list(examples.add_examples(session=s, project_id=pid, rows=rows).ids)
        stored = s.exec(select(Label).where(Label.project_id == pid))
        by_name = {lb.name: int(lb.id or 0) for lb in stored}
        run = models.start_model_run(
            session=s, project_id=pid, n_labels=len(LABELS), classes=LABELS,
            label_ids=[by_name[x] for x in LABELS],
        )  # fmt: skip
        models.replace_predictions(
            session=s,
            project_id=pid,
            model_run_id=run.id,
            rows=[
                PredictionRow(
                    example_id=e,
                    label=LABELS[e % 60],
                    confidence=0.5,
                    probs=[[LABELS[e % 60], 0.5], [LABELS[(e + 1) % 60], 0.3]],
                    uncertainty=0.5,
                    priority=rng.random(),
                )  # fmt: skip
                for e in ids
            ],
        )
        then = utcnow() - timedelta(days=2)
        votes: list[NewAnnotation] = []
        deliveries: list[dict[str, Any]] = []
        requests: list[dict[str, Any]] = []

        def vote(e: int, who: str, label: str) -> None:
            votes.append(NewAnnotation(e, by_name[label], who, "slack", f"{name}-{who}-{e}"))
            deliveries.append(
                dict(project_id=pid, example_id=e, annotator=who, status="done", purpose="queue",
                     created_at=then, expires_at=then + timedelta(hours=1), closed_at=then)
            )  # fmt: skip

        for j, e in enumerate(ids[: n // 2]):
            vote(e, EXPERTS[j % 20], LABELS[j % 60])
            if j % 10 == 0:  # a complete second opinion
                vote(e, EXPERTS[(j + 1) % 20], LABELS[j % 60])
                requests.append(dict(example_id=e, project_id=pid, k=2, reason="sample"))
        feedback.add_annotations(session=s, rows=votes, created_at=then)
        s.execute(insert(Assignment), deliveries)
        s.execute(insert(MultiLabelRequest), requests)
    with session_scope(ws.db) as s:  # each request has its second opinion: settled, as a click
        s.execute(  # settling it marks it (assignments.settle_requests)
            update(MultiLabelRequest)
            .where(col(MultiLabelRequest.project_id) == pid)
            .values(pending=False)
        )
    refresh_statistics(ws.db)
    return int(pid)


class Work:
    """The database work of the statements run while counting, one (work, SQL) per statement."""

    def __init__(self, engine: Any) -> None:
        self.pg = engine.dialect.name == "postgresql"
        self.counting = False
        self.log: list[tuple[int, str]] = []
        self._steps = [0]
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if self.counting and not self.pg:
            steps = self._steps = [0]

            def tick() -> int:
                steps[0] += 1
                return 0

            conn.connection.dbapi_connection.set_progress_handler(tick, 100)

    def _after(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if not self.counting:
            return
        if self.pg:
            work = self._explained(cursor, statement, params)
        else:
            dbapi = conn.connection.dbapi_connection
            dbapi.set_progress_handler(None, 100)
            work = self._steps[0]
            if statement.lstrip().split(None, 1)[0].upper() in ("SELECT", "WITH"):
                work = self._fetched(dbapi, statement, params)
        self.log.append((work, " ".join(statement.split())))

    @staticmethod
    def _fetched(dbapi: Any, statement: str, params: Any) -> int:
        """The steps of a read with every row fetched: run once more, to its last row (the
        caller may fetch lazily, after this hook: a scan returned in index order does its work
        as its rows are fetched)."""
        steps = [0]

        def tick() -> int:
            steps[0] += 1
            return 0

        dbapi.set_progress_handler(tick, 100)
        try:
            dbapi.execute(statement, params).fetchall()
        finally:
            dbapi.set_progress_handler(None, 100)
        return steps[0]

    @staticmethod
    def _explained(cursor: Any, statement: str, params: Any) -> int:
        if statement.lstrip().split(None, 1)[0].upper() not in ("SELECT", "WITH", "UPDATE"):
            return 0  # inserts (their work is one row) and SAVEPOINT and the like
        explain = cursor.connection.cursor()
        explain.execute("SAVEPOINT audit36")
        try:
            explain.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
            plan = explain.fetchone()[0][0]["Plan"]
        finally:
            explain.execute("ROLLBACK TO SAVEPOINT audit36")

        def rows(node: dict[str, Any]) -> int:
            seen = node.get("Actual Rows", 0) + sum(
                node.get(k, 0)
                for k in ("Rows Removed by Filter", "Rows Removed by Join Filter",
                          "Rows Removed by Index Recheck")
            )  # fmt: skip
            return int(seen * node.get("Actual Loops", 1)) + sum(map(rows, node.get("Plans", [])))

        return rows(plan)

    @contextlib.contextmanager
    def count(self) -> Iterator[list[tuple[int, str]]]:
        self.log = []
        self.counting = True
        try:
            yield self.log
        finally:
            self.counting = False


def of(log: list[tuple[int, str]], pattern: str) -> int:
    """The work of the statements whose SQL matches ``pattern`` (a regular expression); there
    must be one (the pattern matches today's SQL)."""
    found = [w for w, sql in log if re.search(pattern, sql)]
    assert found, pattern
    return sum(found)


def click(ws: Any, name: str) -> int:
    """Labels (a few times, as an expert does) the example "NEW" holds in project ``name``."""
    task = labeling.next_task(ws, project=name, annotator="NEW")
    for i in range(3):
        assert task is not None
        labeling.submit_label(
            ws, project=name, example_id=task.example_id, label=LABELS[i], annotator="NEW",
            source="slack", key=f"{name}-warm-{i}",
        )  # fmt: skip
        task = labeling.next_task(ws, project=name, annotator="NEW")
    assert task is not None
    labeling.submit_label(
        ws, project=name, example_id=task.example_id, label=LABELS[5], annotator="NEW",
        source="slack", key=f"{name}-click",
    )  # fmt: skip
    return task.example_id


def next_work(ws: Any, counter: Work, name: str) -> list[tuple[int, str]]:
    """The statements (and their work) of the next example after a click in project ``name``."""
    click(ws, name)
    with counter.count() as log:
        assert labeling.next_task(ws, project=name, annotator="NEW") is not None
    return list(log)


@pytest.fixture
def sizes(ws: Any) -> Callable[[], tuple[list[tuple[int, str]], list[tuple[int, str]]]]:
    """The next example's statements after a click in the small and in the large project."""

    def measure() -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        build(ws, "small", SMALL)
        build(ws, "large", LARGE)
        counter = Work(ws.db)
        return next_work(ws, counter, "small"), next_work(ws, counter, "large")

    return measure


def _grows(small: int, large: int) -> bool:
    """Work 8 times the project's size that more than doubles (a floor for tiny counts)."""
    return large > 2 * small + 50


def test_next_example_does_not_walk_every_second_opinion(ws, sizes) -> None:  # type: ignore[no-untyped-def]
    """The queue's 'back first' query looks at the pending second opinions only (settled ones
    are marked: ``MultiLabelRequest.pending``)."""
    small, large = sizes()
    pattern = r"^SELECT examples\..* FROM examples .*multi_label_requests"
    s, b = of(small, pattern), of(large, pattern)
    assert not _grows(s, b), f"'back first' query: {s} at {SMALL} examples, {b} at {LARGE}"


def test_next_example_does_not_count_every_delivery(ws, sizes) -> None:  # type: ignore[no-untyped-def]
    """The audit slot: the project's labeling deliveries so far (once counted, now the highest
    number one was given, and the numbering of the new one)."""
    small, large = sizes()
    pattern = r"^SELECT count\(\*\) AS count_1 FROM assignments WHERE|max\(assignments\.labeling_n"
    s, b = of(small, pattern), of(large, pattern)
    assert not _grows(s, b), f"deliveries counted: {s} at {SMALL} examples, {b} at {LARGE}"


def test_open_assignments_read_by_index(ws, sizes) -> None:  # type: ignore[no-untyped-def]
    """Expiring the project's overdue deliveries and finding the expert's open one, on every
    click: on SQLite both read every assignment the project ever had (its project_id index
    alone); PostgreSQL reads only the open ones. Both read them by partial indexes now."""
    small, large = sizes()
    pattern = r"^(UPDATE assignments SET status|SELECT assignments\.id, )"
    s, b = of(small, pattern), of(large, pattern)
    assert not _grows(s, b), f"open assignments: {s} at {SMALL} examples, {b} at {LARGE}"


# An audit pick's reads of the project's examples: today's draws (the highest number, a number's
# example) and the count and offsets they replace.
_PICK = (
    r"^SELECT (count\(\*\) AS count_1|examples\.id) FROM examples WHERE"
    r"|max\(examples\.seq\)|examples\.seq = "
)
# The expert's deliveries so far: the highest number, or the count it replaces.
_THEIRS = (
    r"^SELECT count\(\*\) AS count_1 FROM assignments WHERE .*annotator"
    r"|max\(assignments\.annotator_number\)"
)


def test_counter_sees_growth(ws) -> None:  # type: ignore[no-untyped-def]
    """The measure itself: a count over the project's examples is seen to grow 8-fold."""
    small, large = build(ws, "small", SMALL), build(ws, "large", LARGE)
    counter = Work(ws.db)
    counts = []
    for pid in (small, large):
        with counter.count() as log, session_scope(ws.db) as s:
            examples.count_examples(session=s, project_id=pid)
        counts.append(of(log, "count"))
    assert _grows(*counts), counts


def test_audit_pick_does_not_walk_the_project(ws) -> None:  # type: ignore[no-untyped-def]
    """An audit pick (every tenth delivery by default; here every one, ``audit_share`` 1)
    draws a free example uniformly: today by counting the project's examples and reading one
    at a random OFFSET in id order, both the size of the project; now by drawing an example's
    number (``Example.seq``) up to the project's highest. Seeded draws, the same in both
    projects."""
    work = []
    for name, n in (("small", SMALL), ("large", LARGE)):
        build(ws, name, n)
        projects.update_settings(ws, project=name, audit_share=1.0)
        counter = Work(ws.db)
        with counter.count() as log:
            task = labeling.next_task(ws, project=name, annotator="NEW", rng=random.Random(1))
        assert task is not None
        work.append(of(log, _PICK))
    assert not _grows(*work), f"audit pick: {work[0]} at {SMALL} examples, {work[1]} at {LARGE}"


def test_review_turn_does_not_count_every_delivery_of_the_expert(ws) -> None:  # type: ignore[no-untyped-def]
    """Slack asks for the next task with ``reviews=True``; after a click (its assignment closed)
    the expert holds nothing, so whether a review is due is decided by counting all their
    deliveries in the project (U00: 1/20 of the labeled half, and the second opinions); now
    by the highest number one of their deliveries was given."""
    work = []
    for name, n in (("small", SMALL), ("large", LARGE)):
        build(ws, name, n)
        task = labeling.next_task(ws, project=name, annotator="U00", reviews=True)
        assert task is not None and task.kind != "review"
        labeling.submit_label(
            ws, project=name, example_id=task.example_id, label=LABELS[1], annotator="U00",
            source="slack", key=f"{name}-click",
        )  # fmt: skip
        counter = Work(ws.db)
        with counter.count() as log:
            labeling.next_task(ws, project=name, annotator="U00", reviews=True)
        work.append(of(log, _THEIRS))
    assert not _grows(*work), f"expert's deliveries: {work[0]} at {SMALL}, {work[1]} at {LARGE}"


def test_rename_does_not_read_every_example(ws) -> None:  # type: ignore[no-untyped-def]
    """Renaming a label keeps its id: no vote stops or starts counting, no example goes back to
    the queue. Its transaction (the re-score aside, ``rescore=False`` as Slack applies it) may
    not grow with the project; today it lists the examples waiting for a relabel before and
    after, each time testing every example of the project against its annotations (on SQLite
    inside the write lock every click waits on)."""
    work = []
    for name, n in (("small", SMALL), ("large", LARGE)):
        build(ws, name, n)
        counter = Work(ws.db)
        with counter.count() as log:
            change = taxonomy.rename_label(
                ws, project=name, label=LABELS[3], new_name="renamed", actor="U00",
                rescore=False,
            )  # fmt: skip
        assert change.requeued == 0
        work.append(sum(w for w, _ in log))
    assert not _grows(*work), f"a rename: {work[0]} at {SMALL} examples, {work[1]} at {LARGE}"
