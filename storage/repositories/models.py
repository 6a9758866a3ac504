"""Model runs (every trained model, with its metrics) and the active model's predictions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, update
from sqlmodel import Session, col, select

from storage.errors import NotFoundError
from storage.models import Annotation, Example, ModelRun, Prediction, Project, utcnow


def start_model_run(
    *, session: Session, project_id: int, n_labels: int, classes: list[str]
) -> ModelRun:
    """Record a model being trained; its version is one past the project's latest."""
    latest = session.exec(
        select(func.coalesce(func.max(ModelRun.version), 0)).where(
            ModelRun.project_id == project_id
        )
    ).one()
    run = ModelRun(
        project_id=project_id, version=int(latest) + 1, n_labels=n_labels, classes=classes
    )
    session.add(run)
    session.flush()
    return run


def finish_model_run(
    *,
    session: Session,
    run_id: int,
    status: str,
    metrics: dict[str, Any] | None = None,
    artifact_path: str | None = None,
    kind: str | None = None,
) -> ModelRun:
    run = session.get(ModelRun, run_id)
    if run is None:
        raise NotFoundError(f"no model run with id {run_id}")
    run.status = status
    if metrics is not None:
        run.metrics = metrics
    if artifact_path is not None:
        run.artifact_path = artifact_path
    if kind is not None:
        run.kind = kind
    session.add(run)
    session.flush()
    return run


def activate_model_run(*, session: Session, project_id: int, run_id: int) -> None:
    """Make ``run_id`` the project's one active model (in the caller's transaction)."""
    session.execute(
        update(ModelRun).where(col(ModelRun.project_id) == project_id).values(is_active=False)
    )
    session.execute(update(ModelRun).where(col(ModelRun.id) == run_id).values(is_active=True))


def newer_active_run(*, session: Session, project_id: int, version: int) -> ModelRun | None:
    """The project's active run when it is newer than ``version`` (a run that started later, so
    trained on later labels): the run ``version`` must not replace it.

    Locks the project's row first on PostgreSQL, so that two runs finishing at once take turns
    and the second sees the first one's activation (SQLite's ``BEGIN IMMEDIATE`` already makes
    writers take turns)."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(select(Project.id).where(Project.id == project_id).with_for_update()).first()
    active = get_active_model_run(session=session, project_id=project_id)
    return active if active is not None and active.version > version else None


def get_active_model_run(*, session: Session, project_id: int) -> ModelRun | None:
    return session.exec(
        select(ModelRun).where(ModelRun.project_id == project_id, col(ModelRun.is_active).is_(True))
    ).first()


def list_model_runs(*, session: Session, project_id: int) -> list[ModelRun]:
    return list(
        session.exec(
            select(ModelRun)
            .where(ModelRun.project_id == project_id)
            .order_by(col(ModelRun.version))
        ).all()
    )


@dataclass(frozen=True)
class PredictionRow:
    example_id: int
    label: str | None
    confidence: float | None
    probs: list[Any]
    uncertainty: float
    priority: float
    reason: dict[str, Any] | None = None  # why the queue asks (see Prediction.reason)


def replace_predictions(
    *,
    session: Session,
    project_id: int,
    model_run_id: int | None,
    rows: Sequence[PredictionRow],
) -> None:
    """Swap in a new set of predictions and queue priorities for the project, atomically."""
    session.execute(delete(Prediction).where(col(Prediction.project_id) == project_id))
    now = utcnow()
    if rows:
        session.execute(
            insert(Prediction),
            [
                {
                    "example_id": r.example_id,
                    "project_id": project_id,
                    "model_run_id": model_run_id,
                    "label": r.label,
                    "confidence": r.confidence,
                    "probs": r.probs,
                    "uncertainty": r.uncertainty,
                    "priority": r.priority,
                    "reason": r.reason,
                    "updated_at": now,
                }
                for r in rows
            ],
        )


def get_predictions(*, session: Session, project_id: int) -> dict[int, Prediction]:
    rows = session.exec(select(Prediction).where(Prediction.project_id == project_id)).all()
    return {p.example_id: p for p in rows}


def get_prediction(*, session: Session, example_id: int) -> Prediction | None:
    return session.get(Prediction, example_id)


def stale_artifacts(
    *, session: Session, project_id: int, keep: int, protect: frozenset[int] = frozenset()
) -> list[ModelRun]:
    """Runs whose files can go: all but the active run, ``protect``, and the newest ``keep``."""
    runs = [r for r in list_model_runs(session=session, project_id=project_id) if r.artifact_path]
    inactive = [r for r in runs if not r.is_active and r.id not in protect]
    return inactive[: max(0, len(inactive) - keep)]


def forget_artifact(*, session: Session, run_id: int) -> None:
    run = session.get(ModelRun, run_id)
    if run is not None:
        run.artifact_path = None
        session.add(run)


# --- which labels a run read: the retrain trigger counts the ones it did not --------------------


def last_annotation_id(*, session: Session, project_id: int) -> int:
    """The project's highest annotation id so far (0 without any): read before a training pool,
    it marks the labels that pool can hold."""
    return int(
        session.exec(
            select(func.coalesce(func.max(Annotation.id), 0))
            .join(Example, col(Example.id) == Annotation.example_id)
            .where(Example.project_id == project_id)
        ).one()
        or 0
    )


def count_annotations_after(*, session: Session, project_id: int, after_id: int) -> int:
    """Live (not retracted) annotations of the project stored after annotation ``after_id``."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Annotation)
            .join(Example, col(Example.id) == Annotation.example_id)
            .where(
                Example.project_id == project_id,
                col(Annotation.id) > after_id,
                col(Annotation.retracted_at).is_(None),
            )
        ).one()
    )


def fail_abandoned_runs(*, session: Session, project_id: int, started_before: datetime) -> int:
    """Mark runs stuck in ``training`` since before ``started_before`` (their process died)."""
    stuck = session.exec(
        select(ModelRun).where(
            ModelRun.project_id == project_id,
            ModelRun.status == "training",
            col(ModelRun.created_at) < started_before,
        )
    ).all()
    for run in stuck:
        run.status = "failed"
        run.metrics = {**run.metrics, "error": "abandoned: the training process stopped"}
        session.add(run)
    return len(stuck)
