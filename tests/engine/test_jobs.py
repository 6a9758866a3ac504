"""Scheduler jobs with a controllable clock: N-labels and timer triggers, leases, cron digests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine import jobs, projects, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import ModelRun, Project, utcnow
from storage.repositories import leases, models
from storage.repositories import projects as projects_repo
from tests.helpers import SLICE_LABELS as LABELS
from tests.helpers import label_next, load_slice


@pytest.fixture
def loaded(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    return ws, load_slice(ws, banking_slice, tmp_path)


def _label(ws, truth, n, who="U1"):  # type: ignore[no-untyped-def]
    label_next(ws, truth, n, annotators=(who,))


def test_n_labels_trigger(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    projects.update_settings(ws, project="bank", retrain_every=10, retrain_minutes=60)
    _label(ws, truth, 9)
    assert not jobs.retrain_decision(ws, "bank").due
    assert jobs.retrain_cycle(ws, owner="w1") == []
    _label(ws, truth, 1)
    decision = jobs.retrain_decision(ws, "bank")
    assert decision.due and decision.new_labels == 10
    outcomes = jobs.retrain_cycle(ws, owner="w1")
    assert [(o.project, o.version) for o in outcomes] == [("bank", 1)]
    assert not jobs.retrain_decision(ws, "bank").due  # nothing new since v1


def test_a_change_stamped_by_a_clock_running_ahead_retrains_once(loaded) -> None:  # type: ignore[no-untyped-def]
    """A rename made on a replica whose clock runs 5 minutes ahead: compared with each model's
    own (trainer's clock) time, the change looked newer than every model, and every poll
    retrained. Each model now keeps the change stamp it read its labels under."""
    from engine import taxonomy

    ws, truth = loaded
    projects.update_settings(ws, project="bank", retrain_every=10, retrain_minutes=10)
    _label(ws, truth, 12)
    assert [o.version for o in jobs.retrain_cycle(ws, owner="w1")] == [1]
    taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="age_rules", actor="a")
    ahead = (utcnow() + timedelta(minutes=5)).isoformat()
    projects.update_settings(ws, project="bank", **{taxonomy.TAXONOMY_CHANGED_AT: ahead})
    decision = jobs.retrain_decision(ws, "bank")
    assert decision.due and decision.reason == "the taxonomy changed since the last model"
    assert [o.version for o in jobs.retrain_cycle(ws, owner="w1")] == [2]
    assert not jobs.retrain_decision(ws, "bank").due  # v2 read the change: nothing to do
    assert jobs.retrain_cycle(ws, owner="w1") == []
    v2 = models_of(ws)[-1]
    assert v2.metrics[taxonomy.TAXONOMY_AS_OF] == ahead
    assert not taxonomy.trained_before(v2, taxonomy.changed_at(projects.get_project(ws, "bank")))
    # then a change on a replica whose clock is right (behind the first one's stamp): v2 was
    # trained before it, and status says so (compared by order, the stamp read as older)
    taxonomy.rename_label(ws, project="bank", label="age_rules", new_name="age_policy", actor="a")
    assert taxonomy.trained_before(v2, taxonomy.changed_at(projects.get_project(ws, "bank")))
    assert projects.project_status(ws, "bank")["model"]["before_taxonomy_change"] is True
    assert jobs.retrain_decision(ws, "bank").due


def models_of(ws: Workspace) -> list[ModelRun]:
    with session_scope(ws.db, read_only=True) as session:
        project_id = int(projects_repo.get_project(session=session, name="bank").id or 0)
        return models.list_model_runs(session=session, project_id=project_id)


def test_a_retrain_refreshes_postgres_statistics_at_most_every_ten_minutes(loaded) -> None:  # type: ignore[no-untyped-def]
    """A retrain rewrites every prediction; the planner then sees them (ANALYZE), but no more
    than once per STATISTICS_INTERVAL per process however often models are trained."""
    import sqlalchemy as sa

    ws, truth = loaded
    if ws.db.dialect.name != "postgresql":
        pytest.skip("SQLite's planner does not use these statistics")

    def planned_rows() -> dict[str, float]:
        query = sa.text(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN ('predictions',"
            " 'annotations') AND relnamespace = current_schema()::regnamespace"
        )
        with ws.db.connect() as conn:
            return dict(conn.execute(query).all())

    projects.update_settings(ws, project="bank", retrain_every=10, retrain_minutes=60)
    _label(ws, truth, 10)
    assert planned_rows()["annotations"] != 10  # not analyzed since the labels came
    assert [o.version for o in jobs.retrain_cycle(ws, owner="w1")] == [1]
    with ws.db.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM predictions")).scalar_one()
    assert planned_rows() == {"predictions": stored, "annotations": 10} and stored > 0
    _label(ws, truth, 10)
    assert [o.version for o in jobs.retrain_cycle(ws, owner="w1")] == [2]
    assert planned_rows()["annotations"] == 10  # within the interval: not analyzed again
    ws.notes["statistics_refreshed_at"] -= jobs.STATISTICS_INTERVAL.total_seconds()
    _label(ws, truth, 10)
    assert [o.version for o in jobs.retrain_cycle(ws, owner="w1")] == [3]
    assert planned_rows()["annotations"] == 30  # the interval passed: fresh again


def test_timer_trigger(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    projects.update_settings(ws, project="bank", retrain_every=10, retrain_minutes=5)
    _label(ws, truth, 12)
    jobs.retrain_cycle(ws, owner="w1")
    _label(ws, truth, 3)
    assert not jobs.retrain_decision(ws, "bank").due
    later = utcnow() + timedelta(minutes=6)
    decision = jobs.retrain_decision(ws, "bank", now=later)
    assert decision.due and "5 min passed" in decision.reason
    assert [o.version for o in jobs.retrain_cycle(ws, owner="w1", now=later)] == [2]


def test_a_held_lease_keeps_other_workers_out(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    projects.update_settings(ws, project="bank", retrain_every=5)
    _label(ws, truth, 6)
    with session_scope(ws.db) as s:
        assert leases.try_acquire(
            session=s, name="train:bank", owner="other", ttl=timedelta(minutes=15)
        )
    outcomes = jobs.retrain_cycle(ws, owner="me")
    assert outcomes[0].version is None and "another process" in outcomes[0].message
    # the other process died: its lease lapses and the work is picked up
    later = utcnow() + timedelta(minutes=16)
    with session_scope(ws.db) as s:
        assert leases.holder(session=s, name="train:bank", now=later) is None


def test_two_workers_train_a_project_once(loaded, db_url_and_schema, encoder) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    projects.update_settings(ws, project="bank", retrain_every=5)
    _label(ws, truth, 8)
    url, schema = db_url_and_schema
    results: dict[str, list[jobs.RetrainOutcome]] = {}
    barrier = threading.Barrier(2)

    def worker(owner: str) -> None:
        other = Workspace.open(ws.settings, schema=schema, encoder=encoder, migrate=False)
        barrier.wait()
        results[owner] = jobs.retrain_cycle(other, owner=owner)
        other.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    trained = [o for out in results.values() for o in out if o.version is not None]
    assert len(trained) == 1
    with session_scope(ws.db) as s:
        runs = models.list_model_runs(session=s, project_id=_pid(ws))
    assert [r.version for r in runs] == [1]


def _pid(ws) -> int:  # type: ignore[no-untyped-def]
    return projects.get_project(ws, "bank").id


def test_abandoned_training_run_is_marked_failed(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    projects.update_settings(ws, project="bank", retrain_every=5)
    _label(ws, truth, 6)
    pid = _pid(ws)
    with session_scope(ws.db) as s:  # a process started training, then was killed
        stuck = models.start_model_run(session=s, project_id=pid, n_labels=6, classes=LABELS)
        stuck.created_at = utcnow() - timedelta(hours=1)
        s.add(stuck)
    _label(ws, truth, 5)
    outcomes = jobs.retrain_cycle(ws, owner="w1")
    assert outcomes[0].version == 2
    with session_scope(ws.db) as s:
        runs = models.list_model_runs(session=s, project_id=pid)
    assert [(r.version, r.status, r.is_active) for r in runs] == [
        (1, "failed", False),
        (2, "ready", True),
    ]


def _project(**settings: object) -> Project:
    return Project(
        name="p", settings=settings, created_at=datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    )  # a Monday


def test_cron_digest_in_the_projects_timezone() -> None:
    # weekdays 09:00 in Berlin is 08:00 UTC in November
    project = _project(timezone="Europe/Berlin")
    assert not jobs.digest_due(project, now=datetime(2026, 11, 23, 7, 59, tzinfo=UTC))
    assert jobs.digest_due(project, now=datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    project.settings["last_digest_at"] = datetime(2026, 11, 27, 8, 0, tzinfo=UTC).isoformat()
    # Friday's sent: nothing on the weekend, next on Monday
    assert not jobs.digest_due(project, now=datetime(2026, 11, 29, 20, 0, tzinfo=UTC))
    assert jobs.digest_due(project, now=datetime(2026, 11, 30, 8, 1, tzinfo=UTC))
    assert jobs.next_digest_time(_project(digest_cron="off"), after=project.created_at) is None


def test_digest_cycle_sends_once_per_schedule(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = loaded
    projects.update_settings(ws, project="bank", digest_cron="*/30 * * * *")
    sent: list[str] = []
    now = utcnow() + timedelta(minutes=31)
    assert jobs.digest_cycle(ws, sent.append, owner="w1", now=now) == ["bank"]
    assert jobs.digest_cycle(ws, sent.append, owner="w1", now=now) == []
    assert sent == ["bank"]
    assert jobs.digest_cycle(ws, sent.append, owner="w1", now=now + timedelta(minutes=31)) == [
        "bank"
    ]


def test_pinned_version_is_not_replaced_and_rollback(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    _label(ws, truth, 10)
    v1 = training.train_project(ws, "bank")
    training.pin_version(ws, "bank", v1.version)
    _label(ws, truth, 10)
    v2 = training.train_project(ws, "bank")
    assert not v2.is_active and v2.metrics["promotion"]["promoted"] is False
    assert projects.project_status(ws, "bank")["model"]["version"] == 1
    training.unpin(ws, "bank")
    v3 = training.train_project(ws, "bank")
    assert v3.is_active
    training.activate_version(ws, "bank", 2)
    assert projects.project_status(ws, "bank")["model"]["version"] == 2


def test_a_rollback_while_pinned_moves_the_pin(loaded) -> None:  # type: ignore[no-untyped-def]
    """Pin v1, roll back to v2: v2 answers and is the pinned one (a pin left on v1 would hold
    every retrain back while v1 no longer answers)."""
    ws, truth = loaded
    _label(ws, truth, 10)
    training.train_project(ws, "bank")
    _label(ws, truth, 10)
    training.train_project(ws, "bank")
    training.pin_version(ws, "bank", 1)
    training.activate_version(ws, "bank", 2)
    assert projects.project_status(ws, "bank")["model"]["version"] == 2
    assert projects.get_project(ws, "bank").settings["pinned_version"] == 2
    _label(ws, truth, 10)
    v3 = training.train_project(ws, "bank")
    assert not v3.is_active  # still pinned: on v2 now
    training.unpin(ws, "bank")
    training.activate_version(ws, "bank", 1)  # no pin: a rollback pins nothing
    assert projects.get_project(ws, "bank").settings.get("pinned_version") is None


def test_model_worse_on_the_audit_set_is_held_back() -> None:
    active = ModelRun(
        project_id=1, version=1, classes=["a", "b"],
        metrics={"audit": {"accuracy": 0.90, "low": 0.86, "high": 0.93, "n": 200}},
    )  # fmt: skip
    worse = {"audit": {"accuracy": 0.84, "low": 0.80, "high": 0.88, "n": 200}}
    ok = {"audit": {"accuracy": 0.87, "low": 0.83, "high": 0.91, "n": 200}}
    assert training.promotion_decision({}, active, ["a", "b"], worse)[0] is False
    assert training.promotion_decision({}, active, ["a", "b"], ok)[0] is True
    assert training.promotion_decision({}, active, ["a", "b", "c"], worse)[0] is True
    assert training.promotion_decision({"pinned_version": 1}, active, ["a", "b"], ok)[0] is False


def _store_settings(ws: Workspace, project: str, **settings: object) -> None:
    """Settings written straight through storage, as an older version (or a hand edit) left them."""
    from storage.repositories import projects as project_repo

    with session_scope(ws.db) as session:
        found = project_repo.get_project(session=session, name=project)
        assert found.id is not None
        project_repo.update_project_settings(session=session, project_id=found.id, **settings)


def test_a_project_that_fails_does_not_stop_the_others_retraining(
    loaded, banking_slice, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ws, truth = loaded
    projects.update_settings(ws, project="bank", retrain_every=10)
    bad_truth = load_slice(ws, banking_slice[:20], tmp_path, project="bad")
    label_next(ws, bad_truth, 6, project="bad")
    # a setting no version of `project set` takes, left by a hand edit: training meets it
    # (a setting the retrain trigger reads is its default instead: test_retrain_settings.py)
    _store_settings(ws, "bad", batch_size="many", retrain_minutes=0.0001)
    _label(ws, truth, 10)
    with caplog.at_level("ERROR", logger="engine.jobs"):
        outcomes = {o.project: o for o in jobs.retrain_cycle(ws, owner="w1")}
    assert outcomes["bank"].version == 1
    assert outcomes["bad"].version is None and "ValueError" in outcomes["bad"].message
    assert "retraining bad failed" in caplog.text


def test_a_project_with_a_broken_schedule_does_not_stop_the_others_digests(
    loaded, banking_slice, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ws, _ = loaded
    load_slice(ws, banking_slice[:5], tmp_path, project="bad")
    _store_settings(ws, "bad", digest_cron="0 9 * * someday")
    projects.update_settings(ws, project="bank", digest_cron="*/30 * * * *")
    sent: list[str] = []
    now = utcnow() + timedelta(minutes=31)
    with caplog.at_level("ERROR", logger="engine.jobs"):
        assert jobs.digest_cycle(ws, sent.append, owner="w1", now=now) == ["bank"]
    assert "digest of bad failed" in caplog.text


def test_housekeeping_forgets_old_event_ids_and_lapsed_leases(ws: Workspace) -> None:
    """Event ids (kept to spot Slack's redeliveries) and one-off leases (a claim per disputed
    example) are kept for a while, then deleted, so neither table grows for good."""
    from engine import messaging
    from engine.scheduler import build_scheduler

    now = utcnow()
    assert messaging.first_delivery(ws, event_id="Ev1")
    two_days_ago = now - timedelta(days=2)
    with session_scope(ws.db) as s:
        assert leases.try_acquire(
            session=s, name="dispute:1", owner="a", ttl=timedelta(minutes=5), now=two_days_ago
        )
        assert leases.try_acquire(session=s, name="train:p", owner="a", ttl=timedelta(minutes=5))
    assert jobs.tidy(ws, now=now) == jobs.Tidied(events=0, leases=1)  # the live lease stays
    with session_scope(ws.db) as s:
        assert leases.holder(session=s, name="train:p") == "a"
    assert not messaging.first_delivery(ws, event_id="Ev1")  # still remembered: a redelivery
    later = now + messaging.EVENT_MEMORY + timedelta(minutes=1)
    assert jobs.tidy(ws, now=later) == jobs.Tidied(events=1, leases=1)
    assert "tidy" in {job.id for job in build_scheduler(ws).get_jobs()}


def test_a_model_stored_by_an_older_relative_path_is_found_under_the_data_dir(
    loaded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Model files used to be stored by a path relative to the directory a command ran in
    (".labelbot/models/NAME/vN.npz"); such a run answers from any directory, found under
    LABELBOT_DATA_DIR, and new files are stored by absolute path."""
    ws, truth = loaded
    _label(ws, truth, 10)
    run = training.train_project(ws, "bank")
    assert run.artifact_path is not None and Path(run.artifact_path).is_absolute()
    stored_file = Path(run.artifact_path)  # named as files were then, too
    stored_file.rename(stored_file.with_name(f"v{run.version}.npz"))
    with session_scope(ws.db) as s:
        stored = s.get(ModelRun, run.id)
        assert stored is not None
        stored.artifact_path = f".labelbot/models/bank/v{run.version}.npz"  # as stored before
        s.add(stored)
    ws.memo.clear()
    monkeypatch.chdir(tmp_path)  # a directory with no .labelbot in it
    (answer,) = training.predict_texts(ws, "bank", ["where is my new card?"])
    assert answer.label in LABELS
