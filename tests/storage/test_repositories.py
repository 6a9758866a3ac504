"""Storage behaviour on real SQLite and real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.db import current_revision, session_scope, upgrade
from storage.errors import ConflictError, InvalidInputError, NotFoundError
from storage.models import utcnow
from storage.repositories import assignments, examples, feedback, flags, models, projects
from storage.repositories.examples import NewExample


def _project(db, name="p", labels=("a", "b", "c")):  # type: ignore[no-untyped-def]
    with session_scope(db) as s:
        return projects.create_project(session=s, name=name, labels=list(labels))


def test_migrations_reach_head_and_are_idempotent(db) -> None:  # type: ignore[no-untyped-def]
    assert current_revision(db) is not None
    upgrade(db)  # a second run changes nothing and does not fail
    with session_scope(db) as s:
        assert projects.list_projects(session=s) == []


def test_project_and_labels(db) -> None:  # type: ignore[no-untyped-def]
    project = _project(db)
    with session_scope(db) as s:
        assert [lb.name for lb in projects.list_labels(session=s, project_id=project.id)] == [
            "a",
            "b",
            "c",
        ]
        projects.add_labels(session=s, project_id=project.id, names=["d"])
    with pytest.raises(ConflictError), session_scope(db) as s:
        projects.create_project(session=s, name="p", labels=["x"])
    with pytest.raises(ConflictError), session_scope(db) as s:
        projects.add_labels(session=s, project_id=project.id, names=["a"])
    with pytest.raises(InvalidInputError, match="unknown label 'zz'"), session_scope(db) as s:
        projects.get_label(session=s, project_id=project.id, name="zz")
    with pytest.raises(NotFoundError, match="no project named 'nope'"), session_scope(db) as s:
        projects.get_project(session=s, name="nope")


def test_examples_are_deduplicated_by_content(db) -> None:  # type: ignore[no-untyped-def]
    project = _project(db)
    rows = [NewExample("Hello  world"), NewExample("other"), NewExample("Hello world")]
    with session_scope(db) as s:
        added = examples.add_examples(session=s, project_id=project.id, rows=rows)
    assert (added.inserted, added.duplicates) == (2, 1)
    assert added.ids[0] == added.ids[2]
    with session_scope(db) as s:
        again = examples.add_examples(session=s, project_id=project.id, rows=rows[:2])
        assert (again.inserted, again.duplicates) == (0, 2)
        assert examples.count_examples(session=s, project_id=project.id) == 2


def test_annotation_is_stored_once_per_key(db) -> None:  # type: ignore[no-untyped-def]
    project = _project(db)
    with session_scope(db) as s:
        ex_id = examples.add_examples(session=s, project_id=project.id, rows=[NewExample("t")]).ids[
            0
        ]
        label = projects.get_label(session=s, project_id=project.id, name="a")
    for _ in range(3):
        with session_scope(db) as s:
            feedback.add_annotation(
                session=s,
                example_id=ex_id,
                label_id=label.id,
                annotator="U1",
                source="slack",
                key="ts1:U1",
            )
    with session_scope(db) as s:
        assert feedback.count_annotations(session=s, project_id=project.id) == 1
        assert feedback.current_labels(session=s, project_id=project.id) == {ex_id: "a"}


def test_current_label_is_majority_then_latest_and_undo_retracts(db) -> None:  # type: ignore[no-untyped-def]
    project = _project(db)
    with session_scope(db) as s:
        ex = examples.add_examples(session=s, project_id=project.id, rows=[NewExample("t")]).ids[0]
        ids = {n: projects.get_label(session=s, project_id=project.id, name=n).id for n in "abc"}
        t0 = utcnow()
        for i, (who, lab) in enumerate([("U1", "a"), ("U2", "b"), ("U3", "b"), ("U4", "a")]):
            feedback.add_annotation(
                session=s,
                example_id=ex,
                label_id=ids[lab],
                annotator=who,
                source="cli",
                key=f"k{i}",
                created_at=t0 + timedelta(seconds=i),
            )
    with session_scope(db) as s:
        # 2 vs 2: the latest vote (U4: a) breaks the tie
        assert feedback.current_labels(session=s, project_id=project.id)[ex] == "a"
        last = feedback.list_annotations(session=s, project_id=project.id)[-1]
        feedback.retract_annotation(session=s, annotation_id=last.id, annotator="U4")
    with session_scope(db) as s:
        assert feedback.current_labels(session=s, project_id=project.id)[ex] == "b"
        assert feedback.count_annotations(session=s, project_id=project.id) == 3


def test_comments_are_stored_once_per_external_key(db) -> None:  # type: ignore[no-untyped-def]
    project = _project(db)
    with session_scope(db) as s:
        ex = examples.add_examples(session=s, project_id=project.id, rows=[NewExample("t")]).ids[0]
    for _ in range(2):
        with session_scope(db) as s:
            feedback.add_comment(
                session=s, example_id=ex, author="U1", text="hm", external_key="slack:C1:1.2"
            )
    with session_scope(db) as s:
        assert [c.text for c in feedback.list_comments(session=s, project_id=project.id)] == ["hm"]


def test_claims_follow_priority_and_never_share_an_example(db) -> None:  # type: ignore[no-untyped-def]
    project = _project(db)
    with session_scope(db) as s:
        ids = examples.add_examples(
            session=s, project_id=project.id, rows=[NewExample(f"text {i}") for i in range(4)]
        ).ids
        models.replace_predictions(
            session=s,
            project_id=project.id,
            model_run_id=None,
            rows=[
                models.PredictionRow(ex, None, None, [], 0.0, priority=float(p))
                for ex, p in zip(ids, [1, 4, 3, 2], strict=True)
            ],
        )
    ttl = timedelta(minutes=5)
    with session_scope(db) as s:
        ex1, a1 = assignments.claim_next_example(
            session=s, project_id=project.id, annotator="U1", ttl=ttl
        )
    with session_scope(db) as s:
        ex2, _ = assignments.claim_next_example(
            session=s, project_id=project.id, annotator="U2", ttl=ttl
        )
        # asking again gives U1 the example they already hold
        again, _ = assignments.claim_next_example(
            session=s, project_id=project.id, annotator="U1", ttl=ttl
        )
    assert (ex1.id, ex2.id, again.id) == (ids[1], ids[2], ids[1])
    with session_scope(db) as s:
        assignments.close_assignment(session=s, assignment_id=a1.id, status="skipped")
        ex3, _ = assignments.claim_next_example(
            session=s, project_id=project.id, annotator="U1", ttl=ttl
        )
    assert ex3.id == ids[3]  # skipped ex1 is not offered to U1 again; ex2 is with U2


def test_unanswered_example_returns_to_the_pool(db) -> None:  # type: ignore[no-untyped-def]
    project = _project(db)
    with session_scope(db) as s:
        (ex,) = examples.add_examples(session=s, project_id=project.id, rows=[NewExample("x")]).ids
    now = utcnow()
    with session_scope(db) as s:
        got = assignments.claim_next_example(
            session=s, project_id=project.id, annotator="U1", ttl=timedelta(minutes=1), now=now
        )
        assert got is not None
    with session_scope(db) as s:
        assert (
            assignments.claim_next_example(
                session=s, project_id=project.id, annotator="U2", ttl=timedelta(minutes=1), now=now
            )
            is None
        )
    later = now + timedelta(minutes=2)
    with session_scope(db) as s:
        got2 = assignments.claim_next_example(
            session=s, project_id=project.id, annotator="U2", ttl=timedelta(minutes=1), now=later
        )
    assert got2 is not None and got2[0].id == ex


def test_flagged_and_labeled_examples_leave_the_queue(db) -> None:  # type: ignore[no-untyped-def]
    project = _project(db)
    with session_scope(db) as s:
        a, b = examples.add_examples(
            session=s, project_id=project.id, rows=[NewExample("x"), NewExample("y")]
        ).ids
        flag = flags.add_flag(session=s, example_id=a, annotator="U1", reason="unclear")
        label = projects.get_label(session=s, project_id=project.id, name="a")
        feedback.add_annotation(
            session=s, example_id=b, label_id=label.id, annotator="U1", source="cli", key="k"
        )
        assert assignments.count_free_examples(session=s, project_id=project.id) == 0
        assert (
            assignments.claim_next_example(
                session=s, project_id=project.id, annotator="U1", ttl=timedelta(minutes=1)
            )
            is None
        )
        flags.resolve_flag(session=s, flag_id=flag.id, resolved_by="U2")
        assert assignments.count_free_examples(session=s, project_id=project.id) == 1


def test_model_runs_version_and_activate(db) -> None:  # type: ignore[no-untyped-def]
    project = _project(db)
    with session_scope(db) as s:
        r1 = models.start_model_run(session=s, project_id=project.id, n_labels=3, classes=["a"])
        r2 = models.start_model_run(session=s, project_id=project.id, n_labels=5, classes=["a"])
        models.finish_model_run(session=s, run_id=r2.id, status="ready", metrics={"accuracy": 0.5})
        models.activate_model_run(session=s, project_id=project.id, run_id=r2.id)
    with session_scope(db) as s:
        active = models.get_active_model_run(session=s, project_id=project.id)
        assert active is not None and (active.version, active.metrics) == (2, {"accuracy": 0.5})
        assert [r.version for r in models.list_model_runs(session=s, project_id=project.id)] == [
            r1.version,
            2,
        ]


def test_failed_transaction_leaves_nothing(db) -> None:  # type: ignore[no-untyped-def]
    project = _project(db)
    with pytest.raises(RuntimeError), session_scope(db) as s:
        examples.add_examples(session=s, project_id=project.id, rows=[NewExample("x")])
        raise RuntimeError("crash mid-import")
    with session_scope(db) as s:
        assert examples.count_examples(session=s, project_id=project.id) == 0


def test_migrations_match_the_models(db) -> None:  # type: ignore[no-untyped-def]
    """Every table and column in storage/models.py is created by a migration (nothing missing);
    the migrations' bookkeeping (labelbot_schema_compat) has no model."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    from storage.db import bookkeeping_table

    with db.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": bookkeeping_table})
        diff = compare_metadata(context, SQLModel.metadata)
    # server-side type spellings differ by dialect; tables, columns and indexes must not
    kinds = (
        "add_table",
        "remove_table",
        "add_column",
        "remove_column",
        "add_index",
        "remove_index",
    )
    structural = [d for d in diff if d[0] in kinds]
    assert structural == []
