"""Project services: create projects, edit the taxonomy, import data, report status."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.importing import read_records
from engine.rare import MIN_EXAMPLES, rare_labels
from engine.workspace import Workspace
from storage.db import refresh_statistics, session_scope
from storage.errors import InvalidInputError, StaleActionError
from storage.models import Label, Project
from storage.repositories import assignments, examples, feedback, flags, models, projects
from storage.repositories.examples import NewExample


def create_project(
    ws: Workspace, *, name: str, labels: list[str], channel_id: str | None = None
) -> Project:
    if not labels:
        raise InvalidInputError("a project needs at least one label (--labels 'A,B,C')")
    with session_scope(ws.db) as session:
        return projects.create_project(
            session=session, name=name, labels=labels, channel_id=channel_id
        )


def update_settings(ws: Workspace, *, project: str, **changes: Any) -> dict[str, Any]:
    """Change per-project knobs (batch_size, strategy, classifier, ...); returns all of them."""
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return projects.update_project_settings(
            session=session, project_id=found.id, **changes
        ).settings


def set_channel(ws: Workspace, *, project: str, channel_id: str | None) -> None:
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        projects.set_project_channel(session=session, project_id=found.id, channel_id=channel_id)


def list_projects(ws: Workspace) -> list[Project]:
    with session_scope(ws.db, read_only=True) as session:
        return projects.list_projects(session=session)


def get_project(ws: Workspace, name: str) -> Project:
    with session_scope(ws.db, read_only=True) as session:
        return projects.get_project(session=session, name=name)


def add_labels(ws: Workspace, *, project: str, names: list[str]) -> list[Label]:
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return projects.add_labels(session=session, project_id=found.id, names=names)


def list_labels(ws: Workspace, *, project: str, active_only: bool = False) -> list[Label]:
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return projects.list_labels(session=session, project_id=found.id, active_only=active_only)


def label_name(ws: Workspace, *, project: str, label_id: int) -> str:
    """The name one of the project's labels has now, retired or not, by its id (what a button
    or menu option carries: ids stay short and survive renames). StaleActionError when the
    label is gone (an undo removed it) or belongs to another project."""
    for label in list_labels(ws, project=project):
        if label.id == label_id:
            return label.name
    raise StaleActionError("that label no longer exists; the message now shows today's labels")


@dataclass(frozen=True)
class ImportReport:
    rows: int
    inserted: int
    duplicates: int
    annotations: int
    embedded: int


def import_file(
    ws: Workspace,
    *,
    project: str,
    path: Path,
    text_column: str = "text",
    label_column: str | None = "label",
    id_column: str | None = "id",
    require_label_column: bool = False,
    require_id_column: bool = False,
    embed: bool = True,
    progress: bool = False,
    annotator: str = "import",
) -> ImportReport:
    """Import a CSV/JSONL file in one transaction; embed new texts afterwards (cached on disk)."""
    records = read_records(
        path,
        text_column=text_column,
        label_column=label_column,
        id_column=id_column,
        require_label_column=require_label_column,
        require_id_column=require_id_column,
    )
    created = 0
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        label_ids = {
            lb.name: lb.id for lb in projects.list_labels(session=session, project_id=found.id)
        }
        for rec in records:
            if rec.label is not None and rec.label not in label_ids:
                known = ", ".join(label_ids)
                raise InvalidInputError(
                    f"{path}:{rec.line}: unknown label {rec.label!r} (labels: {known}); "
                    "add it first with `labelbot labels add`"
                )
        added = examples.add_examples(
            session=session,
            project_id=found.id,
            rows=[NewExample(r.text, r.external_id, r.meta) for r in records],
        )
        fresh = _first_occurrences(added.ids)
        for rec, example_id, is_new in zip(records, added.ids, fresh, strict=True):
            if rec.label is None or not is_new:
                continue
            label_id = label_ids[rec.label]
            assert label_id is not None
            _, made = feedback.add_annotation(
                session=session,
                example_id=example_id,
                label_id=label_id,
                annotator=annotator,
                source="import",
                key=f"import:{example_id}:{rec.label}",
            )
            created += int(made)
    refresh_statistics(ws.db)  # the new rows, for the planner of every click that follows
    embedded = 0
    if embed:
        ws.embed([r.text for r in records], progress=progress)
        embedded = len(records)
    return ImportReport(
        rows=len(records),
        inserted=added.inserted,
        duplicates=added.duplicates,
        annotations=created,
        embedded=embedded,
    )


def _first_occurrences(ids: list[int]) -> list[bool]:
    seen: set[int] = set()
    flags_: list[bool] = []
    for i in ids:
        flags_.append(i not in seen)
        seen.add(i)
    return flags_


def queue_size(ws: Workspace, name: str) -> int:
    """How many examples wait for a label: one cheap count (status computes far more)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=name)
        assert found.id is not None
        return assignments.count_free_examples(session=session, project_id=found.id)


def project_status(ws: Workspace, name: str) -> dict[str, Any]:
    """Counts, labels per class and the active model's metrics, as JSON-able data; with the
    classes still too rare to learn, expert agreement and mislabel reviews."""
    from engine.consensus import agreement_report  # imports engine.labeling
    from engine.reviews import review_counts

    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        pid = project.id
        labels = projects.list_labels(session=session, project_id=pid, active_only=False)
        agreed = feedback.current_labels(session=session, project_id=pid)
        n_examples = examples.count_examples(session=session, project_id=pid)
        n_annotations = feedback.count_annotations(session=session, project_id=pid)
        open_flags = len(flags.list_flags(session=session, project_id=pid))
        waiting = assignments.count_free_examples(session=session, project_id=pid)
        run = models.get_active_model_run(session=session, project_id=pid)
        n_comments = len(feedback.list_comments(session=session, project_id=pid))
    per_class = Counter(agreed.values())
    model = None
    if run is not None:
        model = {
            "version": run.version,
            "kind": run.kind,
            "trained_at": run.created_at.isoformat(),
            "labels": run.n_labels,
            "metrics": run.metrics,
        }
    return {
        "project": name,
        "channel": project.channel_id,
        "examples": n_examples,
        "labeled": len(agreed),
        "unlabeled": n_examples - len(agreed),
        "queue": waiting,
        "annotations": n_annotations,
        "comments": n_comments,
        "open_flags": open_flags,
        "labels": [
            {
                "name": lb.name,
                "active": lb.active,
                "count": per_class.get(lb.name, 0),
                "description": lb.description,
            }
            for lb in labels
        ],
        "model": model,
        "rare": _rare(labels, per_class, int(project.settings.get("rare_minimum", MIN_EXAMPLES))),
        "agreement": agreement_report(ws, name).to_dict(),
        "reviews": review_counts(ws, project=name),
    }


def _rare(labels: list[Label], per_class: Counter[str], minimum: int) -> dict[str, Any]:
    """Labels per active class, and those still too rare to learn (the queue helps them)."""
    active = [lb.name for lb in labels if lb.active]
    counts = np.array([per_class.get(n, 0) for n in active], dtype=np.int64)
    return {
        "minimum": minimum,
        "counts": {n: int(c) for n, c in zip(active, counts, strict=True)},
        "too_rare": [active[i] for i in rare_labels(counts, minimum).tolist()],
    }
