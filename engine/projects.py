"""Project services: create and delete projects, edit the taxonomy, import data, report status."""

from __future__ import annotations

from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.evaluation import IMPORTED, explain_status
from engine.importing import Record, column_notes, read_file
from engine.rare import MIN_EXAMPLES, rare_labels
from engine.taxonomy import changed_at, new_label_name, stale_label_note, trained_before
from engine.workspace import Workspace
from storage.db import refresh_statistics, session_scope
from storage.errors import ConflictError, InvalidInputError, StaleActionError
from storage.hashing import content_hash
from storage.models import Label, Project
from storage.repositories import (
    assignments,
    examples,
    feedback,
    flags,
    leases,
    models,
    project_deletion,
    projects,
)
from storage.repositories import taxonomy as taxonomy_repo
from storage.repositories.examples import NewExample
from storage.repositories.project_deletion import Contents

# storage's (sqlmodel) Session, passed through untouched: only storage imports sqlmodel.
Session = Any


def create_project(
    ws: Workspace, *, name: str, labels: list[str], channel_id: str | None = None
) -> Project:
    if not labels:
        raise InvalidInputError("a project needs at least one label (--labels 'A,B,C')")
    with session_scope(ws.db) as session:
        return projects.create_project(
            session=session,
            name=name,
            labels=[new_label_name(n) for n in labels],
            channel_id=channel_id,
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


def project_contents(ws: Workspace, name: str) -> Contents:
    """What project ``name`` holds: what :func:`delete_project` would remove."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=name)
        assert found.id is not None
        return project_deletion.project_contents(session=session, project_id=found.id)


@dataclass(frozen=True)
class DeletedProject:
    """What :func:`delete_project` removed: the project's contents, the rows deleted per table,
    the files removed, and those that could not be ("PATH (why)")."""

    name: str
    project_id: int
    contents: Contents
    tables: tuple[tuple[str, int], ...]
    files: tuple[Path, ...]
    kept: tuple[str, ...] = ()


def delete_project(ws: Workspace, name: str) -> DeletedProject:
    """Delete project ``name`` and every row that belongs to it, in one transaction
    (storage.repositories.project_deletion); once that is committed, its files: its model
    files (``models/NAME/`` in the data dir, and any run's file stored elsewhere) and its pool
    graphs (``graphs/<encoder>/project-<id>.npz``, every encoder's). The embedding cache is
    shared by text, not kept per project: it stays. A file already gone is no error.

    ConflictError, nothing deleted, while another process trains the project: its model file
    would be written after the removal."""
    from engine.jobs import TRAIN_FAILED, owner_ended  # the scheduler's module, when needed

    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=name)
        assert found.id is not None
        project_id = found.id
        lease = leases.held(session=session, name=f"train:{name}")  # engine.jobs' lease name
        if lease is not None and not owner_ended(lease.owner):
            raise ConflictError(
                f"project {name!r} is being trained by another process ({lease.owner}); "
                "nothing was deleted: try again when the training is done"
            )
        deleted = project_deletion.delete_project(session=session, project_id=project_id)

    def gone(key: Any) -> bool:  # this process's memo of it: pool graphs, models, a failure
        if not isinstance(key, tuple) or len(key) < 2:
            return False
        kind, of = key[:2]
        return (
            (kind == "graph" and of == project_id)
            or (kind == "model" and of in deleted.model_runs)
            or key == (TRAIN_FAILED, name)
        )

    ws.memo = {k: v for k, v in ws.memo.items() if not gone(k)}
    files, kept = _remove_files(ws, name, project_id, deleted.artifacts)
    return DeletedProject(
        name=name,
        project_id=project_id,
        contents=deleted.contents,
        tables=deleted.tables,
        files=tuple(files),
        kept=tuple(kept),
    )


def _remove_files(
    ws: Workspace, name: str, project_id: int, artifacts: tuple[str, ...]
) -> tuple[list[Path], list[str]]:
    """Remove a deleted project's files: (those removed, those that could not be, with why)."""
    data_dir = ws.settings.data_dir
    doomed = [ws.settings.artifact_file(stored) for stored in artifacts]
    model_dir = data_dir / "models" / name
    own_dir = name not in ("", ".", "..") and "/" not in name and "\\" not in name
    if own_dir and model_dir.is_dir():  # the runs' files, pruned ones' leftovers, temporary files
        doomed += sorted(p for p in model_dir.rglob("*") if not p.is_dir())
    graphs = data_dir / "graphs"
    if graphs.is_dir():  # engine.pool_graph: one per encoder, and a save's temporary file
        for pattern in (f"project-{project_id}.npz", f".project-{project_id}.npz.*.tmp"):
            doomed += sorted(graphs.rglob(pattern))
    removed: list[Path] = []
    kept: list[str] = []
    for path in dict.fromkeys(doomed):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            kept.append(f"{path} ({exc.strerror or exc})")
            continue
        removed.append(path)
    if own_dir and model_dir.is_dir():  # deepest first; one still holding a file stays
        for directory in [*sorted(model_dir.rglob("*"), reverse=True), model_dir]:
            with suppress(OSError):  # not empty (what could not go is reported), or a file
                directory.rmdir()
    return removed, kept


def add_labels(ws: Workspace, *, project: str, names: list[str]) -> list[Label]:
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return projects.add_labels(
            session=session, project_id=found.id, names=[new_label_name(n) for n in names]
        )


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
    relabeled: int = 0  # texts labeled before whose agreed label the file's labels changed
    # rows whose text an earlier row of the file has: stored once, so among the duplicates
    # without having been in the project before
    repeated: int = 0
    # what the file may have meant otherwise (importing.column_notes): one line each
    notes: tuple[str, ...] = ()
    # ids of the file's new examples that name more than one example now (another new one, or
    # one stored before), in file order: ids need not be unique, but a command given such an id
    # (adjudicate, flags resolve) then asks for the example's #number
    shared_ids: tuple[str, ...] = ()


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
    annotator: str = IMPORTED,
) -> ImportReport:
    """Import a CSV/JSONL file in one transaction; embed new texts afterwards (cached on disk).

    A label is taken as a click on it would be: one since renamed by its new name, one since
    merged (or retired with a mapping) is stored as named and counts as the label it went into.
    A text the file repeats takes the label of its first labeled row; rows of one text with
    labels that count differently fail, as an unknown label does, and nothing is imported.
    """
    read = read_file(
        path,
        text_column=text_column,
        label_column=label_column,
        id_column=id_column,
        require_label_column=require_label_column,
        require_id_column=require_id_column,
    )
    records = read.records
    relabeled = 0
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        labels = _file_labels(session, path=path, project_id=found.id, records=records)
        stored: set[int] | None = None  # the file's texts the project had (when it gives ids)
        if any(r.external_id is not None for r in records):
            examples.lock_imports(session=session, project_id=found.id)  # as add_examples does
            hashes = [content_hash(r.text) for r in records]
            known = examples.existing_hashes(session=session, project_id=found.id, hashes=hashes)
            stored = set(known.values())
        added = examples.add_examples(
            session=session,
            project_id=found.id,
            rows=[NewExample(r.text, r.external_id, r.meta) for r in records],
        )
        shared = []
        if stored is not None and added.inserted:
            shared = _shared_ids(session, found.id, records, added.ids, stored)
        given = _label_per_example(path, records, added.ids, labels)
        before = feedback.current_labels(session=session, project_id=found.id) if given else {}
        votes = []
        for example_id, label in given.items():
            assert label.id is not None
            votes.append(
                feedback.NewAnnotation(
                    example_id=example_id,
                    label_id=label.id,
                    annotator=annotator,
                    source=IMPORTED,
                    key=f"import:{example_id}:{label.name}",  # the same file again adds none
                )
            )
        # in bulk (a few statements), inside this one transaction
        created = feedback.add_annotations(session=session, rows=votes)
        if before:
            after = feedback.current_labels(session=session, project_id=found.id)
            relabeled = sum(1 for i, old in before.items() if after.get(i) != old)
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
        relabeled=relabeled,
        repeated=len(added.ids) - len(set(added.ids)),  # a repeated text gets its first row's id
        notes=tuple(column_notes(read, label_column=label_column)),
        shared_ids=tuple(shared),
    )


def _shared_ids(
    session: Session, project_id: int, records: list[Record], ids: list[int], before: set[int]
) -> list[str]:
    """The ids the file's new examples were stored with (each new text's first row's, as
    add_examples keeps it) that more than one example of the project has now, in file order.
    Only new examples count: a re-imported file, whose texts are all stored, says nothing.
    One read of the project's examples, as the embedding after an import does anyway."""
    new: dict[int, str | None] = {}  # example id -> the id it was stored with
    for rec, example_id in zip(records, ids, strict=True):
        if example_id not in before:
            new.setdefault(example_id, rec.external_id)
    given = [i for i in dict.fromkeys(new.values()) if i is not None]
    if not given:
        return []
    counts = Counter(
        e.external_id
        for e in examples.list_examples(session=session, project_id=project_id)
        if e.external_id is not None
    )
    return [i for i in given if counts[i] > 1]


@dataclass(frozen=True)
class _FileLabel:
    """A label a file names: the label stored, and the active label it counts as."""

    label: Label
    counts_as: str


def _file_labels(
    session: Session, *, path: Path, project_id: int, records: list[Record]
) -> dict[str, _FileLabel]:
    """Each label name in the file, resolved as a click on it is (taxonomy.get_clicked_label);
    InvalidInputError at the first line naming a label that is unknown or counts as nothing."""
    out: dict[str, _FileLabel] = {}
    for rec in records:
        if rec.label is None or rec.label in out:
            continue
        try:
            label = taxonomy_repo.get_clicked_label(
                session=session, project_id=project_id, name=rec.label
            )
        except InvalidInputError as exc:  # never had it: it can be added
            raise InvalidInputError(
                f"{path}:{rec.line}: {exc}; add it first with `labelbot labels add`"
            ) from None
        except StaleActionError as exc:  # removed by an undo
            raise InvalidInputError(f"{path}:{rec.line}: {exc}") from None
        counts_as: str | None = label.name
        if not label.active:
            target = session.get(Label, label.mapped_to_id) if label.mapped_to_id else None
            counts_as = target.name if target is not None else None
        if counts_as is None:  # split, or retired without a mapping
            note = stale_label_note(session=session, label=label, clicked=rec.label)
            raise InvalidInputError(f"{path}:{rec.line}: {note}")
        out[rec.label] = _FileLabel(label, counts_as)
    return out


def _label_per_example(
    path: Path, records: list[Record], ids: list[int], labels: dict[str, _FileLabel]
) -> dict[int, Label]:
    """The label to store for each example the file labels: its first labeled row's. Rows of
    the same text (ids[i] is row i's example) whose labels count differently: InvalidInputError
    naming both lines, since keeping either label would silently drop the other."""
    first: dict[int, tuple[int, str]] = {}  # example id -> (line, label name)
    for rec, example_id in zip(records, ids, strict=True):
        if rec.label is None:
            continue
        line, name = first.setdefault(example_id, (rec.line, rec.label))
        if labels[rec.label].counts_as != labels[name].counts_as:
            raise InvalidInputError(
                f"{path}:{rec.line}: the same text as line {line} with another label "
                f"({rec.label!r} here, {name!r} there); give each text one label"
            )
    return {example_id: labels[name].label for example_id, (_, name) in first.items()}


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
        open_flags = flags.count_open_flags(session=session, project_id=pid)
        waiting = assignments.count_free_examples(session=session, project_id=pid)
        run = models.get_active_model_run(session=session, project_id=pid)
        n_comments = feedback.count_comments(session=session, project_id=pid)
    per_class = Counter(agreed.values())
    agreement = agreement_report(ws, name)
    model = None
    if run is not None:
        changed = changed_at(project)
        model = {
            "version": run.version,
            "kind": run.kind,
            "trained_at": run.created_at.isoformat(),
            "labels": run.n_labels,
            "metrics": run.metrics,
            # what the figures below belong to: a version a person chose to keep (newer ones
            # are stored, not promoted), and one that measured the classes as they were
            "pinned": project.settings.get("pinned_version") == run.version,
            "before_taxonomy_change": trained_before(run, changed),
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
        "agreement": {**agreement.to_dict(), "summary": agreement.describe()},
        "reviews": review_counts(ws, project=name),
    }


def status_report(ws: Workspace, name: str) -> dict[str, Any]:
    """What `labelbot status NAME --json` prints and `GET /api/projects/NAME/status` answers
    (one function, so the two never differ): :func:`project_status` with its model's numbers
    explained (``evaluation.explain_status``: which accuracy is the headline, what the per-class
    F1 is), and what the stored rows cannot say: each run still marked training (``training``:
    "training now", or stopped because its process died) and whether the active model's file
    is usable (``model.file_problem``)."""
    from engine import jobs, training  # the scheduler's and trainer's modules, when needed

    info = explain_status(project_status(ws, name), ws=ws)
    info["training"] = [
        {
            "version": version,
            "state": state,
            "description": jobs.STOPPED if state == "stopped" else "training now",
        }
        for version, state in sorted(jobs.training_states(ws, name).items())
    ]
    model = info["model"]
    if model:
        problem = training.active_model_problem(ws, name)
        # read after the model: a rollback or promotion in between made another version
        # active, whose file problem would be said of this one
        if problem is not None and problem.version != model["version"]:
            problem = None
        model["file_problem"] = None if problem is None else problem.message
    return info


def _rare(labels: list[Label], per_class: Counter[str], minimum: int) -> dict[str, Any]:
    """Labels per active class, and those still too rare to learn (the queue helps them)."""
    active = [lb.name for lb in labels if lb.active]
    counts = np.array([per_class.get(n, 0) for n in active], dtype=np.int64)
    return {
        "minimum": minimum,
        "counts": {n: int(c) for n, c in zip(active, counts, strict=True)},
        "too_rare": [active[i] for i in rare_labels(counts, minimum).tolist()],
    }
