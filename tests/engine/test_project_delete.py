"""Deleting a project (`labelbot project delete`), on SQLite and PostgreSQL.

Two projects as a team leaves them, with rows in every table: votes from several experts (one
undone), comments, a flag, a discussion thread with a reply, a model trained (its file and pool
graph on disk), a taxonomy change, a proposal, a review, a batch, an open assignment with a
message in the outbox, leases. Deleting one leaves no row that refers to it, by any foreign key
(found from the schema, not from the deletion's own list), removes its files and nothing else:
the other project's rows, ids, export and files are as they were. A deletion that fails at its
last statement, or that another process's training holds off, changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from engine import discussions, exporting, jobs, labeling, projects, taxonomy, training
from engine.config import Settings
from engine.workspace import Workspace
from storage.db import is_sqlite, session_scope
from storage.errors import ConflictError, NotFoundError
from storage.models import (
    Annotation,
    Example,
    Label,
    LabelingBatch,
    Lease,
    MultiLabelRequest,
    OutboxMessage,
    Person,
    ProcessedEvent,
    Review,
    TaxonomyProposal,
)
from storage.repositories import projects as projects_repo
from tests.helpers import label_next, load_slice

GONE, KEPT = "bank", "shop"
# rows no project owns: an expert's rhythm, Slack's event ids
SHARED = {"people", "processed_events"}


@pytest.fixture
def ws(db_url_and_schema, encoder, embedding_cache_dir, tmp_path: Path) -> Iterator[Workspace]:  # type: ignore[no-untyped-def]
    """A workspace with a data dir of its own (its files are what is checked), sharing the
    session's embedding cache through a link: a deletion must leave that cache alone."""
    url, schema = db_url_and_schema
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (embedding_cache_dir / "embeddings").mkdir(exist_ok=True)
    (data_dir / "embeddings").symlink_to(embedding_cache_dir / "embeddings")
    settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=data_dir)
    workspace = Workspace.open(settings, schema=schema, encoder=encoder)
    yield workspace
    workspace.close()


def _project_id(ws: Workspace, name: str) -> int:
    with session_scope(ws.db, read_only=True) as session:
        found = projects_repo.get_project(session=session, name=name).id
    assert found is not None
    return found


def _votes(project_id: int) -> Any:
    """The project's live votes, newest first."""
    return (
        sa.select(Annotation)
        .join(Example, Example.id == Annotation.example_id)  # type: ignore[arg-type]
        .where(Example.project_id == project_id, Annotation.retracted_at.is_(None))  # type: ignore[arg-type, union-attr]
        .order_by(Annotation.id.desc())  # type: ignore[union-attr]
    )


def build(ws: Workspace, name: str, rows: list[tuple[str, str]], tmp_path: Path, ts: str) -> None:
    """Fill project ``name`` as a team would: a row in every table that can hold one of its."""
    channel = f"C0{name.upper()}"
    truth = load_slice(ws, rows, tmp_path, project=name, channel_id=channel)
    pid = _project_id(ws, name)
    projects.update_settings(ws, project=name, audit_share=0.2, admins=["U1"])
    label_next(ws, truth, 16, annotators=("U1", "U2", "U3"), project=name, source="slack")
    with session_scope(ws.db, read_only=True) as session:
        first = session.execute(_votes(pid)).scalars().all()[-1]
    assert first.id is not None
    labeling.undo(ws, annotation_id=first.id, annotator=first.annotator)
    eid = first.example_id
    run = training.train_project(ws, name, kind="blend")  # a model file and a pool graph
    event = taxonomy.rename_label(ws, project=name, label="atm_support", new_name="atm",
                                  actor="U1")  # fmt: skip
    labeling.comment(ws, example_id=eid, author="U2", text="ask legal")
    labeling.flag(ws, project=name, example_id=eid + 1, annotator="U3", reason="two intents")
    discussions.open_thread(ws, example_id=eid, channel=channel, thread_ts=f"{ts}.000100",
                            kind="team", opened_by="U1")  # fmt: skip
    discussions.add_reply(ws, channel=channel, thread_ts=f"{ts}.000100", author="U3",
                          text="agreed", key=f"slack:{channel}:{ts}.000200")  # fmt: skip
    labeling.start_batch(ws, project=name, user="U2", size=5)
    task = labeling.next_task(ws, project=name, annotator="U4")  # an open assignment
    assert task is not None
    now = datetime.now(UTC)
    with session_scope(ws.db) as session:
        labels = {lb.name: lb for lb in projects_repo.list_labels(session=session, project_id=pid)}
        vote = session.execute(_votes(pid)).scalars().first()
        assert vote is not None and vote.id is not None
        session.add(TaxonomyProposal(
            project_id=pid, kind="merge", labels=["card_arrival", "atm"], key=f'["{name}"]',
            message="merge them?", status="approved", label_event_id=event.event_id,
        ))  # fmt: skip
        session.add(Review(
            project_id=pid, example_id=vote.example_id, annotation_id=vote.id,
            annotator=vote.annotator, given_label_id=vote.label_id,
            suggested_label_id=labels["card_arrival"].id, model_version=run.version,
            assignment_id=task.assignment_id, outcome_annotation_id=vote.id,
        ))  # fmt: skip
        if session.get(MultiLabelRequest, vote.example_id) is None:
            session.add(MultiLabelRequest(example_id=vote.example_id, project_id=pid))
        session.add(OutboxMessage(method="chat.postMessage", payload={"channel": "U4"},
                                  assignment_id=task.assignment_id))  # fmt: skip
        # lapsed (a live training lease holds a deletion off): named for the project
        for lease in (f"train:{name}", f"deliver:U4:{name}", f"digest:{name}"):
            session.add(Lease(name=lease, owner="host:1:abc", expires_at=now - timedelta(hours=1)))
    with session_scope(ws.db, read_only=True) as session:
        assert session.get(LabelingBatch, (pid, "U2")) is not None


@pytest.fixture
def two(ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path) -> Workspace:
    build(ws, GONE, banking_slice[:90], tmp_path, "1700000000")
    build(ws, KEPT, banking_slice[60:], tmp_path, "1700000001")
    with session_scope(ws.db) as session:  # no project's
        session.add(Person(user_id="U1", tz="Europe/Berlin"))
        session.add(ProcessedEvent(event_id="Ev01"))
        for name in ("train:Bank", "deliver:U4:abank", "dispute:7"):  # not named for "bank"
            session.add(Lease(name=name, owner="host:1:abc", expires_at=datetime.now(UTC)))
    return ws


# --- what is in the database and on disk ------------------------------------------------------


Row = dict[str, Any]


def dump(ws: Workspace) -> dict[str, list[Row]]:
    """Every table's rows, by primary key."""
    tables: dict[str, list[Row]] = {}
    with ws.db.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            query = sa.select(table).order_by(*table.primary_key.columns)
            tables[table.name] = [dict(row._mapping) for row in conn.execute(query)]
    return tables


def owned(tables: dict[str, list[Row]], project_id: int, name: str) -> dict[str, list[Row]]:
    """The rows that belong to the project, found from the schema: a row belongs when any of
    its foreign keys names a row that belongs (the project's own row first), a reply record
    when its key is one of the project's comments', a lease when it is named for it."""
    keys: dict[str, set[Any]] = {"projects": {project_id}}
    found: dict[str, list[Row]] = {}
    for table in SQLModel.metadata.sorted_tables:  # parents before children
        refs = [(fk.parent.name, fk.column.table.name) for fk in table.foreign_keys]
        pk = [c.name for c in table.primary_key.columns][0]
        rows = [
            r
            for r in tables[table.name]
            if (table.name == "projects" and r["id"] == project_id)
            or any(r[col] is not None and r[col] in keys.get(ref, ()) for col, ref in refs)
        ]
        found[table.name] = rows
        keys.setdefault(table.name, set()).update(r[pk] for r in rows)
    # no foreign key: by the comment key, by the name
    comment_keys = {c["external_key"] for c in found["comments"]}
    records = tables["reply_records"]
    found["reply_records"] = [r for r in records if r["external_key"] in comment_keys]
    found["leases"] = [r for r in tables["leases"] if r["name"].rsplit(":", 1)[-1] == name]
    return found


def files(ws: Workspace) -> set[Path]:
    """Every file in the data dir but the embedding cache (a link to the session's)."""
    root = ws.settings.data_dir
    found = root.rglob("*")
    return {p.relative_to(root) for p in found if p.is_file() and "embeddings" not in p.parts}


def _plant_files(ws: Workspace, gone_id: int, kept_id: int) -> None:
    """What a crash or another encoder leaves: a temporary model file, another encoder's
    graphs, a graph save's temporary file; and a graph of a project numbered like the gone
    one's prefix (project-1 vs project-10) that is not its."""
    root = ws.settings.data_dir
    (root / "models" / GONE / ".v9.npz.tmp").write_bytes(b"x")
    other = root / "graphs" / "other-encoder"
    other.mkdir(parents=True)
    for stem in (f"project-{gone_id}.npz", f"project-{kept_id}.npz", f"project-{gone_id}0.npz"):
        (other / stem).write_bytes(b"x")
    (other / f".project-{gone_id}.npz.abc.tmp").write_bytes(b"x")


# --- the tests ----------------------------------------------------------------------------------


def test_delete_removes_every_row_and_file_of_the_project_and_nothing_else(two: Workspace) -> None:
    ws = two
    gone_id, kept_id = _project_id(ws, GONE), _project_id(ws, KEPT)
    _plant_files(ws, gone_id, kept_id)
    before = dump(ws)
    mine = owned(before, gone_id, GONE)
    theirs = owned(before, kept_id, KEPT)
    for table in before:  # a realistic pair: each has rows in every table a project can
        if table not in SHARED:
            assert mine[table] and theirs[table], table
    export = exporting.export_records(ws, KEPT)
    status = projects.project_status(ws, KEPT)
    on_disk = files(ws)
    graph = Path("graphs") / ws.encoder.name / f"project-{gone_id}.npz"
    (gone_model,) = [p for p in on_disk if p.parent == Path("models", GONE) and p.name[0] == "v"]
    assert gone_model.name.startswith("v1-") and graph in on_disk
    shown = projects.project_contents(ws, GONE)
    assert shown.examples == 90 and shown.model_versions == 1 and shown.comments == 2
    assert shown.annotations == 15 and shown.open_proposals == 0  # one of 16 votes undone

    runs = {r["id"]: r["project_id"] for r in before["model_runs"]}
    memo = {k for k in ws.memo if isinstance(k, tuple) and k[0] in ("graph", "model")}
    mine_memo = {k for k in memo if k[1] == gone_id and k[0] == "graph"
                 or k[0] == "model" and runs[k[1]] == gone_id}  # fmt: skip
    assert mine_memo and memo - mine_memo  # models and graphs of both, in this process

    report = projects.delete_project(ws, GONE)

    assert not mine_memo & set(ws.memo) and memo - mine_memo <= set(ws.memo)
    after = dump(ws)
    for table, rows in before.items():
        assert after[table] == [r for r in rows if r not in mine[table]], table
    assert all(not rows for rows in owned(after, gone_id, GONE).values())
    assert dict(report.tables) == {t: len(rows) for t, rows in mine.items() if t not in SHARED}
    assert report.contents == shown and report.project_id == gone_id
    assert exporting.export_records(ws, KEPT) == export
    assert projects.project_status(ws, KEPT) == status
    left = files(ws)
    removed = {p.relative_to(ws.settings.data_dir) for p in report.files}
    assert removed == on_disk - left and not report.kept
    assert removed == {
        gone_model, Path("models", GONE, ".v9.npz.tmp"), graph,
        Path("graphs/other-encoder", f"project-{gone_id}.npz"),
        Path("graphs/other-encoder", f".project-{gone_id}.npz.abc.tmp"),
    }  # fmt: skip
    assert not (ws.settings.data_dir / "models" / GONE).exists()
    assert [p.name[:3] for p in left if p.parent == Path("models", KEPT)] == ["v1-"]
    assert Path("graphs") / ws.encoder.name / f"project-{kept_id}.npz" in left
    assert any((ws.settings.data_dir / "embeddings").rglob("*.npz"))  # the shared cache stays
    with pytest.raises(NotFoundError, match="no project named 'bank'"):
        projects.project_status(ws, GONE)

    # the scheduler's cycles go on with the project left, and say nothing of the one gone
    assert all(outcome.project == KEPT for outcome in jobs.retrain_cycle(ws))
    assert GONE not in jobs.proposal_cycle(ws)
    # the name is free again, and the new project starts with nothing of the old one
    projects.create_project(ws, name=GONE, labels=["a", "b"])
    assert projects.project_contents(ws, GONE).examples == 0
    assert not (ws.settings.data_dir / "models" / GONE).exists()


def test_a_delete_that_fails_midway_changes_nothing(two: Workspace) -> None:
    """The project's own row goes last: a trigger refuses it, after every other statement ran.
    The transaction rolls them all back, and no file is touched (they go only after it)."""
    ws = two
    before, on_disk = dump(ws), files(ws)
    with ws.db.begin() as conn:
        if is_sqlite(ws.db):
            conn.exec_driver_sql(
                "CREATE TRIGGER keep_projects BEFORE DELETE ON projects "
                "BEGIN SELECT RAISE(ABORT, 'projects are kept'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION keep_projects() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'projects are kept'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER keep_projects BEFORE DELETE ON projects "
                "FOR EACH ROW EXECUTE FUNCTION keep_projects()"
            )
    with pytest.raises(sa.exc.DBAPIError, match="projects are kept"):
        projects.delete_project(ws, GONE)
    assert dump(ws) == before
    assert files(ws) == on_disk


def test_a_training_in_another_process_holds_the_delete_off(two: Workspace) -> None:
    ws = two
    with session_scope(ws.db) as session:
        lease = session.get(Lease, f"train:{GONE}")
        assert lease is not None
        lease.owner = "elsewhere:4242:tok"  # another machine: not known to have ended
        lease.expires_at = datetime.now(UTC) + timedelta(minutes=10)
    before, on_disk = dump(ws), files(ws)
    with pytest.raises(ConflictError, match="'bank' is being trained by another process"):
        projects.delete_project(ws, GONE)
    assert dump(ws) == before and files(ws) == on_disk


def test_an_unknown_project_is_not_found(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="no project named 'nope'"):
        projects.delete_project(ws, "nope")


def test_labels_merged_into_a_later_label_and_files_already_gone(ws: Workspace) -> None:
    """A retired label names a label created after it (mapped_to_id): both go in one
    statement. A model file removed by hand before is no error."""
    projects.create_project(ws, name=GONE, labels=["a", "b", "c"])
    taxonomy.merge_labels(ws, project=GONE, labels=["a", "b"], into="ab", actor="U1")
    with session_scope(ws.db, read_only=True) as session:
        mapped = (
            session.execute(
                sa.select(Label.mapped_to_id).where(Label.mapped_to_id.is_not(None))  # type: ignore[union-attr]
            )
            .scalars()
            .all()
        )
    assert mapped
    model_dir = ws.settings.data_dir / "models" / GONE
    model_dir.mkdir(parents=True)
    report = projects.delete_project(ws, GONE)
    assert report.files == () and report.kept == () and not model_dir.exists()
    assert dict(report.tables)["labels"] == 4 and dict(report.tables)["label_events"] == 1
    rows = dump(ws)
    assert not rows["labels"] and not rows["projects"] and not rows["label_events"]
