"""The taxonomy's storage: events, the resolved label mapping, the relabel queue, migration 0004."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from storage.db import session_scope, upgrade
from storage.models import Label
from storage.repositories import assignments, examples, feedback, projects, taxonomy
from storage.repositories.examples import NewExample


def _setup(db, n_examples=4):  # type: ignore[no-untyped-def]
    """Project p (labels a, b, c, d); example i labeled with label i by 'u' (a, b, c, d)."""
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="p", labels=["a", "b", "c", "d"])
        ids = examples.add_examples(
            session=s,
            project_id=project.id,
            rows=[NewExample(f"text {i}") for i in range(n_examples + 2)],
        ).ids
        labels = {lb.name: lb for lb in projects.list_labels(session=s, project_id=project.id)}
        for i, name in enumerate("abcd"[:n_examples]):
            feedback.add_annotation(
                session=s,
                example_id=ids[i],
                label_id=labels[name].id,
                annotator="u",
                source="cli",
                key=f"k{i}",
            )
    return project.id, ids, {k: v.id for k, v in labels.items()}


def _label(s, label_id):  # type: ignore[no-untyped-def]
    return s.get(Label, label_id)


def test_mapping_stays_resolved_through_chains(db) -> None:  # type: ignore[no-untyped-def]
    pid, ids, lb = _setup(db)
    with session_scope(db) as s:
        taxonomy.map_label(session=s, label=_label(s, lb["a"]), to_label_id=lb["b"])
    with session_scope(db) as s:
        assert taxonomy.label_targets(session=s, project_id=pid) == {
            lb["a"]: "b", lb["b"]: "b", lb["c"]: "c", lb["d"]: "d"
        }  # fmt: skip
        # b merged into c: a, already mapped to b, follows to c (no chain to walk later)
        taxonomy.map_label(session=s, label=_label(s, lb["b"]), to_label_id=lb["c"])
    with session_scope(db) as s:
        assert _label(s, lb["a"]).mapped_to_id == lb["c"]
        assert feedback.current_labels(session=s, project_id=pid) == {
            ids[0]: "c", ids[1]: "c", ids[2]: "c", ids[3]: "d"
        }  # fmt: skip
        assert taxonomy.labels_mapped_to(session=s, label_id=lb["c"]) == sorted([lb["a"], lb["b"]])
        # c split: everything that counted as c now waits for a relabel
        taxonomy.map_label(session=s, label=_label(s, lb["c"]), to_label_id=None)
    with session_scope(db) as s:
        assert feedback.current_labels(session=s, project_id=pid) == {ids[3]: "d"}
        assert taxonomy.examples_to_relabel(session=s, project_id=pid) == ids[:3]
        rows = feedback.list_annotations(session=s, project_id=pid)
        assert [(r.label, r.current) for r in rows] == [
            ("a", None), ("b", None), ("c", None), ("d", "d")
        ]  # fmt: skip
        # a and b count for nothing now: none of their examples is an example of them
        assert taxonomy.count_label_examples(session=s, label_ids=[lb["a"], lb["b"]]) == 0
        assert taxonomy.count_label_examples(session=s, label_ids=[lb["d"]]) == 1


def test_votes_are_counted_after_mapping(db) -> None:  # type: ignore[no-untyped-def]
    pid, ids, lb = _setup(db, n_examples=0)
    with session_scope(db) as s:
        for who, name in [("u1", "a"), ("u2", "b"), ("u3", "c")]:
            feedback.add_annotation(
                session=s, example_id=ids[0], label_id=lb[name], annotator=who,
                source="cli", key=f"{who}",
            )  # fmt: skip
        assert feedback.current_labels(session=s, project_id=pid) == {ids[0]: "c"}  # tie: latest
        taxonomy.map_label(session=s, label=_label(s, lb["a"]), to_label_id=lb["b"])
        # a's vote now counts for b: two votes beat one
        assert feedback.current_labels(session=s, project_id=pid) == {ids[0]: "b"}
        assert feedback.current_labels(session=s, project_id=pid, active_labels={"c"}) == {
            ids[0]: "c"
        }


def test_a_labels_examples_are_those_it_is_the_agreed_label_of(db) -> None:  # type: ignore[no-untyped-def]
    """As `labelbot status` counts them: an example where a's one vote lost to two for b is b's
    (the count used to be of any live vote, so a retire or merge said one example too many)."""
    pid, ids, lb = _setup(db, n_examples=1)  # ids[0] labeled a by u
    with session_scope(db) as s:
        for who in ("v", "w"):
            feedback.add_annotation(
                session=s, example_id=ids[1], label_id=lb["b"], annotator=who, source="cli",
                key=f"{who}:b",
            )  # fmt: skip
        feedback.add_annotation(
            session=s, example_id=ids[1], label_id=lb["a"], annotator="u", source="cli", key="u:a"
        )
    with session_scope(db) as s:
        assert feedback.current_labels(session=s, project_id=pid) == {ids[0]: "a", ids[1]: "b"}
        assert taxonomy.count_label_examples(session=s, label_ids=[lb["a"]]) == 1
        assert taxonomy.count_label_examples(session=s, label_ids=[lb["b"]]) == 1
        assert taxonomy.count_label_examples(session=s, label_ids=[lb["a"], lb["b"]]) == 2
        # c mapped to a: c's votes are a's, so counting a with c counts what counts as a
        taxonomy.map_label(session=s, label=_label(s, lb["c"]), to_label_id=lb["a"])
        assert taxonomy.count_label_examples(session=s, label_ids=[lb["a"], lb["c"]]) == 1
        assert taxonomy.count_label_examples(session=s, label_ids=[]) == 0


def test_examples_to_relabel_come_first_in_the_queue(db) -> None:  # type: ignore[no-untyped-def]
    pid, ids, lb = _setup(db)
    with session_scope(db) as s:
        assert assignments.count_free_examples(session=s, project_id=pid) == 2
        taxonomy.map_label(session=s, label=_label(s, lb["c"]), to_label_id=None)
        assert assignments.count_free_examples(session=s, project_id=pid) == 3
    with session_scope(db) as s:
        got = assignments.claim_next_example(
            session=s, project_id=pid, annotator="u", ttl=timedelta(minutes=5)
        )
        assert got is not None and got[0].id == ids[2]  # the relabel, before the never-labeled
        got = assignments.claim_next_example(
            session=s, project_id=pid, annotator="v", ttl=timedelta(minutes=5)
        )
        assert got is not None and got[0].id == ids[4]


def test_events_and_former_names(db) -> None:  # type: ignore[no-untyped-def]
    pid, _, lb = _setup(db)
    with session_scope(db) as s:
        label = _label(s, lb["a"])
        taxonomy.rename_label(session=s, label=label, new_name="  alpha  ")
        taxonomy.record_event(
            session=s, project_id=pid, kind="rename", actor="ana", reason="clearer",
            details={"label_id": lb["a"], "old": "a", "new": "alpha"},
        )  # fmt: skip
        taxonomy.describe_label(session=s, label=label, description=" first letter ")
    with session_scope(db) as s:
        assert _label(s, lb["a"]).name == "alpha"
        assert _label(s, lb["a"]).description == "first letter"
        events = taxonomy.list_events(session=s, project_id=pid)
        assert [(e.kind, e.actor, e.reason, e.details["new"]) for e in events] == [
            ("rename", "ana", "clearer", "alpha")
        ]
        found = taxonomy.find_by_former_name(session=s, project_id=pid, name="a")
        assert found is not None and found.id == lb["a"]
        assert taxonomy.find_by_former_name(session=s, project_id=pid, name="b") is None
        assert taxonomy.active_names(session=s, project_id=pid) == ["alpha", "b", "c", "d"]


def test_migration_0004_keeps_existing_data(db) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    from storage.db import alembic_config

    config = alembic_config(db)
    with db.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    with db.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO projects (name, description, created_at, settings) "
                "VALUES ('p', '', '2026-01-01', '{}')"
            )
        )
        pid = conn.execute(sa.text("SELECT id FROM projects")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO labels (project_id, name, description, active, position, created_at)"
                " VALUES (:p, 'a', '', true, 0, '2026-01-01')"
            ),
            {"p": pid},
        )
        lid = conn.execute(sa.text("SELECT id FROM labels")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO examples (project_id, text, meta, content_hash, created_at, audit) "
                "VALUES (:p, 't', '{}', 'h', '2026-01-01', false)"
            ),
            {"p": pid},
        )
        eid = conn.execute(sa.text("SELECT id FROM examples")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO annotations (example_id, label_id, annotator, source, created_at, "
                "idempotency_key) VALUES (:e, :l, 'u', 'cli', '2026-01-01', 'k')"
            ),
            {"e": eid, "l": lid},
        )
    upgrade(db)  # labels is referenced by annotations: the column must be added in place
    with session_scope(db) as s:
        assert feedback.current_labels(session=s, project_id=pid) == {eid: "a"}
        assert _label(s, lid).mapped_to_id is None
