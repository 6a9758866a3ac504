"""Exports: every example with its annotations, comments and the active model's prediction.

The JSONL form is one object per example::

    {"id", "text", "label": agreed label or null,
     "annotations": [{"label", "annotator", "source", "created_at"}],
     "comments": [{"author", "text", "created_at"}],
     "prediction": {"label", "confidence"} or null,
     "meta": {the columns imported beside the text},
     "disputed": true while the experts' latest votes differ and nobody settled it,
     "flags": [{"annotator", "reason", "created_at", "resolved_at", "resolved_by"}]}

``label`` is the label the model trains on (feedback.current_labels: an adjudication, else the
majority vote, a tie going to the latest vote); ``disputed`` says when that is a tie-break or an
outvoted expert rather than agreement (the examples `labelbot disagreements` lists).

The CSV form flattens that to one row per example (lists and ``meta`` as JSON in their cells);
columns added later go at the end, so a script reading columns by position keeps working.
``spreadsheet_safe`` is for a CSV opened in Excel, LibreOffice or Google Sheets: a cell that
starts as a formula would (``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a ``'``
in front, so an example text such as ``=HYPERLINK(...)`` shows as text instead of running
(CSV injection, OWASP). Such a CSV ends each row with one more column, :data:`SAFE_COLUMN`,
which tells the importer (engine.importing) to take those ``'`` off again (:func:`undefused`):
its texts match the project's, its labels are known. A plain CSV export has no such column, and
its cells are imported as written.
It also starts with a UTF-8 byte order mark: Excel reads a CSV without one in the system's
code page (ANSI), so "café" showed as "cafÃ©". The importer skips the mark.

An export is written as it is read, :data:`EXPORT_PAGE` examples at a time
(:func:`iter_export_records`): its memory does not grow with the project.

`labelbot predict` writes its predictions in the same two formats (:func:`write_predictions`),
chosen the same way: by ``--format``, else by the ``--out`` file's name; ``spreadsheet_safe`` too.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import secrets
import shutil
import stat
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, cast

from engine.consensus import open_disagreements
from engine.workspace import Workspace
from storage.copying import sweep_leftovers
from storage.db import session_scope
from storage.errors import (
    DISK_ERRNOS,
    ConfigurationError,
    InvalidInputError,
    LabelbotError,
    NotFoundError,
)
from storage.models import Flag, ModelRun
from storage.repositories import examples, feedback, flags, models, projects
from storage.repositories import taxonomy as taxonomy_repo

# storage's (sqlmodel) Session, passed through untouched: only storage imports sqlmodel.
Session = Any

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
    "flags",
)
# The column a --spreadsheet-safe CSV export has after CSV_COLUMNS, "true" on every row: what
# tells `labelbot import` that this file's cells carry the ' that :func:`_defused` put on. A
# plain export never adds one, so a text of its own that starts with "'=" imports back as it is.
SAFE_COLUMN = "spreadsheet_safe"


# Examples read (and held) at a time: an export's memory stays that of one page, however large
# the project (the scale audit measured +5 KB of RSS per example when it read them all at once).
EXPORT_PAGE = 2000


def export_records(ws: Workspace, project: str) -> list[dict[str, Any]]:
    """One JSON-able record per example, in import order, all at once (a caller that writes
    them should stream them: :func:`iter_export_records`)."""
    return list(iter_export_records(ws, project))


def iter_export_records(
    ws: Workspace, project: str, *, page: int = EXPORT_PAGE
) -> Iterator[dict[str, Any]]:
    """:func:`export_records`' records as they are read, ``page`` examples at a time.

    All pages are read in one read-only transaction, so they show one snapshot of the project
    (a label given while the export runs is in none of them); it stays open, and holds its
    database connection, until the records are all read or the iterator is dropped. The
    project is looked up at once: a missing one is a NotFoundError here, before the caller
    has written anything."""
    pages = _record_pages(ws, project, page)
    next(pages)  # up to the project's look-up
    return itertools.chain.from_iterable(pages)


def _record_pages(ws: Workspace, project: str, page: int) -> Iterator[list[dict[str, Any]]]:
    """An empty list once the project is found, then the records of each page of examples."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        yield []
        active = {lb.name for lb in projects.list_labels(session=session, project_id=found.id)}
        run = models.get_active_model_run(session=session, project_id=found.id)
        today = None if run is None else _today(session, found.id, run)
        merges = None
        if run is not None and today is not None and today.moved:
            from engine.predicting import merges_since

            # labels merged since the rows were scored: rows the stored classes cannot answer
            # for are scored live, as the re-score will (engine.predicting.Merges)
            merges = merges_since(ws, project, run)
        after = 0
        while rows := examples.examples_after(
            session=session, project_id=found.id, after_id=after, limit=page
        ):
            first, after = rows[0][0], rows[-1][0]
            votes = feedback.annotations_between(
                session=session, project_id=found.id, first_id=first, last_id=after
            )
            notes = feedback.comments_between(
                session=session, project_id=found.id, first_id=first, last_id=after
            )
            flagged = flags.flags_between(
                session=session, project_id=found.id, first_id=first, last_id=after
            )
            if run is None or today is None:
                predictions = {}
            elif merges is not None:
                predictions = _merged_predictions(ws, session, found.id, today, merges, rows)
            else:
                predictions = _predictions(session, found.id, run, today, first, after)
            yield _records(rows, votes, notes, predictions, active, flagged)


@dataclass(frozen=True)
class _Today:
    """How the active model's stored rows read in today's labels (engine.predicting.stored_top):
    ``by_name`` for rows without their labels' ids (the classes' names at training → the
    labels they count as today), ``targets`` (label id → its label today) for the others, and
    whether any class of the model is called otherwise today (``moved``: else every stored
    row already names today's labels)."""

    by_name: dict[str, str]
    targets: dict[int, str | None]
    moved: bool  # the rows may name labels otherwise than today: read each row's classes


def _today(session: Session, project_id: int, run: ModelRun) -> _Today:
    """:class:`_Today` for ``run``: rows without their labels' ids are read by the names the
    model was trained with (engine.predicting.training_names)."""
    from engine.predicting import training_names

    targets = taxonomy_repo.label_targets(session=session, project_id=project_id)
    if run.rows_named_at is not None:
        # the rows name today's labels while no taxonomy change came since they were written
        # (one since then, say a rename undone after a re-score, is read row by row)
        newest = taxonomy_repo.newest_event_id(session=session, project_id=project_id)
        moved = run.rows_named_at != newest
    else:  # rows written before 0022: by the names the model was trained with
        labels = models.class_labels(
            session=session,
            project_id=project_id,
            classes=run.classes,
            as_of=run.created_at,
            label_ids=run.label_ids,
        )
        now = [targets.get(int(lb.id or 0)) if lb is not None else None for lb in labels]
        moved = any(n is not None and n != o for o, n in zip(run.classes, now, strict=True))
    return _Today(
        by_name=training_names(session, project_id, run, targets), targets=targets, moved=moved
    )


def _predictions(
    session: Session,
    project_id: int,
    run: ModelRun,
    today: _Today,
    first_id: int,
    last_id: int,
) -> dict[int, tuple[str | None, float | None]]:
    """Example id → its stored prediction's (label, confidence), for the examples with ids from
    ``first_id`` to ``last_id``; the active model's in today's labels (a label merged since: the
    merge target at the merged classes' summed probability), so that the export shows what
    `labelbot predict` answers for the text.

    The stored label and confidence are read as plain columns; a row's top classes (``probs``,
    a JSON column) only when the rows may name labels otherwise than today (a taxonomy change
    since they were written: ``today.moved``), and only the active run's rows: with none,
    :func:`engine.predicting.stored_top` answers the stored top class (its label and rounded
    confidence) unchanged, and reading and mapping every row's classes made an export 2-2.5x
    slower."""
    out = models.predictions_between(
        session=session, project_id=project_id, first_id=first_id, last_id=last_id
    )
    if run.id is None or not today.moved:
        return out
    from engine.predicting import stored_top

    for example_id, (probs, ids) in models.prediction_probs_between(
        session=session,
        project_id=project_id,
        model_run_id=run.id,
        first_id=first_id,
        last_id=last_id,
    ).items():
        out[example_id] = stored_top(probs, today.by_name, ids, today.targets)[0]
    return out


def _merged_predictions(
    ws: Workspace,
    session: Session,
    project_id: int,
    today: _Today,
    merges: Any,
    rows: list[tuple[int, str | None, str, dict[str, Any]]],
) -> dict[int, tuple[str | None, float | None]]:
    """:func:`_predictions` of a page after labels were merged (``merges``:
    engine.predicting.Merges): a row whose stored classes say what the re-score will write
    (its top class, at its probability) is read as :func:`_predictions` reads it; the others
    are scored live, as the re-score will score them, so the export says before the re-score
    what it says after."""
    from engine.predicting import stored_top

    run = merges.run
    first, last = rows[0][0], rows[-1][0]
    stored = models.prediction_probs_between(
        session=session, project_id=project_id, model_run_id=run.id, first_id=first, last_id=last
    )
    out: dict[int, tuple[str | None, float | None]] = {}
    if len(stored) < len(rows):  # examples without a row of the active model: their own rows
        out = models.predictions_between(
            session=session, project_id=project_id, first_id=first, last_id=last
        )
    texts = {example_id: text for example_id, _, text, _ in rows}
    live: list[int] = []
    known = merges.exact_rows(list(stored.values()))
    for (example_id, (probs, ids)), count in zip(stored.items(), known, strict=True):
        if count < 1:
            live.append(example_id)
        else:  # as stored_top reads it (the first class, merged with none)
            out[example_id] = merges.top_of(probs, ids)
    for start in range(0, len(live), EXPORT_PAGE):
        batch = live[start : start + EXPORT_PAGE]
        scored = merges.rescored(ws, batch, [texts[i] for i in batch])
        for example_id, row in zip(batch, scored, strict=True):
            out[example_id] = stored_top(row, {})[0]
    return out


def _records(
    rows: list[tuple[int, str | None, str, dict[str, Any]]],
    votes: list[feedback.AnnotationRow],
    notes: list[tuple[int, str, str, datetime]],
    predictions: dict[int, tuple[str | None, float | None]],
    active: set[str],
    flagged: Iterable[Flag] = (),
) -> list[dict[str, Any]]:
    """The records of one page of examples, from their votes, comments, predictions and flags."""
    agreed = feedback.agreed_labels(votes, active_labels=active)
    disputed = open_disagreements(votes)
    by_example: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in votes:
        by_example[a.example_id].append(
            {
                "label": a.label,
                "annotator": a.annotator,
                "source": a.source,
                "created_at": a.created_at.isoformat(),
            }
        )
    comments: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for example_id, author, text, created_at in notes:
        comments[example_id].append(
            {"author": author, "text": text, "created_at": created_at.isoformat()}
        )
    set_aside: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for flag in flagged:
        set_aside[flag.example_id].append(
            {
                "annotator": flag.annotator,
                "reason": flag.reason,
                "created_at": flag.created_at.isoformat(),
                "resolved_at": flag.resolved_at.isoformat() if flag.resolved_at else None,
                "resolved_by": flag.resolved_by,
            }
        )
    records = []
    for example_id, external_id, text, meta in rows:
        label, confidence = predictions.get(example_id, (None, None))
        records.append(
            {
                "id": external_id if external_id is not None else str(example_id),
                "text": text,
                "label": agreed.get(example_id),
                "annotations": by_example.get(example_id, []),
                "comments": comments.get(example_id, []),
                "prediction": (
                    {"label": label, "confidence": confidence} if label is not None else None
                ),
                "meta": meta,
                "disputed": example_id in disputed,
                "flags": set_aside.get(example_id, []),
            }
        )
    return records


def find_example(
    ws: Workspace, project: str, ref: str, *, listed_by: str = "labelbot disagreements"
) -> int:
    """The internal id of the example ``ref`` names: the ``id`` an export shows (the id it was
    imported with, else its internal number), or ``#N``, the internal number that the caller's
    listing, the command ``listed_by`` (`labelbot disagreements`, `labelbot flags NAME`), shows.
    NotFoundError when none does, naming that command; InvalidInputError when ``ref`` is one
    example's imported id and another's internal number (``#N`` then says which)."""
    from storage.models import ID_MAX  # the largest id a row can have

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
        # a number past the database's integers is no row's (SQLite raised OverflowError);
        # the length first: int() refuses over 4,300 digits
        if (
            number.isdigit()
            and number.isascii()
            and len(number.lstrip("0")) <= len(str(ID_MAX))
            and 0 < int(number) <= ID_MAX
        ):
            example = examples.find_example(session=session, example_id=int(number))
            if example is not None and example.project_id == found.id:
                named.add(int(number))
    if not named:
        raise NotFoundError(
            f"no example {text!r} in project {project!r}: give the id an export shows, or the "
            f"#number `{listed_by}` shows"
        )
    if len(named) > 1:
        choices = ", ".join(f"#{i}" for i in sorted(named))
        raise InvalidInputError(
            f"{text!r} names {len(named)} examples ({choices}): write one of those"
        )
    return named.pop()


def predictions_note(ws: Workspace, project: str) -> str | None:
    """Why an export of ``project`` holds no model predictions while it has an active model,
    when the active model's are missing: its file cannot be used (the re-scoring fell back to
    a cold start: status and predict say the same), or a label was added, split or retired
    since it was trained, so its predictions cannot be carried over to today's labels (the
    queue is a cold start until the next model, engine.training.class_map). None when the
    export has them, or there is no model yet."""
    from engine import taxonomy, training

    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        active = models.get_active_model_run(session=session, project_id=found.id)
        if active is None or active.id is None:
            return None
        if models.has_predictions_of(session=session, project_id=found.id, model_run_id=active.id):
            return None
    problem = training.active_model_problem(ws, project)
    if problem is not None:
        return f"no predictions in this export: {problem.message}"
    if taxonomy.trained_before(active, taxonomy.changed_at(found)):
        return (
            f"no predictions in this export: a label was added, split or retired since model "
            f"v{active.version} was trained, so its predictions do not name today's labels; the "
            f"next model fills them (`labelbot train {project}`)"
        )
    return (
        f"no predictions in this export: model v{active.version}'s were not stored (`labelbot "
        f"predict {project} FILE` says why, if it cannot answer); `labelbot train {project}` "
        "stores a new model's"
    )


def check_format(fmt: str, *, spreadsheet_safe: bool = False) -> str:
    """The export format ``fmt`` names, in any case ("JSONL", "Csv"); InvalidInputError if none,
    or when ``spreadsheet_safe`` is asked of another format than CSV. Callers check before
    reading the project, so a bad request costs nothing."""
    if fmt.lower() not in EXPORT_FORMATS:
        raise InvalidInputError(f"unknown export format {fmt!r}: use {' or '.join(EXPORT_FORMATS)}")
    if spreadsheet_safe and fmt.lower() != "csv":
        raise InvalidInputError("spreadsheet-safe applies to CSV output only (format csv)")
    return fmt.lower()


def suffix_format(path: Path) -> str | None:
    """The export format ``path``'s name says it holds (any case: "out.CSV"), or None."""
    return FORMAT_SUFFIXES.get(path.suffix.lower())


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What tells Excel a CSV is UTF-8 (U+FEFF, written as EF BB BF): spreadsheet-safe files start so.
BOM = "\ufeff"


def write_export(
    records: Iterable[dict[str, Any]],
    out: TextIO,
    fmt: str = "jsonl",
    *,
    spreadsheet_safe: bool = False,
    bom: bool | None = None,
) -> int:
    """Write records as JSONL or CSV, each as it comes (:func:`export_lines`); returns how
    many were written."""
    written = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal written
        for record in records:
            written += 1
            yield record

    for line in export_lines(counted(), fmt, spreadsheet_safe=spreadsheet_safe, bom=bom):
        out.write(line)
    return written


def export_lines(
    records: Iterable[dict[str, Any]],
    fmt: str = "jsonl",
    *,
    spreadsheet_safe: bool = False,
    bom: bool | None = None,
) -> Iterator[str]:
    """The export's text, one record at a time (a CSV row may hold line breaks in quotes):
    the byte order mark if asked, CSV's header, then a line per record. ``spreadsheet_safe``
    (CSV only) defuses cells a spreadsheet would read as formulas and, unless ``bom`` is
    False, starts with the byte order mark that says UTF-8 to Excel."""
    fmt = check_format(fmt, spreadsheet_safe=spreadsheet_safe)
    if bom is None:
        bom = spreadsheet_safe
    if bom:
        yield BOM
    if fmt == "jsonl":
        for record in records:
            yield json.dumps(record, ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = CsvRows(buffer, (*CSV_COLUMNS, SAFE_COLUMN) if spreadsheet_safe else CSV_COLUMNS)
    writer.writeheader()
    yield _drained(buffer)
    marked = {SAFE_COLUMN: "true"} if spreadsheet_safe else {}
    for row in _flat(records):
        writer.writerow(_cells({**row, **marked}, spreadsheet_safe=spreadsheet_safe))
        yield _drained(buffer)


def _cells(row: dict[str, Any], *, spreadsheet_safe: bool) -> dict[str, Any]:
    """A CSV row as written: each cell :func:`_defused` when ``spreadsheet_safe``."""
    return {k: _defused(v) for k, v in row.items()} if spreadsheet_safe else row


def _drained(buffer: io.StringIO) -> str:
    """What ``buffer`` holds, emptying it."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _defused(value: Any) -> Any:
    """``value`` with a ``'`` in front when a spreadsheet would take it for a formula, and when
    it starts with ``'`` before such a character: :func:`undefused` (what `labelbot import`
    does to an export's cells) then gives every value back as it was."""
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def undefused(value: str) -> str:
    """A cell of a spreadsheet-safe CSV as it was before :func:`_defused`: without the ``'``
    put before a character a spreadsheet would start a formula with (``'=SUM(1)``: ``=SUM(1)``);
    any other value as it is."""
    if value.startswith("'") and value[1:].lstrip("'").startswith(FORMULA_STARTS):
        return value[1:]
    return value


def _flat(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
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
            "flags": json.dumps(r.get("flags", []), ensure_ascii=False),  # older records: none
        }


# predict's JSONL fields, in order: the CSV's columns ("top" as JSON in its cell)
PREDICTION_COLUMNS = ("id", "text", "label", "confidence", "top")


class CsvRows:
    """csv.DictWriter with rows ended by "\n", which quotes a value holding a "\n" but not one
    holding a lone "\r" (its quoting looks at the line terminator): every reader would end the
    row there. A row with a "\r" in a value is written with every value quoted; the others as
    before, byte for byte."""

    def __init__(self, out: TextIO, fields: Iterable[str]) -> None:
        names = list(fields)
        self._plain = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
        self._quoted = csv.DictWriter(
            out, fieldnames=names, lineterminator="\n", quoting=csv.QUOTE_ALL
        )

    def writeheader(self) -> None:
        self._plain.writeheader()

    def writerow(self, row: dict[str, Any]) -> None:
        carriage = any(isinstance(v, str) and "\r" in v for v in row.values())
        (self._quoted if carriage else self._plain).writerow(row)


def write_predictions(
    rows: Iterable[dict[str, Any]],
    out: TextIO,
    fmt: str = "jsonl",
    *,
    spreadsheet_safe: bool = False,
) -> int:
    """Write predict's rows ({"id", "text", "label", "confidence", "top"}) as JSONL or CSV
    (an id of None as an empty cell); returns how many were written. ``spreadsheet_safe``
    (CSV only, as for an export) defuses formula cells and starts with the byte order mark:
    predict's texts are often outsiders' (tickets, reviews), and the CSV is opened in Excel."""
    fmt = check_format(fmt, spreadsheet_safe=spreadsheet_safe)
    if spreadsheet_safe:
        out.write(BOM)  # as a spreadsheet-safe export starts: Excel then reads it as UTF-8
    writer = None
    if fmt == "csv":
        writer = CsvRows(out, PREDICTION_COLUMNS)
        writer.writeheader()
    count = 0
    for row in rows:
        if writer is None:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            cells = {
                **row,
                "id": "" if row["id"] is None else row["id"],
                "top": json.dumps(row["top"], ensure_ascii=False),
            }
            writer.writerow(_cells(cells, spreadsheet_safe=spreadsheet_safe))
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
    """The export as one string (:func:`export_stream` sends it in pieces). Without the byte
    order mark unless ``bom``: it marks a file's encoding, and this text is encoded by its
    caller (a response body that is saved as a file for Excel wants it:
    ``bom=spreadsheet_safe``)."""
    return "".join(export_stream(ws, project, fmt, spreadsheet_safe=spreadsheet_safe, bom=bom))


def export_stream(
    ws: Workspace,
    project: str,
    fmt: str = "jsonl",
    *,
    spreadsheet_safe: bool = False,
    bom: bool = False,
    piece: int = 64 * 1024,
) -> Iterator[str]:
    """:func:`export_text` in pieces of about ``piece`` characters, read as they are taken (a
    response body sent while it is read). The format is checked before the project is read,
    and the project looked up before the first piece: errors come before any text."""
    check_format(fmt, spreadsheet_safe=spreadsheet_safe)
    lines = export_lines(
        iter_export_records(ws, project), fmt, spreadsheet_safe=spreadsheet_safe, bom=bom
    )
    return _joined(lines, piece)


def _joined(lines: Iterator[str], piece: int) -> Iterator[str]:
    held: list[str] = []
    size = 0
    for line in lines:
        held.append(line)
        size += len(line)
        if size >= piece:
            yield "".join(held)
            held, size = [], 0
    if held:
        yield "".join(held)


@contextmanager
def replacing(path: Path) -> Iterator[TextIO]:
    """A file to write ``path``'s new content to; it becomes ``path`` when the block ends.

    The content goes to a new file beside ``path``, renamed over it only once the block has
    finished without error: a failure halfway never leaves ``path`` emptied or half-written
    (an export over yesterday's, say). A path that cannot be written is an InvalidInputError
    when the block starts, before the caller does its work.
    """
    target = Path(os.path.realpath(path))  # through a symlink, to the file it names
    try:
        kind: int | None = os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        kind = None  # a new file (its folder is looked at when it is made)
    except OSError as exc:  # a name too long, a link loop: Path.is_dir() raised some of them
        raise _unwritable(path, exc, target.parent) from exc
    if kind is not None and stat.S_ISDIR(kind):
        raise InvalidInputError(f"{path}: is a folder; name a file to write")
    if kind is not None and not stat.S_ISREG(kind):
        # a device or a pipe (/dev/null, /dev/stdout, a FIFO a script reads): written as it is,
        # never replaced by a regular file beside it (as root, renaming over /dev/null worked)
        try:
            special = target.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise _unwritable(path, exc, target.parent) from exc
        try:
            yield _NamedWrites.of(special, path)
        finally:
            with _naming(path):  # closing writes what is buffered still
                special.close()
        return
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    # everything from the file's creation on is inside the try: Ctrl-C while the leftovers
    # are swept (a scan of --out's folder) left the new, empty temporary file behind
    done = made = False
    try:
        try:
            handle = temporary.open("x", encoding="utf-8", newline="")
            made = True
        except OSError as exc:  # "x": another's file of that name is never ours to delete
            raise _unwritable(path, exc, target.parent) from exc
        try:
            _sweep_leftovers(target, keep=temporary)
            yield _NamedWrites.of(handle, path)
        finally:
            with _naming(path):  # closing writes what is buffered still
                handle.close()
        try:
            if target.exists():
                shutil.copymode(target, temporary)  # keep the replaced file's permissions
            os.replace(temporary, target)
        except OSError as exc:
            raise _unwritable(path, exc, target.parent) from exc
        done = True
    finally:
        if made and not done:
            temporary.unlink(missing_ok=True)


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An OSError that names no file (a write's or a close's: ENOSPC on a full disk or
    /dev/full) raised inside is given ``path``'s name: the one-line error said "could not
    write: No space left on device" without saying where (the temporary file's name, if any,
    is none the user gave)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


class _NamedWrites:
    """``handle`` as :func:`replacing` gives it out: a write that fails names ``path``
    (:func:`_naming`), and only a write's: an error of the caller's own work in the block (the
    embedding cache of predict, say) keeps its own."""

    def __init__(self, handle: TextIO, path: Path) -> None:
        self._handle, self._path = handle, path

    @classmethod
    def of(cls, handle: TextIO, path: Path) -> TextIO:
        """``handle`` so wrapped, typed as the file it stands for (csv.writer and the
        callers use write() and flush(); anything else is the handle's own)."""
        return cast(TextIO, cls(handle, path))

    def write(self, text: str) -> int:
        with _naming(self._path):
            return self._handle.write(text)

    def flush(self) -> None:
        with _naming(self._path):
            self._handle.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def _sweep_leftovers(target: Path, *, keep: Path, now: float | None = None) -> list[Path]:
    """Delete the temporary files (".<name>.<8 hex>.tmp", :func:`replacing`'s) of earlier writes
    of ``target`` that a killed process left beside it (storage.copying.sweep_leftovers)."""
    names = rf"\.{re.escape(target.name)}\.[0-9a-f]{{8}}\.tmp"
    return sweep_leftovers(target, names=names, keep=keep, now=now)


def _unwritable(path: Path | str, exc: OSError, folder: Path) -> LabelbotError:
    """The error for an output path the OS refused: "no such folder" only when it is missing
    (a /proc path refuses a new file with ENOENT although its folder is there), an input error
    like any other path that cannot be one; a place the machine refuses to write to, a
    configuration error."""
    if isinstance(exc, FileNotFoundError) and not folder.is_dir():
        reason = "no such folder"
    else:
        reason = (exc.strerror or str(exc)).lower()
    kind = ConfigurationError if exc.errno in DISK_ERRNOS else InvalidInputError
    return kind(f"{path}: cannot write here ({reason})")
