"""The scheduler scans for likely mislabels after each new model (README: "After each retrain,
labelbot checks every agreed label ... and queues" reviews), in `labelbot worker` and in
`labelbot serve` alike, and not for a project whose ``review_share`` is 0; on SQLite and
PostgreSQL. The scheduler is built as the commands build it and its jobs are run by hand, one
tick each, in the order a poll would run them."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from engine import jobs, projects, reviews
from engine.scheduler import build_scheduler
from engine.workspace import Workspace
from tests.conftest import BANKING_SLICE_LABELS

LABELS = list(BANKING_SLICE_LABELS)
FLIPS = 12  # labels given wrongly (the next label), for the scan to find


@pytest.fixture
def bank(ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path) -> Workspace:
    """The slice labeled by ana (first half) and ben (second half), FLIPS labels wrong."""
    rows = list(banking_slice)
    for i in range(0, 150, 150 // FLIPS)[:FLIPS]:
        text, label = rows[i]
        rows[i] = (text, LABELS[(LABELS.index(label) + 1) % len(LABELS)])
    projects.create_project(ws, name="bank", labels=LABELS)
    projects.update_settings(ws, project="bank", retrain_every=20, multi_label_share=0.0)
    for who, part in (("ana", rows[:75]), ("ben", rows[75:])):
        path = tmp_path / f"{who}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(part)
        projects.import_file(ws, project="bank", path=path, annotator=who)
    return ws


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The projects the scheduler scanned, in order."""
    real = reviews.scan_project
    done: list[str] = []

    def scan(ws: Workspace, name: str, **kw: Any) -> Any:
        done.append(name)
        return real(ws, name, **kw)

    monkeypatch.setattr(reviews, "scan_project", scan)
    return done


def _tick(scheduler: Any, job: str) -> None:
    scheduler.get_job(job).func()


def _open_reviews(ws: Workspace) -> int:
    return len(reviews.list_reviews(ws, project="bank", status="open"))


def test_worker_and_serve_schedule_the_mislabel_scan(
    ws: Workspace, db_url_and_schema, embedding_cache_dir
) -> None:  # type: ignore[no-untyped-def]
    """`labelbot worker` without Slack builds build_scheduler; with Slack (and `labelbot serve`)
    bot_scheduler, which starts from it."""
    from bot.scheduling import bot_scheduler
    from bot.services import build_services
    from tests.bot.conftest import BOT_TOKEN, slack_settings
    from tests.fakes.slack_api import FakeSlackAPI

    assert "reviews" in {job.id for job in build_scheduler(ws).get_jobs()}
    url, _ = db_url_and_schema
    with FakeSlackAPI(token=BOT_TOKEN) as api:
        services = build_services(slack_settings(url, api.api_url, embedding_cache_dir), ws=ws)
        try:
            ids = {job.id for job in bot_scheduler(services).get_jobs()}
        finally:
            services.listener_executor.shutdown(wait=True)
            services.dispatch_executor.shutdown(wait=True)
    assert {"retrain", "proposals", "reviews", "post_proposals"} <= ids


def test_a_tick_after_a_retrain_opens_reviews_once_per_model(bank: Workspace, scans) -> None:  # type: ignore[no-untyped-def]
    scheduler = build_scheduler(bank, owner="w1")
    _tick(scheduler, "reviews")
    assert scans == [] and _open_reviews(bank) == 0  # no model yet: nothing to scan
    _tick(scheduler, "retrain")  # 150 new labels: v1
    _tick(scheduler, "reviews")
    assert scans == ["bank"]
    assert _open_reviews(bank) > 0  # the flipped labels the model doubts, queued for review
    assert projects.get_project(bank, "bank").settings["reviewed_version"] == 1
    _tick(scheduler, "reviews")  # the next poll: this model was scanned already
    assert scans == ["bank"]


def test_review_share_zero_turns_the_scheduled_scan_off(bank: Workspace, scans) -> None:  # type: ignore[no-untyped-def]
    projects.update_settings(bank, project="bank", review_share=0.0)
    scheduler = build_scheduler(bank, owner="w1")
    _tick(scheduler, "retrain")
    _tick(scheduler, "reviews")
    assert scans == [] and _open_reviews(bank) == 0
    assert jobs.review_cycle(bank) == []  # the job and the cycle alike
    projects.update_settings(bank, project="bank", review_share=0.1)  # on again: the model is
    _tick(scheduler, "reviews")  # scanned at the next poll, not only after the next retrain
    assert scans == ["bank"] and _open_reviews(bank) > 0


def test_a_replica_that_found_a_scan_due_does_not_repeat_one_done_meanwhile(
    bank: Workspace, scans
) -> None:  # type: ignore[no-untyped-def]
    """Two replicas both find v1 unscanned; the first scans it, then the second takes the lease:
    it re-reads the project under the lease and leaves it (no second scan of the same model)."""
    scheduler = build_scheduler(bank, owner="w1")
    _tick(scheduler, "retrain")
    _tick(scheduler, "reviews")
    assert scans == ["bank"]
    # the second replica's cycle decided "v1 is due" before the first one's scan committed
    assert jobs._scan_one(bank, "bank", 1, owner="w2", now=None, on_scanned=None) is None
    assert scans == ["bank"]
