"""What a monitoring system scrapes (``GET /metrics``): each project's counts and its active
model, read in one short read-only transaction with counting queries only (no annotation or
example is loaded, so a scrape stays cheap however large the projects grow)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.evaluation import model_estimates
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import assignments, examples, feedback, flags, models, projects
from storage.repositories import proposals as stored_proposals


@dataclass(frozen=True)
class ModelGauges:
    version: int
    trained_at: datetime
    labels: int  # the labels it was trained on
    # the headline accuracy (engine.evaluation.model_estimates): the audit's when there is
    # one, else the cross-validated one; None when the run has neither
    accuracy: float | None
    source: str | None  # "audit" | "cv"


@dataclass(frozen=True)
class ProjectGauges:
    name: str
    examples: int
    annotated: int  # examples with a label that counts (status's "labeled")
    annotations: int  # live labels
    queue: int  # examples free to hand out
    open_flags: int
    open_proposals: int
    model: ModelGauges | None


def project_gauges(ws: Workspace) -> list[ProjectGauges]:
    """Every project's gauges, in the order projects were created."""
    found = []
    with session_scope(ws.db, read_only=True) as session:
        for project in projects.list_projects(session=session):
            assert project.id is not None
            pid = project.id
            run = models.get_active_model_run(session=session, project_id=pid)
            model = None
            if run is not None:
                headline = model_estimates(
                    run.metrics or {}, version=run.version, trained_on=run.n_labels, labeled=0
                )["headline"]
                model = ModelGauges(
                    version=run.version,
                    trained_at=run.created_at,
                    labels=run.n_labels,
                    accuracy=None if headline is None else float(headline["accuracy"]),
                    source=None if headline is None else str(headline["source"]),
                )
            found.append(
                ProjectGauges(
                    name=project.name,
                    examples=examples.count_examples(session=session, project_id=pid),
                    annotated=feedback.count_annotated_examples(session=session, project_id=pid),
                    annotations=feedback.count_annotations(session=session, project_id=pid),
                    queue=assignments.count_free_examples(session=session, project_id=pid),
                    open_flags=flags.count_open_flags(session=session, project_id=pid),
                    open_proposals=stored_proposals.count_open(session=session, project_id=pid),
                    model=model,
                )
            )
    return found
