"""Reading CSV / JSONL files of examples, validated whole before anything is stored.

A malformed file fails with the line number and imports nothing: every row is parsed and checked
first, then the examples and their labels go in one transaction.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.errors import InvalidInputError

# A text longer than this is almost certainly a broken file (a runaway quote swallowing the
# rest of a CSV), and would embed slowly and render badly; split such documents before import.
MAX_TEXT_CHARS = 50_000
FORMATS = ("csv", "jsonl")


@dataclass(frozen=True)
class Record:
    line: int
    text: str
    label: str | None
    external_id: str | None
    meta: dict[str, Any]


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    raise InvalidInputError(f"{path}: unknown file type {suffix!r}: use .csv or .jsonl")


def read_records(
    path: Path,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    id_column: str | None = "id",
    require_label_column: bool = False,
    require_id_column: bool = False,
) -> list[Record]:
    """Parse and validate every row of ``path``; raise InvalidInputError naming the line."""
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    content = _decode(path)
    fmt = detect_format(path)
    rows = _csv_rows(path, content) if fmt == "csv" else _jsonl_rows(path, content)
    records: list[Record] = []
    header_checked = False
    for line, row in rows:
        if not header_checked and fmt == "csv":
            _check_columns(
                path,
                set(row),
                text_column,
                label_column,
                id_column,
                require_label_column,
                require_id_column,
            )
            header_checked = True
        if fmt == "jsonl" and text_column not in row:
            raise InvalidInputError(f"{path}:{line}: no {text_column!r} field in this object")
        records.append(_record(path, line, row, text_column, label_column, id_column))
    if fmt == "jsonl" and require_label_column and all(r.label is None for r in records):
        raise InvalidInputError(f"{path}: no {label_column!r} field in any line")
    if not records:
        raise InvalidInputError(f"{path}: the file has no rows")
    return records


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{path}:{line}: not valid UTF-8 (byte {raw[exc.start]:#04x}); save the file as UTF-8"
        ) from exc


def _csv_rows(path: Path, content: str) -> Iterator[tuple[int, dict[str, Any]]]:
    csv.field_size_limit(sys.maxsize)  # we enforce our own, clearer, limit per text
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    reader = csv.DictReader(io.StringIO(content, newline=""), dialect=dialect, strict=True)
    try:
        if reader.fieldnames is None:
            raise InvalidInputError(f"{path}: the file is empty")
        for row in reader:
            if None in row:  # more cells than header columns
                raise InvalidInputError(
                    f"{path}:{reader.line_num}: more values than the header has columns"
                )
            yield reader.line_num, {k: v for k, v in row.items() if k is not None}
    except csv.Error as exc:
        raise InvalidInputError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from exc


def _jsonl_rows(path: Path, content: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}:{number}: invalid JSON: {exc.msg}") from exc
        if not isinstance(obj, dict):
            raise InvalidInputError(f"{path}:{number}: each line must be a JSON object")
        yield number, obj


def _check_columns(
    path: Path,
    columns: set[str],
    text_column: str,
    label_column: str | None,
    id_column: str | None,
    require_label: bool,
    require_id: bool,
) -> None:
    found = ", ".join(sorted(columns)) or "none"
    if text_column not in columns:
        raise InvalidInputError(
            f"{path}:1: no {text_column!r} column (columns: {found}); use --text-column"
        )
    if require_label and label_column and label_column not in columns:
        raise InvalidInputError(f"{path}:1: no {label_column!r} column (columns: {found})")
    if require_id and id_column and id_column not in columns:
        raise InvalidInputError(f"{path}:1: no {id_column!r} column (columns: {found})")


def _record(
    path: Path,
    line: int,
    row: dict[str, Any],
    text_column: str,
    label_column: str | None,
    id_column: str | None,
) -> Record:
    text = row.get(text_column)
    if not isinstance(text, str):
        raise InvalidInputError(f"{path}:{line}: {text_column!r} must be a string")
    text = text.strip()
    if not text:
        raise InvalidInputError(f"{path}:{line}: empty text")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInputError(
            f"{path}:{line}: text of {len(text):,} characters is over the "
            f"{MAX_TEXT_CHARS:,} limit; split long documents before import"
        )
    label = _optional_str(row.get(label_column)) if label_column else None
    external_id = _optional_str(row.get(id_column)) if id_column else None
    used = {text_column, label_column, id_column}
    meta = {k: v for k, v in row.items() if k not in used and v not in (None, "")}
    return Record(line=line, text=text, label=label, external_id=external_id, meta=meta)


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
