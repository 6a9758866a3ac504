"""An import stores its labels in bulk: a few INSERT statements rather than a lookup, a
savepoint and an INSERT per label, with the rows and votes that one at a time stored, inside
the import's one transaction (a failure stores nothing)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import event

from engine import projects
from engine.evaluation import IMPORTED
from storage.db import session_scope
from storage.models import Annotation
from storage.repositories import examples as example_repo
from storage.repositories import feedback
from storage.repositories import projects as project_repo


def _csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        writer.writerows(rows)
    return path


def _rows(n: int, *, swap: bool = False) -> list[tuple[str, str, str]]:
    """n texts, two in three labeled yes/no (swapped: the other label)."""
    labels = ("yes", "no", "") if not swap else ("no", "yes", "")
    return [(f"r{i}", f"ticket number {i} about a card", labels[i % 3]) for i in range(n)]


def _annotations(ws, project: str) -> list[tuple[str, str, str, str, str]]:  # type: ignore[no-untyped-def]
    """(text, label, annotator, source, key with the example id left out and the label id
    named) of every vote."""
    from sqlmodel import col, select

    from storage.models import Example, Label

    with session_scope(ws.db, read_only=True) as s:
        pid = project_repo.get_project(session=s, name=project).id
        rows = s.exec(
            select(Example.text, Label.name, Annotation)
            .join(Example, col(Example.id) == Annotation.example_id)
            .join(Label, col(Label.id) == Annotation.label_id)
            .where(Example.project_id == pid)
            .order_by(col(Annotation.id))
        ).all()
        return [
            (
                text,
                name,
                a.annotator,
                a.source,
                _key(a.idempotency_key, a.example_id, a.label_id, name),
            )
            for text, name, a in rows
            if a.retracted_at is None
        ]


def _key(key: str, example_id: int, label_id: int, name: str) -> str:
    """An import vote's key, ``import:<example id>:<label id>``, as ``import:N:<label name>``:
    the same in two projects, whose ids differ."""
    kind, example, label = key.split(":")
    assert (example, label) == (str(example_id), str(label_id)), key
    return f"{kind}:N:{name}"


def test_an_import_stores_its_labels_in_a_few_statements(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """1,500 labels: at most 2 INSERTs into annotations (1,000 rows each), no lookup by key.
    One at a time it was 1,500 SELECTs, savepoints and INSERTs: most of a 20,000-row file's
    import (13 s on SQLite, 39 s on PostgreSQL; now 2 s and 6 s: bench/import_speed.py)."""
    projects.create_project(ws, name="p", labels=["yes", "no"])
    path = _csv(tmp_path / "big.csv", _rows(2_250))
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(ws.db, "before_cursor_execute", seen)
    try:
        report = projects.import_file(ws, project="p", path=path, embed=False)
    finally:
        event.remove(ws.db, "before_cursor_execute", seen)
    assert (report.inserted, report.annotations) == (2_250, 1_500)
    inserts = [x for x in statements if x.startswith("INSERT INTO annotations")]
    lookups = [x for x in statements if "annotations.idempotency_key =" in x]
    savepoints = [x for x in statements if x.upper().startswith("SAVEPOINT")]
    assert len(inserts) <= 2 and not lookups and not savepoints
    assert projects.project_status(ws, "p")["annotations"] == 1_500


def _one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The import as it stored labels before: add_annotation per label."""

    def add_annotations(*, session, rows, created_at=None):  # type: ignore[no-untyped-def]
        made = 0
        for row in rows:
            _, created = feedback.add_annotation(
                session=session, example_id=row.example_id, label_id=row.label_id,
                annotator=row.annotator, source=row.source, key=row.key,
            )  # fmt: skip
            made += int(created)
        return made

    monkeypatch.setattr(feedback, "add_annotations", add_annotations)


def test_the_votes_are_those_one_at_a_time_stored(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two projects take the same imports, one storing labels one by one as before: a first
    file, itself again (nothing new), a file relabeling some texts (one more vote each, the
    latest winning the tie) and repeating a text: the reports, the votes (label, annotator,
    source, key) and the agreed labels are the same."""
    first = _csv(tmp_path / "first.csv", _rows(60) + [("dup", "ticket number 3 about a card", "")])
    relabel = _csv(tmp_path / "relabel.csv", _rows(30, swap=True) + _rows(90)[60:])
    outcomes = {}
    for name in ("bulk", "single"):
        projects.create_project(ws, name=name, labels=["yes", "no"])
        with monkeypatch.context() as patch:
            if name == "single":
                _one_at_a_time(patch)
            reports = [
                projects.import_file(ws, project=name, path=p, embed=False, annotator=IMPORTED)
                for p in (first, first, relabel)
            ]
        with session_scope(ws.db, read_only=True) as s:
            pid = project_repo.get_project(session=s, name=name).id
            texts = {e.id: e.text for e in example_repo.list_examples(session=s, project_id=pid)}
            agreed = {
                texts[i]: lb for i, lb in feedback.current_labels(session=s, project_id=pid).items()
            }
        outcomes[name] = (
            [(r.inserted, r.duplicates, r.annotations, r.relabeled, r.repeated) for r in reports],
            _annotations(ws, name),
            agreed,
        )
    assert outcomes["bulk"] == outcomes["single"]
    reports, votes, agreed = outcomes["bulk"]
    assert reports == [(60, 1, 40, 0, 1), (0, 61, 0, 0, 1), (30, 30, 40, 20, 0)]
    assert len(votes) == 80 and {v[2:4] for v in votes} == {(IMPORTED, IMPORTED)}
    assert agreed["ticket number 0 about a card"] == "no"  # yes, then no: the latest wins


def test_a_failure_after_the_labels_are_inserted_stores_nothing(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The labels go in inside the import's one transaction: a failure after them (here the
    count of relabeled texts) leaves neither the new examples nor any label."""
    projects.create_project(ws, name="p", labels=["yes", "no"])
    projects.import_file(ws, project="p", path=_csv(tmp_path / "a.csv", _rows(30)), embed=False)
    before = projects.project_status(ws, "p")
    reads = []
    real = feedback.current_labels

    def current_labels(**kw):  # type: ignore[no-untyped-def]
        reads.append(1)
        if len(reads) == 2:  # after the labels are in
            raise RuntimeError("the disk is full")
        return real(**kw)

    monkeypatch.setattr(feedback, "current_labels", current_labels)
    more = _csv(tmp_path / "b.csv", _rows(30, swap=True) + _rows(60)[30:])
    with pytest.raises(RuntimeError, match="the disk is full"):
        projects.import_file(ws, project="p", path=more, embed=False)
    after = projects.project_status(ws, "p")
    assert (after["examples"], after["annotations"]) == (before["examples"], before["annotations"])
    assert (after["examples"], after["annotations"]) == (30, 20)
