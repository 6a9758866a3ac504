"""Scheduler jobs: module-level functions the scheduler (or a test with its own clock) calls.

Every job is derived from the database's state — "20 labels arrived since the last model", "the
digest's cron time has passed since the last digest" — never from an in-memory queue, so a process
that dies loses nothing: whichever process polls next sees the same state and does the work. One
project is trained by one process at a time (a lease in the database).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine import digest, messaging, proposing, reviews, taxonomy, training
from engine.forecast import counted
from engine.project_settings import (
    MAX_RETRAIN_EVERY,
    MAX_RETRAIN_MINUTES,
    straight_punctuation,
)
from engine.reviews import ScanReport
from engine.workspace import Workspace
from storage.db import refresh_statistics, session_scope
from storage.errors import ConflictError, DatabaseUnavailable, InvalidInputError, LabelbotError
from storage.models import ModelRun, Project, TaxonomyProposal, utcnow
from storage.repositories import feedback, leases, models, projects, replies

log = logging.getLogger(__name__)

DEFAULT_RETRAIN_EVERY = 20  # new labels since the last model
DEFAULT_RETRAIN_MINUTES = 10.0  # ... or this long since it, if any label arrived
DEFAULT_DIGEST_CRON = "0 9 * * mon-fri"  # weekdays 09:00 in the project's timezone
DIGEST_OFF = ("", "off", "none")  # digest_cron values that mean "no digests"
TRAIN_LEASE = timedelta(minutes=15)  # renewed while training runs; lapses if its owner dies
STATISTICS_INTERVAL = timedelta(minutes=10)  # planner statistics refreshed after a retrain
# ws.notes key (with the project's name) of when this process's last try to train it failed, and
# why (a _TrainFailure): a failure before any run is recorded (labels in one class only, an
# encoder that cannot load) is waited out like a failed run, not retried at every poll reading
# the whole pool.
TRAIN_FAILED = "train_failed"


@dataclass(frozen=True)
class _TrainFailure:
    """This process's last failed try to train a project (``ws.notes[(TRAIN_FAILED, name)]``).

    It holds back only the project it was about: not a project of the same name created since
    (another process deleted this one), and not once a model finished since (another process
    trained it): ``ready_version`` is the newest finished run's version when it was tried (0:
    none), compared by version, not by time (another machine's clock)."""

    project_id: int
    at: datetime
    said: str
    ready_version: int


@dataclass(frozen=True)
class _Basis:
    """What a retrain decision read: the project's id and its newest finished run's version
    (0: none), noted with a failed try (:class:`_TrainFailure`)."""

    project_id: int
    ready_version: int


LEASE_MEMORY = timedelta(days=1)  # a lapsed lease is kept this long (who held it, for the log)
# upper bounds (seconds) of the retrain duration histogram: a small project trains in seconds,
# a large one with its graph and cross-validation in minutes
RETRAIN_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class ActivitySnapshot:
    failures: dict[str, int]  # project -> retrains that failed
    buckets: tuple[int, ...]  # retrains that took at most RETRAIN_BUCKETS[i] seconds
    duration_sum: float  # seconds, all retrains (failed ones too)
    duration_count: int
    last_success: dict[str, float]  # job -> when a run of it last ended without error (Unix time)


class Activity:
    """What this process's scheduler did, for on-call (bot.metrics exposes it; the engine knows
    nothing of HTTP): the scheduled retrains that failed, by project, how long each retrain
    took, when each job last ended without an error, and since when a run of each job is under
    way. Per process (a counter starts at 0 when the process starts, as Prometheus expects);
    thread-safe: jobs run in a thread pool. ``clock``: Unix time (tests)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._buckets = [0] * len(RETRAIN_BUCKETS)
        self._sum = 0.0
        self._count = 0
        self._last_success: dict[str, float] = {}
        self._running: dict[str, float] = {}  # job -> when its run under way started

    def retrained(self, project: str, *, seconds: float, failed: bool) -> None:
        with self._lock:
            for i, bound in enumerate(RETRAIN_BUCKETS):
                if seconds <= bound:
                    self._buckets[i] += 1
            self._sum += seconds
            self._count += 1
            if failed:
                self._failures[project] = self._failures.get(project, 0) + 1

    def job_started(self, job: str) -> None:
        with self._lock:
            self._running[job] = self._clock()

    def job_ended(self, job: str, *, ok: bool) -> None:
        with self._lock:
            self._running.pop(job, None)
            if ok:
                self._last_success[job] = self._clock()

    def running_for(self, job: str) -> float | None:
        """Seconds the run of ``job`` under way has lasted; None when none is."""
        run = self.run_under_way(job)
        return None if run is None else run[1]

    def run_under_way(self, job: str) -> tuple[float, float] | None:
        """The run of ``job`` under way: when it started (its identity) and how long it has
        lasted, in seconds; None when none is."""
        with self._lock:
            started = self._running.get(job)
        return None if started is None else (started, self._clock() - started)

    def snapshot(self) -> ActivitySnapshot:
        with self._lock:
            return ActivitySnapshot(
                dict(self._failures),
                tuple(self._buckets),
                self._sum,
                self._count,
                dict(self._last_success),
            )


ACTIVITY = Activity()  # this process's (the scheduler's jobs record into it)


@dataclass(frozen=True)
class Tidied:
    events: int  # Slack event ids forgotten (kept long enough to spot a redelivery)
    leases: int  # lapsed leases deleted
    replies: int = 0  # thread replies' event records forgotten (engine.discussions)
    outbox: int = 0  # outbox messages deleted: sent or dropped a week ago, given up 30 days ago


def tidy(ws: Workspace, *, now: datetime | None = None) -> Tidied:
    """The scheduler's housekeeping: forget old Slack event ids and thread replies' event
    records, delete long-lapsed leases and the outbox's messages long done with (their payloads
    with them), so no such table grows for good."""
    now = now or utcnow()
    events = messaging.forget_old_events(ws, now=now)
    with session_scope(ws.db) as session:
        gone = leases.prune(session=session, before=now - LEASE_MEMORY)
        # a reply's events, like event ids, are kept as long as Slack may still redeliver them
        forgotten = replies.prune(session=session, before=now - messaging.EVENT_MEMORY)
    outbox = messaging.forget_old_messages(ws, now=now)
    return Tidied(events, gone, forgotten, outbox)


def _pid_space() -> str | None:
    """This machine's running kernel (its boot id) and the PID namespace this process is in,
    as 4 hex digits; None without Linux's /proc. Processes with the same mark see the same
    PIDs: one can tell whether another is still running."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        space = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    return hashlib.sha256(f"{boot} {space}".encode()).hexdigest()[:4]


# Drawn once per process (at import): HOST:PID alone is not unique. Two containers each run their
# process as PID 1, and share a host name under `docker run --network host`, k8s `hostNetwork`
# or a fixed compose `hostname:`; leases are "already ours" for the same owner, so such replicas
# would hold every lease together. A forked child keeps the token but has its own PID. The
# token's first half is the PID namespace's mark (random without one), its second half random:
# two containers differ in both, as likely as two tokens of 8 random digits do.
_PID_SPACE = _pid_space()
_PROCESS_TOKEN = (_PID_SPACE or secrets.token_hex(2)) + secrets.token_hex(2)


def default_owner() -> str:
    """This process, as a lease owner: ``HOST:PID:TOKEN``, the token random per process."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}"


def owner_ended(owner: str) -> bool:
    """Whether lease owner ``owner`` (``HOST:PID:TOKEN``, maybe ``:THREAD`` after it) is known to
    have ended: a process of this host and of this PID namespace since this boot (its token
    carries our mark) whose PID no longer runs. A process elsewhere (another machine, another
    container that shares this host's name), one that may be running, or any owner on a system
    without /proc is not known to have ended: its lease lapses when it expires."""
    host, pid, token, *_ = [*owner.split(":"), "", ""]
    if (
        _PID_SPACE is None
        or host != socket.gethostname()
        or not token.startswith(_PID_SPACE)
        or not pid.isdigit()
        or int(pid) == os.getpid()
    ):
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: checks the PID exists, sends nothing
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):  # PermissionError: it runs, as another user
        return False
    return False


@dataclass(frozen=True)
class RetrainDecision:
    project: str
    due: bool
    new_labels: int
    reason: str
    # what it was decided on, for the note of a try that fails (engine.jobs only)
    seen: _Basis | None = field(default=None, repr=False, compare=False)


RELEASE_RETRY_S = 1.0  # the pause before a lease's release is tried again


@contextmanager
def _lease(
    ws: Workspace, name: str, *, owner: str, ttl: timedelta, now: datetime | None = None
) -> Iterator[bool]:
    """Hold lease ``name`` for the block (yields False when another process holds it).

    A lease whose owner has ended (:func:`owner_ended`: a process of this machine that died
    holding it) is taken over at once, not waited out. The release is tried again once after
    a database error: a process that died of one (a long import holding SQLite's write lock
    past the busy timeout) meets it again on the way out, and its lease would otherwise be
    held by nobody until it lapses."""
    with session_scope(ws.db) as session:
        got = leases.try_acquire(session=session, name=name, owner=owner, ttl=ttl, now=now)
        if not got:
            got = _take_over_ended(session, name, owner=owner, ttl=ttl, now=now)
    try:
        yield got
    finally:
        if got:
            _release(ws, name, owner=owner)


def _take_over_ended(
    session: Any, name: str, *, owner: str, ttl: timedelta, now: datetime | None
) -> bool:
    """Take lease ``name`` over for ``owner`` if its holder has ended; whether it was taken."""
    holder = leases.holder(session=session, name=name, now=now)
    if holder is None or not owner_ended(holder):
        return False
    if not leases.take_over(
        session=session, name=name, owner=owner, holder=holder, ttl=ttl, now=now
    ):
        return False  # another process took it over first
    log.warning("took lease %s over from %s: that process has ended", name, holder)
    return True


def _release(ws: Workspace, name: str, *, owner: str) -> None:
    """Give lease ``name`` up, trying twice; one that cannot be released is logged, not raised
    (the work under it is done, or failed with its own error): it lapses when it expires, or
    is taken over once this process has ended."""
    for attempt in (1, 2):
        try:
            with session_scope(ws.db) as session:
                leases.release(session=session, name=name, owner=owner)
            return
        except Exception as exc:  # the database: busy, unreachable, the connection dropped
            if attempt == 2:
                log.warning("could not release lease %s (%s); it lapses when it expires", name, exc)
                return
            log.warning("releasing lease %s failed (%s); trying again", name, exc)
            time.sleep(RELEASE_RETRY_S)


def thread_owner() -> str:
    """This thread of this process, as a lease owner: a claim held around a Slack call then
    keeps out the other threads of this process as well as other processes."""
    return f"{default_owner()}:{threading.get_ident()}"


@contextmanager
def claim(ws: Workspace, name: str, *, ttl: timedelta, owner: str | None = None) -> Iterator[bool]:
    """Hold lease ``name`` for the block, owned by this thread unless ``owner`` is given (yields
    False when another thread or process holds it). Released on the way out, error or not, so
    work left undone is retried by whoever claims it next; :func:`renew_claim` keeps it longer."""
    with _lease(ws, name, owner=owner or thread_owner(), ttl=ttl) as got:
        yield got


def renew_claim(ws: Workspace, name: str, *, ttl: timedelta, owner: str | None = None) -> bool:
    """Extend a claim held by this thread (or ``owner``) to ``ttl`` from now; False when it
    lapsed and another thread or process took it meanwhile (stop: the work is theirs now)."""
    with session_scope(ws.db) as session:
        return leases.try_acquire(
            session=session, name=name, owner=owner or thread_owner(), ttl=ttl
        )


def hold_claim(ws: Workspace, name: str, *, ttl: timedelta, owner: str) -> bool:
    """Take lease ``name`` for ``owner`` (free, lapsed, or ``owner``'s) until ``ttl`` from now,
    not released on any way out: work kept in the lease itself, which ``owner`` drops once it is
    done (:func:`drop_claim`) and which, left to lapse (a wait Slack asked for, a crash), is
    whoever's polls next (:func:`lapsed_claims`). False when someone else holds it."""
    return renew_claim(ws, name, ttl=ttl, owner=owner)  # the same write: take or extend


def take_claim(ws: Workspace, name: str, *, ttl: timedelta, owner: str) -> str | None:
    """Take claim ``name`` for ``owner`` until ``ttl`` from now when it is free or lapsed, as
    :func:`hold_claim` does but never from a live holder (a fresh ``owner`` per take): the owner
    it lapsed from, "" when it was free, so that the work left in it (a note its last holder
    left in its owner, :func:`pass_claim`) goes on where it stopped; None when someone holds
    it."""
    with session_scope(ws.db) as session:
        return leases.take_lapsed(session=session, name=name, owner=owner, ttl=ttl)


def pass_claim(ws: Workspace, name: str, *, owner: str, to: str, ttl: timedelta) -> bool:
    """Claim ``name``, held by ``owner``, is held by ``to`` until ``ttl`` from now: the same
    holder under a new name, its owner carrying how far its work went for whoever takes the
    claim next (:func:`take_claim`); False when ``owner`` lost it (the work is another's)."""
    with session_scope(ws.db) as session:
        return leases.take_over(session=session, name=name, owner=to, holder=owner, ttl=ttl)


def drop_claim(ws: Workspace, name: str, *, owner: str) -> bool:
    """The work of claim ``name`` is done: nothing is left for anyone to pick up."""
    with session_scope(ws.db) as session:
        return leases.drop(session=session, name=name, owner=owner)


def lapsed_claims(ws: Workspace, prefix: str) -> list[str]:
    """Claims named ``prefix...`` that lapsed undropped: their work is due (:func:`hold_claim`)."""
    with session_scope(ws.db) as session:
        return leases.lapsed(session=session, prefix=prefix)


@contextmanager
def _renewed_lease(
    ws: Workspace, name: str, *, owner: str, ttl: timedelta, now: datetime | None = None
) -> Iterator[bool]:
    """Hold lease ``name`` for the block, renewed every third of ``ttl`` while the block runs
    (a large project's work may outlast the lease), so no other process starts the same work
    meanwhile; it still lapses soon after a process that dies. Yields False when another
    process holds it."""
    with _lease(ws, name, owner=owner, ttl=ttl, now=now) as got:
        if not got:
            yield False
            return
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(ttl.total_seconds() / 3):
                try:
                    if not renew_claim(ws, name, ttl=ttl, owner=owner):
                        log.warning("lease %s lapsed and was taken", name)
                        return
                except Exception:  # a database hiccup: the next tick tries again
                    log.warning("renewing lease %s failed", name, exc_info=True)

        renewer = threading.Thread(target=renew, name=f"lease:{name}", daemon=True)
        renewer.start()
        try:
            yield True
        finally:
            stop.set()
            renewer.join()


@contextmanager
def _training_lease(ws: Workspace, name: str, *, owner: str) -> Iterator[bool]:
    """Hold ``train:NAME`` for the block, renewed while the training runs
    (:func:`_renewed_lease`). Yields False when another process holds it."""
    with _renewed_lease(ws, f"train:{name}", owner=owner, ttl=TRAIN_LEASE) as got:
        yield got


def _train_leased(
    ws: Workspace, name: str, *, owner: str, kind: str | None = None, progress: bool = False
) -> ModelRun | None:
    """Train ``name`` under its training lease; None when another process holds it."""
    with _training_lease(ws, name, owner=owner) as got:
        if not got:
            return None
        return _train_held(ws, name, kind=kind, progress=progress)


def _train_held(
    ws: Workspace, name: str, *, kind: str | None = None, progress: bool = False
) -> ModelRun:
    """Train ``name``; the caller holds its training lease."""
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=name)
        assert found.id is not None
        # The lease's holder is the only trainer: a run still "training" now was left by a
        # process that died (or whose lease lapsed), however recently it started. It is marked
        # failed, not awaited, with no cut-off by this process's clock.
        models.fail_abandoned_runs(session=session, project_id=found.id)
    # Files a killed process left half-written beside the models, graphs and embeddings: here,
    # at the start of every training (`labelbot train`, `label`'s retrain key, the scheduler),
    # so a data dir used only from the command line is tidied too, once per training rather
    # than at every poll; under the lease, as the database's leftovers are. Deleting is safe
    # only because of the age: another project's training, an import or a predict may be
    # writing beside them now, and their files are minutes old at most.
    training.remove_leftovers(ws.settings.data_dir, models_dir=ws.settings.models_root)
    # and the model files of this project's runs killed after writing them (an hour old at
    # least, as above: a process whose lease lapsed may still be about to commit one)
    training.remove_orphan_models(ws, name)
    return training.train_project(ws, name, kind=kind, progress=progress)


def train_now(
    ws: Workspace, name: str, *, kind: str | None = None, progress: bool = False
) -> ModelRun:
    """Train ``name`` now (``labelbot train``, a retrain from ``labelbot label``) under the
    same lease as the scheduler: two trainings of one project never overlap, so neither can
    make a model on older labels active over a newer one. Raises ConflictError, at once, when
    another process is training it: its model, on nearly the same labels, is moments away. A
    lease left by a process of this machine that died is taken over (:func:`_lease`)."""
    run = _train_leased(ws, name, owner=thread_owner(), kind=kind, progress=progress)
    if run is None:
        with session_scope(ws.db, read_only=True) as session:
            lease = leases.held(session=session, name=f"train:{name}")
        if lease is None:  # released since
            raise ConflictError(
                f"training of {name!r} already running in another process; try again in a moment"
            )
        until = lease.expires_at.replace(tzinfo=lease.expires_at.tzinfo or UTC).astimezone(UTC)
        # a process on another machine (or in another container) may have died: nothing here
        # can tell, and its lease, no longer renewed, lapses when it expires
        raise ConflictError(
            f"training of {name!r} already running in another process ({lease.owner}); try "
            f"again when it finishes, or after {until:%H:%M:%S} UTC if that process has died"
        )
    # as after a scheduled retrain: a team that labels in a terminal and trains by hand (no
    # worker) has its clicks planned with real row counts too. The model is trained and
    # active by now: a failure here is no failure of the training
    try:
        _refresh_statistics(ws)
    except Exception as exc:
        log.warning("refreshing the planner's statistics after training %s failed: %s", name, exc)
    return run


STOPPED = "stopped: the training process ended without finishing; the next training marks it failed"


def training_states(ws: Workspace, name: str) -> dict[int, str]:
    """Each run of ``name`` still marked ``training`` (by version): "training" while a process holds
    the project's training lease, "stopped" when none does -- its process was killed (SIGKILL,
    out of memory, a power loss) and the next training marks it failed
    (``models.fail_abandoned_runs``). The lease counts as not held once released or lapsed (at
    most TRAIN_LEASE after its last renewal), or at once when its owner is a process of this
    machine that has ended (:func:`owner_ended`). Reads only, for `status` and `models`.

    The runs and the lease are read in one snapshot: a run that finished, or one that started,
    while they were read is not taken for one left by a dead process."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=name)
        assert found.id is not None
        versions = models.training_versions(session=session, project_id=found.id)
        if not versions:
            return {}
        lease = leases.held(session=session, name=f"train:{name}")
    alive = lease is not None and not owner_ended(lease.owner)
    return dict.fromkeys(versions, "training" if alive else "stopped")


def _runs(session, project_id: int) -> tuple[ModelRun | None, ModelRun | None]:  # type: ignore[no-untyped-def]
    """The newest run of any status, and the newest that finished (``ready``): two rows at most,
    not every run the project ever had (read at every poll, for every project)."""
    return models.newest_model_runs(session=session, project_id=project_id)


def _new_labels(session, project_id: int, ready: ModelRun | None) -> int:  # type: ignore[no-untyped-def]
    """Labels the last finished model did not read: stored after the highest annotation id its
    pool read, plus those with a lower id that committed after the read (runs from before it was
    recorded: stored since the run started).

    PostgreSQL hands out ids at INSERT, but transactions commit in any order: a click that
    commits late can hold an id below the one read. The run keeps how many annotations had an
    id up to it then (``annotations_through_count``); any more now committed late. Annotations
    are never deleted, and the count includes retracted ones, so a retraction changes nothing
    (a late label that was since retracted still counts: a retrain early, at worst)."""
    through = ready.metrics.get("annotations_read_through") if ready is not None else None
    if isinstance(through, int):
        after = feedback.count_annotations(session=session, project_id=project_id, after_id=through)
        seen = ready.metrics.get("annotations_through_count") if ready is not None else None
        if not isinstance(seen, int):  # a run from before the count was kept
            return after
        now = models.count_annotations_through(
            session=session, project_id=project_id, through_id=through
        )
        return after + max(0, now - seen)
    since = ready.created_at if ready is not None else None
    return feedback.count_annotations(session=session, project_id=project_id, since=since)


def retrain_every(settings: Mapping[str, Any]) -> int:
    """A project's ``retrain_every`` (from its settings): the new labels after which it is
    retrained, by the scheduler and by `labelbot label`; the default when the stored value is
    one `labelbot project set` refuses (:func:`_unusable_settings`)."""
    every = _usable(settings, "retrain_every")
    return DEFAULT_RETRAIN_EVERY if every is None else int(every)


def retrain_minutes(settings: Mapping[str, Any]) -> float:
    """A project's ``retrain_minutes``: the timer after which new labels retrain it (and a
    failed training is tried again); the default when the stored value is one `labelbot
    project set` refuses. 2e12 minutes, which an older labelbot took, overflowed the
    scheduler's arithmetic and failed the project's retrain at every poll, with a traceback."""
    minutes = _usable(settings, "retrain_minutes")
    return DEFAULT_RETRAIN_MINUTES if minutes is None else float(minutes)


_RETRAIN_DEFAULTS: dict[str, float] = {
    "retrain_every": DEFAULT_RETRAIN_EVERY,
    "retrain_minutes": DEFAULT_RETRAIN_MINUTES,
}


def _usable(settings: Mapping[str, Any], key: str) -> float | None:
    """The stored ``retrain_every`` (a whole number, 1 to MAX_RETRAIN_EVERY) or
    ``retrain_minutes`` (more than 0, at most MAX_RETRAIN_MINUTES), or its default when not
    set; None when it is set to anything else (an older labelbot's value, a hand edit)."""
    value = settings.get(key, _RETRAIN_DEFAULTS[key])
    try:
        number = int(value) if key == "retrain_every" else float(value)
    except (TypeError, ValueError, OverflowError):  # text, None, nan or inf as a whole number
        return None
    most = MAX_RETRAIN_EVERY if key == "retrain_every" else MAX_RETRAIN_MINUTES
    return number if 0 < number <= most else None  # nan fails it too


def _unusable_settings(ws: Workspace, project: str, settings: Mapping[str, Any]) -> None:
    """Say, once per workspace for each project, setting and value, that a retrain setting
    stored is one `labelbot project set` refuses and its default is used instead (read at every
    poll: a line each time would bury the log)."""
    for key, default in _RETRAIN_DEFAULTS.items():
        if _usable(settings, key) is not None:
            continue
        said = ("unusable_setting", project, key, repr(settings.get(key)))
        if ws.notes.get(said):
            continue
        ws.notes[said] = True
        log.warning(
            "project %s: its %s setting %r cannot be used (stored by an older labelbot, or by "
            "hand); the default, %g, is used until it is set again with `labelbot project set "
            "%s --%s N`",
            project, key, settings.get(key), default, project, key.replace("_", "-"),
        )  # fmt: skip


def retrain_decision(
    ws: Workspace, project: str, *, now: datetime | None = None
) -> RetrainDecision:
    """Whether ``project`` should be retrained now, and why (the N-labels and timer triggers, and
    a taxonomy change since the last model).

    Labels count from the last model that finished (``ready``, promoted or held back), those
    its pool did not read: a run that failed, or was left ``training`` by a process that died,
    trained nobody's labels. It is retried once the timer (``retrain_minutes``) has passed since
    it started, not at every poll: a failure that repeats must not retrain in a loop. Training
    that could not even start (no run recorded) waits the same, in this process, unless a model
    finished since or the project was deleted and created again (by another process).
    """
    now = now or utcnow()
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        last, ready = _runs(session, found.id)
        new = _new_labels(session, found.id, ready)
        classes = [lb.name for lb in projects.list_labels(session=session, project_id=found.id)]
    basis = _Basis(found.id, ready.version if ready is not None else 0)
    return replace(_decision(ws, found, last, ready, new, classes, basis, now=now), seen=basis)


def _noted_failure(ws: Workspace, project: str, basis: _Basis) -> _TrainFailure | None:
    """This process's note of its last failed try to train ``project``, while it is about the
    project as it is now; forgotten once it is not (:class:`_TrainFailure`)."""
    failed = ws.notes.get((TRAIN_FAILED, project))
    if not isinstance(failed, _TrainFailure):
        return None
    if failed.project_id != basis.project_id or basis.ready_version > failed.ready_version:
        ws.notes.pop((TRAIN_FAILED, project), None)  # another project now, or trained since
        return None
    return failed


def _decision(
    ws: Workspace,
    found: Project,
    last: ModelRun | None,
    ready: ModelRun | None,
    new: int,
    classes: list[str],
    basis: _Basis,
    *,
    now: datetime,
) -> RetrainDecision:
    """:func:`retrain_decision` on what it read."""
    project = found.name
    reference = ready.created_at if ready is not None else found.created_at
    _unusable_settings(ws, project, found.settings)
    every = retrain_every(found.settings)
    minutes = retrain_minutes(found.settings)
    failed = _noted_failure(ws, project, basis)
    if failed is not None and now - failed.at < timedelta(minutes=minutes):
        return RetrainDecision(
            project, False, new, f"the last try failed ({failed.said}): trying again "
            f"{minutes:g} min after",
        )  # fmt: skip
    if (
        last is not None
        and last is not ready
        and now - last.created_at < timedelta(minutes=minutes)
    ):
        return RetrainDecision(
            project, False, new, f"v{last.version} did not finish ({last.status}): training "
            f"again {minutes:g} min after it started",
        )  # fmt: skip
    changed = taxonomy.changed_at(found)
    if ready is not None and (
        taxonomy.trained_before(ready, changed)
        or list(ready.classes) != classes  # changed while its pool was read: not its labels
    ):
        # labels merged, split, renamed, added or retired: the active model's classes are stale
        return RetrainDecision(project, True, new, "the taxonomy changed since the last model")
    if new == 0:
        return RetrainDecision(project, False, 0, "no new labels since the last model")
    said = counted(new, "new label")  # "1 new label", "1,200 new labels"
    if new >= every:
        return RetrainDecision(project, True, new, f"{said} (threshold {every:,})")
    if now - reference >= timedelta(minutes=minutes):
        return RetrainDecision(project, True, new, f"{said} and {minutes:g} min passed")
    return RetrainDecision(project, False, new, f"{said}, waiting for {every:,}")


@dataclass(frozen=True)
class RetrainOutcome:
    project: str
    version: int | None
    message: str
    failed: bool = False  # the training failed (logged as a WARNING)
    # another process holds the training lease: nothing done here (logged at DEBUG, not at
    # every poll of every replica while a long training runs)
    busy: bool = False
    # why the new model does not answer (a version pinned, worse on the audit set): None when
    # it was made active
    held_back: str | None = None


def retrain_cycle(
    ws: Workspace,
    *,
    owner: str | None = None,
    now: datetime | None = None,
    on_trained: Callable[[str, ModelRun], None] | None = None,
) -> list[RetrainOutcome]:
    """Retrain every project that is due and not being trained by another process.

    Projects are independent: one that fails (a setting stored by an older version, a bug) is
    logged with its name and the cycle goes on with the others."""
    owner = owner or default_owner()
    outcomes: list[RetrainOutcome] = []
    with session_scope(ws.db, read_only=True) as session:
        names = [p.name for p in projects.list_projects(session=session)]
    for name in names:
        try:
            outcome = _retrain_one(ws, name, owner=owner, now=now, on_trained=on_trained)
        except DatabaseUnavailable:
            raise  # every project would fail alike: the round stops (the job says so once)
        except Exception as exc:  # isolation: the other projects still retrain
            if not isinstance(exc, OSError):  # a bug: its traceback (a full disk needs none)
                log.exception("retraining %s failed", name)
            outcome = _failed(ws, name, exc)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _retrain_one(
    ws: Workspace,
    name: str,
    *,
    owner: str,
    now: datetime | None,
    on_trained: Callable[[str, ModelRun], None] | None,
) -> RetrainOutcome | None:
    """Retrain ``name`` if it is due (None when it is not)."""
    decision = retrain_decision(ws, name, now=now)
    if not decision.due:
        return None
    try:
        with _training_lease(ws, name, owner=owner) as got:
            if not got:
                return RetrainOutcome(name, None, "another process is training it", busy=True)
            # read again under the lease: another process may have trained these labels and
            # released the lease since the read above (which then trained them twice)
            decision = retrain_decision(ws, name, now=now)
            if not decision.due:
                return None
            started = time.monotonic()
            try:
                run = _train_held(ws, name)
            except BaseException as exc:
                # an outage, or labels not ready to train on, is no failure of the training
                failed = not isinstance(exc, DatabaseUnavailable | InvalidInputError)
                ACTIVITY.retrained(name, seconds=time.monotonic() - started, failed=failed)
                raise
            ACTIVITY.retrained(name, seconds=time.monotonic() - started, failed=False)
    except DatabaseUnavailable:
        raise  # not the training's fault: tried again at the next poll, not after a wait
    except Exception as exc:
        # e.g. labels in only one class so far, an encoder that cannot load, a data dir that
        # cannot be written (a full disk, a read-only mount: the pool's vectors are kept
        # there before a run is recorded): wait before the next try, which would read and
        # embed the whole pool again (a failure after the run was recorded is waited out the
        # same way)
        said = str(exc) if isinstance(exc, LabelbotError) else training.failure_text(exc)
        seen = decision.seen  # the project, and its newest model, it was tried on
        if seen is not None:  # always, from retrain_decision
            ws.notes[(TRAIN_FAILED, name)] = _TrainFailure(
                seen.project_id, now or utcnow(), said, seen.ready_version
            )
        if isinstance(exc, InvalidInputError):  # not ready to train yet: no failure
            return RetrainOutcome(name, None, str(exc))
        if isinstance(exc, LabelbotError):
            return _failed(ws, name, exc)
        raise  # retrain_cycle logs it (a bug's traceback) and goes on with the others
    ws.notes.pop((TRAIN_FAILED, name), None)
    _refresh_statistics(ws)
    if on_trained is not None:
        on_trained(name, run)
    promotion = run.metrics.get("promotion") or {}
    held = None if run.is_active else str(promotion.get("reason") or "see `labelbot models`")
    return RetrainOutcome(name, run.version, decision.reason, held_back=held)


def _failed(ws: Workspace, name: str, exc: Exception) -> RetrainOutcome:
    """A retrain of ``name`` that failed with ``exc``, naming the run it failed (the newest
    failed run, when its reason is this one: a failure before a run was recorded has none)."""
    text = training.failure_text(exc)
    try:
        failure = training.last_failure(ws, name)
    except Exception:  # the reason is said all the same
        failure = None
    if failure is not None and failure["error"] == text:
        return RetrainOutcome(name, None, f"training v{failure['version']} failed: {text}", True)
    return RetrainOutcome(name, None, f"training failed: {text}", True)


def _refresh_statistics(ws: Workspace) -> None:
    """Fresh planner statistics after a retrain rewrote the predictions and labels piled up, at
    most every ``STATISTICS_INTERVAL`` per process (see :func:`storage.db.refresh_statistics`)."""
    now = time.monotonic()
    last = ws.notes.get("statistics_refreshed_at")
    if isinstance(last, float) and now - last < STATISTICS_INTERVAL.total_seconds():
        return
    ws.notes["statistics_refreshed_at"] = now
    refresh_statistics(ws.db)


_unknown_zones: set[tuple[str, str]] = set()  # (project, timezone) said already, this process
_unknown_zones_lock = threading.Lock()


def project_timezone(project: Project) -> ZoneInfo:
    """The project's timezone; UTC for one this system does not know (stored by hand, or gone
    from a newer tzdata), said once per process and zone: the digest job reads it every
    minute, and a line each time buried the log."""
    name = str(project.settings.get("timezone", "UTC"))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America", a directory
        with _unknown_zones_lock:
            said = (project.name, name) in _unknown_zones
            _unknown_zones.add((project.name, name))
        if not said:
            log.warning("project %s has an unknown timezone %r; using UTC", project.name, name)
        return ZoneInfo("UTC")


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _cron_number(text: str) -> int:
    """A crontab number: ASCII digits only (Python's int() takes "+2", "1_0" and "٢" too)."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)


def _cron_day(text: str) -> int:
    """A crontab day of the week: 0-7 (0 and 7 are Sunday) or a whole name, sun to sat, in any
    case; ValueError otherwise ("monday", "mon!" and "mon–fri" with an en dash included)."""
    if text.isascii() and text.isdigit():
        if int(text) > 7:
            raise ValueError(text)
        return int(text) % 7
    return _CRON_DAYS.index(text.lower())


def _cron_month(text: str) -> int:
    """A crontab month: 1-12 or a whole name, jan to dec, in any case; ValueError otherwise."""
    if text.isascii() and text.isdigit():
        if not 1 <= int(text) <= 12:
            raise ValueError(text)
        return int(text)
    return _CRON_MONTHS.index(text.lower()) + 1


def _cron_values(field: str, bounds: Callable[[str, bool], tuple[int, int]]) -> set[int]:
    """Every value a crontab field names, read whole: its items split at ",", each a span ("*",
    a value or a range) with an optional "/step"; ``bounds(span, stepped)`` gives the span's
    first and last value. ValueError on anything else."""
    values: set[int] = set()
    for item in field.split(","):
        span, slash, step = item.partition("/")
        first, last = bounds(span, bool(slash))
        every = _cron_number(step) if slash else 1
        if first > last or every < 1:
            raise ValueError(item)
        values.update(range(first, last + 1, every))
    return values


def _day_span(span: str, stepped: bool) -> tuple[int, int]:
    if span == "*":
        return 0, 7
    start, dash, end = span.partition("-")
    # 7 is Sunday at a range's end ("0-7": every day; "7-7": Sunday alone)
    first = 7 if start == "7" else _cron_day(start)
    last = (7 if end == "7" else _cron_day(end)) if dash else (7 if stepped else first)
    if dash and last == 0 and first > 0:
        last = 7  # a range that ends on Sunday written as 0 or sun ("5-0", "fri-sun")
    return first, last


def _month_span(span: str, stepped: bool) -> tuple[int, int]:
    if span == "*":
        return 1, 12
    start, dash, end = span.partition("-")
    first = _cron_month(start)
    return first, _cron_month(end) if dash else (12 if stepped else first)


def _days_of_week(field: str) -> str:
    """A crontab day-of-week field as APScheduler reads it: every day it names, by name.

    APScheduler 3's ``CronTrigger.from_crontab`` passes the field through, and its day 0 is
    Monday where crontab's is Sunday: "1-5" would mean Tuesday to Saturday, and "7" (Sunday in
    crontab) is refused. It also reads a name range from the item's start and ignores the rest:
    "mon–fri" (an en dash) fired on Mondays only, and "mon-fri!" or "mon-fri/x" was taken. So
    every field is read here, whole, and written out as the days' names."""
    try:
        days = {d % 7 for d in _cron_values(field, _day_span)}
    except ValueError:
        raise ValueError(
            f"day of the week {field!r}: use 0-7 (0 and 7 are Sunday) or sun-sat, e.g. 1-5"
        ) from None
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def _months(field: str) -> str:
    """A crontab month field as APScheduler reads it: every month it names, by number.

    APScheduler reads a month name range from the item's start, as it does days' names:
    "jan–mar" (an en dash) was January alone, and "jan-mar!" was taken."""
    try:
        months = _cron_values(field, _month_span)
    except ValueError:
        raise ValueError(f"month {field!r}: use 1-12 or jan-dec, e.g. 1-3 or jan-mar") from None
    return ",".join(str(m) for m in sorted(months))


def _days_of_month(field: str) -> str:
    """A crontab day-of-month field, checked where APScheduler is lax: it reads "last" (the
    month's last day) from an item's start, so "last!" or "lastly" was taken as "last"."""
    for item in field.split(","):
        if item.lower().startswith("last") and item.lower() != "last":
            raise ValueError(f"day of the month {field!r}: use 1-31 or last, e.g. 1-7")
    return field


def _digest_trigger(expr: str, zone: ZoneInfo) -> Any:
    """The CronTrigger of the crontab ``expr``, its days of the week numbered as in crontab.

    A day of the month and a day of the week given together must both match (APScheduler's
    rule, not classic cron's "either"): ``0 9 1-7 * mon`` is the first Monday of the month."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        return CronTrigger.from_crontab(expr, timezone=zone)  # its own error message
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=_days_of_month(day),
        month=_months(month),
        day_of_week=_days_of_week(weekday),
        timezone=zone,
    )


def next_digest_time(project: Project, *, after: datetime) -> datetime | None:
    """The first digest time of the project's cron schedule strictly after ``after``, and later
    than it on the project's wall clock too.

    The night the clocks go back, the repeated hour's local times come twice, an hour apart:
    the trigger returns both, and a digest scheduled then (a night-time ``30 2 * * *``) would go
    out twice. The second one is not later on the wall clock than a digest sent at the first,
    so it is skipped. A time the clocks skip when they go forward comes an hour late that day."""
    # typographic dashes as hyphens, as settings are checked: "mon–fri" stored before they
    # were is the weekdays its admin meant, not an error logged at every poll
    expr = straight_punctuation(str(project.settings.get("digest_cron", DEFAULT_DIGEST_CRON)))
    if expr in DIGEST_OFF:
        return None
    zone = project_timezone(project)
    try:
        trigger = _digest_trigger(expr, zone)
    except ValueError as exc:
        raise InvalidInputError(f"invalid digest schedule {expr!r}: {exc}") from exc
    wall = after.astimezone(zone).replace(tzinfo=None)
    fire: datetime | None = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    while fire is not None and fire.astimezone(zone).replace(tzinfo=None) <= wall:
        # stepped on in UTC: wall-clock arithmetic on a time in the repeated hour loses its fold
        step = fire.astimezone(UTC) + timedelta(microseconds=1)
        fire = trigger.get_next_fire_time(None, step)
    return fire


def digest_due(project: Project, *, now: datetime) -> bool:
    """True when a scheduled digest time has passed since the last digest (or the creation)."""
    last = project.settings.get("last_digest_at")
    after = datetime.fromisoformat(last) if isinstance(last, str) else project.created_at
    fire = next_digest_time(project, after=after)
    return fire is not None and fire <= now


class StillDue(Exception):
    """Raised by a digest ``send`` that could not deliver now but may later (the chat service
    rate limited, down, or refusing the bot's credentials): the digest stays due, and the cycle
    logs one line without a traceback (the job runs every minute). ``stop_round``: every other
    project would fail alike (the credentials), so the round ends here."""

    def __init__(self, reason: str, *, stop_round: bool = False) -> None:
        super().__init__(reason)
        self.stop_round = stop_round


# a digest is sent in seconds, but a slow or rate-limited chat service may take longer: renewed
# while it is sent (_renewed_lease), so no other replica sends it too; lapses if its owner dies
DIGEST_LEASE = timedelta(minutes=10)


def digest_cycle(
    ws: Workspace,
    send: Callable[[str], object],
    *,
    owner: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Send each due project's digest through ``send`` (the bot posts it); returns the names.
    ``send`` may return up to when the digest it sent counted labels (its ``generated_at``):
    the next one counts from there, so a label stored while this one was built is counted
    once, in the next; else labels are taken as counted up to the round's start."""
    owner = owner or default_owner()
    given, now = now, now or utcnow()  # the lease keeps the database's clock unless told a time
    sent: list[str] = []
    with session_scope(ws.db, read_only=True) as session:
        found = projects.list_projects(session=session)
    for project in found:
        try:
            if not _digest_due_or_said(ws, project, now=now):
                continue
            lease_name = f"digest:{project.name}"
            with _renewed_lease(ws, lease_name, owner=owner, ttl=DIGEST_LEASE, now=given) as got:
                if not got or not digest_due(_reread(ws, project.name), now=now):
                    continue  # another process holds it, or sent it since the cycle began
                counted = send(project.name)
                digest.mark_sent(
                    ws,
                    project.name,
                    now=now,
                    counted_until=counted if isinstance(counted, datetime) else None,
                )
                sent.append(project.name)
        except StillDue as exc:
            log.info("digest of %s still due: %s", project.name, exc)
            if exc.stop_round:
                break
        except DatabaseUnavailable:
            raise  # every project would fail alike: the round stops (the job says so once)
        except Exception:  # isolation: the other projects still get theirs
            log.exception("digest of %s failed", project.name)
    return sent


def _digest_due_or_said(ws: Workspace, project: Project, *, now: datetime) -> bool:
    """:func:`digest_due`; False for a schedule that cannot be read (one stored before it was
    checked as `project set` checks it today: "mon-fri!"), said once per workspace and
    schedule as an ERROR naming the fix, not a traceback at every round (every minute)."""
    try:
        return digest_due(project, now=now)
    except InvalidInputError as exc:
        said = ("digest_schedule", project.name, str(exc))
        if not ws.notes.get(said):
            ws.notes[said] = True
            log.error(
                "digest of %s failed: %s; no digest is sent until it is set again with "
                "`labelbot project set %s --digest-cron '%s'`",
                project.name, exc, project.name, DEFAULT_DIGEST_CRON,
            )  # fmt: skip
        return False


def _reread(ws: Workspace, name: str) -> Project:
    with session_scope(ws.db, read_only=True) as session:
        return projects.get_project(session=session, name=name)


# --- taxonomy proposals ------------------------------------------------------------------------

# detection takes seconds, a very large project's longer: renewed while it runs
# (_renewed_lease); lapses if its owner dies
PROPOSALS_LEASE = timedelta(minutes=10)


def proposal_cycle(
    ws: Workspace,
    *,
    owner: str | None = None,
    now: datetime | None = None,
    on_refreshed: Callable[[str, list[TaxonomyProposal]], None] | None = None,
) -> list[str]:
    """Refresh the taxonomy proposals of every project where they are due
    (``proposing.refresh_due``: a new active or held-back model, new labels, flags or skips,
    or a day with any change); returns the names refreshed.

    ``on_refreshed(project, open_proposals)`` lets the bot post the new ones.
    """
    owner = owner or default_owner()
    refreshed: list[str] = []
    with session_scope(ws.db, read_only=True) as session:
        names = [p.name for p in projects.list_projects(session=session)]
    for name in names:
        try:
            if _refresh_one(ws, name, owner=owner, now=now, on_refreshed=on_refreshed):
                refreshed.append(name)
        except DatabaseUnavailable:
            raise  # every project would fail alike: the round stops (the job says so once)
        except Exception:  # isolation: the other projects are still refreshed
            log.exception("proposals for %s failed", name)
    return refreshed


def _refresh_one(
    ws: Workspace,
    name: str,
    *,
    owner: str,
    now: datetime | None,
    on_refreshed: Callable[[str, list[TaxonomyProposal]], None] | None,
) -> bool:
    """Refresh ``name``'s proposals if they are due; whether they were."""
    if not proposing.refresh_due(ws, name, now=now):
        return False
    lease = _renewed_lease(ws, f"proposals:{name}", owner=owner, ttl=PROPOSALS_LEASE, now=now)
    with lease as got:
        if not got or not proposing.refresh_due(ws, name, now=now):
            return False  # another process holds it, or refreshed them since the read above
        try:
            open_now = proposing.refresh_proposals(ws, name)
        except LabelbotError as exc:
            log.warning("proposals for %s failed: %s", name, exc)
            return False
    if on_refreshed is not None:
        on_refreshed(name, open_now)
    return True


# --- mislabel reviews ---------------------------------------------------------------------------

# a scan takes seconds, a very large project's longer: renewed while it runs (_renewed_lease);
# lapses if its owner dies
REVIEWS_LEASE = timedelta(minutes=10)


def review_cycle(
    ws: Workspace,
    *,
    owner: str | None = None,
    now: datetime | None = None,
    on_scanned: Callable[[str, ScanReport], None] | None = None,
) -> list[ScanReport]:
    """Scan for likely mislabels in every project whose active model is newer than its last scan
    (so: after each retrain); the reviews it opens join the experts' queues.

    ``on_scanned(project, report)`` lets the bot tell reviewers there is something to review.
    """
    owner = owner or default_owner()
    scanned: list[ScanReport] = []
    with session_scope(ws.db, read_only=True) as session:
        due = []
        for project in projects.list_projects(session=session):
            assert project.id is not None
            run = models.get_active_model_run(session=session, project_id=project.id)
            reviewed = _reviewed_version(project)
            if run is not None and run.version > reviewed and reviews_wanted(project):
                due.append((project.name, run.version))
    for name, version in due:
        try:
            report = _scan_one(ws, name, version, owner=owner, now=now, on_scanned=on_scanned)
        except DatabaseUnavailable:
            raise  # every project would fail alike: the round stops (the job says so once)
        except Exception:  # isolation: the other projects are still scanned
            log.exception("mislabel scan of %s failed", name)
            continue
        if report is not None:
            scanned.append(report)
    return scanned


def _reviewed_version(project: Project) -> int:
    """The model version the project's last mislabel scan read (0: none yet)."""
    try:
        return int(project.settings.get("reviewed_version", 0))
    except (TypeError, ValueError):  # stored badly (by hand, or an older version)
        log.warning("project %s has an unreadable reviewed_version", project.name)
        return 0


def reviews_wanted(project: Project) -> bool:
    """Whether the scheduler scans ``project`` after a new model: not while its ``review_share``
    is 0 (the team turned reviews off; `labelbot review NAME --scan` still scans on demand)."""
    try:
        return float(project.settings.get("review_share", 1.0)) > 0
    except (TypeError, ValueError):  # stored badly: scan, as with the default share
        return True


def _scan_one(
    ws: Workspace,
    name: str,
    version: int,
    *,
    owner: str,
    now: datetime | None,
    on_scanned: Callable[[str, ScanReport], None] | None,
) -> ScanReport | None:
    """Scan ``name`` for likely mislabels (None when another process holds it, or it failed)."""
    with _renewed_lease(ws, f"reviews:{name}", owner=owner, ttl=REVIEWS_LEASE, now=now) as got:
        if not got or _reviewed_version(_reread(ws, name)) >= version:
            return None  # another process holds it, or scanned this model since the cycle began
        try:
            report = reviews.scan_project(ws, name, now=now)
            with session_scope(ws.db) as session:
                found = projects.get_project(session=session, name=name)
                assert found.id is not None
                projects.update_project_settings(
                    session=session, project_id=found.id, reviewed_version=version
                )
        except LabelbotError as exc:
            log.warning("mislabel scan of %s failed: %s", name, exc)
            return None
    if on_scanned is not None:
        on_scanned(name, report)
    return report
