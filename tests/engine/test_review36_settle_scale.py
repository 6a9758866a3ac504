"""review36: a click's settling of the answered second opinions (``assignments.settle_requests``)
reads the pending requests only (``ix_multi_label_requests_pending``), however many the project
settled before. Measured as audit36 measures a click (``tests/engine/test_audit36_scale``): the
same two projects, the same counted work, in a click that settles one request."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlmodel import select

from engine import labeling
from storage.db import session_scope
from storage.models import Example, Label, MultiLabelRequest, utcnow
from storage.repositories import feedback
from storage.repositories import projects as projects_repo
from storage.repositories.feedback import NewAnnotation
from tests.engine import test_audit36_scale as scale
from tests.storage import test_click_counters as counters

# The settling statements: the candidates (taken FOR UPDATE on PostgreSQL) and the UPDATE.
_SETTLE = r"^UPDATE multi_label_requests SET pending|FROM multi_label_requests AS multi_label_req"


def _answered_again(ws: Any, name: str) -> int:
    """A second opinion answered since the last click: an example ``build`` gave one vote
    (U01's) gets a second expert's and a request for two. Its id."""
    with session_scope(ws.db) as s:
        pid = projects_repo.get_project(session=s, name=name).id
        assert pid is not None
        second = select(Example.id).where(Example.project_id == pid).order_by(Example.id)
        example_id = int(s.exec(second.offset(1).limit(1)).one() or 0)
        label = s.exec(select(Label).where(Label.project_id == pid, Label.name == "intent_1"))
        label_id = int(label.one().id or 0)
        feedback.add_annotations(
            session=s,
            rows=[NewAnnotation(example_id, label_id, "U02", "slack", f"{name}-again")],
            created_at=utcnow(),
        )
        s.execute(insert(MultiLabelRequest), [dict(example_id=example_id, project_id=pid, k=2)])
    assert counters._pending(ws, example_id)
    return example_id


def test_settling_reads_the_pending_requests_only(ws) -> None:  # type: ignore[no-untyped-def]
    """The settled requests (every complete second opinion ``build`` stored, settled by the
    first click) are not read again: the settling's work does not grow with the project."""
    scale.build(ws, "small", scale.SMALL)
    scale.build(ws, "large", scale.LARGE)
    counter = scale.Work(ws.db)
    work = []
    for name in ("small", "large"):
        scale.click(ws, name)  # the first click settles every request stored by ``build``
        example_id = _answered_again(ws, name)
        with counter.count() as log:
            assert labeling.next_task(ws, project=name, annotator="NEW") is not None
        assert not counters._pending(ws, example_id)  # this click settled it
        work.append(scale.of(log, _SETTLE))
    small, large = work
    assert not scale._grows(small, large), f"settling: {small} at {scale.SMALL}, {large} at 8x"
