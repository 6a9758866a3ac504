"""Concurrent experts never get the same example (SQLite and PostgreSQL, separate connections)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from storage.db import make_engine, session_scope
from storage.repositories import assignments, examples, feedback, projects
from storage.repositories.examples import NewExample

USERS = 6
EXAMPLES = 60


def test_parallel_labelers_each_get_distinct_examples(db_url_and_schema) -> None:  # type: ignore[no-untyped-def]
    url, schema = db_url_and_schema
    setup = make_engine(url, schema=schema)
    with session_scope(setup) as s:
        project = projects.create_project(session=s, name="race", labels=["a", "b"])
        label_id = projects.get_label(session=s, project_id=project.id, name="a").id
        examples.add_examples(
            session=s, project_id=project.id, rows=[NewExample(f"t{i}") for i in range(EXAMPLES)]
        )
    setup.dispose()

    delivered: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(USERS)

    def expert(user: str) -> None:
        engine = make_engine(url, schema=schema)  # its own pool: real concurrent connections
        try:
            barrier.wait()
            while True:
                with session_scope(engine) as s:
                    got = assignments.claim_next_example(
                        session=s, project_id=project.id, annotator=user, ttl=timedelta(minutes=5)
                    )
                if got is None:
                    return
                example, assignment = got
                with lock:
                    delivered.append(example.id)
                with session_scope(engine) as s:
                    feedback.add_annotation(
                        session=s,
                        example_id=example.id,
                        label_id=label_id,
                        annotator=user,
                        source="cli",
                        key=f"{user}:{example.id}",
                    )
                    assignments.close_assignment(
                        session=s, assignment_id=assignment.id, status="done"
                    )
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=expert, args=(f"U{i}",)) for i in range(USERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    repeated = [ex for ex, n in Counter(delivered).items() if n > 1]
    assert repeated == [], f"examples delivered twice: {repeated}"
    assert len(delivered) == EXAMPLES
