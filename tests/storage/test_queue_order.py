"""The queue's next example, picked by three small queries (relabels and second opinions
first, then by priority from its index, then unscored examples), is the one the former single
query picked by sorting the whole project, and the count of the queue left, read from labels and
flags, is the one counted over every example: on SQLite and PostgreSQL, through a seeded random
history of labels, undos, skips, flags, second opinions, a split and a retire, with tied
priorities and examples not scored yet."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

from sqlalchemy import case, exists, func
from sqlmodel import Session, col, select

from engine import labeling, projects, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import Annotation, Assignment, Example, Prediction
from storage.repositories import assignments
from storage.repositories import projects as projects_repo

EXPERTS = ["ana", "bob", "cy", "dee"]


def _former_pick(session: Session, project_id: int, annotator: str) -> int | None:
    """The single query ``_next_free_example`` ran until 2026-12-02, as the reference."""
    labeled = assignments._labeled(session, project_id)
    relabel = exists().where(
        col(Annotation.example_id) == Example.id, col(Annotation.retracted_at).is_(None)
    )
    taken = exists().where(
        col(Assignment.example_id) == Example.id, col(Assignment.status) == "open"
    )
    free = ~labeled & ~assignments._counted_by(project_id, annotator)
    available = free | assignments._wanted_by(project_id, annotator)
    query = (
        select(Example.id)
        .outerjoin(Prediction, col(Prediction.example_id) == Example.id)
        .where(
            Example.project_id == project_id,
            available,
            ~assignments._flagged(),
            ~taken,
            ~assignments._skipped_by(annotator),
        )
        .order_by(
            case((relabel, 1), else_=0).desc(),
            col(Prediction.priority).desc().nulls_last(),
            col(Example.id),
        )
        .limit(1)
    )
    return session.exec(query).first()


def _picks(ws: Workspace) -> list[tuple[Any, Any]]:
    with session_scope(ws.db) as session:  # not read-only: PostgreSQL's claim locks its pick
        pid = projects_repo.get_project(session=session, name="p").id
        assert pid is not None
        out = []
        for who in EXPERTS:
            now = assignments._next_free_example(session, pid, who)
            out.append(((who, _former_pick(session, pid, who)), (who, now and now.id)))
        former_count = session.exec(
            select(func.count())
            .select_from(Example)
            .where(
                Example.project_id == pid,
                ~assignments._labeled(session, pid),
                ~assignments._flagged(),
            )
        ).one()
        count = assignments.count_free_examples(session=session, project_id=pid)
        out.append((("queue left", former_count), ("queue left", count)))
        return out


def _score(ws: Workspace, rng: random.Random) -> None:
    """Predictions for four in five examples, priorities drawn from few values (ties)."""
    with session_scope(ws.db) as session:
        pid = projects_repo.get_project(session=session, name="p").id
        assert pid is not None
        for row in session.exec(select(Prediction)).all():
            session.delete(row)
        for eid in session.exec(select(Example.id).where(Example.project_id == pid)).all():
            if rng.random() < 0.8:
                priority = rng.choice([0.1, 0.2, 0.5, 0.9, 1000.0])
                session.add(Prediction(example_id=eid, project_id=pid, priority=priority))


def test_the_next_example_is_the_one_the_whole_project_sort_picked(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    projects.create_project(ws, name="p", labels=["A", "B", "C", "D"])
    projects.update_settings(ws, project="p", audit_share=0.0, multi_label_share=0.4)
    path = tmp_path / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([f"text number {i}"] for i in range(40))
    projects.import_file(ws, project="p", path=path, embed=False)
    _score(ws, rng)
    compared = 0
    given: list[tuple[int, str]] = []  # (annotation id, who), to undo
    for step in range(120):
        for former, now in _picks(ws):
            assert now == former, f"step {step}"
            compared += former[1] is not None
        who = rng.choice(EXPERTS)
        task = labeling.next_task(ws, project="p", annotator=who)
        if task is None:
            continue
        roll = rng.random()
        if roll < 0.65:
            label = rng.choice([c.name for c in task.labels])
            result = labeling.submit_label(ws, project="p", example_id=task.example_id,
                                           label=label, annotator=who, source="slack",
                                           key=f"k{step}")  # fmt: skip
            given.append((result.annotation_id, who))
        elif roll < 0.75 and given:  # an undo: a second opinion asked may be left with no vote
            annotation_id, by = given.pop(rng.randrange(len(given)))
            labeling.undo(ws, annotation_id=annotation_id, annotator=by)
        elif roll < 0.8:
            labeling.skip(ws, project="p", example_id=task.example_id, annotator=who)
        elif roll < 0.85:
            labeling.flag(ws, project="p", example_id=task.example_id, annotator=who,
                          reason="unclear")  # fmt: skip
        # else: left open, out with the expert
        if step == 40:
            taxonomy.split_label(ws, project="p", label="A", into=["A1", "A2"], actor="admin")
        if step == 70:
            taxonomy.retire_label(ws, project="p", label="B", actor="admin")
        if step == 90:
            _score(ws, rng)  # a new model's priorities, some examples now unscored
    assert compared > 100  # the comparisons were of real picks, not of empty queues
