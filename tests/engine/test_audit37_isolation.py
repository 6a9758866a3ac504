"""Audit 37: isolation between projects in the engine. A team runs several projects in one
database, served by one `labelbot serve` while admins use the CLI (another process) beside it.
What one project did must not decide what another does, also a project deleted and created
again under the same name. Each xfail (strict) test is a bug found, kept until fixed; on
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from engine import jobs, labeling, projects, training
from storage.db import session_scope
from storage.repositories import projects as projects_repo
from storage.repositories import proposals as proposals_repo
from tests.engine.test_proposing import make_project
from tests.helpers import label_next, load_slice


def test_a_failure_noted_for_a_deleted_project_does_not_hold_back_its_namesake(  # type: ignore[no-untyped-def]
    ws, replica, banking_slice, tmp_path: Path
) -> None:
    """The bot (``ws``) tried to train `bank` while its labels were all of one class: not ready,
    noted in this process so that it is tried again only after retrain_minutes. An admin then
    deletes `bank` with the CLI (``replica``, another process) and creates a new `bank` whose
    labels are ready. The bot's next rounds say "the last try failed (project 'bank' needs
    labels in at least 2 classes ...)" about the new project and train nothing for another
    retrain_minutes (a day, for a team that set 1440): the note is kept under the project's
    name (engine.jobs: ``ws.notes[(TRAIN_FAILED, name)]``), and only the deleting process
    forgets it."""
    truth = load_slice(ws, banking_slice[:20], tmp_path)
    projects.update_settings(ws, project="bank", retrain_every=2, retrain_minutes=1440)
    one_class = {text: "card_arrival" for text in truth}
    label_next(ws, one_class, 3)
    [outcome] = jobs.retrain_cycle(ws, owner="bot")
    assert outcome.version is None and "at least 2 classes" in outcome.message, outcome

    projects.delete_project(replica, "bank")
    fresh = load_slice(replica, banking_slice[20:60], tmp_path)
    projects.update_settings(replica, project="bank", retrain_every=2, retrain_minutes=1440)
    label_next(replica, fresh, 10)

    decision = jobs.retrain_decision(ws, "bank")
    assert decision.due, decision.reason
    [trained] = jobs.retrain_cycle(ws, owner="bot")
    assert trained.version == 1, trained


def test_a_failure_noted_here_does_not_outlive_a_model_trained_elsewhere(  # type: ignore[no-untyped-def]
    ws, replica, banking_slice, tmp_path: Path
) -> None:
    """The same note (engine.jobs ``ws.notes[(TRAIN_FAILED, name)]``), kept whatever happens
    in the database since: the bot's try failed (labels of one class), an admin labels more and
    trains with the CLI (``replica``), which works; 10 new labels later the bot's rounds still
    say "the last try failed ...: trying again 1440 min after" and keep the new labels out of
    a model for the rest of the day."""
    truth = load_slice(ws, banking_slice[:60], tmp_path)
    projects.update_settings(ws, project="bank", retrain_every=2, retrain_minutes=1440)
    label_next(ws, {text: "card_arrival" for text in truth}, 3)
    [outcome] = jobs.retrain_cycle(ws, owner="bot")
    assert outcome.version is None and "at least 2 classes" in outcome.message, outcome

    label_next(replica, truth, 10)
    assert training.train_project(replica, "bank").version == 1
    label_next(replica, truth, 10)

    decision = jobs.retrain_decision(ws, "bank")
    assert decision.due, decision.reason


def _statements(ws, project: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The SQL statements one "proposals due?" check of ``project`` runs (the scheduler asks it
    of every project at every poll, engine.jobs.proposal_cycle -> proposing.refresh_due)."""
    ran: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        ran.append(statement)

    with session_scope(ws.db, read_only=True) as s:
        pid = projects_repo.get_project(session=s, name=project).id
        assert pid is not None
        event.listen(ws.db, "before_cursor_execute", seen)
        try:
            proposals_repo.refresh_watermark(session=s, project_id=pid)
        finally:
            event.remove(ws.db, "before_cursor_execute", seen)
    return ran


def test_work_in_one_project_does_not_recount_another_idle_one(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """The "proposals due?" check remembers a project's counts (they read the whole project:
    every annotation, flag, skip and thread of it) while nothing that could grow them moved
    (storage.repositories.proposals.refresh_watermark). What it watches is the highest
    annotation, flag, thread and assignment id of the whole database, and the project's open
    deliveries: so while anyone labels anything, in a team running several projects, every
    project idle or not is counted afresh at every poll (every 15 s), which the memory was
    there to avoid. An idle project's check should stay one cheap statement whatever the other
    projects do."""
    make_project(ws, tmp_path, banking_slice[:40], labeled=4, name="bank")
    truth = make_project(ws, tmp_path, banking_slice[40:80], labeled=0, name="shop")
    _statements(ws, "bank")
    idle = _statements(ws, "bank")  # remembered: nothing moved
    assert len(idle) == 1, idle

    task = labeling.next_task(ws, project="shop", annotator="cy")
    assert task is not None
    labeling.submit_label(ws, project="shop", example_id=task.example_id,
                          label=truth[task.text], annotator="cy", source="slack",
                          key="shop-1")  # fmt: skip

    assert len(_statements(ws, "bank")) == len(idle), "bank counted afresh for shop's label"


def test_deleting_a_project_named_embeddings_leaves_the_shared_cache(  # type: ignore[no-untyped-def]
    db_url_and_schema, encoder, banking_slice, tmp_path: Path
) -> None:
    """README: `project delete` removes the project's files, "Other projects and the embedding
    cache (shared by text) are left as they are". LABELBOT_MODELS_DIR holds "one folder per
    project" and may be any folder, the data directory itself too (one volume every replica
    mounts). A project's folder is then ``<data dir>/<name>``, and the embedding cache is
    ``<data dir>/embeddings``: deleting a project called `embeddings` deletes every file in
    that folder (engine.projects._remove_files takes all of its model folder), the vectors of
    every other project's texts with them (and `graphs` every project's pool graph)."""
    from engine.config import Settings
    from engine.workspace import Workspace

    url, schema = db_url_and_schema
    data = tmp_path / "data"
    settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=data, LABELBOT_MODELS_DIR=data)
    ws = Workspace.open(settings, schema=schema, encoder=encoder, migrate=False)
    try:
        load_slice(ws, banking_slice[:20], tmp_path)  # bank's texts embedded, in the cache
        cache = data / "embeddings"
        kept = sorted(p for p in cache.rglob("*") if p.is_file())
        assert kept, "bank's texts were not cached"
        projects.create_project(ws, name="embeddings", labels=["a", "b"])

        projects.delete_project(ws, "embeddings")

        left = sorted(p for p in cache.rglob("*") if p.is_file())
        assert left == kept, "deleting project 'embeddings' deleted the shared embedding cache"
    finally:
        ws.close()
