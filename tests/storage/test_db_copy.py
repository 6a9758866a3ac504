"""`labelbot db copy`: a whole database into another, empty one, SQLite → PostgreSQL → SQLite.

The source is a project as a team leaves it: examples, votes from several experts (one undone),
a trained model, a merge into a label created after the merged ones (a reference to a later row
of the same table), an added label that an undo removed (an id the copy must never hand out
again), comments, flags, threads, reviews, proposals, Slack bookkeeping, settings. Every table's
rows must come out the same, the copy must work as the original does, and a failed copy must
leave the target as empty as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from engine import consensus, discussions, exporting, labeling, projects, taxonomy, training
from engine.config import Settings
from engine.database import copy_to
from engine.workspace import Workspace
from storage.copying import SKIPPED
from storage.db import is_sqlite, make_engine, session_scope, upgrade
from storage.errors import ConflictError, InvalidInputError
from storage.models import (
    Annotation,
    Label,
    LabelingBatch,
    Lease,
    MultiLabelRequest,
    OutboxMessage,
    Person,
    Prediction,
    ProcessedEvent,
    Review,
    TaxonomyProposal,
)
from tests.conftest import POSTGRES_URL, _postgres_schema_engine
from tests.helpers import label_next, load_slice

PROJECT = "bank"
EXPERTS = ("U1", "U2", "U3")


# --- a realistic source -------------------------------------------------------------------------


def build_source(ws: Workspace, rows: list[tuple[str, str]], tmp_path: Path) -> dict[str, Any]:
    """Fill ``ws`` as a team would over a few weeks; returns what the checks need to know."""
    truth = load_slice(ws, rows, tmp_path, project=PROJECT, channel_id="C0PROJECT")
    projects.update_settings(ws, project=PROJECT, audit_share=0.2, admins=["U1"])
    label_next(ws, truth, 24, annotators=EXPERTS, project=PROJECT, source="slack")
    # a vote undone, the example labeled again otherwise, and an admin's adjudication
    with session_scope(ws.db, read_only=True) as session:
        first = session.execute(sa.select(Annotation).order_by(Annotation.id)).scalars().first()
    assert first is not None
    right = _label_of(ws, first)
    labeling.undo(ws, annotation_id=first.id, annotator=first.annotator)  # type: ignore[arg-type]
    other = next(lb for lb in ("age_limit", "card_arrival") if lb != right)
    labeling.submit_label(
        ws, project=PROJECT, example_id=first.example_id, label=other, annotator="U9",
        source="slack", key=f"U9:{first.example_id}",
    )  # fmt: skip
    consensus.adjudicate(ws, project=PROJECT, example_id=first.example_id, label=right, actor="U1")
    run = training.train_project(ws, PROJECT)
    # the taxonomy: a rename, a merge into a new label (its id after the merged ones'), and an
    # addition undone (the label removed: its id is the highest the source ever handed out)
    taxonomy.rename_label(ws, project=PROJECT, label="atm_support", new_name="atm", actor="U1")
    taxonomy.merge_labels(
        ws, project=PROJECT, labels=["age_limit", "change_pin"], into="account", actor="U1"
    )
    added = taxonomy.add_labels(ws, project=PROJECT, names=["Sublease"], actor="U2")
    taxonomy.undo_last(ws, project=PROJECT, actor="U2", reason="added by mistake")
    # talk about examples: comments, a flag, a thread with a reply and a deleted one
    eid = first.example_id
    labeling.comment(ws, example_id=eid, author="U2", text="ask legal — «really»?")
    labeling.flag(ws, project=PROJECT, example_id=eid + 1, annotator="U3", reason="two intents")
    discussions.open_thread(
        ws, example_id=eid, channel="C0PROJECT", thread_ts="1700000000.000100", kind="team",
        opened_by="U1",
    )  # fmt: skip
    discussions.add_reply(
        ws, channel="C0PROJECT", thread_ts="1700000000.000100", author="U3", text="agreed",
        key="slack:C0PROJECT:1700000000.000200",
    )  # fmt: skip
    discussions.delete_reply(
        ws, key="slack:C0PROJECT:1700000000.000300", channel="C0PROJECT",
        thread_ts="1700000000.000100",
    )  # fmt: skip
    labeling.start_batch(ws, project=PROJECT, user="U2", size=5)
    assert labeling.next_task(ws, project=PROJECT, annotator="U4") is not None  # one open
    _bookkeeping(ws, run_version=run.version)
    with session_scope(ws.db, read_only=True) as session:
        counter = (
            session.connection()
            .exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'labels'")
            .scalar_one()
        )
        highest = session.execute(sa.select(sa.func.max(Label.id))).scalar_one()
    assert counter > highest, "the undone addition's label id is above every label left"
    assert added.details["labels"][0]["id"] == counter
    return {"label_counter": int(counter)}


def _label_of(ws: Workspace, annotation: Annotation) -> str:
    return projects.label_name(ws, project=PROJECT, label_id=annotation.label_id)


def _bookkeeping(ws: Workspace, *, run_version: int) -> None:
    """The rows the bot's Slack side and scheduler write, which no CLI command makes."""
    now = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)
    with session_scope(ws.db) as session:
        project = projects_row(session)
        labels = {lb.name: lb for lb in session.execute(sa.select(Label)).scalars()}
        votes = session.execute(sa.select(Annotation).order_by(Annotation.id)).scalars().all()
        vote = votes[0]
        session.add(Person(user_id="U1", tz="Europe/Berlin", quiet_start=20 * 60,
                           quiet_end=8 * 60, snoozed_until=now, leaderboard=False))  # fmt: skip
        session.add(ProcessedEvent(event_id="Ev01", received_at=now))
        session.add(OutboxMessage(method="chat.postMessage",
                                  payload={"channel": "C0PROJECT", "text": "ünïcode ✓", "n": 1.5},
                                  next_attempt_at=now + timedelta(minutes=1)))  # fmt: skip
        session.add(
            TaxonomyProposal(
                project_id=project.id, kind="merge", labels=["card_arrival", "atm"],
                key='["merge", "atm", "card_arrival"]', score=0.42,
                evidence={"confusion": [[3, 1], [2, 5]], "none": None}, message="merge them?",
            )
        )  # fmt: skip
        session.add(
            Review(
                project_id=project.id, example_id=vote.example_id, annotation_id=vote.id,
                annotator=vote.annotator, given_label_id=vote.label_id,
                suggested_label_id=labels["card_arrival"].id, confidence=0.875, margin=0.5,
                model_version=run_version,
            )
        )  # fmt: skip
        if session.execute(sa.select(MultiLabelRequest)).first() is None:
            session.add(MultiLabelRequest(example_id=votes[1].example_id, project_id=project.id))
        session.add(Lease(name="train:bank", owner="host:1:abc", expires_at=now))
        assert project.id is not None
        # as migration 0010 left the predictions made before it: SQL NULL, not JSON null
        session.execute(sa.update(Prediction).where(Prediction.example_id == vote.example_id)
                        .values(reason=sa.null()))  # fmt: skip
        if session.get(LabelingBatch, (project.id, "U2")) is None:
            session.add(LabelingBatch(project_id=project.id, user_id="U2", size=5, remaining=5))


def projects_row(session: Any) -> Any:
    from storage.repositories import projects as projects_repo

    return projects_repo.get_project(session=session, name=PROJECT)


# --- comparing databases ------------------------------------------------------------------------


def dump(engine: sa.engine.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, by primary key, as labelbot reads them (aware datetimes, decoded
    JSON) and, for JSON columns, as the text stored too (SQL NULL apart from JSON null)."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            raw = [sa.cast(c, sa.Text) for c in table.columns if isinstance(c.type, sa.JSON)]
            query = sa.select(*table.columns, *raw).order_by(*table.primary_key.columns)
            tables[table.name] = [tuple(row) for row in conn.execute(query)]
    return tables


def copied_tables(tables: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    return {name: rows for name, rows in tables.items() if name not in SKIPPED}


def revision(engine: sa.engine.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one())


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema (no tables: the copy migrates it)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin, engine = _postgres_schema_engine(name)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
    admin.dispose()


@pytest.fixture
def source(tmp_path: Path, encoder, embedding_cache_dir, banking_slice) -> Iterator[Workspace]:  # type: ignore[no-untyped-def]
    settings = Settings(
        DATABASE_URL=f"sqlite:///{tmp_path / 'source.db'}", LABELBOT_DATA_DIR=embedding_cache_dir
    )
    ws = Workspace.open(settings, encoder=encoder)
    ws.memo["facts"] = build_source(ws, banking_slice[:60], tmp_path)
    yield ws
    ws.close()


def _workspace(like: Workspace, url: str, schema: str | None = None) -> Workspace:
    settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=like.settings.data_dir)
    return Workspace.open(settings, schema=schema, encoder=like.encoder)


def _service_view(ws: Workspace) -> dict[str, Any]:
    """What the team sees: status, the export, the taxonomy's history."""
    return {
        "status": projects.project_status(ws, PROJECT),
        "export": exporting.export_records(ws, PROJECT),
        "history": taxonomy.label_history(ws, project=PROJECT),
    }


# --- the tests ------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_sqlite_to_postgres_and_back_copies_every_row_and_works(
    source: Workspace, pg_schema: str, tmp_path: Path
) -> None:
    original = dump(source.db)
    assert all(original[name] for name in original), "every table has rows in the source"
    seen = _service_view(source)

    # a server whose sessions are not in UTC: datetimes must still come back as they were
    pg_url = f"{POSTGRES_URL}?options=-csearch_path%3D{pg_schema}%20-ctimezone%3DAmerica/New_York"
    report = copy_to(source_url=source.settings.database_url, target_url=pg_url)
    assert report.skipped == ("leases",)
    assert dict(report.tables) == {n: len(r) for n, r in copied_tables(original).items()}
    pg = _workspace(source, pg_url)
    back_url = f"sqlite:///{tmp_path / 'back' / 'copy.db'}"
    copy_to(source_url=pg_url, target_url=back_url)
    back = _workspace(source, back_url)
    try:
        for target in (pg, back):
            rows = dump(target.db)
            assert rows["leases"] == []
            assert copied_tables(rows) == copied_tables(original)
            assert revision(target.db) == revision(source.db)
            assert _service_view(target) == seen
            _works(target, label_counter=source.memo["facts"]["label_counter"])
    finally:
        pg.close()
        back.close()


def _works(ws: Workspace, *, label_counter: int) -> None:
    """The copy is usable: a new label gets an id past every id the source handed out (the
    undone addition's too), the next example is served and labeled, a new model trains."""
    change = taxonomy.add_labels(ws, project=PROJECT, names=["Refunds"], actor="U1")
    assert change.details["labels"][0]["id"] > label_counter
    task = labeling.next_task(ws, project=PROJECT, annotator="U5")
    assert task is not None
    result = labeling.submit_label(
        ws, project=PROJECT, example_id=task.example_id, label="Refunds", annotator="U5",
        source="cli", key=f"U5:{task.example_id}",
    )  # fmt: skip
    assert result.created
    labeling.comment(ws, example_id=task.example_id, author="U5", text="new")
    labeling.flag(ws, project=PROJECT, example_id=task.example_id, annotator="U5", reason="x")


def test_sqlite_to_sqlite(source: Workspace, tmp_path: Path) -> None:
    target_url = f"sqlite:///{tmp_path / 'copy.db'}"
    report = copy_to(source_url=source.settings.database_url, target_url=target_url)
    assert report.rows == sum(len(r) for r in copied_tables(dump(source.db)).values())
    target = _workspace(source, target_url)
    try:
        assert copied_tables(dump(target.db)) == copied_tables(dump(source.db))
        assert _service_view(target) == _service_view(source)
        _works(target, label_counter=source.memo["facts"]["label_counter"])
    finally:
        target.close()


@pytest.mark.postgres
def test_a_target_with_labelbot_data_is_refused_and_left_alone(
    source: Workspace, pg_schema: str
) -> None:
    copy_to(
        source_url=source.settings.database_url, target_url=POSTGRES_URL, target_schema=pg_schema
    )
    target = make_engine(POSTGRES_URL, schema=pg_schema)
    before = dump(target)
    with pytest.raises(ConflictError, match=r"the target database is not empty: table '\w+'"):
        copy_to(
            source_url=source.settings.database_url,
            target_url=POSTGRES_URL,
            target_schema=pg_schema,
        )
    assert dump(target) == before
    target.dispose()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_target_with_data_at_an_older_revision_is_refused_before_any_upgrade(
    source: Workspace, tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """A `--to` naming another team's database, made by an older labelbot: the copy upgraded
    its schema, then refused it as not empty and said it "changed nothing there", while that
    team's older labelbot could no longer open it. It is refused as it is."""
    from alembic import command

    from storage.db import alembic_config, upgrade
    from storage.repositories import projects as projects_repo

    if kind == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'theirs.db'}", None
    else:
        url, schema = POSTGRES_URL, request.getfixturevalue("pg_schema")  # not for sqlite
    theirs = make_engine(url, schema=schema)
    upgrade(theirs)
    with session_scope(theirs) as session:
        projects_repo.create_project(session=session, name="theirs", labels=["x", "y"])
    config = alembic_config(theirs)
    with theirs.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0012")
    before = dump_at(theirs)
    with pytest.raises(ConflictError, match=r"table 'projects' has rows.*changed nothing there"):
        copy_to(source_url=source.settings.database_url, target_url=url, target_schema=schema)
    assert revision(theirs) == "0012"
    assert dump_at(theirs) == before
    theirs.dispose()


def dump_at(engine: sa.engine.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows as stored, at whatever revision the schema is."""
    with engine.connect() as conn:
        metadata = sa.MetaData()
        metadata.reflect(conn)
        return {
            t.name: sorted(map(tuple, conn.execute(sa.select(*t.columns))), key=repr)
            for t in metadata.sorted_tables
        }


def _poison(ws: Workspace, sql: str, params: dict[str, Any]) -> None:
    """Write a row labelbot never would (SQLite does not check it), as an old version or a hand
    edit may have left one."""
    with ws.db.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql(sql, params)  # type: ignore[arg-type]
        conn.commit()
        raw.execute("PRAGMA foreign_keys=ON")


def _empty(engine: sa.engine.Engine) -> bool:
    with engine.connect() as conn:
        return all(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() == 0
            for t in SQLModel.metadata.sorted_tables
        )


@pytest.mark.postgres
def test_a_row_postgres_refuses_mid_copy_leaves_the_target_empty(
    source: Workspace, pg_schema: str
) -> None:
    # a NUL byte: SQLite keeps it, PostgreSQL's text refuses it; comments come after thousands
    # of rows in a dozen tables, and the chunks are small, so much was inserted before it
    _poison(
        source,
        "INSERT INTO comments (id, example_id, author, text, created_at) "
        "VALUES (900, 1, 'U2', :text, '2026-12-01 10:00:00.000000')",
        {"text": "bad\x00byte"},
    )
    with pytest.raises(InvalidInputError) as refused:
        copy_to(
            source_url=source.settings.database_url,
            target_url=POSTGRES_URL,
            target_schema=pg_schema,
            chunk_rows=7,
        )
    message = str(refused.value)
    assert "refused a row of table 'comments' (id=900)" in message, message
    assert message.endswith("nothing was copied")
    target = make_engine(POSTGRES_URL, schema=pg_schema)
    assert _empty(target)
    target.dispose()


def test_a_row_sqlite_refuses_mid_copy_leaves_the_target_empty(
    source: Workspace, tmp_path: Path
) -> None:
    # a vote for an example that does not exist: the target checks foreign keys
    _poison(
        source,
        "INSERT INTO annotations (id, example_id, label_id, annotator, source, created_at, "
        "idempotency_key) VALUES (5000, 99999, 1, 'U2', 'cli', '2026-12-01 10:00:00.000000', "
        "'dangling')",
        {},
    )
    target_url = f"sqlite:///{tmp_path / 'copy.db'}"
    with pytest.raises(InvalidInputError, match=r"table 'annotations' \(id=5000\)"):
        copy_to(source_url=source.settings.database_url, target_url=target_url, chunk_rows=3)
    assert not list(tmp_path.glob("copy.db*"))  # the file it created is gone, journals too
    kept = tmp_path / "kept.db"  # an existing target file is left, and left empty
    kept.touch()  # an empty file is an empty SQLite database
    with pytest.raises(InvalidInputError, match=r"table 'annotations' \(id=5000\)"):
        copy_to(source_url=source.settings.database_url, target_url=f"sqlite:///{kept}",
                chunk_rows=3)  # fmt: skip
    target = make_engine(f"sqlite:///{kept}")
    assert _empty(target)
    target.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("reader", ["sqlite", "postgres"])
def test_the_source_is_read_in_one_snapshot_while_the_bot_writes(
    source: Workspace, pg_schema: str, tmp_path: Path, reader: str
) -> None:
    """A comment stored while the copy runs (after its first chunk, before the comments table
    is read) is not in the copy, and the copy's counts are the source's as the copy began."""
    if reader == "sqlite":
        url, schema, target_url, target_schema = (
            source.settings.database_url, None, POSTGRES_URL, pg_schema,
        )  # fmt: skip
    else:
        copy_to(
            source_url=source.settings.database_url,
            target_url=POSTGRES_URL,
            target_schema=pg_schema,
        )
        url, schema = POSTGRES_URL, pg_schema
        target_url, target_schema = f"sqlite:///{tmp_path / 'copy.db'}", None
    writer = _workspace(source, url, schema)
    before = copied_tables(dump(writer.db))
    example_id = before["examples"][0][0]
    calls: list[str] = []

    def meanwhile(table: str, done: int, total: int) -> None:
        if not calls:  # another process stores a comment and commits, mid-copy
            labeling.comment(writer, example_id=example_id, author="U7", text="meanwhile")
        calls.append(table)

    report = copy_to(
        source_url=url,
        source_schema=schema,
        target_url=target_url,
        target_schema=target_schema,
        chunk_rows=5,
        progress=meanwhile,
    )
    assert calls.index("comments") > 0
    assert len(dump(writer.db)["comments"]) == len(before["comments"]) + 1
    target = make_engine(target_url, schema=target_schema)
    assert copied_tables(dump(target)) == before
    assert dict(report.tables)["comments"] == len(before["comments"])
    target.dispose()
    writer.close()
    assert is_sqlite(target) == (reader == "postgres")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_copy_forgets_the_model_files_runs_planned(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A run training while the copy was made (its file planned, not yet recorded) failed in
    the copy at its next training, and the copy's sweep of orphan model files then deleted
    the file the source recorded meanwhile, in a models folder both share. The note of a
    planned file stays in the source only; the run's other metrics are copied as they are."""
    from storage.repositories import models as model_runs
    from storage.repositories import projects as project_rows

    source_url = f"sqlite:///{tmp_path / 'planned.db'}"
    src = make_engine(source_url)
    upgrade(src)
    with session_scope(src) as session:
        project = project_rows.create_project(session=session, name="p", labels=["a", "b"])
        assert project.id is not None
        training_now = model_runs.start_model_run(
            session=session, project_id=project.id, n_labels=4, classes=["a", "b"]
        )
        assert training_now.id is not None
        model_runs.plan_artifact(session=session, run_id=training_now.id, path="p/v1-0a1b2c3d.npz")
        untouched = model_runs.start_model_run(
            session=session, project_id=project.id, n_labels=5, classes=["a", "b"]
        )
        untouched.metrics = {"accuracy": 0.5, "note": None}
        session.add(untouched)
        run_ids = (training_now.id, untouched.id)
    if kind == "sqlite":
        target_url, schema = f"sqlite:///{tmp_path / 'planned-copy.db'}", None
    else:
        target_url, schema = POSTGRES_URL, request.getfixturevalue("pg_schema")
    copy_to(source_url=source_url, target_url=target_url, target_schema=schema)
    target = make_engine(target_url, schema=schema)
    try:
        with session_scope(target, read_only=True) as session:
            copied = [model_runs.get_model_run(session=session, run_id=i) for i in run_ids]
            assert copied[0] is not None and copied[1] is not None
            assert model_runs.PLANNED_FILE not in copied[0].metrics, copied[0].metrics
            assert copied[1].metrics == {"accuracy": 0.5, "note": None}
        with session_scope(src, read_only=True) as session:
            kept = model_runs.get_model_run(session=session, run_id=run_ids[0])
            assert kept is not None and kept.metrics == {
                model_runs.PLANNED_FILE: "p/v1-0a1b2c3d.npz"
            }
    finally:
        target.dispose()
        src.dispose()
