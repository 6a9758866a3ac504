"""Scheduler jobs when processes race or die: a digest two schedulers find due goes out once,
and a training run that never finished (its process killed, or failed) does not swallow the
labels that triggered it -- on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

from engine import jobs, projects
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import feedback, models
from storage.repositories import projects as project_repo


def test_a_digest_due_in_two_schedulers_is_sent_once(ws, db_url_and_schema, encoder) -> None:  # type: ignore[no-untyped-def]
    """B's cycle starts first and is slow on p1 (a rate-limited channel); A's whole cycle runs
    meanwhile: it sends p2 and p3 and releases their leases. B, reaching p2 and p3 with its
    "due" verdict from the start of its cycle, must look again once it holds the lease. The
    order is forced, so each cycle's clock reads are ordered too (B's, then A's)."""
    for name in ("p1", "p2", "p3"):
        projects.create_project(ws, name=name, labels=["a", "b"], channel_id=f"C{name.upper()}")
        projects.update_settings(ws, project=name, digest_cron="* * * * *",
                                 last_digest_at="2026-01-01T00:00:00+00:00")  # fmt: skip
    _, schema = db_url_and_schema
    sent: list[tuple[str, str]] = []
    lock = threading.Lock()
    b_sending, a_done = threading.Event(), threading.Event()
    errors: list[Exception] = []

    def replica(owner: str) -> None:
        own = Workspace.open(ws.settings, schema=schema, encoder=encoder, migrate=False)

        def send(name: str) -> None:
            with lock:
                sent.append((owner, name))
            if owner == "B" and name == "p1":  # slow: A's whole cycle runs meanwhile
                b_sending.set()
                assert a_done.wait(60), "A's cycle did not end"

        try:
            if owner == "A":
                assert b_sending.wait(60), "B never sent p1"
            jobs.digest_cycle(own, send, owner=owner)
        except Exception as exc:  # a thread's failure fails the test below
            errors.append(exc)
        finally:
            if owner == "A":
                a_done.set()
            own.close()

    threads = [threading.Thread(target=replica, args=(owner,)) for owner in ("B", "A")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(sent) == [("A", "p2"), ("A", "p3"), ("B", "p1")], sent


def _labels(ws: Workspace, n: int) -> None:
    """``n`` labels on the project's examples, as if experts had just given them."""
    import sqlalchemy as sa

    with session_scope(ws.db) as session:
        found = project_repo.get_project(session=session, name="bank")
        assert found.id is not None
        label = project_repo.list_labels(session=session, project_id=found.id)[0]
        ids = session.execute(
            sa.text("SELECT id FROM examples WHERE project_id = :p ORDER BY id"), {"p": found.id}
        ).scalars()
        for example in list(ids)[:n]:
            feedback.add_annotation(
                session=session, example_id=int(example), label_id=int(label.id or 0),
                annotator="U1", source="slack", key=f"test:{example}",
            )  # fmt: skip


def _bank(ws: Workspace, tmp_path) -> int:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="bank", labels=["a", "b"])
    path = tmp_path / "bank.csv"
    path.write_text("text\n" + "".join(f"text number {i}\n" for i in range(12)), encoding="utf-8")
    projects.import_file(ws, project="bank", path=path, embed=False)
    projects.update_settings(ws, project="bank", retrain_every=5, retrain_minutes=10)
    return int(projects.get_project(ws, "bank").id or 0)


def test_labels_before_a_killed_training_run_still_trigger_a_retrain(ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pid = _bank(ws, tmp_path)
    _labels(ws, 8)
    assert jobs.retrain_decision(ws, "bank").due
    with session_scope(ws.db) as s:  # a worker started training on them, then was killed
        models.start_model_run(session=s, project_id=pid, n_labels=8, classes=["a", "b"])
    # while it may still be training elsewhere: wait, do not start a second run at each poll
    waiting = jobs.retrain_decision(ws, "bank")
    assert not waiting.due and waiting.new_labels == 8 and "did not finish" in waiting.reason
    # once the timer has passed, its labels are still new: nothing trained on them
    later = jobs.retrain_decision(ws, "bank", now=utcnow() + timedelta(minutes=11))
    assert later.due and later.new_labels == 8, later


def test_labels_before_a_failed_run_still_count_and_a_ready_run_resets_them(ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pid = _bank(ws, tmp_path)
    _labels(ws, 6)
    with session_scope(ws.db) as s:
        run = models.start_model_run(session=s, project_id=pid, n_labels=6, classes=["a", "b"])
        assert run.id is not None
        models.finish_model_run(session=s, run_id=run.id, status="failed")
    assert not jobs.retrain_decision(ws, "bank").due  # not in a loop: after the timer
    later = jobs.retrain_decision(ws, "bank", now=utcnow() + timedelta(minutes=11))
    assert later.due and later.new_labels == 6
    with session_scope(ws.db) as s:
        run = models.start_model_run(session=s, project_id=pid, n_labels=6, classes=["a", "b"])
        assert run.id is not None
        models.finish_model_run(session=s, run_id=run.id, status="ready")
    done = jobs.retrain_decision(ws, "bank", now=utcnow() + timedelta(minutes=11))
    assert not done.due and done.new_labels == 0  # the finished run trained on them
