"""A project's predictions (the queue order) written by several writers: each write replaces
only the rows of the examples it computed, two at once never collide, and ``lock_models`` makes
the writers of one project take turns. SQLite and PostgreSQL; the races on PostgreSQL, where
writers really overlap, with the second writer held until the database shows it waiting."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from storage.db import make_engine, session_scope
from storage.repositories import examples, models, projects
from storage.repositories.examples import NewExample
from storage.repositories.models import PredictionRow
from tests.storage.test_labeling_races import blocks_someone, wait_until


def _project(db: Engine, n: int = 4) -> tuple[int, list[int]]:
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="race", labels=["a", "b"])
        assert project.id is not None
        ids = examples.add_examples(
            session=s, project_id=project.id, rows=[NewExample(f"text {i}") for i in range(n)]
        ).ids
    return project.id, list(ids)


def _rows(ids: list[int], priority: float, label: str = "a") -> list[PredictionRow]:
    return [PredictionRow(ex, label, 0.9, [[label, 0.9]], 0.1, priority) for ex in ids]


def _stored(db: Engine, project_id: int) -> dict[int, tuple[str | None, float]]:
    with session_scope(db, read_only=True) as s:
        found = models.get_predictions(session=s, project_id=project_id)
    return {ex: (p.label, p.priority) for ex, p in found.items()}


def test_a_write_replaces_only_the_rows_of_the_examples_it_computed(db) -> None:  # type: ignore[no-untyped-def]
    """A retrain's pool was read before an import: the imported texts keep the rows their
    import's re-score gave them (the old DELETE of every row dropped them from the queue)."""
    project_id, ids = _project(db)
    with session_scope(db) as s:
        models.replace_predictions(
            session=s, project_id=project_id, model_run_id=None, rows=_rows(ids[2:], 5.0, "b")
        )
    with session_scope(db) as s:  # computed on the pool before ids[2:] were imported
        models.replace_predictions(
            session=s, project_id=project_id, model_run_id=None, rows=_rows(ids[:3], 7.0)
        )
    assert _stored(db, project_id) == {
        ids[0]: ("a", 7.0),
        ids[1]: ("a", 7.0),
        ids[2]: ("a", 7.0),  # in both: the later write's
        ids[3]: ("b", 5.0),  # kept
    }
    with session_scope(db) as s:
        models.replace_predictions(session=s, project_id=project_id, model_run_id=None, rows=[])
    assert len(_stored(db, project_id)) == 4


def _overlap(
    db_url_and_schema: Any,
    first: Callable[[Any], None],
    second: Callable[[Any], Any],
) -> tuple[list[Any], list[BaseException]]:
    """``first`` runs in a transaction left open; ``second`` starts in another connection and
    runs until it waits for the first's locks; then the first commits. Returns the second's
    results and the errors of both."""
    url, schema = db_url_and_schema
    engines = [make_engine(url, schema=schema) for _ in range(2)]
    wrote, release = threading.Event(), threading.Event()
    pids: list[int] = []
    results: list[Any] = []
    errors: list[BaseException] = []

    def run_first() -> None:
        try:
            with session_scope(engines[0]) as s:
                pids.append(int(s.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()))
                first(s)
                wrote.set()
                assert release.wait(30)
        except BaseException as exc:
            errors.append(exc)
            wrote.set()

    def run_second() -> None:
        try:
            with session_scope(engines[1]) as s:
                results.append(second(s))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run_first, daemon=True)]
    threads[0].start()
    assert wrote.wait(30) and not errors, errors
    threads.append(threading.Thread(target=run_second, daemon=True))
    threads[1].start()
    wait_until(lambda: blocks_someone(engines[0], pids[0]), "the second writer to wait", 30)
    release.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a writer is stuck"
    for engine in engines:
        engine.dispose()
    return results, errors


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_two_writes_at_once_do_not_collide(db_url_and_schema, db) -> None:  # type: ignore[no-untyped-def]
    """Two re-scores at once: PostgreSQL's second DELETE did not see the rows the first one
    inserted, and its INSERT then failed on the primary key (a duplicate-key IntegrityError)."""
    project_id, ids = _project(db)
    with session_scope(db) as s:
        models.replace_predictions(
            session=s, project_id=project_id, model_run_id=None, rows=_rows(ids, 1.0)
        )

    def write(priority: float) -> Callable[[Any], None]:
        def run(s: Any) -> None:
            models.replace_predictions(
                session=s, project_id=project_id, model_run_id=None, rows=_rows(ids, priority)
            )

        return run

    _, errors = _overlap(db_url_and_schema, write(2.0), write(3.0))
    assert errors == []
    assert _stored(db, project_id) == {ex: ("a", 3.0) for ex in ids}  # the later one's


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_lock_models_makes_a_projects_writers_take_turns(db_url_and_schema, db) -> None:  # type: ignore[no-untyped-def]
    """The second waits for the first to commit, then reads the project as the first left it
    (its settings re-read, not a copy from before the wait)."""
    project_id, ids = _project(db)

    def first(s: Any) -> None:
        models.lock_models(session=s, project_id=project_id)
        projects.update_project_settings(session=s, project_id=project_id, pinned_version=1)

    def second(s: Any) -> Any:
        stale = projects.get_project_by_id(session=s, project_id=project_id)  # read before
        assert stale.settings.get("pinned_version") is None
        return models.lock_models(session=s, project_id=project_id).settings

    results, errors = _overlap(db_url_and_schema, first, second)
    assert errors == []
    assert results == [{"pinned_version": 1}]
