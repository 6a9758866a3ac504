"""Model runs (every trained model, with its metrics) and the active model's predictions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from storage.db import dialect_insert
from storage.errors import NotFoundError
from storage.models import (
    Annotation,
    Example,
    Label,
    LabelEvent,
    ModelRun,
    Prediction,
    Project,
    utcnow,
)
from storage.repositories import projects, taxonomy

# Keep IN (...) lists well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 900


def start_model_run(
    *,
    session: Session,
    project_id: int,
    n_labels: int,
    classes: list[str],
    label_ids: list[int] | None = None,
) -> ModelRun:
    """Record a model being trained; its version is one past the project's latest.
    ``label_ids``: the ids of the labels ``classes`` name, in the same order."""
    latest = session.exec(
        select(func.coalesce(func.max(ModelRun.version), 0)).where(
            ModelRun.project_id == project_id
        )
    ).one()
    run = ModelRun(
        project_id=project_id,
        version=int(latest) + 1,
        n_labels=n_labels,
        classes=classes,
        label_ids=label_ids,
    )
    session.add(run)
    session.flush()
    return run


# metrics key of a run still training, or failed: the model file its training names before it
# writes it. A process killed after writing the file and before the run that names it committed
# (SIGKILL, the OOM killer) left a file no run's artifact_path names: the run says which it was.
PLANNED_FILE = "planned_file"


def plan_artifact(*, session: Session, run_id: int, path: str) -> None:
    """Note ``path`` as the model file run ``run_id`` is about to write (:data:`PLANNED_FILE`)."""
    run = session.get(ModelRun, run_id)
    if run is None:
        raise NotFoundError(f"no model run with id {run_id}")
    run.metrics = {**run.metrics, PLANNED_FILE: path}
    session.add(run)
    session.flush()


def planned_artifacts(*, session: Session, project_id: int) -> list[ModelRun]:
    """The project's failed runs that still name a model file they planned (:data:`PLANNED_FILE`):
    the file of each may have been left on disk by its killed process."""
    failed = session.exec(
        select(ModelRun)
        .where(ModelRun.project_id == project_id, ModelRun.status == "failed")
        .order_by(col(ModelRun.version))
    ).all()
    return [r for r in failed if isinstance(r.metrics.get(PLANNED_FILE), str)]


def artifact_named(*, session: Session, file_name: str) -> bool:
    """Whether any run, of any project, has a model file (``artifact_path``) called
    ``file_name``, in whatever folder: such a file is never an orphan."""
    found = session.exec(
        select(ModelRun.id)
        .where(col(ModelRun.artifact_path).endswith(file_name, autoescape=True))
        .limit(1)
    ).first()
    return found is not None


def forget_planned(*, session: Session, run_ids: Iterable[int]) -> None:
    """Drop :data:`PLANNED_FILE` from these runs: their planned file is gone."""
    for run_id in run_ids:
        run = session.get(ModelRun, run_id)
        if run is not None and PLANNED_FILE in run.metrics:
            run.metrics = {k: v for k, v in run.metrics.items() if k != PLANNED_FILE}
            session.add(run)


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


def class_labels(
    *,
    session: Session,
    project_id: int,
    classes: Sequence[str],
    as_of: datetime,
    label_ids: Sequence[int] | None = None,
) -> list[Label | None]:
    """The label each of a run's ``classes`` is, whatever it is called today (None: it is gone).

    By the id stored beside each class (``label_ids``, ``ModelRun.label_ids``) when the run has
    them; a run recorded before they were kept is read by the name each label had at ``as_of``,
    when the run started (:func:`names_at`), never by today's names: two labels may have
    swapped names since, or one taken a name another gave up, and never a label created after
    ``as_of``. By id, no time is compared: a label's ``created_at`` is the clock of the replica
    that added it, which may run ahead of the trainer's (ids are never handed out again, not
    even one an undo removed: migration 0014)."""
    everything = projects.list_labels(session=session, project_id=project_id, active_only=False)
    if label_ids is not None and len(label_ids) == len(classes):
        by_id = {int(lb.id): lb for lb in everything if lb.id is not None}
        return [by_id.get(int(i)) for i in label_ids]
    labels = {int(lb.id): lb for lb in everything if lb.id is not None and lb.created_at <= as_of}
    events = taxonomy.list_events(session=session, project_id=project_id)
    then = {name: labels[i] for i, name in names_at(labels.values(), events, as_of).items()}
    out: list[Label | None] = []
    for name in classes:
        label = then.get(name)
        if label is None:
            # renamed between the read of the run's labels and its start: the latest label
            # renamed from the name by then
            label = next(
                (
                    labels.get(int(e.details["label_id"]))
                    for e in reversed(events)
                    if e.kind == "rename"
                    and e.created_at <= as_of
                    and projects.label_key(str(e.details.get("old", ""))) == name
                ),
                None,
            )
        out.append(label)
    return out


def names_at(
    labels: Iterable[Label], events: Sequence[LabelEvent], as_of: datetime
) -> dict[int, str]:
    """Each of ``labels`` (by id) and its name at ``as_of``: today's name, taken back through
    the renames after then (and the undos of renames), latest first. ``events``: the project's
    taxonomy changes, oldest first (``taxonomy.list_events``)."""
    known = {int(lb.id): lb.name for lb in labels if lb.id is not None}
    names = dict(known)
    by_id = {e.id: e for e in events}
    for event in reversed(events):
        if event.created_at <= as_of:
            continue
        d = event.details
        if event.kind == "rename":  # before it, the label had its old name
            names[int(d["label_id"])] = projects.label_key(str(d["old"]))
        elif event.kind == "undo" and d.get("kind") == "rename":  # before it, the renamed one
            undone = by_id.get(int(d["event_id"]))
            if undone is not None:
                names[int(d["label_id"])] = str(undone.details["new"])
    return {i: name for i, name in names.items() if i in known}  # not labels made after as_of


def lock_models(*, session: Session, project_id: int) -> Project:
    """Take the project's turn at changing which model answers and what it said: activating a
    run (a retrain, a rollback, a pin), writing its predictions (a re-score) and deleting model
    files (the prune) all run in transactions that start here, so they take turns, and each
    re-reads what it decides on after the lock (a newer active run, a pin, a pruned file).

    On PostgreSQL the project's row is locked until the transaction ends: FOR NO KEY UPDATE,
    which settings writes and taxonomy changes also take (they wait, or are waited for), while
    clicks, claims and imports, which only refer to the row, go on: a text imported meanwhile
    is seen once committed (the import's re-score comes after it). ``populate_existing``
    returns the project as it is now. SQLite's write transactions are serial already (its
    compiler leaves the clause out). Returns the project, re-read."""
    return projects.lock_project_row(session=session, project_id=project_id)


def get_model_run(*, session: Session, run_id: int) -> ModelRun | None:
    """Run ``run_id`` as it is now (re-read, even when the session holds an older copy)."""
    return session.get(ModelRun, run_id, populate_existing=True)


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


def training_versions(*, session: Session, project_id: int) -> list[int]:
    """The versions of the project's runs still marked ``training``, oldest first: those rows
    only, without their metrics (`status` and `models` ask)."""
    return [
        int(v)
        for v in session.exec(
            select(ModelRun.version)
            .where(ModelRun.project_id == project_id, ModelRun.status == "training")
            .order_by(col(ModelRun.version))
        ).all()
    ]


def newest_model_runs(
    *, session: Session, project_id: int
) -> tuple[ModelRun | None, ModelRun | None]:
    """The project's newest run of any status and its newest ``ready`` run (the same run when
    the newest is ready; None when there is none): two rows at most, whatever the project's
    history (the scheduler's retrain check asks at every poll)."""
    newest = session.exec(
        select(ModelRun)
        .where(ModelRun.project_id == project_id)
        .order_by(col(ModelRun.version).desc())
        .limit(1)
    ).first()
    if newest is None or newest.status == "ready":
        return newest, newest
    ready = session.exec(
        select(ModelRun)
        .where(ModelRun.project_id == project_id, ModelRun.status == "ready")
        .order_by(col(ModelRun.version).desc())
        .limit(1)
    ).first()
    return newest, ready


@dataclass(frozen=True)
class PredictionRow:
    example_id: int
    label: str | None
    confidence: float | None
    probs: list[Any]
    uncertainty: float
    priority: float
    reason: dict[str, Any] | None = None  # why the queue asks (see Prediction.reason)
    class_ids: list[Any] | None = None  # [[label id, ...], top name, top p] (Prediction.class_ids)


def replace_predictions(
    *,
    session: Session,
    project_id: int,
    model_run_id: int | None,
    rows: Sequence[PredictionRow],
) -> None:
    """Store ``rows`` as their examples' predictions and queue priorities, replacing what those
    examples had, in the caller's transaction (atomic with it). Other examples keep their rows:
    texts imported after the pool was read keep the ones their import's re-score gave them.

    An upsert, not DELETE + INSERT: two writers at once would otherwise both delete what they
    can see and then insert the same keys (PostgreSQL's second DELETE does not see rows the first
    one inserted), a duplicate-key error. Writers of one project still take turns
    (:func:`lock_models`), which is what keeps an older model's rows from landing last."""
    if not rows:
        return
    now = utcnow()
    stmt = dialect_insert(session, Prediction)
    replaced = (
        "project_id", "model_run_id", "label", "confidence", "probs", "class_ids",
        "uncertainty", "priority", "reason", "updated_at",
    )  # fmt: skip
    stmt = stmt.on_conflict_do_update(
        index_elements=[col(Prediction.example_id)],
        set_={name: stmt.excluded[name] for name in replaced},
    )
    session.execute(
        stmt,
        [
            {
                "example_id": r.example_id,
                "project_id": project_id,
                "model_run_id": model_run_id,
                "label": r.label,
                "confidence": r.confidence,
                "probs": r.probs,
                "class_ids": r.class_ids,
                "uncertainty": r.uncertainty,
                "priority": r.priority,
                "reason": r.reason,
                "updated_at": now,
            }
            for r in rows
        ],
    )
    if model_run_id is not None:
        # the names the rows were written under: today's, until the next taxonomy change
        # (changes take turns with writers: lock_models)
        session.execute(
            update(ModelRun)
            .where(col(ModelRun.id) == model_run_id)
            .values(rows_named_at=taxonomy.newest_event_id(session=session, project_id=project_id))
        )


def example_extent(*, session: Session, project_id: int) -> tuple[int, int]:
    """(how many examples the project has, the highest example id): compared with a pool read
    earlier, whether texts were imported since (examples are never deleted)."""
    count, last = session.exec(
        select(func.count(), func.coalesce(func.max(Example.id), 0)).where(
            Example.project_id == project_id
        )
    ).one()
    return int(count), int(last or 0)


def get_predictions(*, session: Session, project_id: int) -> dict[int, Prediction]:
    rows = session.exec(select(Prediction).where(Prediction.project_id == project_id)).all()
    return {p.example_id: p for p in rows}


def predictions_between(
    *, session: Session, project_id: int, first_id: int, last_id: int
) -> dict[int, tuple[str | None, float | None]]:
    """Example id -> its stored prediction's (label, confidence), for the project's examples
    with ids from ``first_id`` to ``last_id``: a page of an export (columns, not objects)."""
    rows = session.exec(
        select(Prediction.example_id, Prediction.label, Prediction.confidence).where(
            Prediction.project_id == project_id,
            col(Prediction.example_id) >= first_id,
            col(Prediction.example_id) <= last_id,
        )
    ).all()
    return {int(example_id): (label, confidence) for example_id, label, confidence in rows}


def prediction_probs_between(
    *, session: Session, project_id: int, model_run_id: int, first_id: int, last_id: int
) -> dict[int, tuple[list[Any], list[Any] | None]]:
    """Example id -> its stored prediction's top classes (``probs``) and their label ids
    (``class_ids``), for the project's examples with ids from ``first_id`` to ``last_id`` that
    model run ``model_run_id`` scored and gave a label: a page of an export whose model's
    classes were renamed or merged since (columns)."""
    rows = session.exec(
        select(Prediction.example_id, Prediction.probs, Prediction.class_ids).where(
            Prediction.project_id == project_id,
            Prediction.model_run_id == model_run_id,
            col(Prediction.label).is_not(None),
            col(Prediction.example_id) >= first_id,
            col(Prediction.example_id) <= last_id,
        )
    ).all()
    return {
        int(example_id): (list(probs), list(ids) if ids is not None else None)
        for example_id, probs, ids in rows
        if probs
    }


def has_predictions_of(*, session: Session, project_id: int, model_run_id: int) -> bool:
    """Whether any stored prediction of the project is model run ``model_run_id``'s (none are
    after a taxonomy change the run cannot speak for: a cold start's rows name no model)."""
    found = session.exec(
        select(Prediction.example_id)
        .where(Prediction.project_id == project_id, Prediction.model_run_id == model_run_id)
        .limit(1)
    ).first()
    return found is not None


def get_prediction(*, session: Session, example_id: int) -> Prediction | None:
    return session.get(Prediction, example_id)


def get_predictions_for(*, session: Session, example_ids: Iterable[int]) -> dict[int, Prediction]:
    """Example id → its stored prediction, for those of ``example_ids`` that have one (one
    ``IN`` query per :data:`_CHUNK` ids)."""
    unique = sorted(set(example_ids))
    found: dict[int, Prediction] = {}
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        rows = session.exec(select(Prediction).where(col(Prediction.example_id).in_(chunk))).all()
        found.update({p.example_id: p for p in rows})
    return found


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


def annotation_watermark(*, session: Session, project_id: int) -> tuple[int, int]:
    """(the project's highest annotation id so far, how many annotations -- retracted ones too --
    it has): one statement, so one snapshot. Read before a training pool, it marks the labels
    that pool can hold; annotations are never deleted, so a later count of the ids up to that
    one (:func:`count_annotations_through`) that is higher found labels that committed late."""
    last, count = session.exec(
        select(func.coalesce(func.max(Annotation.id), 0), func.count())
        .select_from(Annotation)
        .join(Example, col(Example.id) == Annotation.example_id)
        .where(Example.project_id == project_id)
    ).one()
    return int(last or 0), int(count)


def count_annotations_through(*, session: Session, project_id: int, through_id: int) -> int:
    """Annotations of the project (retracted ones too) with an id up to ``through_id``."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Annotation)
            .join(Example, col(Example.id) == Annotation.example_id)
            .where(Example.project_id == project_id, col(Annotation.id) <= through_id)
        ).one()
    )


def fail_abandoned_runs(*, session: Session, project_id: int) -> int:
    """Mark every run of the project still in ``training`` as failed (abandoned); how many.

    Called by the holder of the project's training lease before it starts its own run: that
    holder is the only trainer, so a run still training was left by a process that died. No
    cut-off by age: a run's ``created_at`` is its own process's clock, and one killed in its
    first minutes would otherwise stay ``training`` after the next model.

    Under :func:`lock_models`, as a run's last transaction: a process that stalled past its
    lease and woke either committed its run first (no longer ``training`` here), or finds it
    failed there and records nothing (engine.training), never a run failed over its commit."""
    lock_models(session=session, project_id=project_id)
    stuck = session.exec(
        select(ModelRun).where(ModelRun.project_id == project_id, ModelRun.status == "training")
    ).all()
    for run in stuck:
        run.status = "failed"
        run.metrics = {**run.metrics, "error": "abandoned: the training process stopped"}
        session.add(run)
    return len(stuck)
