"""One training of a project at a time, whoever starts it (scheduler, `labelbot train`,
`labelbot label`); labels a run did not read still trigger the next one; an older run never
replaces a newer active model; training that cannot start is not retried at every poll.
On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine import jobs, labeling, projects, training
from engine.config import Settings
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import ConflictError
from storage.models import Lease, utcnow
from storage.repositories import leases, models
from tests.helpers import label_next, load_slice, scheduler_job


@pytest.fixture
def loaded(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(
        ws,
        project="bank",
        multi_label_share=0.0,
        audit_share=0.0,
        retrain_every=5,
        retrain_minutes=10,
    )
    label_next(ws, truth, 12, annotators=("U1",))
    return ws, truth


def _runs(ws: Workspace) -> list[tuple[int, str, bool]]:
    pid = int(projects.get_project(ws, "bank").id or 0)
    with session_scope(ws.db, read_only=True) as s:
        return [
            (r.version, r.status, r.is_active)
            for r in models.list_model_runs(session=s, project_id=pid)
        ]


def test_training_by_hand_takes_the_schedulers_lease(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = loaded
    with session_scope(ws.db) as s:  # the scheduler of a worker is training it
        assert leases.try_acquire(
            session=s, name="train:bank", owner="worker-1:42", ttl=jobs.TRAIN_LEASE
        )
    with pytest.raises(ConflictError) as refused:
        jobs.train_now(ws, "bank")
    assert re.fullmatch(
        r"training of 'bank' already running in another process \(worker-1:42\); try again when"
        r" it finishes, or after \d\d:\d\d:\d\d UTC if that process has died",
        str(refused.value),
    )
    assert _runs(ws) == []  # nothing was started
    with session_scope(ws.db) as s:
        leases.release(session=s, name="train:bank", owner="worker-1:42")
    run = jobs.train_now(ws, "bank")
    assert run.version == 1 and run.is_active
    # and while a command trains, the scheduler keeps out: the lease is held the whole time
    seen: list[str | None] = []
    real = training.cv_metrics

    def watching(*args: Any, **kwargs: Any) -> Any:
        with session_scope(ws.db, read_only=True) as s:
            seen.append(leases.holder(session=s, name="train:bank"))
        return real(*args, **kwargs)

    training.cv_metrics = watching  # type: ignore[assignment]
    try:
        jobs.train_now(ws, "bank")
    finally:
        training.cv_metrics = real
    assert seen == [jobs.thread_owner()]
    with session_scope(ws.db, read_only=True) as s:
        assert leases.holder(session=s, name="train:bank") is None  # released after


def _train_lease(ws: Workspace) -> tuple[datetime, Lease]:
    """The database's clock, and the stored training lease of "bank"."""
    with session_scope(ws.db, read_only=True) as s:
        lease = s.get(Lease, "train:bank")
        assert lease is not None
        return leases.database_now(s), lease


def test_a_long_training_renews_its_lease(loaded, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    ws, _ = loaded
    monkeypatch.setattr(jobs, "TRAIN_LEASE", timedelta(seconds=3))  # renewed every second
    training_started, finish = threading.Event(), threading.Event()
    real = training.cv_metrics

    def slow(*args: Any, **kwargs: Any) -> Any:  # a large pool: longer than the lease
        training_started.set()
        finish.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "cv_metrics", slow)
    done: list[Any] = []
    worker = threading.Thread(target=lambda: done.append(jobs.train_now(ws, "bank")))
    worker.start()
    try:
        assert training_started.wait(60)
        _, taken_as = _train_lease(ws)
        expiries = [taken_as.expires_at]
        deadline = time.monotonic() + 60
        # Watch, by the database's clock, until the lease as first seen would have lapsed and
        # the trainer renewed it twice: held by it at every look, the expiry moving forward.
        while True:
            now, lease = _train_lease(ws)
            assert lease.owner == taken_as.owner, "another owner took it"
            assert lease.expires_at >= now, "it lapsed"
            if lease.expires_at > expiries[-1]:
                expiries.append(lease.expires_at)
            if now > taken_as.expires_at and len(expiries) >= 3:
                break
            assert time.monotonic() < deadline, f"renewed {len(expiries) - 1} times in 60 s"
            time.sleep(0.05)
        with session_scope(ws.db) as s:
            taken = leases.try_acquire(
                session=s, name="train:bank", owner="worker-2", ttl=timedelta(minutes=15)
            )
    finally:
        finish.set()
        worker.join(60)
    assert not taken, "another process could start training meanwhile"
    assert done and done[0].version == 1


def test_labels_stored_while_the_pool_was_read_still_trigger_a_retrain(  # type: ignore[no-untyped-def]
    loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, truth = loaded
    real = training.load_pool

    def then_a_click(*args: Any, **kwargs: Any) -> training.Pool:
        pool = real(*args, **kwargs)
        label_next(ws, truth, 1, annotators=("U2",))  # after the read, before the run's row
        return pool

    monkeypatch.setattr(training, "load_pool", then_a_click)
    run = jobs.train_now(ws, "bank")
    monkeypatch.setattr(training, "load_pool", real)
    assert run.n_labels == 12
    soon = jobs.retrain_decision(ws, "bank")
    assert not soon.due and soon.new_labels == 1, soon  # counted, waiting for 5 or the timer
    later = jobs.retrain_decision(ws, "bank", now=utcnow() + timedelta(minutes=11))
    assert later.due and later.new_labels == 1, later
    again = jobs.train_now(ws, "bank")
    assert again.n_labels == 13
    assert jobs.retrain_decision(ws, "bank", now=utcnow() + timedelta(hours=5)).new_labels == 0


def test_a_taxonomy_change_while_the_pool_was_read_still_triggers_a_retrain(  # type: ignore[no-untyped-def]
    loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import taxonomy

    ws, _ = loaded
    real = training.load_pool

    def then_a_rename(*args: Any, **kwargs: Any) -> training.Pool:
        pool = real(*args, **kwargs)
        taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="minimum_age",
                              actor="ana", rescore=False)  # fmt: skip
        return pool

    monkeypatch.setattr(training, "load_pool", then_a_rename)
    run = jobs.train_now(ws, "bank")
    monkeypatch.setattr(training, "load_pool", real)
    assert "age_limit" in run.classes  # trained on the names it read
    decision = jobs.retrain_decision(ws, "bank")
    assert decision.due and decision.reason == "the taxonomy changed since the last model"
    assert "minimum_age" in jobs.train_now(ws, "bank").classes
    assert not jobs.retrain_decision(ws, "bank").due


def test_an_older_run_never_replaces_a_newer_active_one(  # type: ignore[no-untyped-def]
    loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two trainings outside one lease (or after it lapsed): the one that started later, on
    more labels, finishes first. The older one is kept, finished but not promoted."""
    ws, truth = loaded
    real = training.cv_metrics
    newer: list[Any] = []

    def meanwhile(*args: Any, **kwargs: Any) -> Any:
        if not newer:  # while the first run evaluates, labels arrive and another one trains
            newer.append(None)
            label_next(ws, truth, 6, annotators=("U2",))
            newer[0] = training.train_project(ws, "bank")
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "cv_metrics", meanwhile)
    older = training.train_project(ws, "bank")
    assert (older.version, newer[0].version) == (1, 2)
    assert (older.n_labels, newer[0].n_labels) == (12, 18)
    assert _runs(ws) == [(1, "ready", False), (2, "ready", True)]
    assert not older.is_active
    assert older.metrics["promotion"] == {
        "promoted": False,
        "reason": "v2, trained on later labels, became active while v1 trained",
    }
    assert projects.project_status(ws, "bank")["model"]["version"] == 2
    assert jobs.retrain_decision(ws, "bank", now=utcnow() + timedelta(hours=5)).new_labels == 0


def _one_class(ws: Workspace, truth: dict[str, str], n: int) -> None:
    """``n`` labels, every one the same label: nothing to train a classifier on yet."""
    for i in range(n):
        task = labeling.next_task(ws, project="bank", annotator="U1")
        assert task is not None
        labeling.submit_label(
            ws,
            project="bank",
            example_id=task.example_id,
            label="card_arrival",
            annotator="U1",
            source="cli",
            key=f"one:{i}",
        )


@pytest.fixture
def one_class(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(
        ws, project="bank", multi_label_share=0.0, retrain_every=1, retrain_minutes=10
    )
    _one_class(ws, truth, 3)
    return ws, truth


def test_training_that_cannot_start_waits_retrain_minutes(one_class) -> None:  # type: ignore[no-untyped-def]
    ws, truth = one_class
    [first] = jobs.retrain_cycle(ws, owner="w1")
    assert first.version is None and "at least 2 classes" in first.message
    _one_class(ws, truth, 1)  # labels keep coming, still one class
    assert jobs.retrain_cycle(ws, owner="w1") == []  # the next poll does not read the pool again
    waiting = jobs.retrain_decision(ws, "bank")
    assert not waiting.due and "the last try failed" in waiting.reason
    assert "at least 2 classes" in waiting.reason and "10 min after" in waiting.reason
    later = utcnow() + timedelta(minutes=11)
    [second] = jobs.retrain_cycle(ws, owner="w1", now=later)  # then it tries again
    assert second.version is None and "at least 2 classes" in second.message
    assert _runs(ws) == []  # and no failed runs pile up meanwhile
    label_next(ws, truth, 10, annotators=("U2",))  # other classes come
    [trained] = jobs.retrain_cycle(ws, owner="w1", now=later + timedelta(minutes=11))
    assert trained.version == 1
    assert jobs.retrain_decision(ws, "bank", now=later + timedelta(minutes=11)).reason == (
        "no new labels since the last model"
    )


def test_an_encoder_that_cannot_load_is_not_retried_at_every_poll(  # type: ignore[no-untyped-def]
    loaded, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ws, _ = loaded
    settings = Settings(
        DATABASE_URL=ws.settings.database_url,
        LABELBOT_DATA_DIR=ws.settings.data_dir,
        LABELBOT_ENCODER=str(tmp_path / "no-such-model"),
    )
    broken = Workspace(settings=settings, db=ws.db)
    # the failure is one outcome (the scheduler logs it as one WARNING), then waited out
    [first] = jobs.retrain_cycle(broken, owner="w1")
    assert first.failed and first.version is None and "cannot be loaded" in first.message
    assert jobs.retrain_cycle(broken, owner="w1") == []
    assert "cannot be loaded" in jobs.retrain_decision(broken, "bank").reason


def test_a_data_dir_that_cannot_be_written_is_not_retried_at_every_poll(  # type: ignore[no-untyped-def]
    loaded, tmp_path: Path
) -> None:
    ws, _ = loaded
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    settings = Settings(
        DATABASE_URL=ws.settings.database_url, LABELBOT_DATA_DIR=blocked / "data"
    )  # a read-only mount or a full disk fails the same way: the pool's vectors cannot be kept
    broken = Workspace(settings=settings, db=ws.db, _encoder=ws.encoder)
    [first] = jobs.retrain_cycle(broken, owner="w1")
    assert first.failed and first.version is None and "NotADirectoryError" in first.message
    assert _runs(ws) == []  # it failed before a run was recorded
    # the next poll neither embeds the pool again nor fails again: it waits retrain_minutes
    assert jobs.retrain_cycle(broken, owner="w1") == []
    waiting = jobs.retrain_decision(broken, "bank")
    assert not waiting.due and "the last try failed (NotADirectoryError" in waiting.reason
    # the memo's entries come and go (a large model or pool graph evicts the older ones): the
    # failure is kept apart from them, or the next poll read and embedded the pool again
    broken.memo.limit = 1
    broken.memo["a pool graph"] = "graph"
    broken.memo["a large model"] = "model"
    assert broken.memo.keys() == ["a large model"]
    assert not jobs.retrain_decision(broken, "bank").due
    later = utcnow() + timedelta(minutes=11)
    [again] = jobs.retrain_cycle(broken, owner="w1", now=later)  # then it tries again
    assert again.failed and "NotADirectoryError" in again.message


def test_a_replica_waiting_for_anothers_training_says_so_only_in_verbose_logs(  # type: ignore[no-untyped-def]
    loaded, caplog
) -> None:
    import logging

    ws, _ = loaded
    with session_scope(ws.db) as s:  # another replica is training it (minutes, on a big pool)
        assert leases.try_acquire(
            session=s, name="train:bank", owner="worker-2:42", ttl=jobs.TRAIN_LEASE
        )
    retrain = scheduler_job(ws, "retrain")
    with caplog.at_level(logging.DEBUG, logger="engine.scheduler"):
        for _ in range(3):  # every poll while it trains
            retrain()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "engine.scheduler"]
    # nothing this process did: not a line per poll in the worker's log (--verbose shows it)
    assert said == [("DEBUG", "retrain bank: another process is training it")] * 3


def test_the_scheduler_log_says_when_its_new_model_was_held_back(  # type: ignore[no-untyped-def]
    loaded, caplog
) -> None:
    import logging

    ws, truth = loaded
    jobs.train_now(ws, "bank")
    training.pin_version(ws, "bank", 1)
    label_next(ws, truth, 6, annotators=("U2",))
    retrain = scheduler_job(ws, "retrain")
    with caplog.at_level(logging.INFO, logger="engine.scheduler"):
        retrain()
    said = [r.getMessage() for r in caplog.records if r.name == "engine.scheduler"]
    # a worker without Slack tells nobody else: "retrain bank: v2 (...)" read as v2 answering
    assert said == [
        "retrain bank: v2 (6 new labels (threshold 5)), held back, not answering: v1 is pinned; "
        "promote this one with `labelbot models promote`"
    ]
    assert _runs(ws)[-1] == (2, "ready", False)


def test_training_by_hand_refreshes_the_planners_statistics_as_a_retrain_does(loaded) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    ws, _ = loaded
    if ws.db.dialect.name == "sqlite":
        pytest.skip("ANALYZE is for PostgreSQL's planner (SQLite's does not use row counts)")

    def counted() -> float:  # the annotations as the planner counts them (-1: never analyzed)
        with ws.db.connect() as conn:
            return float(
                conn.execute(
                    sa.text("SELECT reltuples FROM pg_class WHERE oid = 'annotations'::regclass")
                ).scalar_one()
            )

    assert counted() <= 0  # the 12 clicks came after the import's ANALYZE
    jobs.train_now(ws, "bank")  # `labelbot train`, the retrain key of `labelbot label`
    assert counted() == 12  # README: ANALYZE "after each import and retrain"
