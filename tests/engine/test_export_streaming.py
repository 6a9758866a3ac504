"""Exports are written as they are read, a page of examples at a time, in one read snapshot:
the bytes are the ones the former export (every example in memory first) wrote, and memory
stays that of a page however large the project; SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import tracemalloc
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from engine import consensus, exporting, flags, labeling, projects, taxonomy, training
from engine.consensus import open_disagreements
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import Flag
from storage.repositories import examples, feedback, models
from storage.repositories import projects as project_repo

LABELS = ["card_arrival", "age_limit", "atm_support", "change_pin", "exchange_rate"]
# (external id or "", text, channel): formulas, quotes, line breaks, accents and emoji
ODD = [
    ("F1", '=HYPERLINK("http://x.example","refund")', "email"),
    ("", '+1 234 my card, "urgent"', ""),
    ("F3", "-5 fee?\nsecond line", "chat"),
    ("", "@SUM(A1) café ☕", "phone"),
    ("F5", "\tindented; with a comma, too", ""),
]


# --- the former export, kept as the reference (engine/exporting.py before streaming) -----------


def _former_records(ws: Workspace, project: str) -> list[dict[str, Any]]:
    with session_scope(ws.db, read_only=True) as session:
        found = project_repo.get_project(session=session, name=project)
        assert found.id is not None
        rows = examples.list_examples(session=session, project_id=found.id)
        active = {lb.name for lb in project_repo.list_labels(session=session, project_id=found.id)}
        agreed = feedback.current_labels(session=session, project_id=found.id, active_labels=active)
        by_example: dict[int, list[dict[str, Any]]] = defaultdict(list)
        votes = feedback.list_annotations(session=session, project_id=found.id)
        for a in votes:
            by_example[a.example_id].append(
                {
                    "label": a.label,
                    "annotator": a.annotator,
                    "source": a.source,
                    "created_at": a.created_at.isoformat(),
                }
            )
        notes: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for c in feedback.list_comments(session=session, project_id=found.id):
            notes[c.example_id].append(
                {"author": c.author, "text": c.text, "created_at": c.created_at.isoformat()}
            )
        run = models.get_active_model_run(session=session, project_id=found.id)
        predictions = models.get_predictions(session=session, project_id=found.id) if run else {}
        flagged: dict[int, list[dict[str, Any]]] = defaultdict(list)
        mine = {int(e.id or 0) for e in rows}
        for f in sorted(session.exec(select(Flag)).all(), key=lambda f: (f.created_at, f.id)):
            if f.example_id in mine:
                flagged[f.example_id].append(
                    {"annotator": f.annotator, "reason": f.reason,
                     "created_at": f.created_at.isoformat(),
                     "resolved_at": f.resolved_at.isoformat() if f.resolved_at else None,
                     "resolved_by": f.resolved_by}
                )  # fmt: skip
    disputed = open_disagreements(votes)
    records = []
    for ex in rows:
        assert ex.id is not None
        pred = predictions.get(ex.id)
        records.append(
            {
                "id": ex.external_id if ex.external_id is not None else str(ex.id),
                "text": ex.text,
                "label": agreed.get(ex.id),
                "annotations": by_example.get(ex.id, []),
                "comments": notes.get(ex.id, []),
                "prediction": (
                    {"label": pred.label, "confidence": pred.confidence}
                    if pred is not None and pred.label is not None
                    else None
                ),
                "meta": dict(ex.meta or {}),
                "disputed": ex.id in disputed,
                "flags": flagged.get(ex.id, []),
            }
        )
    return records


def _former_text(records: list[dict[str, Any]], fmt: str, safe: bool, bom: bool) -> str:
    out = io.StringIO()
    if bom:
        out.write(exporting.BOM)
    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return out.getvalue()
    # a spreadsheet-safe CSV ends with the column that tells the importer so
    columns = [*exporting.CSV_COLUMNS, *([exporting.SAFE_COLUMN] if safe else [])]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in records:
        pred = r["prediction"] or {}
        row = {
            "id": r["id"],
            "text": r["text"],
            "label": r["label"] or "",
            "annotation_count": len(r["annotations"]),
            "annotators": ";".join(sorted({a["annotator"] for a in r["annotations"]})),
            "annotations": json.dumps(r["annotations"], ensure_ascii=False),
            "comments": json.dumps(r["comments"], ensure_ascii=False),
            "prediction": pred.get("label") or "",
            "confidence": "" if pred.get("confidence") is None else pred["confidence"],
            "meta": json.dumps(r["meta"], ensure_ascii=False),
            "disputed": "true" if r["disputed"] else "false",
            "flags": json.dumps(r["flags"], ensure_ascii=False),
        }
        if safe:
            row[exporting.SAFE_COLUMN] = "true"
            row = {
                k: "'" + v if isinstance(v, str) and v.startswith(exporting.FORMULA_STARTS) else v
                for k, v in row.items()
            }
        writer.writerow(row)
    return out.getvalue()


# --- a project with every kind of history an export shows ---------------------------------------


def _vote(ws: Workspace, example_id: int, label: str, who: str, key: str) -> int:
    result = labeling.submit_label(ws, project="bank", example_id=example_id, label=label,
                                   annotator=who, source="slack", key=key)  # fmt: skip
    return result.annotation_id


@pytest.fixture
def history(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Project "bank": the 150-row slice (ids and a `channel` column on some rows), 6 labels a
    class by import, then odd texts; votes of three experts (agreeing, a tie, outvoted, an
    adjudication), an undone vote; a split (its votes wait to be labeled again) and a merge; a
    model trained after them; then more votes, and comments."""
    projects.create_project(ws, name="bank", labels=LABELS)
    path = tmp_path / "slice.csv"
    seen: dict[str, int] = defaultdict(int)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label", "channel"])
        for i, (text, label) in enumerate(banking_slice):
            seen[label] += 1
            writer.writerow([f"T{i}" if i % 3 else "", text, label if seen[label] <= 6 else "",
                             ["", "email", "chat"][i % 3]])  # fmt: skip
        writer.writerows([ident, text, "", channel] for ident, text, channel in ODD)
    projects.import_file(ws, project="bank", path=path, annotator="importer")
    with session_scope(ws.db, read_only=True) as session:
        found = project_repo.get_project(session=session, name="bank")
        assert found.id is not None
        ids = [int(e.id or 0) for e in examples.list_examples(session=session, project_id=found.id)]
    texts = dict(zip(ids, [t for t, _ in banking_slice], strict=False))
    free = ids[40:]  # rows 0-29 (6 a class) are labeled by import
    # three experts' votes (imports: a second vote on a labeled example is not asked for)
    for who, votes in {
        "U1": [(ids[0], "card_arrival"), (free[0], "change_pin"), (free[1], "age_limit"),
               (free[2], "change_pin"), (free[4], "exchange_rate")],
        "U2": [(free[0], "atm_support"), (free[1], "age_limit"), (free[2], "card_arrival"),
               (free[4], "exchange_rate")],
        "U3": [(free[1], "exchange_rate")],  # outvoted
    }.items():  # fmt: skip
        path = tmp_path / f"{who}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([("text", "label"), *((texts[i], lb) for i, lb in votes)])
        projects.import_file(ws, project="bank", path=path, annotator=who, embed=False)
    consensus.adjudicate(ws, project="bank", example_id=free[2], label="change_pin", actor="U3")
    undone = _vote(ws, free[3], "atm_support", "U2", "k1")
    assert labeling.undo(ws, annotation_id=undone, annotator="U2") == free[3]
    taxonomy.split_label(ws, project="bank", label="exchange_rate", into=["fx_buy", "fx_sell"],
                         actor="U9")  # fmt: skip
    taxonomy.merge_labels(ws, project="bank", labels=["age_limit", "change_pin"], into="account",
                          actor="U9")  # fmt: skip
    training.train_project(ws, "bank")
    _vote(ws, free[5], "fx_buy", "U1", "k2")  # after the model
    _vote(ws, free[6], "account", "U3", "k3")
    labeling.comment(ws, example_id=free[0], author="U1", text='=1+1, "really"?\nhmm')
    labeling.comment(ws, example_id=free[0], author="U2", text="café ☕")
    labeling.comment(ws, example_id=ids[-1], author="U3", text="@here")
    labeling.flag(ws, project="bank", example_id=free[7], annotator="U1", reason="=not english")
    labeling.flag(ws, project="bank", example_id=free[8], annotator="U2", reason="two intents")
    flags.resolve_flags(ws, project="bank", example_id=free[8], actor="U9")
    return ws


def test_the_export_writes_the_bytes_the_former_one_did(history) -> None:  # type: ignore[no-untyped-def]
    """JSONL, CSV and the spreadsheet-safe CSV (with and without the mark): the REST body and
    the CLI's file have the former export's bytes, at any page size and piece size."""
    ws = history
    former = _former_records(ws, "bank")
    assert exporting.export_records(ws, "bank") == former
    shown = {json.dumps(r, ensure_ascii=False) for r in former}
    assert len(former) == 155 and any(r["disputed"] for r in former)  # the history is there
    assert any(r["prediction"] for r in former) and any(r["comments"] for r in former)
    assert any(r["label"] == "account" for r in former) and "fx_buy" in "".join(shown)
    resolved = [f for r in former for f in r["flags"] if f["resolved_by"] == "U9"]
    assert len([r for r in former if r["flags"]]) == 2 and len(resolved) == 1
    for fmt, safe, bom in [("jsonl", False, False), ("csv", False, False), ("csv", True, False),
                           ("csv", True, True)]:  # fmt: skip
        expected = _former_text(former, fmt, safe, bom)
        options: dict[str, Any] = {"spreadsheet_safe": safe, "bom": bom}
        assert exporting.export_text(ws, "bank", fmt, **options) == expected  # the REST body
        pieces = list(exporting.export_stream(ws, "bank", fmt, piece=100, **options))
        assert len(pieces) > 10 and "".join(pieces) == expected
        for page in (1, 3, 64):
            records = exporting.iter_export_records(ws, "bank", page=page)
            assert "".join(exporting.export_lines(records, fmt, **options)) == expected
        out = io.StringIO()  # the CLI's: the mark when spreadsheet-safe, unless told otherwise
        written = exporting.write_export(
            exporting.iter_export_records(ws, "bank"), out, fmt, spreadsheet_safe=safe
        )
        assert written == 155 and out.getvalue() == _former_text(former, fmt, safe, safe)


def test_a_missing_project_fails_before_anything_is_written(ws) -> None:  # type: ignore[no-untyped-def]
    """The project is looked up when the export starts, so the CLI's stdout gets no header
    (nor byte order mark) before the error, and the REST API answers 404 before its body."""
    from storage.errors import NotFoundError

    with pytest.raises(NotFoundError):
        exporting.iter_export_records(ws, "nope")
    with pytest.raises(NotFoundError):
        exporting.export_stream(ws, "nope", "csv", spreadsheet_safe=True, bom=True)


def _project_of(ws: Workspace, name: str, size: int, tmp_path: Path) -> None:
    """``size`` examples with an id and a `channel`, one in ten labeled by import, every one
    with a stored prediction of an active model."""
    projects.create_project(ws, name=name, labels=["a", "b", "c"])
    path = tmp_path / f"{name}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label", "channel"])
        for i in range(size):
            writer.writerow([f"E{i}", f"text number {i} of {name}, about my card",
                             "abc"[i % 3] if i % 10 == 0 else "", "email"])  # fmt: skip
    projects.import_file(ws, project=name, path=path, embed=False)
    with session_scope(ws.db) as session:
        found = project_repo.get_project(session=session, name=name)
        assert found.id is not None
        run = models.start_model_run(session=session, project_id=found.id, n_labels=size // 10,
                                     classes=["a", "b", "c"])  # fmt: skip
        assert run.id is not None
        models.finish_model_run(session=session, run_id=run.id, status="done")
        models.activate_model_run(session=session, project_id=found.id, run_id=run.id)
        rows = [
            models.PredictionRow(
                example_id=int(e.id or 0),
                label="abc"[i % 3],
                confidence=0.5,
                probs=[["a", 0.5]],
                uncertainty=0.5,
                priority=0.5,
            )  # fmt: skip
            for i, e in enumerate(examples.list_examples(session=session, project_id=found.id))
        ]
        models.replace_predictions(session=session, project_id=found.id, model_run_id=run.id,
                                   rows=rows)  # fmt: skip


def _peak_bytes(ws: Workspace, name: str, fmt: str) -> int:
    """The export's peak of Python memory (tracemalloc), written where the CLI writes it."""
    with open(os.devnull, "w", encoding="utf-8") as sink:
        tracemalloc.start()
        try:
            count = exporting.write_export(exporting.iter_export_records(ws, name), sink, fmt)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count > 0
    return peak


@pytest.mark.slow
def test_an_exports_memory_does_not_grow_with_the_project(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path
) -> None:
    """4x the examples is about the same peak, not 4x (the former export held every example,
    vote and prediction as objects, then a record of each, before writing one)."""
    _project_of(ws, "small", 5_000, tmp_path)
    _project_of(ws, "large", 20_000, tmp_path)
    for fmt in ("jsonl", "csv"):
        small, large = _peak_bytes(ws, "small", fmt), _peak_bytes(ws, "large", fmt)
        assert large / small < 1.6, (fmt, small, large)
