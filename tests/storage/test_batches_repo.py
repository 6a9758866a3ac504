"""Labeling batches in the database: counted answer by answer, ended exactly once, also when
answers for one batch arrive on two replicas at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

from storage.db import make_engine, session_scope
from storage.models import LabelingBatch
from storage.repositories import batches, projects


def _project(engine) -> int:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        project = projects.create_project(session=s, name="bank", labels=["a", "b"])
        assert project.id is not None
        return project.id


def test_a_batch_counts_answers_and_ends_once(db) -> None:  # type: ignore[no-untyped-def]
    pid = _project(db)
    with session_scope(db) as s:
        assert batches.count_answer(session=s, project_id=pid, user_id="U1", agreed=True) is None
        batches.start_batch(session=s, project_id=pid, user_id="U1", size=3)
    answers = [True, None, False]
    counts = []
    for agreed in answers:
        with session_scope(db) as s:
            counts.append(batches.count_answer(session=s, project_id=pid, user_id="U1",
                                               agreed=agreed))  # fmt: skip
    assert [c.remaining for c in counts if c] == [2, 1, 0]
    last = counts[-1]
    assert last is not None and (last.done, last.compared, last.agreed) == (3, 2, 1)
    with session_scope(db) as s:
        ended = s.get(LabelingBatch, (pid, "U1"))  # kept, counting nothing, for an undo
        assert ended is not None and (ended.remaining, ended.done) == (0, 3)
        after = batches.count_answer(session=s, project_id=pid, user_id="U1", agreed=None)
        assert after is not None and not after.counted and after.done == 3
        # a restart resets the tally; another expert's batch is separate
        batches.start_batch(session=s, project_id=pid, user_id="U1", size=5)
        batches.count_answer(session=s, project_id=pid, user_id="U1", agreed=True)
        batches.start_batch(session=s, project_id=pid, user_id="U1", size=2)
        batches.start_batch(session=s, project_id=pid, user_id="U2", size=4)
    with session_scope(db) as s:
        again = batches.count_answer(session=s, project_id=pid, user_id="U1", agreed=None)
        assert again is not None and (again.remaining, again.done, again.compared) == (1, 1, 0)
        other = s.get(LabelingBatch, (pid, "U2"))
        assert other is not None and other.remaining == 4


def test_answers_on_two_replicas_at_once_are_all_counted(db_url_and_schema) -> None:  # type: ignore[no-untyped-def]
    url, schema = db_url_and_schema
    setup = make_engine(url, schema=schema)
    pid = _project(setup)
    size, per_replica = 9, 6  # 12 answers race for a batch of 9
    with session_scope(setup) as s:
        batches.start_batch(session=s, project_id=pid, user_id="U1", size=size)
    seen: list[int | None] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def replica() -> None:
        engine = make_engine(url, schema=schema)
        try:
            barrier.wait()
            for _ in range(per_replica):
                with session_scope(engine) as s:
                    count = batches.count_answer(session=s, project_id=pid, user_id="U1",
                                                 agreed=True)  # fmt: skip
                seen.append(None if count is None or not count.counted else count.remaining)
        except BaseException as exc:  # collected and checked in the main thread
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    counted = sorted((r for r in seen if r is not None), reverse=True)
    assert counted == list(range(size - 1, -1, -1))  # each step once; exactly one saw the end
    assert seen.count(None) == 2 * per_replica - size
    setup.dispose()
