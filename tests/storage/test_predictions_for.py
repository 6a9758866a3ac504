"""Stored predictions of many examples at once (``labelbot predict FILE``, the API): one IN
query per chunk of ids, not one round trip per text. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import event

from storage.db import session_scope
from storage.repositories import examples, models, projects
from storage.repositories.examples import NewExample
from storage.repositories.models import PredictionRow


def test_predictions_of_many_examples_in_one_query(db) -> None:  # type: ignore[no-untyped-def]
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="p", labels=["a", "b"])
        assert project.id is not None
        added = examples.add_examples(
            session=s, project_id=project.id, rows=[NewExample(f"text {i}") for i in range(5)]
        )
        ids = list(added.ids)
        run = models.start_model_run(session=s, project_id=project.id, n_labels=2, classes=["a"])
        models.replace_predictions(
            session=s,
            project_id=project.id,
            model_run_id=run.id,
            rows=[
                PredictionRow(
                    example_id=i,
                    label="a",
                    confidence=0.9,
                    probs=[["a", 0.9]],
                    uncertainty=0.1,
                    priority=0.1,
                )  # fmt: skip
                for i in ids[:3]
            ],
        )
    statements: list[str] = []
    event.listen(db, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with session_scope(db, read_only=True) as s:
        # repeats and an id with no prediction (or no example) are fine
        found = models.get_predictions_for(session=s, example_ids=[*ids, ids[0], 10**9])
        assert sorted(found) == sorted(ids[:3])
        assert all(found[i].example_id == i and found[i].label == "a" for i in ids[:3])
        assert models.get_predictions_for(session=s, example_ids=[]) == {}
    assert len([q for q in statements if "prediction" in q.lower()]) == 1


def test_more_ids_than_one_in_list_holds(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(models, "_CHUNK", 2)
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="p", labels=["a", "b"])
        assert project.id is not None
        ids = list(
            examples.add_examples(
                session=s, project_id=project.id, rows=[NewExample(f"t {i}") for i in range(5)]
            ).ids
        )
        models.replace_predictions(
            session=s, project_id=project.id, model_run_id=None,
            rows=[PredictionRow(example_id=i, label=None, confidence=None, probs=[],
                                uncertainty=0.0, priority=0.0) for i in ids],
        )  # fmt: skip
    with session_scope(db, read_only=True) as s:
        assert sorted(models.get_predictions_for(session=s, example_ids=ids)) == sorted(ids)
