"""Exports: every example with its annotations, comments and the active model's prediction.

The JSONL form is one object per example::

    {"id", "text", "label": agreed label or null,
     "annotations": [{"label", "annotator", "source", "created_at"}],
     "comments": [{"author", "text", "created_at"}],
     "prediction": {"label", "confidence"} or null,
     "meta": {the columns imported beside the text},
     "disputed": true while the experts' latest votes differ and nobody settled it}

``label`` is the label the model trains on (feedback.current_labels: an adjudication, else the
majority vote, a tie going to the latest vote); ``disputed`` says when that is a tie-break or an
outvoted expert rather than agreement (the examples `labelbot disagreements` lists).

The CSV form flattens that to one row per example (lists and ``meta`` as JSON in their cells);
columns added later go at the end, so a script reading columns by position keeps working.
``spreadsheet_safe`` is for a CSV opened in Excel, LibreOffice or Google Sheets: a cell that
starts as a formula would (``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a ``'``
in front, so an example text such as ``=HYPERLINK(...)`` shows as text instead of running
(CSV injection, OWASP). Such a file is for reading: imported back, those texts keep the ``'``.
It also starts with a UTF-8 byte order mark: Excel reads a CSV without one in the system's
code page (ANSI), so "café" showed as "cafÃ©". The importer skips the mark.

`labelbot predict` writes its predictions in the same two formats (:func:`write_predictions`),
chosen the same way: by ``--format``, else by the ``--out`` file's name.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import shutil
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from engine.consensus import open_disagreements
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import InvalidInputError, NotFoundError
from storage.repositories import examples, feedback, models, projects

EXPORT_FORMATS = ("jsonl", "csv")
# File names that say which format they hold, as the importer reads them (importing.detect_format;
# its .tsv and .txt are left out: an export's CSV is comma-separated, and .txt says nothing).
FORMAT_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
CSV_COLUMNS = (
    "id",
    "text",
    "label",
    "annotation_count",
    "annotators",
    "annotations",
    "comments",
    "prediction",
    "confidence",
    "meta",
    "disputed",
)


def export_records(ws: Workspace, project: str) -> list[dict[str, Any]]:
    """One JSON-able record per example, in import order."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        rows = examples.list_examples(session=session, project_id=found.id)
        active = {lb.name for lb in projects.list_labels(session=session, project_id=found.id)}
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
            }
        )
    return records


def find_example(ws: Workspace, project: str, ref: str) -> int:
    """The internal id of the example ``ref`` names: the ``id`` an export shows (the id it was
    imported with, else its internal number), or ``#N``, the internal number that `labelbot
    disagreements` shows. NotFoundError when none does; InvalidInputError when ``ref`` is one
    example's imported id and another's internal number (``#N`` then says which)."""
    text = ref.strip()
    number = text.removeprefix("#")
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        named = set()
        if not text.startswith("#"):
            named.update(
                examples.examples_with_external_id(
                    session=session, project_id=found.id, external_id=text
                )
            )
        if number.isdigit() and number.isascii():
            example = examples.find_example(session=session, example_id=int(number))
            if example is not None and example.project_id == found.id:
                named.add(int(number))
    if not named:
        raise NotFoundError(
            f"no example {text!r} in project {project!r}: give the id an export shows, or the "
            "#number `labelbot disagreements` shows"
        )
    if len(named) > 1:
        choices = ", ".join(f"#{i}" for i in sorted(named))
        raise InvalidInputError(
            f"{text!r} names {len(named)} examples ({choices}): write one of those"
        )
    return named.pop()


def check_format(fmt: str, *, spreadsheet_safe: bool = False) -> str:
    """The export format ``fmt`` names, in any case ("JSONL", "Csv"); InvalidInputError if none,
    or when ``spreadsheet_safe`` is asked of another format than CSV. Callers check before
    reading the project, so a bad request costs nothing."""
    if fmt.lower() not in EXPORT_FORMATS:
        raise InvalidInputError(f"unknown export format {fmt!r}: use {' or '.join(EXPORT_FORMATS)}")
    if spreadsheet_safe and fmt.lower() != "csv":
        raise InvalidInputError("spreadsheet-safe applies to CSV exports only (format csv)")
    return fmt.lower()


def suffix_format(path: Path) -> str | None:
    """The export format ``path``'s name says it holds (any case: "out.CSV"), or None."""
    return FORMAT_SUFFIXES.get(path.suffix.lower())


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What tells Excel a CSV is UTF-8 (U+FEFF, written as EF BB BF): spreadsheet-safe files start so.
BOM = "\ufeff"


def write_export(
    records: list[dict[str, Any]],
    out: TextIO,
    fmt: str = "jsonl",
    *,
    spreadsheet_safe: bool = False,
    bom: bool | None = None,
) -> int:
    """Write records as JSONL or CSV; returns how many were written. ``spreadsheet_safe``
    (CSV only) defuses cells a spreadsheet would read as formulas and, unless ``bom`` is
    False, starts with the byte order mark that says UTF-8 to Excel."""
    fmt = check_format(fmt, spreadsheet_safe=spreadsheet_safe)
    if bom is None:
        bom = spreadsheet_safe
    if bom:
        out.write(BOM)
    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return len(records)
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in _flat(records):
        writer.writerow({k: _defused(v) for k, v in row.items()} if spreadsheet_safe else row)
    return len(records)


def _defused(value: Any) -> Any:
    """``value`` with a ``'`` in front when a spreadsheet would take it for a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _flat(records: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for r in records:
        pred = r["prediction"] or {}
        yield {
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
        }


# predict's JSONL fields, in order: the CSV's columns ("top" as JSON in its cell)
PREDICTION_COLUMNS = ("id", "text", "label", "confidence", "top")


def write_predictions(rows: Iterable[dict[str, Any]], out: TextIO, fmt: str = "jsonl") -> int:
    """Write predict's rows ({"id", "text", "label", "confidence", "top"}) as JSONL or CSV
    (an id of None as an empty cell); returns how many were written."""
    fmt = check_format(fmt)
    writer = None
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(PREDICTION_COLUMNS), lineterminator="\n")
        writer.writeheader()
    count = 0
    for row in rows:
        if writer is None:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer.writerow(
                {
                    **row,
                    "id": "" if row["id"] is None else row["id"],
                    "top": json.dumps(row["top"], ensure_ascii=False),
                }
            )
        count += 1
    return count


def export_text(
    ws: Workspace,
    project: str,
    fmt: str = "jsonl",
    *,
    spreadsheet_safe: bool = False,
    bom: bool = False,
) -> str:
    """The export as one string. Without the byte order mark unless ``bom``: it marks a
    file's encoding, and this text is encoded by its caller (a response body that is saved
    as a file for Excel wants it: ``bom=spreadsheet_safe``)."""
    check_format(fmt, spreadsheet_safe=spreadsheet_safe)  # before reading the project
    buffer = io.StringIO()
    write_export(
        export_records(ws, project), buffer, fmt, spreadsheet_safe=spreadsheet_safe, bom=bom
    )
    return buffer.getvalue()


@contextmanager
def replacing(path: Path) -> Iterator[TextIO]:
    """A file to write ``path``'s new content to; it becomes ``path`` when the block ends.

    The content goes to a new file beside ``path``, renamed over it only once the block has
    finished without error: a failure halfway never leaves ``path`` emptied or half-written
    (an export over yesterday's, say). A path that cannot be written is an InvalidInputError
    when the block starts, before the caller does its work.
    """
    target = Path(os.path.realpath(path))  # through a symlink, to the file it names
    if target.is_dir():
        raise InvalidInputError(f"{path}: is a folder; name a file to write")
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        handle = temporary.open("x", encoding="utf-8", newline="")
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot write here ({_reason(exc)})") from exc
    done = False
    try:
        with handle:
            yield handle
        try:
            if target.exists():
                shutil.copymode(target, temporary)  # keep the replaced file's permissions
            os.replace(temporary, target)
        except OSError as exc:
            raise InvalidInputError(f"{path}: cannot write here ({_reason(exc)})") from exc
        done = True
    finally:
        if not done:
            temporary.unlink(missing_ok=True)


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such folder"
    return (exc.strerror or str(exc)).lower()
