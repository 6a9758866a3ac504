"""Training, scoring and prediction for a project: the model that learns as labels arrive.

A new model becomes active atomically: it is trained and evaluated outside any transaction, its
artifact is written (atomically) to disk, and only then one transaction marks it active and swaps in
its predictions. A crash midway leaves the previous model active and the database consistent.

Whoever changes which model answers, or what it said, takes turns in that last transaction
(``models.lock_models``: retrains, rollbacks and pins, re-scores, the prune of old files) and
re-checks there what it decided on while it computed outside: that no newer or hand-picked model
became active and no version was pinned meanwhile (a retrain), that the model it scored with is
still the active one (a re-score), that the file it activates was not pruned (a rollback).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import secrets
import stat
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engine import taxonomy
from engine.audit import audit_report
from engine.classifier import (
    KINDS,
    Model,
    PoolGraph,
    check_model_file,
    load_model,
    train_model,
)
from engine.embeddings import TEMP_NAME as SHARD_TEMP_NAME
from engine.evaluation import AUDIT_TWINS, AUDIT_WAITING, cv_metrics, twins_of
from engine.forecast import counted, prediction_agreement
from engine.pool_graph import TEMP_NAME as GRAPH_TEMP_NAME
from engine.pool_graph import graph_path, pool_graph
from engine.rare import RareClassBoost, label_query
from engine.strategies import (
    DEFAULT_STRATEGY,
    get_strategy,
    query_candidates,
    queue_method,
    select_cold_start,
    uncertainty_scores,
)
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    LabelbotError,
    NotFoundError,
)
from storage.models import ModelRun, utcnow
from storage.repositories import assignments, examples, feedback, models, projects
from storage.repositories import taxonomy as taxonomy_repo
from storage.repositories.models import PredictionRow

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# storage's (sqlmodel) Session, passed through untouched: only storage imports sqlmodel.
Session = Any

DEFAULT_BATCH = 20  # examples the strategy ranks first after each model (the next batch asked)
TOP_K = 5  # probabilities stored per example
_TOP_BLOCK = 4096  # pool rows sorted at a time for their top classes
# The query strategy's batch is asked first: its priorities sit above every uncertainty score.
_BATCH_PRIORITY = 1_000_000.0
# Predictions computed while the active model or the labels changed are computed again (they
# would be another model's, or name labels that are gone); after this many tries, a conflict.
_SCORING_TRIES = 3
# A model version as people type it: 3 or v3 (V3 too). \d is any decimal digit, as isdecimal()
# (full-width ones from a phone's keyboard count; isdigit()'s "²", which int() refuses, does not).
_VERSION = re.compile(r"[vV]?(\d+)")
MAX_VERSION_DIGITS = 9  # a version past 999,999,999 is a typo (and past SQLite's INTEGER, 20)
# The temporary file Model.save writes beside a model file train_project names (vN-<8 hex>.npz;
# vN.npz before): ".v3-1a2b3c4d.npz.<8 random characters>.tmp", tempfile.mkstemp's
MODEL_TEMP_NAME = re.compile(r"\.v\d+(?:-[0-9a-f]{8})?\.npz\.[a-z0-9_]{8}\.tmp")
# A temporary file older than this is no write in progress, whichever process made it: each is
# written in seconds, and its modification time moves on while it is written
LEFTOVER_AGE = timedelta(hours=1)


@dataclass
class Pool:
    """The project's examples in id order, with their embeddings and agreed labels."""

    project_id: int
    example_ids: np.ndarray
    X: np.ndarray
    classes: list[str]
    y: np.ndarray  # class index per example, -1 when unlabeled
    audit: np.ndarray  # True for examples labeled through an audit pick (a uniform draw)
    label_texts: list[str] = field(default_factory=list)  # per class: what it is searched from
    label_ids: list[int] = field(default_factory=list)  # per class: its label's id
    # The highest annotation id when the labels were read: later ones are new to a model trained
    # on this pool (the retrain trigger counts them: engine.jobs.retrain_decision) ...
    read_through: int = 0
    # ... and how many annotations had an id up to it then: one that commits later with a lower
    # id (ids are handed out at INSERT, transactions commit in any order) raises the count.
    read_count: int = 0
    # The project's last taxonomy change (its TAXONOMY_CHANGED_AT stamp) when the labels were
    # read: a model trained on this pool knows the taxonomy as of it (taxonomy.trained_before)
    taxonomy_as_of: str | None = None
    # True for examples whose embedding is an audit example's (a text that differs from it only
    # in what the encoder does not read: letter case, accents, invisible characters): to the
    # model they are that audit example, so they are held out with it. Found from X when None.
    audit_twin: np.ndarray | None = None

    @property
    def labeled(self) -> np.ndarray:
        """Labeled examples a model may train on (audit labels are held out, and so are the
        labels of their twins: the same embedding as an audit example's)."""
        return np.flatnonzero((self.y >= 0) & ~self.audit & ~self.audit_twins)

    @property
    def audit_twins(self) -> np.ndarray:
        """``audit_twin``, found from X on first use."""
        if self.audit_twin is None:
            self.audit_twin = twins_of(self.X, self.audit)
        return self.audit_twin

    @property
    def audited(self) -> np.ndarray:
        """Labeled audit examples: the unbiased evaluation set."""
        return np.flatnonzero((self.y >= 0) & self.audit)

    @property
    def unlabeled(self) -> np.ndarray:
        return np.flatnonzero(self.y < 0)


def load_pool(
    ws: Workspace,
    name: str,
    *,
    progress: bool = False,
    annotations: list[feedback.AnnotationRow] | None = None,
    texts: list[tuple[int, str, str]] | None = None,
) -> Pool:
    """The project's pool. ``annotations`` (its live annotations, ``feedback.list_annotations``)
    and ``texts`` (``examples.example_texts``): what a caller that needs them too has read
    already, before this (a proposals refresh); they are read here otherwise. A pool to train
    on reads its own: its watermark must be read before its labels."""
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        # Read first, in one statement: on PostgreSQL each statement sees what was committed
        # when it began, so a label stored meanwhile may be in the pool and still counted as new
        # (a retrain early, once), never the reverse: a label in no model is either above the
        # highest id or, committed late with a lower id, beyond the count (jobs._new_labels).
        read_through, read_count = models.annotation_watermark(
            session=session, project_id=project.id
        )
        rows = (
            texts
            if texts is not None
            else examples.example_texts(session=session, project_id=project.id)
        )
        labels = projects.list_labels(session=session, project_id=project.id)
        classes = [lb.name for lb in labels]
        label_ids = [int(lb.id or 0) for lb in labels]
        label_texts = [label_query(lb.name, lb.description) for lb in labels]
        agreed = (
            feedback.agreed_labels(annotations, active_labels=set(classes))
            if annotations is not None
            else feedback.current_labels(
                session=session, project_id=project.id, active_labels=set(classes)
            )
        )
        audited = assignments.audit_labeled_ids(session=session, project_id=project.id)
        as_of = project.settings.get(taxonomy.TAXONOMY_CHANGED_AT)
    if not rows:
        raise InvalidInputError(f"project {name!r} has no examples yet: `labelbot import` some")
    index = {c: i for i, c in enumerate(classes)}
    ids = np.array([i for i, _, _ in rows], dtype=np.int64)
    X = ws.embed([t for _, t, _ in rows], hashes=[h for _, _, h in rows], progress=progress)
    y = np.array([index.get(agreed.get(int(i), ""), -1) for i in ids], dtype=np.int64)
    audit = np.array([int(i) in audited for i in ids], dtype=bool)
    return Pool(project_id=project.id, example_ids=ids, X=X, classes=classes, y=y, audit=audit,
                label_texts=label_texts, label_ids=label_ids, read_through=read_through,
                read_count=read_count,
                taxonomy_as_of=as_of if isinstance(as_of, str) else None)  # fmt: skip


def _added_after_labels(ws: Workspace, pool: Pool, lab: np.ndarray) -> np.ndarray:
    """Which of the pool's classes without a label to train on were added (a label added, a
    split's halves) after labels had been given: those labels could not name them, so they say
    nothing of how common such a class is (``classifier.unseen_share``)."""
    out = np.zeros(len(pool.classes), dtype=bool)
    never = np.flatnonzero(np.bincount(pool.y[lab], minlength=len(pool.classes)) == 0)
    if not len(never):
        return out
    with session_scope(ws.db, read_only=True) as session:
        made = {
            int(lb.id or 0): lb.created_at
            for lb in projects.list_labels(session=session, project_id=pool.project_id)
        }
        given = feedback.count_annotations(session=session, project_id=pool.project_id)
        when = {int(c): made.get(pool.label_ids[c]) for c in never if c < len(pool.label_ids)}
        # latest first: once a label had no label given before it, no earlier one had
        for c, created in sorted(
            ((c, t) for c, t in when.items() if t is not None), key=lambda ct: ct[1], reverse=True
        ):
            since = feedback.count_annotations(
                session=session, project_id=pool.project_id, since=created
            )
            if since >= given:
                break
            out[c] = True
    return out


def _graph(ws: Workspace, pool: Pool) -> PoolGraph:
    # The kNN graph costs seconds on 10k examples: build it once per pool content, in this
    # process (the memo) and across processes and imports (the file engine.pool_graph keeps).
    key = ("graph", pool.project_id, len(pool.example_ids), int(pool.example_ids[-1]))
    graph: PoolGraph | None = ws.memo.get(key)
    if graph is None:
        path = graph_path(
            ws.settings.data_dir,
            encoder=ws.encoder.name,
            project_id=pool.project_id,
            graphs_dir=ws.settings.graphs_root,
        )
        graph = pool_graph(pool.X, path=path)
        ws.memo = {k: v for k, v in ws.memo.items() if k[:2] != key[:2]}
        ws.memo[key] = graph
    return graph


def train_project(
    ws: Workspace, name: str, *, kind: str | None = None, seed: int = 0, progress: bool = False
) -> ModelRun:
    """Train, evaluate (cross-validated on the labeled set), activate and re-score the pool."""
    if kind is not None and kind not in KINDS:  # before a run is recorded: a typo leaves none
        raise InvalidInputError(f"unknown classifier kind {kind!r}; valid: {', '.join(KINDS)}")
    pool = load_pool(ws, name, progress=progress)
    lab = pool.labeled
    present = np.unique(pool.y[lab])
    if len(lab) < 2 or len(present) < 2:
        classes = "class" if len(present) == 1 else "classes"
        raise InvalidInputError(
            f"project {name!r} needs labels in at least 2 classes to train "
            f"(has {counted(len(lab), 'label')} in {len(present)} {classes})"
        )
    with session_scope(ws.db) as session:
        run = models.start_model_run(
            session=session,
            project_id=pool.project_id,
            n_labels=len(lab),
            classes=pool.classes,
            label_ids=pool.label_ids,
        )
        assert run.id is not None
        # a name of its own, not only vN: a database and its `db copy` sharing one data dir
        # both have a v3, and one's training replaced the other's active model file. Noted on
        # the run before the file is written: a process killed (SIGKILL, the OOM killer) after
        # writing it and before the run naming it committed left a file no run names, and the
        # run's next training deletes it (remove_orphan_models)
        # (its folder is made below: one that cannot be fails this run, not its start)
        path = ws.settings.models_root / name / f"v{run.version}-{secrets.token_hex(4)}.npz"
        models.plan_artifact(session=session, run_id=run.id, path=str(path))
    saved: Path | None = None  # the model file, once written: a failure after it deletes it
    try:
        with session_scope(ws.db, read_only=True) as session:
            project = projects.get_project(session=session, name=name)
        # the active run, also when its model cannot answer: what a promotion is decided on,
        # and whether another run became active while this one trained (_overtaken)
        active, previous_model, unusable = _load_active(ws, name)
        active_before = active.id if active is not None else None
        cannot_answer = None if unusable is None else _why_unusable(unusable)
        chosen = kind or str(project.settings.get("classifier", "auto"))
        # a linear head never reads the graph (neither does its cross-validation)
        graph = _graph(ws, pool) if chosen != "linear" else None
        if unusable is not None:
            # a lost file or another encoder must not block training: the new model is what
            # gets the project out (it trains cold, and is not compared with the old one)
            log.warning("training %s without the active model: %s", name, unusable)
        previous = (active, previous_model) if active and previous_model else None
        warm = previous[1] if previous and _same_labels(previous[0], pool) else None
        model = train_model(
            pool.X[lab],
            pool.y[lab],
            n_classes=len(pool.classes),
            pool=pool.X,
            kind=chosen,
            seed=seed,
            graph=graph,
            labeled_idx=lab,
            warm_start=warm,
            new_classes=_added_after_labels(ws, pool, lab),
        )
        metrics = cv_metrics(
            pool.X[lab],
            pool.y[lab],
            n_classes=len(pool.classes),
            class_names=pool.classes,
            pool=pool.X,
            kind=model.kind,
            seed=seed,
            graph=graph,
            labeled_idx=lab,
        )
        metrics.update(_audit_metrics(pool, model, previous, seed=seed))
        unlabeled = np.flatnonzero(pool.y < 0)
        if warm is not None and len(unlabeled):
            # how much the model still changes its mind: the stop signal's second half. On the
            # unlabeled examples only, the stop set of Bloodgood & Vijay-Shanker 2009
            # ("A method for stopping active learning based on stabilizing predictions"): on
            # the labeled ones both models fit the same labels, which pushed kappa up
            metrics["agreement_previous"] = prediction_agreement(
                _pool_proba(warm, pool, unlabeled).argmax(axis=1),
                _pool_proba(model, pool, unlabeled).argmax(axis=1),
            )
        metrics["annotations_read_through"] = pool.read_through
        metrics["annotations_through_count"] = pool.read_count
        metrics[taxonomy.TAXONOMY_AS_OF] = pool.taxonomy_as_of
        model.encoder = ws.encoder.name
        # kept on the run too: which versions take this encoder is then read from the runs,
        # and only the best candidate's file is opened (_best_answering)
        metrics[ENCODER_METRIC] = {"name": ws.encoder.name, "dim": int(model.weight.shape[0])}
        ws.model_dir(name)  # made if missing
        model.save(path)
        saved = path
        promote, reason = promotion_decision(
            project.settings,
            active,
            pool.classes,
            metrics,
            unusable=cannot_answer,
            label_ids=pool.label_ids,
        )
        metrics["promotion"] = {"promoted": promote, "reason": reason}
        rows = _prediction_rows(ws, pool, model, project.settings) if promote else []
    except BaseException as exc:
        # a file no run names is never pruned (a Ctrl-C or a database error while the pool's
        # predictions were written left one per failed training): it goes with the failure
        if saved is not None:
            with contextlib.suppress(OSError):  # never instead of the failure itself
                saved.unlink(missing_ok=True)
        # why, kept on the run: `labelbot status` and `labelbot models` say it afterwards; and
        # its file, should it still be there (remove_orphan_models)
        said = _failure(exc, path)
        with session_scope(ws.db) as session:
            models.finish_model_run(session=session, run_id=run.id, status="failed", metrics=said)
        raise
    run_id, version = run.id, run.version
    stale = lapsed = False
    try:
        with session_scope(ws.db) as session:
            now = models.lock_models(session=session, project_id=pool.project_id)
            # A training that stalled past its lease (a suspended host, SIGSTOP) was failed by
            # the lease's next holder (fail_abandoned_runs, under this lock too), whose sweep
            # may have deleted this file (remove_orphan_models): recorded, the run would name a
            # file that is gone. It stays failed, and says why.
            lapsed = _lapsed(session, run_id)
            if not lapsed:
                if promote:
                    # decided on what was read before training: a pin and the active model may have
                    # changed since (a pin, a rollback, another training), and they win
                    again, why = promotion_decision(
                        now.settings,
                        active,
                        pool.classes,
                        metrics,
                        unusable=cannot_answer,
                        label_ids=pool.label_ids,
                    )
                    held = (
                        _overtaken(session, pool.project_id, version=version, before=active_before)
                        if again
                        else why
                    )
                    if held is not None:
                        promote = False
                        metrics["promotion"] = {"promoted": False, "reason": held}
                run = models.finish_model_run(
                    session=session,
                    run_id=run_id,
                    status="ready",
                    metrics=metrics,
                    artifact_path=str(path),
                    kind=model.kind,
                )
                if promote:
                    models.activate_model_run(
                        session=session, project_id=pool.project_id, run_id=run_id
                    )
                    models.replace_predictions(
                        session=session, project_id=pool.project_id, model_run_id=run_id, rows=rows
                    )
                    run.is_active = True
                    stale = _labels_changed(session, pool) or _texts_added(session, pool)
    except BaseException as exc:
        # Ctrl-C or a database error while the predictions were written (the longest write of
        # a training, at a large pool): nothing of it was committed; the run fails as above
        _fail_unfinished(ws, run_id, path, exc)
        raise
    if lapsed:
        with contextlib.suppress(OSError):  # its own file, unnamed: gone already, most likely
            path.unlink(missing_ok=True)
        raise ConflictError(LAPSED)
    ws.memo[("model", run_id)] = model
    try:
        _prune_artifacts(ws, pool.project_id)
    except Exception as exc:  # noqa: BLE001 -- the model answers; old files wait for the next
        # The run is committed and (if promoted) answers: a failure while old files are pruned
        # (a busy database, a file the system will not delete) is no failed training, and
        # raised here it was reported as one (`labelbot train` exit 1; the scheduler skipped
        # the new model's notices). The next training prunes them.
        log.warning("v%d of %s is ready; old model files were not pruned (%s): the next "
                    "training prunes them", version, name, failure_text(exc))  # fmt: skip
    if stale:
        _rescore_after(ws, name, f"v{version}")
    return run


LAPSED = "this training's lease lapsed and its run was failed by another process; nothing recorded"


def _lapsed(session: Any, run_id: int) -> bool:
    """Whether run ``run_id`` is no longer ``training``, in its last transaction (under
    ``models.lock_models``): the next holder of the training lease failed it while this process
    stalled past its lease (``models.fail_abandoned_runs``), and may have deleted its file since
    (:func:`remove_orphan_models`). Such a run stays failed and records nothing of the training
    that woke; its metrics say so."""
    run = models.get_model_run(session=session, run_id=run_id)
    if run is None or run.status == "training":
        return False
    if run.status == "failed":
        run.metrics = {
            **run.metrics,
            "error": f"{run.metrics.get('error') or 'failed'}; it woke afterwards: {LAPSED}",
            "woke_at": utcnow().isoformat(timespec="seconds"),
        }
        session.add(run)
    return True


def _failure(exc: BaseException, path: Path) -> dict[str, Any]:
    """A failed run's metrics: why and when, and the model file it planned, should that still be
    there (:func:`remove_orphan_models`)."""
    return {
        "error": failure_text(exc),
        "failed_at": utcnow().isoformat(timespec="seconds"),
        models.PLANNED_FILE: str(path),
    }


def _fail_unfinished(ws: Workspace, run_id: int, path: Path, exc: BaseException) -> None:
    """Record run ``run_id`` as failed by ``exc`` and delete its file ``path``, after its last
    transaction failed. Only while the run is still ``training``: a commit whose answer was lost
    (a dropped connection) may have finished it, and its file may then be the active model's. A
    database that cannot say leaves both (the next training fails the run, and deletes the file
    later: :func:`remove_orphan_models`); never raises."""
    said = _failure(exc, path)
    try:
        with session_scope(ws.db) as session:
            run = models.get_model_run(session=session, run_id=run_id)
            if run is None or run.status != "training":
                return
            models.finish_model_run(session=session, run_id=run_id, status="failed", metrics=said)
    except Exception as error:  # still busy, or gone: the caller raises the failure itself
        log.warning("could not record the failure of model run %s: %s", run_id, error)
        return
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def remove_leftovers(
    data_dir: Path,
    *,
    models_dir: Path | None = None,
    older_than: timedelta = LEFTOVER_AGE,
    now: float | None = None,
) -> list[Path]:
    """Delete the temporary files that processes killed while writing (SIGKILL, the OOM killer,
    a power loss) left beside the model files, pool graphs and embedding shards under
    ``data_dir``: only names of the exact forms their writers use (``MODEL_TEMP_NAME``,
    ``pool_graph.TEMP_NAME``, ``embeddings.TEMP_NAME``), in the folders they write to, and only
    once unchanged for ``older_than`` (a write in progress in another process is never
    touched). ``models_dir``: where the model files are, if not ``data_dir/models``.
    ``now``: seconds since the epoch (tests). Returns what was deleted; one that
    cannot be is logged and left (this is tidying: it never stops the caller)."""
    cutoff = (time.time() if now is None else now) - older_than.total_seconds()
    removed: list[Path] = []
    for folder, pattern in (
        (models_dir or Path(data_dir) / "models", MODEL_TEMP_NAME),  # <models>/<project>/
        (Path(data_dir) / "graphs", GRAPH_TEMP_NAME),  # graphs/<encoder>/
        (Path(data_dir) / "embeddings", SHARD_TEMP_NAME),  # embeddings/<encoder>/
    ):
        for sub in _subfolders(folder):
            try:
                entries = list(os.scandir(sub))
            except OSError:  # gone since, or not readable: nothing to tidy there
                continue
            for entry in entries:
                try:
                    if (
                        pattern.fullmatch(entry.name)
                        and entry.is_file(follow_symlinks=False)
                        and entry.stat(follow_symlinks=False).st_mtime < cutoff
                    ):
                        os.unlink(entry.path)
                        removed.append(Path(entry.path))
                except FileNotFoundError:
                    continue  # another process tidied it first
                except OSError as exc:
                    log.warning("cannot remove the leftover file %s: %s", entry.path, exc)
    if removed:
        log.info("removed %s left by killed processes", counted(len(removed), "temporary file"))
    return removed


def remove_orphan_models(
    ws: Workspace, name: str, *, older_than: timedelta = LEFTOVER_AGE, now: float | None = None
) -> list[Path]:
    """Delete the model files that trainings of project ``name`` wrote and no run names: a
    process killed (SIGKILL, the OOM killer, a lost host) after writing its model file and
    before its run committed left one, forever otherwise (tens of MB for a large project).

    Called by the holder of the project's training lease, after the runs left ``training``
    were failed (``models.fail_abandoned_runs``). Only the file each failed run noted before
    writing it (``models.PLANNED_FILE``) is looked at, never a folder's other files: a
    `db copy` sharing the data dir writes its own beside them, named by its own runs only.
    A file is deleted only when it is a plain file of the form training writes
    (``vN-<8 hex>.npz``) under the models folder (not a `db copy`'s in the first database's
    folder), no run of any project names a file of that name, and it is unchanged for
    ``older_than``: a process whose lease lapsed may still be about to commit it. A run whose
    file is gone, or is not one to delete, forgets it; a fresh one is looked at again by the
    next training. ``now``: seconds since the epoch (tests). Returns what was deleted; a file
    that cannot be is logged and left (tidying: it never stops the training)."""
    cutoff = (time.time() if now is None else now) - older_than.total_seconds()
    root = ws.settings.models_root
    removed: list[Path] = []
    settled: list[int] = []  # runs whose planned file needs no more looking at
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        for run in models.planned_artifacts(session=session, project_id=project.id):
            assert run.id is not None
            path = ws.settings.artifact_file(str(run.metrics[models.PLANNED_FILE]))
            try:
                if not _own_model_file(path, root) or models.artifact_named(
                    session=session, file_name=path.name
                ):
                    settled.append(run.id)
                    continue
                if os.lstat(path).st_mtime >= cutoff:
                    continue  # maybe still being committed: the next training looks again
                path.unlink()
            except FileNotFoundError:  # deleted already (the failure's own clean-up, by hand)
                settled.append(run.id)
                continue
            except OSError as exc:
                log.warning("cannot remove the model file %s of failed v%d of %s: %s",
                            path, run.version, name, exc)  # fmt: skip
                continue
            removed.append(path)
            settled.append(run.id)
    if settled:
        with session_scope(ws.db) as session:
            models.forget_planned(session=session, run_ids=settled)
    if removed:
        log.info("removed %s of %s no run names (left by killed trainings)",
                 counted(len(removed), "model file"), name)  # fmt: skip
    return removed


# A model file as train_project names it (MODEL_TEMP_NAME is its temporary file)
MODEL_FILE_NAME = re.compile(r"v\d+-[0-9a-f]{8}\.npz")


def _own_model_file(path: Path, root: Path) -> bool:
    """Whether ``path`` is a plain file (no link) named as train_project names model files, in a
    project's folder of the models folder ``root``, as written and with links resolved. Raises
    FileNotFoundError when it is gone."""
    if not MODEL_FILE_NAME.fullmatch(path.name):
        return False
    if not stat.S_ISREG(os.lstat(path).st_mode):
        return False
    folder = path.parent
    return any(f.parent == r for f in (folder, folder.resolve()) for r in (root, root.resolve()))


def _subfolders(folder: Path) -> list[str]:
    """The folders directly in ``folder`` (none when it does not exist)."""
    try:
        return [e.path for e in os.scandir(folder) if e.is_dir()]
    except OSError:
        return []


def _overtaken(session: Any, project_id: int, *, version: int, before: int | None) -> str | None:
    """Why run ``version`` must not replace the active model after all (None when it may): the
    active run changed while it trained (``before``: the active run's id when it started), to a
    run that started later -- trained outside one lease, or after it lapsed: it read later
    labels -- or to one a person chose (a rollback, a pin, a promotion), which is the later
    decision. Called under :func:`models.lock_models`."""
    current = models.get_active_model_run(session=session, project_id=project_id)
    if current is None or current.id == before:
        return None
    if current.version > version:
        return (
            f"v{current.version}, trained on later labels, became active while v{version} trained"
        )
    return (
        f"v{current.version} was made active while v{version} trained (a rollback or a "
        "promotion); promote this one with `labelbot models promote`"
    )


def _labels_changed(session: Any, pool: Pool) -> bool:
    """Whether the labels changed (renamed, merged, split, added, retired) since ``pool`` was
    read: predictions computed from it name labels of before. Read under
    :func:`models.lock_models`, which taxonomy changes take turns with."""
    labels = projects.list_labels(session=session, project_id=pool.project_id)
    return [lb.name for lb in labels] != pool.classes or not _same_ids(
        [int(lb.id or 0) for lb in labels], pool.label_ids
    )


def _same_ids(a: list[int] | None, b: list[int] | None) -> bool:
    """Whether two lists of label ids are the same, where both are known (a run recorded
    before they were kept has none; its names decide)."""
    return a is None or b is None or not a or not b or list(a) == list(b)


def _same_taxonomy(
    classes: list[str],
    label_ids: list[int] | None,
    other_classes: list[str],
    other_ids: list[int] | None,
) -> bool:
    """Whether two class lists are the same labels, in order. By label id where both are known
    (one per class): a label renamed since is the same class (its examples, its index in the
    model), and two labels that swapped names are not. By name where a list has no ids (a run
    recorded before they were kept)."""
    if (
        label_ids
        and other_ids
        and len(label_ids) == len(classes)
        and len(other_ids) == len(other_classes)
    ):
        return [int(i) for i in label_ids] == [int(i) for i in other_ids]
    return list(classes) == list(other_classes) and _same_ids(label_ids, other_ids)


def _same_labels(run: ModelRun, pool: Pool) -> bool:
    """Whether ``run``'s classes are ``pool``'s, in order: the same labels (by id where the run
    kept them: a rename since changes nothing a model learned)."""
    return _same_taxonomy(list(run.classes), run.label_ids, pool.classes, pool.label_ids)


def _texts_added(session: Any, pool: Pool) -> bool:
    """Whether texts were imported since ``pool`` was read (examples are never deleted): they
    have no predictions from a model scored on it. An import that commits after this read is
    re-scored after it, by then with the model activated here."""
    count, last = models.example_extent(session=session, project_id=pool.project_id)
    return (count, last) != (len(pool.example_ids), int(pool.example_ids[-1]))


def _rescore_after(ws: Workspace, name: str, what: str) -> None:
    """Re-score the whole pool after ``what`` became active on a pool that changed meanwhile:
    its rows replaced those of the pool it read; texts imported since hold another model's (or
    none) and the labels may have other names. A failure here does not undo the activation."""
    log.info("re-scoring %s: its pool changed while %s was scored", name, what)
    try:
        rescore_project(ws, name)
    except LabelbotError as exc:
        log.warning("re-scoring %s after %s became active failed: %s", name, what, exc)


def _pool_proba(
    model: Model, pool: Pool, idx: np.ndarray | None = None, *, onto: np.ndarray | None = None
) -> np.ndarray:
    """Probabilities for pool rows (all, or ``idx``); the blend reuses its own pool's spread.
    ``onto`` carries them over to today's labels (:func:`class_map`, ``Model.predict_proba``)."""
    if model.pool is not None and len(model.pool) == len(pool.example_ids):
        probs = model.predict_proba_pool(onto=onto)
        return probs if idx is None else probs[idx]
    return model.predict_proba(pool.X if idx is None else pool.X[idx], onto=onto)


def _audit_metrics(
    pool: Pool, model: Model, previous: tuple[ModelRun, Model] | None, *, seed: int
) -> dict[str, Any]:
    """Audit-set scores of the new model and, on the same labels, of the active one; and how
    many audit labels are not among them (``AUDIT_WAITING``): their label was split or retired
    and they wait to be relabeled, so the audit set scored is no longer the whole uniform draw;
    and how many labels were held out of training as audit examples' twins (``AUDIT_TWINS``)."""
    idx = pool.audited
    out: dict[str, Any] = {}
    waiting = int(((pool.y < 0) & pool.audit).sum())
    if waiting:
        out[AUDIT_WAITING] = waiting
    twins = int(((pool.y >= 0) & pool.audit_twins).sum())
    if twins:
        out[AUDIT_TWINS] = twins
    if len(idx) == 0:
        return out
    candidates = {"audit": model}
    if previous is not None and _same_labels(previous[0], pool):
        candidates["audit_active"] = previous[1]
        # which model that was: the digest's accuracy change is measured from it
        out["audit_active_version"] = previous[0].version
    for key, scorer in candidates.items():
        probs = _pool_proba(scorer, pool, idx)
        report = audit_report(
            pool.y[idx],
            probs.argmax(axis=1),
            n_classes=len(pool.classes),
            class_names=pool.classes,
            rng=np.random.default_rng(seed),
        )
        out[key] = report.to_dict()
    return out


def promotion_decision(
    settings: dict[str, Any],
    active: ModelRun | None,
    classes: list[str],
    metrics: dict[str, Any],
    *,
    unusable: str | None = None,
    label_ids: list[int] | None = None,
) -> tuple[bool, str]:
    """Whether a freshly trained model should replace the active one, and why.

    Losing a good model to a worse retrain is what users of other tools complain about most: a
    new model is held back when a version is pinned, or when it is worse than the active model
    on the audit set (an unbiased sample) by more than the active model's interval. Labels chosen
    by active learning are a biased sample, so cross-validated scores never gate a promotion.
    An active model that cannot answer (``unusable`` says why) is replaced unless pinned.
    ``label_ids``: the ids of ``classes``' labels: where both they and the active model's are
    known, the taxonomy is compared by them alone (a label renamed since is the same label, and
    its audit score still gates; two labels that swapped names are not).
    """
    pinned = settings.get("pinned_version")
    if pinned is not None:
        return False, f"v{pinned} is pinned; promote this one with `labelbot models promote`"
    if active is None:
        return True, "first model"
    if unusable is not None:
        return True, f"the active model v{active.version} cannot answer: {unusable}"
    if not _same_taxonomy(list(active.classes), active.label_ids, classes, label_ids):
        return True, "the taxonomy changed since the active model"
    new_audit = metrics.get("audit") or {}
    # the active model scored on the same audit labels now; else what it scored when trained
    old_audit = metrics.get("audit_active") or active.metrics.get("audit") or {}
    measured = new_audit.get("accuracy") is not None and old_audit.get("low") is not None
    if measured and float(new_audit["accuracy"]) < float(old_audit["low"]):
        return False, (
            f"worse on the audit set: {new_audit['accuracy']:.3f} vs the active model's "
            f"{old_audit['accuracy']:.3f} (interval from {old_audit['low']:.3f})"
        )
    return True, "not worse than the active model"


@dataclass(frozen=True)
class Activation:
    """What activating a version did: the run now active and, when another version was pinned,
    that version (the pin moved from it to ``run``; read under the lock that moved it)."""

    run: ModelRun
    pin_moved_from: int | None = None
    # ``unless_newer``: the newer version found answering, and nothing was changed
    newer_active: int | None = None


def looks_like_version(word: str) -> bool:
    """Whether ``word`` is written as a model version (``3``, ``v3``), valid or not: the edges
    tell a version from a project name by it, and :func:`parse_version` says what is wrong."""
    return _VERSION.fullmatch(word) is not None


def parse_version(text: str) -> int:
    """The model version ``text`` names (``3`` or ``v3``), for every edge (CLI, Slack): decimal
    digits only, and few enough to be a version the database can look up."""
    found = _VERSION.fullmatch(text)
    if found is None or len(found.group(1)) > MAX_VERSION_DIGITS:
        raise InvalidInputError(f"{text!r} is not a model version (e.g. 3 or v3)")
    return int(found.group(1))


def activate_version(
    ws: Workspace, name: str, version: int, *, unless_newer: bool = False
) -> Activation:
    """Make model ``version`` the active one now and re-score the queue with it; when another
    version is pinned, the pin moves to this one (``pin_moved_from`` says from which).

    ``unless_newer``: not when a version newer than ``version`` answers by then (read in turn
    with retrains: a click on a notice drawn before it was promoted, racing its promotion);
    nothing changes, and ``newer_active`` names it."""
    return _activate(ws, name, version, pin=False, unless_newer=unless_newer)


def pin_version(ws: Workspace, name: str, version: int) -> ModelRun:
    """Activate ``version`` and keep it active: retrains are stored but not promoted."""
    return _activate(ws, name, version, pin=True).run


def _activate(
    ws: Workspace, name: str, version: int, *, pin: bool, unless_newer: bool = False
) -> Activation:
    """Activate ``version`` with its predictions (and, with ``pin``, pin it) in one transaction,
    in turn with retrains and prunes: a retrain that finishes later sees the pin or the hand
    pick and keeps it; a version whose file a prune deleted meanwhile is refused."""
    for _ in range(_SCORING_TRIES):
        pool = load_pool(ws, name)
        with session_scope(ws.db, read_only=True) as session:
            project = projects.get_project(session=session, name=name)
            runs = {
                r.version: r
                for r in models.list_model_runs(session=session, project_id=pool.project_id)
            }
        run = runs.get(version)
        if run is None or run.id is None:
            raise NotFoundError(f"project {name!r} has no model v{version} ({_versions(runs)})")
        stored = ws.settings.artifact_file(run.artifact_path) if run.artifact_path else None
        if run.status != "ready" or stored is None or not stored.exists():
            raise InvalidInputError(_no_file(ws, name, run, stored))
        mapping = class_map(ws, name, run, pool.classes, pool.label_ids)
        if mapping is None:
            raise InvalidInputError(
                f"model v{version} of {name!r} was trained before the taxonomy changed (a label "
                "split, retired or added since): it cannot answer for today's labels; choose a "
                f"version trained since (`labelbot models {name}` lists them), or retrain with "
                f"`labelbot train {name}`"
            )
        model, mismatch = _load_run(ws, run)
        if mismatch is not None:
            raise InvalidInputError(f"model v{version} {mismatch}; retrain instead")
        rows = _prediction_rows(ws, pool, model, project.settings, mapping)
        with session_scope(ws.db) as session:
            locked = models.lock_models(session=session, project_id=pool.project_id)
            pinned = locked.settings.get("pinned_version")
            now = models.get_model_run(session=session, run_id=run.id)
            path = now.artifact_path if now is not None else None
            if path is None or not ws.settings.artifact_file(path).exists():
                # a retrain's prune chose it while its predictions were computed
                raise ConflictError(
                    f"model v{version} of {name!r} lost its file while it was being activated "
                    f"(old files are pruned after each retrain, LABELBOT_KEEP_MODELS): nothing "
                    f"changed; see `labelbot models {name}` for the versions that have one"
                )
            active = models.get_active_model_run(session=session, project_id=pool.project_id)
            if unless_newer and active is not None and active.version > version:
                return Activation(run=run, newer_active=active.version)
            relabeled = _labels_changed(session, pool)
            added = not relabeled and _texts_added(session, pool)
            if not relabeled:
                models.activate_model_run(
                    session=session, project_id=pool.project_id, run_id=run.id
                )
                models.replace_predictions(
                    session=session, project_id=pool.project_id, model_run_id=run.id, rows=rows
                )
                if pin or pinned not in (None, version):
                    # a rollback or promotion while another version is pinned moves the pin:
                    # the admin chose this one, and a pin left on a version that no longer
                    # answers would hold retrains back for nothing
                    projects.update_project_settings(
                        session=session, project_id=pool.project_id, pinned_version=version
                    )
                run.is_active = True
        if not relabeled:
            if added:  # texts imported meanwhile: scored now, with it
                _rescore_after(ws, name, f"v{version}")
            moved = None if pinned in (None, version) else pinned
            return Activation(run=run, pin_moved_from=moved)
        log.info("activating v%s of %s again: its labels changed meanwhile", version, name)
    raise ConflictError(
        f"the labels of {name!r} kept changing while v{version} was being activated; try again"
    )


def _versions(versions: Iterable[int]) -> str:
    """A project's versions as a refusal names them: every one of hundreds of retrains as a
    Python list ("have: [1, 2, ...]") was unreadable, and "have: []" said nothing."""
    have = sorted(versions)
    if not have:
        return "it has no models yet"
    if len(have) == 1:
        return f"its only version is v{have[0]}"
    return f"its versions are v{have[0]} to v{have[-1]}"


def _no_file(ws: Workspace, name: str, run: ModelRun, stored: Path | None) -> str:
    """Why version ``run`` cannot be activated: it has no model file (it failed, is still
    training, or its file was pruned or lost), and what to do instead."""
    which = f"model v{run.version} of {name!r}"
    choose = f"choose a version that has one (`labelbot models {name}` lists them)"
    if run.status == "failed":
        return f"{which} failed to train, so it has no model file: {choose}"
    if run.status != "ready":
        return f"{which} has not finished training (no model file yet): {choose}, or wait"
    if stored is None:
        return (
            f"{which} has no file any more: old model files are pruned after each training "
            f"(the newest LABELBOT_KEEP_MODELS, now {ws.settings.keep_models}, are kept besides "
            f"the active, pinned and best one); {choose}, or retrain with `labelbot train {name}`"
        )
    retrain = f"or retrain with `labelbot train {name}`"
    return f"{which} is missing its file {stored}: {choose}, {retrain}"


def _prune_artifacts(ws: Workspace, project_id: int) -> None:
    """Delete old model files (runs keep their metrics); never the active, pinned or best one
    (the best of those that can still answer, :func:`_best_answering`).

    Chosen and forgotten in turn with activations (``models.lock_models``), so a rollback to a
    version being pruned either made it active first (it is kept) or finds it gone and refuses;
    the files are deleted once that is committed."""
    doomed: list[str] = []
    with session_scope(ws.db) as session:
        project = models.lock_models(session=session, project_id=project_id)
        runs = [
            r
            for r in models.list_model_runs(session=session, project_id=project_id)
            if r.status == "ready"
        ]
        pinned = project.settings.get("pinned_version")
        protect = {r.id for r in runs if r.version == pinned and r.id is not None}
        best = _best_answering(ws, session, project_id, runs)
        if best is not None and best.id is not None:
            protect.add(best.id)
        for old in models.stale_artifacts(
            session=session,
            project_id=project_id,
            keep=ws.settings.keep_models,
            protect=frozenset(protect),
        ):
            assert old.id is not None and old.artifact_path is not None
            doomed.append(str(ws.settings.artifact_file(old.artifact_path)))
            models.forget_artifact(session=session, run_id=old.id)
    for path in doomed:
        if ws.settings.owns_file(Path(path)):  # not another database's (Settings.owns_file)
            Path(path).unlink(missing_ok=True)


def _best_answering(
    ws: Workspace, session: Session, project_id: int, runs: list[ModelRun]
) -> ModelRun | None:
    """The best of ``runs`` (:func:`_quality`) that a rollback could still make answer: its file
    is there, it speaks for today's labels (as :func:`class_map` decides: none split, retired or
    added since), it takes this encoder's embeddings and its file reads back. A version trained
    before a taxonomy change or on another encoder, or whose file is damaged, never answers
    again, and the best slot kept for it cost the best version that can its file. Looked at from
    the best down, from the run rows; only a candidate they pass has its file's small arrays
    read (:func:`_run_cannot_answer`): one file in the usual case."""
    labels = projects.list_labels(session=session, project_id=project_id)
    today = [lb.name for lb in labels]
    today_ids = [int(lb.id or 0) for lb in labels]
    targets: dict[int, str | None] | None = None
    for run in sorted(runs, key=_quality, reverse=True):
        if not run.artifact_path or not ws.settings.artifact_file(run.artifact_path).exists():
            continue
        if run.label_ids is None or run.label_ids != today_ids:
            if targets is None:
                targets = taxonomy_repo.label_targets(session=session, project_id=project_id)
            now = taxonomy.names_now_in(
                session=session,
                project_id=project_id,
                names=run.classes,
                as_of=run.created_at,
                label_ids=run.label_ids,
                targets=targets,
            )
            if any(n is None for n in now) or set(now) != set(today):
                continue
        if _run_cannot_answer(ws, run) is None:
            return run
    return None


# a run's metric: the encoder its model was trained on, {"name": ..., "dim": ...}
ENCODER_METRIC = "encoder"


def _run_cannot_answer(ws: Workspace, run: ModelRun) -> str | None:
    """Why ``run``'s model cannot answer in this workspace: it takes another encoder's
    embeddings (:func:`encoder_mismatch`), read from the run when it names its encoder (no file
    read then), or its file cannot be read (empty, cut short, overwritten). The file is read
    once, its small arrays only (:func:`_file_encoder`), and names the encoder of a run recorded
    before runs kept it. A file that does not read back here fails a rollback too (load_model),
    so a run that names its encoder is not trusted without that look."""
    made = run.metrics.get(ENCODER_METRIC)
    recorded = made if isinstance(made, dict) and "dim" in made else None
    if recorded is not None:
        name = recorded.get("name")
        problem = _mismatch(ws, str(name) if name is not None else None, int(recorded["dim"]))
        if problem is not None:
            return problem
    try:
        in_file, dim = _read_run_file(ws, run, read=_file_encoder)
    except FileNotFoundError as exc:
        return f"its file cannot be read ({exc})"
    except NotFoundError as exc:
        if _not_damage(exc.__cause__):
            # this process may not read it now (another user's 0600 file, too many open
            # files): no damage, and a rollback may read it once that is mended; it keeps its
            # slot and its file (a run that names no encoder is taken as this encoder's)
            log.warning("model v%s kept by the prune: %s", run.version, exc)
            return None
        return f"its file cannot be read ({exc})"
    return None if recorded is not None else _mismatch(ws, in_file, dim)


def _not_damage(cause: BaseException | None) -> bool:
    """Whether a model file's read failed for a cause outside the file: an OSError other than
    a missing file (refused access, too many open files, an I/O error of the moment), not what
    np.load and zipfile raise on an empty, cut-short or overwritten file."""
    return isinstance(cause, OSError) and not isinstance(cause, FileNotFoundError)


# a blend's arrays of the pool's size: the bulk of its file, not read for a look at it
_BULK_ARRAYS = ("pool", "spread")


def _file_encoder(path: Path) -> tuple[str | None, int]:
    """(the encoder a model file names, None in a file from before they were kept; the size of
    the vectors it takes). Every small array is read back and a blend's pool and spread are read
    through as bytes, not made arrays (zipfile checks each member's CRC), so a damaged file
    raises what :func:`~engine.classifier.load_model` would."""
    with np.load(Path(path), allow_pickle=False) as data:
        for key in data.files:
            if key not in _BULK_ARRAYS:
                np.asarray(data[key])
            else:  # its bytes read through to the end, unparsed, so that zipfile checks its CRC
                with data.zip.open(f"{key}.npy") as member:
                    while member.read(1 << 20):
                        pass
        name = str(data["encoder"]) if "encoder" in data.files else None
        return name, int(np.asarray(data["weight"]).shape[0])


def _prediction_rows(
    ws: Workspace,
    pool: Pool,
    model: Model | None,
    settings: dict[str, Any],
    mapping: np.ndarray | None = None,
) -> list[PredictionRow]:
    """Predictions for every example and the queue order: the strategy's batch first.
    ``mapping`` (see :func:`class_map`) carries a model's classes over to today's labels."""
    n = len(pool.example_ids)
    rng = np.random.default_rng(int(settings.get("seed", 0)) + len(pool.labeled))
    probs: np.ndarray | None = None
    uncertainty = np.zeros(n)
    if model is not None:
        probs = _pool_proba(model, pool, onto=mapping)
        uncertainty = uncertainty_scores(probs, "margin")
    picked = np.array([], dtype=np.int64)
    reasons: list[dict[str, Any]] = []
    if len(pool.unlabeled):
        picked, reasons = _next_batch(ws, pool, probs, settings, rng)
    why = dict(zip(picked.tolist(), reasons, strict=True))
    if model is None:
        uncertainty = rng.random(n) * 1e-3  # beyond the cold-start batch: random, not file order
        priority = uncertainty.astype(np.float64).copy()
    else:
        # beyond the batch, the strategy's own order (entropy's, a random one drawn from the
        # project's seed); the stored uncertainty stays the margin's
        method = queue_method(str(settings.get("strategy", DEFAULT_STRATEGY)))
        if method == "margin":
            ranked = uncertainty
        elif method is None:
            ranked = rng.random(n)
        else:
            assert probs is not None
            ranked = uncertainty_scores(probs, method)
        priority = ranked.astype(np.float64).copy()
    priority[np.asarray(picked, dtype=np.int64)] = _BATCH_PRIORITY - np.arange(len(picked))
    with _collector_paused():
        return _rows(pool, probs, uncertainty, priority, why)


def _rows(
    pool: Pool,
    probs: np.ndarray | None,
    uncertainty: np.ndarray,
    priority: np.ndarray,
    why: dict[int, dict[str, Any]],
) -> list[PredictionRow]:
    """The rows to store: each example's top classes, uncertainty, priority and reason."""
    n = len(pool.example_ids)
    tops: list[list[Any]] = [[] for _ in range(n)] if probs is None else _top_classes(probs, pool)
    # each class's label id, and the top class as stored: Prediction.class_ids
    ids = len(pool.label_ids) == len(pool.classes) and probs is not None
    at = {name: i for i, name in enumerate(pool.classes)}
    return [
        PredictionRow(
            example_id=example_id,
            label=top[0][0] if top else None,
            confidence=top[0][1] if top else None,
            probs=top,
            class_ids=[[pool.label_ids[at[name]] for name, _ in top], *top[0]] if ids else None,
            uncertainty=score,
            priority=rank,
            reason=why.get(i),
        )
        for i, (example_id, top, score, rank) in enumerate(
            zip(
                np.asarray(pool.example_ids, dtype=np.int64).tolist(),
                tops,
                uncertainty.tolist(),
                priority.tolist(),
                strict=True,
            )
        )
    ]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off while a pool's rows are made: a few hundred
    thousand small lists at 50k examples, none in a cycle, and each collection they would set
    off walks every object the process holds (most of the time of making them)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _top_classes(probs: np.ndarray, pool: Pool) -> list[list[Any]]:
    """Each row's ``TOP_K`` classes, most probable first: ``[[name, probability], ...]`` with
    probabilities rounded to 4 places, as sorting and rounding one row at a time gave them.

    A block of rows at a time: argsort sorts each row of a block as it sorts that row alone
    (the same algorithm on the same values), so tied classes come out in the same order; the
    block keeps its temporaries to a few MB at any pool size."""
    tops: list[list[Any]] = []
    for start in range(0, len(probs), _TOP_BLOCK):
        block = np.asarray(probs[start : start + _TOP_BLOCK])
        order = np.argsort(-block, axis=1)[:, :TOP_K]
        values = _rounded(np.take_along_axis(block, order, axis=1).astype(np.float64))
        tops.extend(
            [[pool.classes[j], v] for j, v in zip(classes, row, strict=True)]
            for classes, row in zip(order.tolist(), values.tolist(), strict=True)
        )
    return tops


def _rounded(values: np.ndarray) -> np.ndarray:
    """``round(v, 4)`` of every value, Python's rounding (the nearest 4-place decimal, as a
    float), in numpy: rint(v * 1e4) / 1e4 is that, except where v * 1e4 lies within the
    product's rounding error of a half (it may then round the other way) or is too large to
    tell; those few go through Python's round."""
    scaled = values * 1e4
    out = np.rint(scaled) / 1e4
    unsure = ~(np.abs(scaled - np.floor(scaled) - 0.5) > 1e-6) | ~(np.abs(values) < 1e6)
    if unsure.any():
        out[unsure] = [round(v, 4) for v in values[unsure].tolist()]
    return out


def _next_batch(
    ws: Workspace,
    pool: Pool,
    probs: np.ndarray | None,
    settings: dict[str, Any],
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The pool rows to ask about first (a cold start, or the project's strategy), and why each:
    ``{"kind": "cold_start"}``, ``{"kind": "strategy", "strategy": name}``, or the rare-label
    help's ``{"kind": "rare" | "no_examples", "label": name, "label_id": id}`` (a label with
    few examples, or none yet: searched from its name).

    With ``rare_boost`` on (the default), labels with few examples get help (their neighbours
    and top-scored examples join the batch until each has ``rare_minimum``:
    bench/rare_classes.py), and a label with no example yet -- one just added -- is searched
    from its name and description. The help also runs beside a cold start once some examples
    are labeled (after a taxonomy change there is no model for the new label set).
    """
    candidates = pool.unlabeled
    batch = int(settings.get("batch_size", DEFAULT_BATCH))
    lab = pool.labeled
    cold = probs is None or len(lab) < len(pool.classes)
    boost = bool(settings.get("rare_boost", True)) and len(lab) > 0
    name = str(settings.get("strategy", DEFAULT_STRATEGY))
    if cold:
        # until there is about one label per class the model's uncertainty says little;
        # diverse, representative examples (k-means) find the rare classes sooner
        n = min(len(candidates), max(batch, len(pool.classes)))
        if not boost:
            picked = select_cold_start(embeddings=pool.X, candidates=candidates, n=n, rng=rng)
            return picked, [{"kind": "cold_start"}] * len(picked)
        probs, name = None, "diverse_margin"  # with no model its picks are the k-means ones
    else:
        n, candidates = batch, query_candidates(candidates, rng)
    base = {"kind": "cold_start"} if cold else {"kind": "strategy", "strategy": name}
    strategy = get_strategy(name)
    if boost and not isinstance(strategy, RareClassBoost):
        strategy = RareClassBoost(base=name, minimum=int(settings.get("rare_minimum", 5)))
    if not isinstance(strategy, RareClassBoost):
        picked = strategy.select(
            probs=probs, candidates=candidates, n=n, embeddings=pool.X, rng=rng
        )
        return picked, [base] * len(picked)
    counts = np.bincount(pool.y[lab], minlength=len(pool.classes))
    extra: dict[str, Any] = {}
    if pool.label_texts and len(lab) and (counts == 0).any():
        extra["label_vectors"] = _label_vectors(ws, pool.label_texts, counts == 0)
    picked, for_label = strategy.select_explained(
        probs=probs, candidates=candidates, n=n, embeddings=pool.X, rng=rng, labeled_idx=lab,
        labeled_y=pool.y[lab], n_classes=len(pool.classes), **extra,
    )  # fmt: skip
    ids = len(pool.label_ids) == len(pool.classes)
    reasons = [
        base
        if c < 0
        else {
            "kind": "rare" if counts[c] else "no_examples",
            "label": pool.classes[c],
            # the label by id as well: the name is the scoring's, a rename before the next
            # re-score (two labels swapping names) must not send the note to another label
            **({"label_id": int(pool.label_ids[c])} if ids else {}),
        }
        for c in for_label.tolist()
    ]
    return picked, reasons


def _label_vectors(ws: Workspace, texts: list[str], searched: np.ndarray) -> np.ndarray:
    """The vectors of the label texts marked ``searched`` (the labels with no example yet),
    zero rows for the others: only a label with no example is searched from its name
    (rare.RareClassBoost), so a labeled one's text -- a renamed label's new name -- is not
    embedded (which loaded the encoder, ~20 s, to re-score the queue after a rename)."""
    rows = np.flatnonzero(searched)
    vectors = ws.embed([texts[i] for i in rows])
    out = np.zeros((len(texts), vectors.shape[1]), dtype=vectors.dtype)
    out[rows] = vectors
    return out


def _quality(run: ModelRun) -> tuple[float, float, int]:
    """How good a run is: the lower end of its audit accuracy's interval when measured (what
    the audit set can vouch for: 3 of 3 right is no better evidence than 26 of 28), else
    cross-validated."""
    audit = run.metrics.get("audit") or {}
    return (
        float(audit.get("low", audit.get("accuracy", -1.0))),
        float(run.metrics.get("accuracy", -1.0)),
        run.n_labels,
    )


def unpin(ws: Workspace, name: str) -> int | None:
    """Let retrains replace the active model again (when they are not worse). The version
    that was pinned; None when none was (nothing changed)."""
    with session_scope(ws.db) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        pinned = project.settings.get("pinned_version")
        if pinned is None:
            return None
        projects.update_project_settings(
            session=session, project_id=project.id, pinned_version=None
        )
        return int(pinned)


def list_versions(ws: Workspace, name: str) -> list[ModelRun]:
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        return models.list_model_runs(session=session, project_id=project.id)


def kind_shown(run: ModelRun) -> str:
    """The classifier a run trained, as the version listings show it: "-" for a failed,
    stopped or running one, which has none yet (the column's stored default, "linear", would
    name a model it never produced)."""
    return run.kind if run.status == "ready" else "-"


FAILURE_TEXT_MAX = 300  # characters of a failed run's reason (one line: type and message)


def failure_text(exc: BaseException) -> str:
    """Why a training failed, as a failed run keeps it (``metrics["error"]``): one line, the
    exception's type and the first line of its message, cut at FAILURE_TEXT_MAX characters; a
    run stopped by Ctrl-C or by the process exiting says so, not "KeyboardInterrupt"."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C) while training"
    if isinstance(exc, SystemExit):  # SIGTERM in serve and the worker (exit 143)
        return "stopped while training: the process was asked to exit"
    first = (str(exc).strip().splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text if len(text) <= FAILURE_TEXT_MAX else text[: FAILURE_TEXT_MAX - 1] + "…"


def run_failure(run: ModelRun) -> dict[str, Any]:
    """A failed run as `status` and `models` say it: its version, when it failed (when it
    started, for a run failed before that was kept) and why (``metrics["error"]``; a run failed
    by an older version kept no reason)."""
    at = run.metrics.get("failed_at")
    if not isinstance(at, str):
        at = run.created_at.isoformat(timespec="seconds")
    error = run.metrics.get("error")
    return {
        "version": run.version,
        "at": at,
        "error": error if isinstance(error, str) else "no reason recorded",
    }


def last_failure(ws: Workspace, name: str) -> dict[str, Any] | None:
    """The newest finished run of ``name`` if it failed (no training succeeded since), as
    :func:`run_failure` says it; None otherwise. A run still training is passed over."""
    done = [r for r in list_versions(ws, name) if r.status != "training"]
    if not done or done[-1].status != "failed":
        return None
    return run_failure(done[-1])


def rescore_project(ws: Workspace, name: str) -> int:
    """Recompute the queue order with the active model (or a cold start without one).

    Written in turn with activations (``models.lock_models``), and only while the model it
    scored with is still the active one and the labels are still the ones it read: otherwise
    (a retrain finished, a rollback, a taxonomy change meanwhile) it scores again, so an older
    model's predictions never land after a newer one's."""
    for _ in range(_SCORING_TRIES):
        pool = load_pool(ws, name)
        run, loaded, unusable = _load_active(ws, name)
        if unusable is not None:
            log.warning("re-scoring %s as a cold start: %s", name, unusable)
        with session_scope(ws.db, read_only=True) as session:
            project = projects.get_project(session=session, name=name)
        mapping = class_map(ws, name, run, pool.classes, pool.label_ids) if run and loaded else None
        model = loaded if mapping is not None else None
        rows = _prediction_rows(ws, pool, model, project.settings, mapping)
        with session_scope(ws.db) as session:
            models.lock_models(session=session, project_id=pool.project_id)
            now = models.get_active_model_run(session=session, project_id=pool.project_id)
            same = (now.id if now else None) == (run.id if run else None)
            # texts imported meanwhile keep the rows their import's re-score gives them
            if same and not _labels_changed(session, pool):
                models.replace_predictions(
                    session=session,
                    project_id=pool.project_id,
                    model_run_id=run.id if model is not None and run else None,
                    rows=rows,
                )
                return len(rows)
        log.info("re-scoring %s again: the active model or the labels changed meanwhile", name)
    raise ConflictError(
        f"the active model or the labels of {name!r} kept changing while its queue was "
        "re-scored; try again"
    )


def class_map(
    ws: Workspace,
    name: str,
    run: ModelRun,
    classes: list[str],
    label_ids: list[int] | None = None,
) -> np.ndarray | None:
    """A 0/1 matrix (the run's classes × ``classes``, today's labels, whose ids are
    ``label_ids``) that carries the run's probabilities over to today's taxonomy: a renamed
    label is the same class, merged labels' probabilities add up. Classes are followed by label
    (``taxonomy.names_now``), never by name: two labels may have swapped names. None when the
    run cannot speak for today's labels: one of its labels was split or retired without a
    mapping, or a label was added since (the model never saw it); the queue then falls back to
    a cold start until the next model."""
    if run.label_ids is not None and label_ids is not None and run.label_ids == label_ids:
        return np.eye(len(classes))  # the same labels, in the same order
    now = taxonomy.names_now(
        ws, project=name, names=run.classes, as_of=run.created_at, label_ids=run.label_ids
    )
    if any(n is None for n in now) or set(now) != set(classes):
        return None
    return _onto([str(n) for n in now], classes)


def _onto(sources: list[str], targets: list[str]) -> np.ndarray:
    """The 0/1 matrix sending each of ``sources`` (a model's classes, as named today) to its
    column in ``targets``: probabilities @ it adds up the classes that became one. Give it to
    ``Model.predict_proba`` (``onto``), which maps before it spreads the unseen share."""
    mapping = np.zeros((len(sources), len(targets)))
    mapping[np.arange(len(sources)), [targets.index(s) for s in sources]] = 1.0
    return mapping


def active_model(ws: Workspace, name: str) -> tuple[ModelRun, Model] | None:
    """The project's active run and its model (None before the first model). Raises, saying
    how to get out, when the model cannot answer: its file is gone (NotFoundError) or it was
    trained on another encoder's embeddings (ConfigurationError)."""
    run, model, unusable = _load_active(ws, name)
    if unusable is not None:
        raise unusable
    if run is None or model is None:
        return None
    return run, model


def _load_active(
    ws: Workspace, name: str
) -> tuple[ModelRun | None, Model | None, LabelbotError | None]:
    """(active run, its model, why the model cannot answer): the model is None with a reason
    when its file is missing, cannot be read (empty or damaged: NotFoundError, like a missing
    one) or it takes another encoder's embeddings; all None before the first model. Training
    goes on without it (and replaces it); predictions refuse with the reason."""
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        run = models.get_active_model_run(session=session, project_id=project.id)
    if run is None:
        return None, None, None
    try:
        model, mismatch = _load_run(ws, run)
    except (FileNotFoundError, NotFoundError) as exc:
        # no log line here: predict's error says it all (the CLI printed both, two lines of
        # the same news), and training and re-scoring log their own, naming what they do next
        pinned = project.settings.get("pinned_version") == run.version
        return run, None, _unusable(ws, name, run=run, exc=exc, pinned=pinned)
    if mismatch is not None:
        return (
            run,
            None,
            ConfigurationError(
                f"model v{run.version} of {name!r} {mismatch}: its answers would mean nothing; "
                f"retrain with `labelbot train {name}`"
            ),
        )
    return run, model, None


def _where_models_live(ws: Workspace) -> str:
    """The setting that says where model files live, with its value, for an error message."""
    if ws.settings.models_dir is not None:
        return f"LABELBOT_MODELS_DIR {ws.settings.models_dir}"
    return f"LABELBOT_DATA_DIR {ws.settings.data_dir}"


def _load_run(ws: Workspace, run: ModelRun) -> tuple[Model, str | None]:
    """``run``'s model (kept in ``ws.memo`` once read from its file) and why it cannot take this
    workspace's embeddings (:func:`encoder_mismatch`; None when it can). Raises
    FileNotFoundError when its file is gone, or was pruned (no ``artifact_path``), and
    NotFoundError naming the file when it cannot be read (empty or damaged, e.g. cut short by a
    crash); each caller says so in its own words."""
    key = ("model", run.id)
    model = ws.memo.get(key)
    if model is not None and not (
        run.artifact_path and ws.settings.artifact_file(run.artifact_path).exists()
    ):
        # its file went since it was read (deleted by hand, pruned): answered as every other
        # process and `labelbot status` answer, not from this one's memory until it restarts
        ws.memo.pop(key, None)
        model = None
    if model is None:
        model = _read_run_file(ws, run, read=load_model)
        ws.memo[key] = model
    return model, encoder_mismatch(ws, model)


# what np.load and the reads of its arrays raise on an empty, cut-short or overwritten file (no
# pickle: load_model refuses it, with a ValueError); FileNotFoundError, an OSError, is let through
_UNREADABLE = (EOFError, OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, zlib.error)


def _read_run_file(ws: Workspace, run: ModelRun, *, read: Callable[[Path], _T]) -> _T:
    """``read`` applied to ``run``'s file. Raises FileNotFoundError when the file is gone, or
    was pruned (no ``artifact_path``), and NotFoundError naming the file when it cannot be read
    (empty or damaged, e.g. cut short by a crash)."""
    if not run.artifact_path:  # pruned: the database says so (the file went after)
        raise FileNotFoundError(run.version)
    path = ws.settings.artifact_file(run.artifact_path)
    try:
        return read(path)
    except FileNotFoundError:
        raise
    except _UNREADABLE as exc:
        raise NotFoundError(
            f"the file of model v{run.version}, {path}, {_unreadable_because(exc, path)}"
        ) from exc


# how every model file starts: Model.save writes an .npz, a zip archive
_ZIP_MAGIC = b"PK"


def _unreadable_because(cause: BaseException | None, path: Path) -> str:
    """Why a model file that is there cannot be read, in words, ending with the error read: a
    file this process may not read (made by another user, say) is no damaged one, and another
    fix is needed. numpy's words are not repeated when they advise loading the file with
    ``allow_pickle``, as it does for any file that is no archive (text, a pickle): a model file
    never holds pickled data, and unpickling a file found in place of one runs its code."""
    if isinstance(cause, PermissionError):
        return f"is not readable by this process (give it read access) (PermissionError: {cause})"
    if "pickle" in str(cause):
        try:
            with path.open("rb") as file:
                archive = file.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC
        except OSError:
            archive = True
        if not archive:
            return "is not a readable model file (no .npz archive: overwritten or damaged)"
        return "is not a readable model file (it holds pickled data, which no model file does)"
    detail = f"{type(cause).__name__}: {cause}" if cause is not None else "no error"
    return f"is empty or damaged ({detail})"


def _unusable(
    ws: Workspace,
    name: str,
    *,
    run: ModelRun,
    exc: FileNotFoundError | NotFoundError,
    pinned: bool,
) -> NotFoundError:
    """The error saying that ``run``'s file is missing (``exc`` a FileNotFoundError) or cannot
    be read (a NotFoundError from :func:`_read_run_file`), and how to get out."""
    where = (
        f"{ws.settings.artifact_file(run.artifact_path)} ({_where_models_live(ws)})"
        if run.artifact_path
        else "(it was pruned)"
    )
    if isinstance(exc, NotFoundError):  # the file is there, but empty or damaged
        path = ws.settings.artifact_file(run.artifact_path or "")
        problem = f"cannot be read: its file {where} {_unreadable_because(exc.__cause__, path)}"
    else:
        problem = f"is missing its file {where}"
    unusable = DamagedModelFile if isinstance(exc, NotFoundError) else NotFoundError
    return unusable(
        f"model v{run.version} of {name!r} {problem}: "
        f"retrain with `labelbot train {name}`"
        + (f" (it is pinned: `labelbot models unpin {name}` first)" if pinned else "")
        + f", or roll back to a version whose file is usable with "
        f"`labelbot models rollback {name} VERSION`"
    )


@dataclass(frozen=True)
class FileProblem:
    """Why the active model cannot answer, seen from its file: ``short`` for a table's cell,
    ``message`` (one line) saying which file and what to do."""

    version: int
    short: str
    message: str


def active_model_problem(ws: Workspace, name: str) -> FileProblem | None:
    """What is wrong with the active model's file (None: nothing seen, or no model yet), for
    `status` and `models`: missing, pruned, or unreadable (empty, cut short by a full disk or a
    crash). A cheap look (:func:`~engine.classifier.check_model_file`: the file's index and
    small arrays), and the encoder is not loaded: a model trained on another encoder's
    embeddings is found out only when it is used (predict says so). Writes nothing."""
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        run = models.get_active_model_run(session=session, project_id=project.id)
    if run is None:
        return None
    try:
        _read_run_file(ws, run, read=check_model_file)
    except (FileNotFoundError, NotFoundError) as exc:
        pinned = project.settings.get("pinned_version") == run.version
        error = _unusable(ws, name, run=run, exc=exc, pinned=pinned)
        short = _why_unusable(error)
        if isinstance(exc.__cause__, PermissionError):
            short = "its file is not readable by this process"
        return FileProblem(version=run.version, short=short, message=str(error))
    return None


class DamagedModelFile(NotFoundError):
    """The active model's file is there but cannot be read (empty, cut short by a crash)."""


def _why_unusable(problem: LabelbotError) -> str:
    """What :func:`_load_active`'s error says, in a few words (a promotion's reason)."""
    if isinstance(problem, DamagedModelFile):
        return "its file is empty or damaged"
    if isinstance(problem, NotFoundError):
        return "its file is missing"
    return "it was trained on another encoder's embeddings"


def _embedding_space(encoder_name: str) -> str:
    """An encoder's name without its precision: ``x@int8`` (ONNX on CPU) and ``x`` (fp32 on
    a GPU) put a text at (nearly) the same point, so a model trained on one takes the other."""
    return encoder_name.split("@", 1)[0]


def encoder_mismatch(ws: Workspace, model: Model) -> str | None:
    """Why ``model`` cannot take this workspace's embeddings (None when it can): it was trained
    on another encoder's, or on vectors of another size (a file from before encoders were
    recorded says only its size)."""
    return _mismatch(ws, model.encoder, int(model.weight.shape[0]))


def _mismatch(ws: Workspace, made_by: str | None, dim: int) -> str | None:
    """:func:`encoder_mismatch` for a model trained on ``made_by``'s ``dim``-d vectors."""
    encoder = ws.encoder
    same = made_by is None or _embedding_space(made_by) == _embedding_space(encoder.name)
    if same and dim == encoder.dim:
        return None
    made = f"{made_by} ({dim}-d)" if made_by else f"a {dim}-d encoder"
    return (
        f"was trained on embeddings of {made}, but the encoder now is {encoder.name} "
        f"({encoder.dim}-d, LABELBOT_ENCODER)"
    )


@dataclass(frozen=True)
class TextPrediction:
    text: str
    label: str
    confidence: float
    top: list[tuple[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "label": self.label,
            "confidence": self.confidence,
            "top": [{"label": lb, "probability": p} for lb, p in self.top],
        }


def predict_texts(
    ws: Workspace, name: str, texts: list[str], *, top_k: int = 3
) -> list[TextPrediction]:
    """Classify new texts with the project's active model."""
    run, model = answering_model(ws, name)
    return predict_with(ws, name, run, model, texts, top_k=top_k)


def answering_model(ws: Workspace, name: str) -> tuple[ModelRun, Model]:
    """:func:`active_model`, or a ConflictError before the project's first model (a conflict,
    not "not found": asking again passes once the project is trained)."""
    loaded = active_model(ws, name)
    if loaded is None:
        raise ConflictError(
            f"project {name!r} has no trained model yet: once it has labels in at least 2 "
            f"classes, run `labelbot train {name}` (or wait for the scheduler to train it) and "
            "ask again"
        )
    return loaded


def predict_with(
    ws: Workspace,
    name: str,
    run: ModelRun,
    model: Model,
    texts: list[str],
    *,
    top_k: int = 3,
    names_now: list[str | None] | None = None,
) -> list[TextPrediction]:
    """Classify new texts with ``model``, the model of the project's run ``run`` (as
    :func:`active_model` gave them: one read, so that every answer of a request is one
    model's, whatever is promoted meanwhile). ``names_now``: today's names of ``run.classes``
    (:func:`taxonomy.names_now`) read already, so that no database is read here."""
    if not texts:
        return []
    # Today's names: a label renamed since answers under its new name, merged labels as the
    # label they were merged into (their probabilities added). A label split or retired since
    # keeps the name the model knew until the next model (the taxonomy change retrains).
    now = names_now
    if now is None:
        now = taxonomy.names_now(
            ws, project=name, names=run.classes, as_of=run.created_at, label_ids=run.label_ids
        )
    sources = [n or old for n, old in zip(now, run.classes, strict=True)]
    names = list(dict.fromkeys(sources))
    probs = model.predict_proba(ws.embed(texts, persist=False), onto=_onto(sources, names))
    out = []
    for text, row in zip(texts, probs, strict=True):
        order = np.argsort(-row)[:top_k]
        top = [(names[j], round(float(row[j]), 4)) for j in order]
        out.append(TextPrediction(text=text, label=top[0][0], confidence=top[0][1], top=top))
    return out
