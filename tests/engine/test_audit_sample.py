"""The audit set is the answered uniform draws: an audit pick that is skipped, released or left
to expire goes back to the ranked queue, and the label it gets there is the strategy's pick, a
training label. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from engine import labeling, projects, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import assignments, examples
from tests.helpers import load_slice


def _pick(ws: Workspace, who: str) -> tuple[int, str]:
    task = labeling.next_task(ws, project="bank", annotator=who)
    assert task is not None
    return task.example_id, task.text


def _label(ws: Workspace, truth: dict[str, str], who: str, pick: tuple[int, str], **kw) -> None:  # type: ignore[no-untyped-def]
    labeling.submit_label(ws, project="bank", example_id=pick[0], label=truth[pick[1]],
                          annotator=who, source="cli", key=f"{who}:{pick[0]}", **kw)  # fmt: skip


def test_only_answered_audit_picks_are_audit_labels(ws, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice[:20], tmp_path)
    projects.update_settings(ws, project="bank", audit_share=1.0, multi_label_share=0.0)
    pid = int(projects.get_project(ws, "bank").id or 0)
    # five uniform draws, out at once (so five different examples), then each one's fate
    skipped, answered, released, late, expired = (_pick(ws, f"U{i}") for i in range(1, 6))
    labeling.skip(ws, project="bank", example_id=skipped[0], annotator="U1")
    _label(ws, truth, "U2", answered)
    labeling.release(ws, project="bank", example_id=released[0], annotator="U3")
    later = utcnow() + timedelta(minutes=ws.settings.assignment_ttl_minutes + 1)
    with session_scope(ws.db) as s:  # what the next claim does first
        assert assignments.expire_assignments(session=s, project_id=pid, now=later) == 2
    _label(ws, truth, "U4", late, now=later)  # a late click on the message of an audit pick
    # the rest (the skipped, released and expired picks among them) from the ranked queue
    projects.update_settings(ws, project="bank", audit_share=0.0)
    while (task := labeling.next_task(ws, project="bank", annotator="U6")) is not None:
        _label(ws, truth, "U6", (task.example_id, task.text))
    with session_scope(ws.db, read_only=True) as s:  # marked while out or answered
        drawn = {e.id for e in examples.list_examples(session=s, project_id=pid) if e.audit}
    assert answered[0] in drawn and not drawn & {skipped[0], released[0], expired[0]}
    pool = training.load_pool(ws, "bank")
    assert (pool.y >= 0).all()
    audit = {int(i) for i in pool.example_ids[pool.audited]}
    assert audit == {answered[0], late[0]}, (skipped[0], released[0], expired[0])
    run = training.train_project(ws, "bank")
    assert (run.n_labels, run.metrics["audit"]["n"]) == (18, 2)


def test_an_audit_label_undone_and_given_again_stays_audit(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """Slack's undo offers the example again to the same expert: still the uniform draw."""
    truth = load_slice(ws, banking_slice[:20], tmp_path)
    projects.update_settings(ws, project="bank", audit_share=1.0, multi_label_share=0.0)
    pick = _pick(ws, "U1")
    first = labeling.submit_label(ws, project="bank", example_id=pick[0], label="age_limit",
                                  annotator="U1", source="slack", key="first")  # fmt: skip
    labeling.undo(ws, annotation_id=first.annotation_id, annotator="U1")
    pool = training.load_pool(ws, "bank")
    assert len(pool.audited) == 0  # nothing labeled
    _label(ws, truth, "U1", pick)
    pool = training.load_pool(ws, "bank")
    assert [int(i) for i in pool.example_ids[pool.audited]] == [pick[0]]


def test_an_expired_audit_pick_labeled_from_the_queue_by_the_same_expert_trains(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """A one-expert team: U1 leaves an audit pick to expire; the strategy later hands the same
    example back to U1 through the ranked queue, and U1 labels it there. That label answers the
    queue's pick (the README: "the label it gets there trains models like any other"), not the
    uniform draw: it was held out of training as an audit label."""
    truth = load_slice(ws, banking_slice[:20], tmp_path)
    projects.update_settings(ws, project="bank", audit_share=1.0, multi_label_share=0.0)
    pid = int(projects.get_project(ws, "bank").id or 0)
    pick = _pick(ws, "U1")
    later = utcnow() + timedelta(minutes=ws.settings.assignment_ttl_minutes + 1)
    with session_scope(ws.db) as s:
        assert assignments.expire_assignments(session=s, project_id=pid, now=later) == 1
    projects.update_settings(ws, project="bank", audit_share=0.0)
    again = None
    while (task := labeling.next_task(ws, project="bank", annotator="U1", now=later)) is not None:
        if task.example_id == pick[0]:
            again = task
        _label(ws, truth, "U1", (task.example_id, task.text), now=later)
        later += timedelta(seconds=1)
    assert again is not None, "the expired pick never came back through the queue"
    pool = training.load_pool(ws, "bank")
    assert (pool.y >= 0).all()
    assert pick[0] not in {int(i) for i in pool.example_ids[pool.audited]}
    assert len(pool.audited) == 0
