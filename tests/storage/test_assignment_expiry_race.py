"""Expiring lapsed assignments (``assignments.expire_assignments``) while a late answer to one of
them commits, on PostgreSQL: the audit picks given up are the ones the expiry expired. A pick
the expert answered first keeps its audit mark (it is a uniform draw that was answered)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event

from storage.db import make_engine, session_scope
from storage.models import Assignment, Example, utcnow
from storage.repositories import assignments, examples, projects
from storage.repositories.examples import NewExample

TTL = timedelta(minutes=5)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_an_audit_pick_answered_as_it_expires_stays_drawn(  # type: ignore[no-untyped-def]
    db_url_and_schema, db
) -> None:
    """Another expert's claim expires the project's lapsed assignments just as the late answer
    to a lapsed audit pick commits (forced: the answer runs right before the expiry's UPDATE).
    The UPDATE then passes the answered pick by; before, a read ahead of it had listed the pick,
    and its example lost the audit mark all the same."""
    url, schema = db_url_and_schema
    start = utcnow()
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="p", labels=["a", "b"])
        assert project.id is not None
        pid = project.id
        examples.add_examples(session=s, project_id=pid, rows=[NewExample("t1"), NewExample("t2")])
        claimed = assignments.claim_next_example(
            session=s, project_id=pid, annotator="U1", ttl=TTL, now=start, audit=True
        )
        assert claimed is not None
        example_id, assignment_id = claimed[0].id, claimed[1].id
        assert example_id is not None and assignment_id is not None and claimed[0].audit

    answered: list[bool] = []

    def answer_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE assignments") and not answered:
            with session_scope(db) as s:  # the late click, in another connection
                done = assignments.close_assignment(
                    session=s, assignment_id=assignment_id, status="done"
                )
                answered.append(done is not None)

    expiry: Engine = make_engine(url, schema=schema)  # another replica's claim
    event.listen(expiry, "before_cursor_execute", answer_first)
    try:
        with session_scope(expiry) as s:
            expired = assignments.expire_assignments(
                session=s, project_id=pid, now=start + TTL + timedelta(minutes=1)
            )
    finally:
        event.remove(expiry, "before_cursor_execute", answer_first)
        expiry.dispose()
    assert answered == [True]
    assert expired == 0
    with session_scope(db, read_only=True) as s:
        assignment = s.get(Assignment, assignment_id)
        example = s.get(Example, example_id)
        assert assignment is not None and assignment.status == "done"
        assert example is not None and example.audit  # still the answered uniform draw
