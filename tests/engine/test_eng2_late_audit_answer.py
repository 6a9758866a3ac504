"""A late answer to an audit pick that someone else labeled first is no audit label: once the
pick expired it went back to the ranked queue, another expert labeled it there, and a model
trained on that label; the late answer then made the example an audit label, and that model's
``audit_active`` score (the promotion gate, the digest's change) counted an example it trained
on. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from engine import labeling, projects, training
from engine.labeling import Task
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import assignments
from tests.helpers import load_slice


def _label(ws: Workspace, truth: dict[str, str], who: str, task: Task, now: datetime) -> None:
    labeling.submit_label(
        ws,
        project="bank",
        example_id=task.example_id,
        label=truth[task.text],
        annotator=who,
        source="cli",
        key=f"{who}:{task.example_id}",
        now=now,
    )


def test_a_late_audit_answer_after_a_queue_label_that_trained_is_no_audit_label(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    truth = load_slice(ws, banking_slice[:24], tmp_path)
    projects.update_settings(ws, project="bank", audit_share=1.0, multi_label_share=0.0)
    pid = int(projects.get_project(ws, "bank").id or 0)
    answered = labeling.next_task(ws, project="bank", annotator="U3")  # an audit pick answered
    pick = labeling.next_task(ws, project="bank", annotator="U1")  # one drawn for U1
    assert answered is not None and pick is not None
    _label(ws, truth, "U3", answered, utcnow())
    later = utcnow() + timedelta(minutes=ws.settings.assignment_ttl_minutes + 1)
    with session_scope(ws.db) as s:  # U1 let it expire: it goes back to the ranked queue
        assert assignments.expire_assignments(session=s, project_id=pid, now=later) == 1
    # every example the queue labels asks for a second opinion, so U1's answer is taken
    projects.update_settings(ws, project="bank", audit_share=0.0, multi_label_share=1.0)
    seen = False
    while (task := labeling.next_task(ws, project="bank", annotator="U2", now=later)) is not None:
        seen = seen or task.example_id == pick.example_id
        _label(ws, truth, "U2", task, later)
        later += timedelta(seconds=1)
    assert seen, "the expired pick never came back through the queue"
    v1 = training.train_project(ws, "bank")
    assert v1.n_labels == 23  # U2's label of the pick among them: v1 trained on it
    # U1 comes back to the pick's message and answers it, late
    _label(ws, truth, "U1", pick, later + timedelta(minutes=5))
    pool = training.load_pool(ws, "bank")
    assert {int(i) for i in pool.example_ids[pool.audited]} == {answered.example_id}
    v2 = training.train_project(ws, "bank")
    assert v2.n_labels == 23  # still a training example, with both votes
    assert v2.metrics["audit_active"]["n"] == 1  # v1 scored on what it never trained on only
