"""The background scheduler: retrains as labels arrive, refreshes taxonomy proposals and scans for
likely mislabels after each new model, and sends digests on their cron schedule.

It runs inside `labelbot serve` and on its own as `labelbot worker`. Both poll the database (see
engine/jobs.py), so any number of processes can run it: leases make sure one trains a project.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from engine import jobs
from engine.workspace import Workspace

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 15.0
TIDY_SECONDS = 3600.0  # housekeeping (old event ids, lapsed leases): hourly is plenty


def build_scheduler(
    ws: Workspace,
    *,
    send_digest: Callable[[str], object] | None = None,
    on_trained: Callable[[str, Any], None] | None = None,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    owner: str | None = None,
    blocking: bool = False,
) -> Any:
    """An APScheduler scheduler (not started) with the retrain, taxonomy proposals, mislabel
    reviews, housekeeping and (given ``send_digest``) digest jobs. Proposals and reviews poll
    like the retrain: each does its work once per new model (under a lease per project)."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    cls = BlockingScheduler if blocking else BackgroundScheduler
    # One job instance at a time each: a slow training round never overlaps the next poll.
    scheduler = cls(job_defaults={"coalesce": True, "max_instances": 1}, timezone="UTC")
    who = owner or jobs.default_owner()

    def retrain() -> None:
        for outcome in jobs.retrain_cycle(ws, owner=who, on_trained=on_trained):
            log.info("retrain %s: v%s (%s)", outcome.project, outcome.version, outcome.message)

    scheduler.add_job(retrain, "interval", seconds=poll_seconds, id="retrain")

    # after each retrain (held back or not), as labels, flags and skips come in, and daily
    def proposals() -> None:
        for name in jobs.proposal_cycle(ws, owner=who):
            log.info("taxonomy proposals refreshed for %s", name)

    scheduler.add_job(proposals, "interval", seconds=poll_seconds, id="proposals")

    def reviews() -> None:  # after each retrain: the agreed labels the new model doubts
        for report in jobs.review_cycle(ws, owner=who):
            what = (report.project, report.model_version, report.suspects, report.opened)
            log.info("mislabel scan of %s (v%s): %d likely mislabels, %d new reviews", *what)

    scheduler.add_job(reviews, "interval", seconds=poll_seconds, id="reviews")

    def tidy() -> None:
        done = jobs.tidy(ws)
        if done.events or done.leases or done.replies:
            log.info(
                "tidied %d old event ids, %d thread reply records and %d lapsed leases",
                done.events, done.replies, done.leases,
            )  # fmt: skip

    scheduler.add_job(tidy, "interval", seconds=TIDY_SECONDS, id="tidy")
    if send_digest is not None:
        digest = send_digest

        def digests() -> None:
            for name in jobs.digest_cycle(ws, digest, owner=who):
                log.info("digest sent for %s", name)

        scheduler.add_job(digests, "interval", seconds=60, id="digests")
    return scheduler
