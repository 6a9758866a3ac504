"""The background scheduler: retrains as labels arrive, refreshes taxonomy proposals and scans for
likely mislabels after each new model, and sends digests on their cron schedule.

It runs inside `labelbot serve` and on its own as `labelbot worker`. Both poll the database (see
engine/jobs.py), so any number of processes can run it: leases make sure one trains a project.

While the database cannot be reached every job fails at every poll; :class:`DatabaseWatch` makes
that one WARNING line per job per minute (not a traceback per job per poll), and one line when
the database answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from engine import jobs
from engine.workspace import Workspace
from storage.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 15.0
TIDY_SECONDS = 3600.0  # housekeeping (old event ids, lapsed leases): hourly is plenty
OUTAGE_LOG_SECONDS = 60.0  # a job that meets an unreachable database says so this often


class DatabaseWatch:
    """Jobs that meet a database that cannot be reached: each job (by name) logs one WARNING
    line per ``every`` seconds while it lasts, and the first job that gets through afterwards
    logs "database reachable again" once (thread-safe: jobs run in a thread pool)."""

    def __init__(
        self,
        what: str = "scheduler",
        *,
        every: float = OUTAGE_LOG_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._said: dict[str, float] = {}  # job -> when its last warning was logged (clock)

    def due(self, job: str) -> bool:
        """``job`` met the outage: whether to say so (not within ``every`` seconds of the last
        time), for a caller that words it itself (the REST API's /healthz and /metrics)."""
        now = self._clock()
        with self._lock:
            last = self._said.get(job)
            if last is not None and now - last < self.every:
                return False
            self._said[job] = now
        return True

    def failed(self, job: str, exc: DatabaseUnavailable) -> None:
        """``job`` met the outage: logged unless it was within ``every`` seconds."""
        if not self.due(job):
            return
        log.warning(
            "%s: %s skipped: the database cannot be reached (%s); retried at every poll, said "
            "once a minute while it lasts",
            self.what, job, exc.reason,
        )  # fmt: skip

    def reached(self) -> None:
        """A job got through: after an outage, logged once."""
        with self._lock:
            if not self._said:
                return
            self._said.clear()
        log.info("%s: database reachable again", self.what)

    def guard(self, job: str, func: Callable[[], object]) -> Callable[[], None]:
        """``func`` as a scheduler job that reports an outage here instead of raising it (which
        APScheduler would log as a traceback at every poll)."""

        def run() -> None:
            # when it started and last succeeded: /metrics, and the warning about a run
            # that has lasted long (bot.cli.logs)
            jobs.ACTIVITY.job_started(job)
            ok = False
            try:
                func()
                ok = True
            except DatabaseUnavailable as exc:
                self.failed(job, exc)
                return
            finally:
                jobs.ACTIVITY.job_ended(job, ok=ok)
            self.reached()

        run.__name__ = run.__qualname__ = job  # what APScheduler's own log lines name
        return run


def build_scheduler(
    ws: Workspace,
    *,
    send_digest: Callable[[str], object] | None = None,
    on_trained: Callable[[str, Any], None] | None = None,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    owner: str | None = None,
    blocking: bool = False,
    watch: DatabaseWatch | None = None,
) -> Any:
    """An APScheduler scheduler (not started) with the retrain, taxonomy proposals, mislabel
    reviews, housekeeping and (given ``send_digest``) digest jobs. Proposals and reviews poll
    like the retrain: each does its work once per new model (under a lease per project).
    Each job is guarded by ``watch`` (a new :class:`DatabaseWatch` if None): jobs added later
    should be too (``watch.guard(id, job)``), so an outage is logged the same way."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    cls = BlockingScheduler if blocking else BackgroundScheduler
    # One job instance at a time each: a slow training round never overlaps the next poll.
    # A run time passed while the machine was busy (jobs due at once on few cores) is run late,
    # not skipped with a WARNING ("was missed by 0:00:01.18": APScheduler's default grace is
    # 1 s); coalesce makes a backlog one run.
    # https://apscheduler.readthedocs.io/en/3.x/userguide.html#missed-job-executions-and-coalescing
    scheduler = cls(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone="UTC",
    )
    who = owner or jobs.default_owner()
    watch = watch or DatabaseWatch()

    def retrain() -> None:
        for outcome in jobs.retrain_cycle(ws, owner=who, on_trained=on_trained):
            if outcome.failed:  # the run keeps the reason: `labelbot status` and `models` say it
                log.warning("retrain %s: %s", outcome.project, outcome.message)
            elif outcome.busy:  # another replica's training: nothing this process did
                log.debug("retrain %s: %s", outcome.project, outcome.message)
            elif outcome.version is None:
                log.info("retrain %s: %s", outcome.project, outcome.message)
            elif outcome.held_back is not None:  # trained, but the active model answers still
                log.info(
                    "retrain %s: v%s (%s), held back, not answering: %s",
                    outcome.project, outcome.version, outcome.message, outcome.held_back,
                )  # fmt: skip
            else:
                log.info("retrain %s: v%s (%s)", outcome.project, outcome.version, outcome.message)

    scheduler.add_job(
        watch.guard("retrain", retrain), "interval", seconds=poll_seconds, id="retrain"
    )

    # after each retrain (held back or not), as labels, flags and skips come in, and daily
    def proposals() -> None:
        for name in jobs.proposal_cycle(ws, owner=who):
            log.info("taxonomy proposals refreshed for %s", name)

    scheduler.add_job(
        watch.guard("proposals", proposals), "interval", seconds=poll_seconds, id="proposals"
    )

    def reviews() -> None:  # after each retrain: the agreed labels the new model doubts
        for report in jobs.review_cycle(ws, owner=who):
            what = (report.project, report.model_version, report.suspects, report.opened)
            log.info("mislabel scan of %s (v%s): %d likely mislabels, %d new reviews", *what)

    scheduler.add_job(
        watch.guard("reviews", reviews), "interval", seconds=poll_seconds, id="reviews"
    )

    def tidy() -> None:
        done = jobs.tidy(ws)
        if done.events or done.leases or done.replies or done.outbox:
            log.info(
                "tidied %d old event ids, %d thread reply records, %d lapsed leases and %d "
                "outbox %s sent, dropped or given up long ago",
                done.events, done.replies, done.leases, done.outbox,
                "message" if done.outbox == 1 else "messages",
            )  # fmt: skip

    scheduler.add_job(watch.guard("tidy", tidy), "interval", seconds=TIDY_SECONDS, id="tidy")
    if send_digest is not None:
        digest = send_digest

        def digests() -> None:
            for name in jobs.digest_cycle(ws, digest, owner=who):
                log.info("digest sent for %s", name)

        scheduler.add_job(watch.guard("digests", digests), "interval", seconds=60, id="digests")
    return scheduler
