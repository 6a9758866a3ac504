"""Reading CSV / JSONL files of examples, row by row, each validated as it is read.

A malformed file fails with the line number and imports nothing: the file is read and checked
a block at a time (FileRows), and an import stores its rows a chunk at a time in one
transaction, undone by the first bad row (engine.projects.import_file).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import math
import os
import re
import shlex
import stat
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from engine.exporting import CSV_COLUMNS, SAFE_COLUMN, undefused
from engine.text import ELLIPSIS, cluster_start
from storage.errors import InvalidInputError
from storage.models import Example

# A text longer than this is almost certainly a broken file (a runaway quote swallowing the
# rest of a CSV), and would embed slowly and render badly; split such documents before import.
MAX_TEXT_CHARS = 50_000
# The width of the column ids are stored in: PostgreSQL refuses a longer one only at INSERT time.
MAX_ID_CHARS: int = Example.__table__.c.external_id.type.length  # type: ignore[attr-defined]
FORMATS = ("csv", "jsonl")
# Metadata nested deeper than this is refused: Python's json (reading the file, and writing the
# value for storage and export) recurses once per level and fails near 1,000 levels with a
# RecursionError; no real record nests anywhere near this.
MAX_DEPTH = 100
# A labelbot export (engine.exporting) read back: every record of one has these fields...
EXPORT_SIGNATURE = frozenset({"annotations", "comments", "prediction"})
# ... of which these are derived from the project it came from (its votes, its model), not
# properties of the example: not kept as metadata. Its "meta" field is the metadata itself.
# Every export column but id, text and label, so one added to the export is left out too.
EXPORT_DERIVED = frozenset((*CSV_COLUMNS, SAFE_COLUMN)) - {"id", "text", "label"}


@dataclass(frozen=True)
class Record:
    line: int
    text: str
    label: str | None
    external_id: str | None
    meta: dict[str, Any]


class InterruptedAfterStoring(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) once an import's transaction has committed: its rows are stored,
    and a run of the same import again skips them (a KeyboardInterrupt still, for any caller
    that takes it as one)."""

    def __init__(self, *, inserted: int, annotations: int) -> None:
        super().__init__()
        self.inserted = inserted
        self.annotations = annotations


# The file names the importer reads, by format.
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
# Spreadsheets' own formats: what a first import is most often tried with.
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
# The advice for a spreadsheet given to `import` or `predict`: it names neither command.
SAVE_AS_CSV = "save it as CSV UTF-8 (in Excel: File → Save As → CSV UTF-8 (Comma delimited))"


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    *first, last = CSV_SUFFIXES + JSONL_SUFFIXES
    said = f"{path}: unknown file type {suffix!r}: use {', '.join(first)} or {last}"
    if suffix in SPREADSHEET_SUFFIXES:
        said += f"; for a spreadsheet, {SAVE_AS_CSV}"
    elif suffix == ".json":
        said += f"; {ONE_OBJECT_A_LINE}"
    raise InvalidInputError(said)


# The advice for a JSON document given where JSON Lines are read: a .json file, or one array.
ONE_OBJECT_A_LINE = (
    "JSON Lines (.jsonl) has one object per line: for a JSON array of objects, "
    "`jq -c '.[]' FILE.json > FILE.jsonl` writes them so"
)


@dataclass(frozen=True)
class ReadFile:
    """A file's rows, and every column (CSV) or field name (JSONL, of any line) it has."""

    records: list[Record]
    columns: frozenset[str]


def read_file(
    path: Path,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    id_column: str | None = "id",
    require_label_column: bool = False,
    require_id_column: bool = False,
) -> ReadFile:
    """Parse and validate every row of ``path`` (InvalidInputError naming the line), with the
    file's column names (for :func:`column_notes`). Every row in memory: an import streams
    the same rows from :class:`FileRows` instead."""
    rows = FileRows(
        path,
        text_column=text_column,
        label_column=label_column,
        id_column=id_column,
        require_label_column=require_label_column,
        require_id_column=require_id_column,
    )
    records = list(rows)
    return ReadFile(records, frozenset(rows.columns))


class FileRows:
    """The rows of a file as Records, read, decoded and checked as they are iterated, so a file
    of any size takes the memory of one block of it (READ_BYTES) and one row. Each iteration
    reads the file again from its start, and raises InvalidInputError at the first bad row
    (the rows before it already yielded: a caller storing them undoes that). After an
    iteration, ``columns`` has every column (CSV) or field name (JSONL) the file has, and
    ``meta_columns`` those some row kept a value of as metadata."""

    def __init__(
        self,
        path: Path,
        *,
        text_column: str = "text",
        label_column: str | None = "label",
        id_column: str | None = "id",
        require_label_column: bool = False,
        require_id_column: bool = False,
    ) -> None:
        try:
            kind = os.stat(path).st_mode
        except FileNotFoundError:
            raise InvalidInputError(f"{path}: no such file") from None
        except OSError as exc:  # a name too long, a link loop, a folder it may not enter
            raise InvalidInputError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
        if stat.S_ISDIR(kind):
            raise InvalidInputError(f"{path}: is a directory; give a file in it")
        if not stat.S_ISREG(kind):  # a FIFO, a socket, a device: reading it may block forever
            raise InvalidInputError(f"{path}: not a regular file")
        self.path = path
        self.text_column = text_column
        self.label_column = label_column
        self.id_column = id_column
        self.require_label_column = require_label_column
        self.require_id_column = require_id_column
        self.columns: set[str] = set()
        self.meta_columns: set[str] = set()
        # cells that look like rows swallowed by a stray quote (CSV): see RunawayCell
        self.runaways: list[RunawayCell] = []

    def __iter__(self) -> Iterator[Record]:
        path, text_column = self.path, self.text_column
        blocks = _decoded(path)
        # the first block read and decoded before the type is looked at, as when the whole
        # file was: an unreadable or undecodable file says so whatever its name
        first = next(blocks, "")
        fmt = detect_format(path)
        text = itertools.chain([first], blocks)
        self.runaways = []
        columns: set[str] = set()
        kept: set[str] = set()
        self.columns, self.meta_columns = columns, kept

        def header_read(names: set[str], line: int) -> None:  # a CSV's, before its rows
            columns.update(names)
            _check_columns(
                path,
                line,
                columns,
                text_column,
                self.label_column,
                self.id_column,
                self.require_label_column,
                self.require_id_column,
            )

        rows = (
            _csv_rows(path, text, text_column, self.runaways, header_read)
            if fmt == "csv"
            else _jsonl_rows(path, text)
        )
        any_rows = labeled = False
        for line, row in rows:
            if fmt == "jsonl":
                columns.update(row)
                if text_column not in row:
                    raise InvalidInputError(
                        f"{path}:{line}: no {text_column!r} field in this object"
                        + _other_case(
                            row, text_column, "it has {found}: use --text-column {option}"
                        )
                    )
            if fmt == "csv" and row.keys() >= EXPORT_SIGNATURE and SAFE_COLUMN in row:
                row = _undefused(row, (text_column, self.label_column, self.id_column))
            record = _record(path, line, row, text_column, self.label_column, self.id_column)
            kept.update(record.meta)
            any_rows = True
            labeled = labeled or record.label is not None
            yield record
        if fmt == "jsonl" and self.require_label_column and not labeled:
            # a field every line has, null or blank, is there: it holds no label
            missing = "value" if self.label_column in columns else "field"
            raise InvalidInputError(
                f"{path}: no {self.label_column!r} {missing} in any line"
                + _other_case(
                    columns, str(self.label_column), "did you mean --label-column {option}?"
                )
            )
        # as a CSV without the column an --id-column names is refused (_check_columns): else
        # a typo in it gave every row no id, `predict`'s output a null id on every line
        if fmt == "jsonl" and self.require_id_column and self.id_column not in columns:
            raise InvalidInputError(
                f"{path}: no {self.id_column!r} field in any line"
                + _other_case(columns, str(self.id_column), "did you mean --id-column {option}?")
            )
        if not any_rows:
            raise InvalidInputError(f"{path}: the file has no rows")


# Bytes read and decoded at a time.
READ_BYTES = 1 << 20

_WIDE_ENCODINGS = (
    ("utf-32", (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)),
    ("utf-16", (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)),
)


def _read(handle: BinaryIO, path: Path, size: int | None = None) -> bytes:
    try:
        return handle.read(size or READ_BYTES)
    except OSError as exc:  # not "could not write": the CLI's net for OSError is for writes
        raise InvalidInputError(f"{path}: cannot read it: {exc.strerror or exc}") from exc


def _decoded(path: Path) -> Iterator[str]:
    """The text of ``path``, READ_BYTES at a time, without its byte order mark(s)."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    with handle:
        data = _read(handle, path, max(READ_BYTES, 4))  # a byte order mark whole
        if (kind := _binary_kind(data)) is not None:
            raise InvalidInputError(f"{path}: {kind}, not a text file; {SAVE_AS_CSV}")
        if (packed := _compression(data)) is not None:
            # read as text, gzip fails on its second byte as "not valid UTF-8 (byte 0x8b)",
            # which sends the user to re-save a file that is only compressed
            command, plain = _decompressing(path, packed)
            raise InvalidInputError(
                f"{path}: a {packed.kind}-compressed file, not a text file; decompress it "
                f"first: `{command}` writes {plain}; give that file instead"
            )
        if data and not data.strip(b"\x00"):
            # zero-filled, as a crash or a full disk leaves a file: said as it is, not as a
            # header of one "column" of NUL bytes (or as UTF-16 without a byte order mark)
            whole = len(data) < READ_BYTES or not _read(handle, path)
            held = f", {len(data):,} of them" if whole else f" in its first {len(data):,} bytes"
            raise InvalidInputError(
                f"{path}: only NUL bytes (\\x00){held}: a file a crash or a full disk left? "
                "nothing was imported"
            )
        # UTF-32 first: UTF-32-LE's byte order mark starts with UTF-16-LE's. Excel's "Unicode
        # Text" (*.txt) and many Windows tools write UTF-16 with a byte order mark: the one way
        # out of older Excel that keeps Japanese, Arabic or Hindi text whole.
        wide = next((enc for enc, marks in _WIDE_ENCODINGS if data.startswith(marks)), None)
        offset = 0  # the file's bytes before ``data``
        if wide is None:
            if data.startswith(codecs.BOM_UTF8):
                data, offset = data[3:], 3
            # the whole first line with text, for the check below. Looked for again only when
            # a block brings a line end, from the last line end looked at: scanned and copied
            # after each block, a first line of 200 MB (a JSON array saved as .jsonl) took 4
            # minutes to refuse; scanned from the start, 64 MiB of blank lines took 31 s
            first = _FirstTextLine(data)
            found = first.found()
            while found is None and (more := _read(handle, path)):
                first.data += more
                if b"\n" in more or b"\r" in more:
                    found = first.found()
            data = bytes(first.data)
            if found is not None and b"\x00" in found[1]:
                # UTF-16 or UTF-32 without a byte order mark decodes as "UTF-8" with a NUL byte
                # beside every letter: the header would read " t e x t", and no column would match
                where = "the first line" if found[0] == 1 else "the first line with text"
                raise InvalidInputError(
                    f"{path}:{found[0]}: NUL bytes (\\x00) in {where}: is the file UTF-16 or "
                    "UTF-32 without a byte order mark? save the file as UTF-8"
                )
        decoder = cast(
            codecs.BufferedIncrementalDecoder, codecs.getincrementaldecoder(wide or "utf-8")()
        )
        newlines = 0  # line ends in the file's bytes before ``data`` (as _line_ends counts)
        cr_before = False  # whether those bytes end with "\r" (a "\r\n" cut in two)
        at_start = True
        while True:
            pending = decoder.buffer  # the bytes of a character cut by the last block's end
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                at = exc.start - len(pending)  # in ``data``; the cut character's start before it
                line = newlines + _line_ends(data[: max(at, 0)], cr_before) + 1
                raise _decoding_error(
                    path, wide, pending + data, exc.start, offset - len(pending), line
                ) from exc
            offset += len(data)
            newlines += _line_ends(data, cr_before)
            cr_before = data.endswith(b"\r") if data else cr_before
            if at_start:
                # a second byte order mark (a file saved as UTF-8 with BOM twice) would stick
                # to the first column's name, invisibly: 'text' would not be found
                text = text.lstrip("\ufeff")
                at_start = not text
            if text:
                yield text
            if not data:
                return
            data = _read(handle, path)


def _binary_kind(data: bytes) -> str | None:
    """What the file whose first bytes are ``data`` is, when its opening bytes say it is a
    spreadsheet, a document or a PDF rather than text (read as text, each fails on its NUL
    bytes, with a hint about UTF-16 that does not fit); None for anything else."""
    if data.startswith(b"PK\x03\x04"):  # a ZIP archive: .xlsx, .ods and .docx are
        if b"opendocument.spreadsheet" in data:
            return "an OpenDocument spreadsheet (.ods)"
        if b"xl/" in data:
            return "an Excel workbook (.xlsx)"
        if b"word/" in data:
            return "a Word document (.docx)"
        return "a ZIP archive (an Excel .xlsx, OpenDocument .ods or Word .docx file?)"
    if data.startswith(b"\xd0\xcf\x11\xe0"):  # the compound file of Office 97-2003
        return "an old Excel (.xls) or Word (.doc) file"
    if data.startswith(b"%PDF-"):
        return "a PDF"
    return None


@dataclass(frozen=True)
class _Compression:
    """A compression format: its name, the command that decompresses a file named with its
    ``suffix`` beside it (keeping the file), and the one that writes it out whatever its name."""

    kind: str
    unpack: str
    suffix: str
    stream: str


# The opening bytes of a compressed file, and its format.
_COMPRESSIONS = (
    (b"\x1f\x8b", _Compression("gzip", "gunzip -k", ".gz", "gzip -dc")),
    (b"\xfd7zXZ\x00", _Compression("xz", "unxz -k", ".xz", "xz -dc")),
    (b"\x28\xb5\x2f\xfd", _Compression("zstd", "unzstd -k", ".zst", "zstd -dc")),
)
_BZIP2 = _Compression("bzip2", "bunzip2 -k", ".bz2", "bzip2 -dc")


def _compression(data: bytes) -> _Compression | None:
    """The format of a compressed file whose first bytes are ``data``; None when ``data`` does
    not open a compressed file."""
    for magic, packed in _COMPRESSIONS:
        if data.startswith(magic):
            return packed
    # bzip2: "BZh", a block size digit, then the block's own magic (pi's digits): text that
    # merely starts with "BZh" is not taken for it
    if re.match(rb"BZh[1-9]1AY&SY", data):
        return _BZIP2
    return None


def _decompressing(path: Path, packed: _Compression) -> tuple[str, str]:
    """The command that decompresses the file ``path`` (as the user gave it, so the command
    works where they typed theirs) into a new file beside it, and that file's path. A name
    with the format's suffix (data.csv.gz) is decompressed as its tool does it, to data.csv;
    any other name (a download kept compressed as export.csv), whose tool would refuse it
    ("unknown suffix"), is written out by a shell to export-decompressed.csv. Never onto a file
    there already: ``unpack`` refuses one, and ``>`` would empty it."""
    given = str(path)
    quoted = shlex.quote(f"./{given}" if given.startswith("-") else given)  # not an option
    name, known = path.name, CSV_SUFFIXES + JSONL_SUFFIXES
    if name.endswith(packed.suffix) and len(name) > len(packed.suffix):
        name = name[: -len(packed.suffix)]
        plain = path.with_name(name)
        if plain.suffix.lower() in known and not os.path.lexists(plain):
            return f"{packed.unpack} {quoted}", str(plain)
    base = Path(name)
    stem, suffix = (base.stem, base.suffix) if base.suffix.lower() in known else (name, ".csv")
    plain, n = path.with_name(f"{stem}-decompressed{suffix}"), 1
    while os.path.lexists(plain):
        n += 1
        plain = path.with_name(f"{stem}-decompressed-{n}{suffix}")
    wanted = str(plain)
    target = shlex.quote(f"./{wanted}" if wanted.startswith("-") else wanted)
    return f"sh -c {shlex.quote(f'{packed.stream} {quoted} > {target}')}", wanted


def _decoding_error(
    path: Path, wide: str | None, data: bytes, at: int, offset: int, line: int
) -> InvalidInputError:
    """The error for a broken character at ``data[at]``; ``data`` starts at the file's byte
    ``offset``, and the broken character is on ``line``."""
    if wide is not None:
        return InvalidInputError(
            f"{path}: not valid {wide.upper()} (a broken character at byte {offset + at}); "
            "save the file as UTF-8"
        )
    return InvalidInputError(
        f"{path}:{line}: not valid UTF-8 (byte {data[at]:#04x}); save the file as UTF-8"
    )


def _line_ends(data: bytes, cr_before: bool = False) -> int:
    """How many lines ``data`` ends, each at "\\r\\n", "\\r" or "\\n" as csv.reader's lines
    (:func:`_lines`) and an editor count them; ``cr_before``: the bytes before ``data`` end
    with "\\r", whose line a "\\n" first in ``data`` ends with it (counted there already)."""
    ends = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    return ends - 1 if cr_before and data.startswith(b"\n") else ends


# A line end as the check for NUL bytes reads it: NUL bytes around it are part of it (UTF-16
# or UTF-32 without a byte order mark has them beside each "\r" and "\n"), stripped from the
# lines it ends. Not a pattern with "\x00*" first: tried at each byte of a run of NUL bytes
# with no line end, it read the run again from each (a zero-filled file of 24 KB took seconds).
_RAW_LINE_END = re.compile(rb"\r\x00*\n|\r|\n")
_NOT_NUL = re.compile(rb"[^\x00]")


class _FirstTextLine:
    """The search for the first line of a file's first bytes (``data``, blocks added as they
    are read) with something in it but blanks and NUL bytes: :meth:`found` looks on from the
    last line end it looked at, so each byte is scanned about once, however many blocks."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self._start = 0  # where the first line not yet looked at starts
        self._number = 1  # its number
        self._from = 0  # where to look for line ends: none in data[self._start : self._from]

    def found(self) -> tuple[int, bytes] | None:
        """The number and bytes of the first line with text, once ``data`` holds it whole (a
        line end after it); None before."""
        data = self.data
        for end in _RAW_LINE_END.finditer(data, self._from):
            line = data[self._start : end.start()].rstrip(b"\x00")
            # the NUL bytes after a line end are its
            line = line.lstrip(b"\x00") if self._start else line
            if line.replace(b"\x00", b"").strip():
                return self._number, bytes(line)
            if end.end() - end.start() == 1 and data[end.start()] == 0x0D:
                after = _NOT_NUL.search(data, end.end())
                if after is None:
                    # "\r" and NUL bytes up to the end: the start of a "\r\x00*\n" the
                    # block's end may have cut, looked at again with the next block's bytes
                    self._from = end.start()
                    return None
            self._start, self._number = end.end(), self._number + 1
        self._from = len(data)
        return None


def _lines(blocks: Iterable[str]) -> Iterator[str]:
    """The lines of the text in ``blocks`` as io.StringIO(text, newline="") gives them (ended by
    "\\n", "\\r\\n" or "\\r", kept), however the blocks cut them: what csv.reader reads."""
    rest: list[str] = []  # the start of a line the blocks so far have not ended
    for block in blocks:
        if "\n" not in block and "\r" not in block:
            rest.append(block)
            continue
        lines = io.StringIO("".join(rest) + block, newline="").readlines()
        last = lines.pop()
        yield from lines
        # a line ended by "\\r" may go on with "\\n" in the next block
        if last.endswith("\n"):
            yield last
            rest = []
        else:
            rest = [last]
    if rest and (last := "".join(rest)):
        yield last


def _split_lines(blocks: Iterable[str]) -> Iterator[str]:
    """The text in ``blocks`` split at "\\n" as str.split("\\n") splits it, however the blocks
    cut it."""
    rest: list[str] = []
    for block in blocks:
        pieces = block.split("\n")
        rest.append(pieces[0])
        if len(pieces) > 1:
            yield "".join(rest)
            yield from pieces[1:-1]
            rest = [pieces[-1]]
    yield "".join(rest)


@dataclass(frozen=True)
class RunawayCell:
    """A quoted CSV value over several lines whose lines after its first each hold as many
    separators as a row: most likely rows read into one value after a stray quote (a valid
    file all the same, so it is said, not refused)."""

    line: int  # where its row starts
    end: int  # the line its row ends on
    column: str
    rows: int  # its lines that look like rows


# A value is taken for swallowed rows from this many row-like lines after its first: a message
# over two lines with commas in its second is common, three lines each with exactly a row's
# separators is not.
RUNAWAY_ROWS = 2


def _runaway(cell: str, separator: str, columns: int) -> int:
    """How many lines of ``cell`` after its first look like rows (0 unless they all do)."""
    rest = cell.split("\n")[1:]
    if len(rest) < RUNAWAY_ROWS or columns < 2:
        return 0
    return len(rest) if all(line.count(separator) == columns - 1 for line in rest) else 0


def _csv_rows(
    path: Path,
    blocks: Iterable[str],
    text_column: str,
    runaways: list[RunawayCell] | None = None,
    header_read: Callable[[set[str], int], None] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows of a CSV file, each with the line it starts on as an editor numbers the file's
    lines (blank lines and a "sep=" line before the header, and the lines of quoted values
    over several lines, all counted); ``header_read`` is given the header's column names and
    line before the first row is read."""
    csv.field_size_limit(sys.maxsize)  # we enforce our own, clearer, limit per text
    separator, declared = _separator(path, text_column)
    dialect = "excel-tab" if separator == "\t" else "excel"
    reader = csv.reader(_lines(blocks), dialect=dialect, delimiter=separator, strict=True)
    # Each record is reported at the line it starts on: reader.line_num is the line the reader
    # stopped at, further on for a quoted cell over several lines or an unterminated quote.
    start = 1
    try:
        header, header_at = _first_row(reader)  # the header is the first line with text
        if declared and header is not None:  # after Excel's "sep=;" line, which names none
            header, header_at = _first_row(reader)
        if header is None:
            raise InvalidInputError(f"{path}: the file is empty")
        _check_header(path, header_at, header, text_column)
        if header_read is not None:
            header_read({name for name in header if name.strip()}, header_at)
        # A column without a name (Excel keeps a few empty ones after the last) is left out
        # while it is empty: a value in it is refused below rather than kept under the name ""
        # or one made up, which would stay in the metadata and every export.
        unnamed = [i for i, name in enumerate(header) if not name.strip()]
        text_at = header.index(text_column) if text_column in header else None
        while True:
            start = reader.line_num + 1
            cells = next(reader, None)
            if cells is None:
                return
            if _blank(cells):  # a blank line, or one of separators only (",,,")
                continue
            if (
                len(header) > 1
                and cells[-1] == header[-1]
                and [c.removeprefix("\ufeff") for c in cells] == header
            ):
                # two files joined: read as a row, its text "text" would be stored as an example
                raise InvalidInputError(
                    f"{path}:{start}: the header (line {header_at}) again: are two files "
                    "joined? delete this line"
                )
            if len(cells) > len(header):
                raise InvalidInputError(f"{path}:{start}: more values than the header has columns")
            if text_at is not None and text_at >= len(cells):
                values = "1 value" if len(cells) == 1 else f"{len(cells)} values"
                raise InvalidInputError(
                    f"{path}:{start}: {values} where the header has {len(header)} columns: "
                    f"no {text_column!r} value"
                )
            for i in unnamed:
                if i < len(cells) and cells[i].strip():
                    raise InvalidInputError(
                        f"{path}:{start}: a value in column {i + 1}, which has no name in the "
                        f"header (line {header_at}): name that column, or delete it"
                    )
            if runaways is not None and reader.line_num > start:  # a value over several lines
                for i, cell in enumerate(cells):
                    if i < len(header) and (n := _runaway(cell, separator, len(header))):
                        runaways.append(RunawayCell(start, reader.line_num, header[i], n))
            # As csv.DictReader: missing cells are None (the header's names are unique).
            yield (
                start,
                {
                    name: cells[i] if i < len(cells) else None
                    for i, name in enumerate(header)
                    if i not in unnamed
                },
            )
    except csv.Error as exc:
        raise InvalidInputError(f"{path}:{start}: malformed CSV: {_csv_problem(exc)}") from exc


# csv.reader's words for a quote that breaks a row ("unexpected end of data", "',' expected
# after '"'") say nothing of the quote to a person who never read its source
_AFTER_QUOTE = re.compile(r"'(.)' expected after '\"'")


def _csv_problem(exc: csv.Error) -> str:
    """What csv.reader's error means, said for the person who has to fix the file."""
    said = str(exc)
    if said == "unexpected end of data":  # a quote opened and never closed (strict=True)
        return (
            "a quoted value starts in this row and is never closed: the file ends inside it "
            '(a stray quote (")?)'
        )
    if found := _AFTER_QUOTE.fullmatch(said):
        separator = "a tab" if found[1] == "\t" else repr(found[1])
        return (
            f"text after the closing quote (\") of a value, where {separator} or the line's "
            'end should be: write a quote inside a quoted value twice ("")'
        )
    return said


def _blank(cells: list[str]) -> bool:
    """A CSV line with nothing in it: an empty line, or one of separators only (",,,"), which
    Excel writes for each row of a sheet's used range left empty (a row cleared or only
    formatted, often many after the data). A cell of spaces is something: a row with one is
    read, and refused when its text is empty."""
    return all(cell == "" for cell in cells)


def _first_row(reader: Any) -> tuple[list[str] | None, int]:
    """The csv.reader's next row that is not :func:`_blank`, and the line it starts on; None
    at the end of the file."""
    start = reader.line_num + 1
    row = next(reader, None)
    while row is not None and _blank(row):
        start = reader.line_num + 1
        row = next(reader, None)
    return row, start


# Separators a first line "sep=X" may declare (Excel reads such a line, and tools that write
# CSV for Excel put one first so that it opens in columns whatever the locale).
DECLARED_SEPARATORS = ",;\t|"


def _separator(path: Path, text_column: str) -> tuple[str, bool]:
    """The file's separator, and whether its first line declares it ("sep=;", as Excel reads
    it: that line is no header). Else read from its suffix and header line: a tab in a .tsv,
    and in a .txt whose header has tabs and no comma (Excel's "Unicode Text"); ';' in a .csv or
    .txt whose header has no comma or tab, has ';' and names ``text_column`` when split at it
    (Excel saves "CSV" so in locales whose decimal mark is a comma); else a comma. Read as
    comma-separated, such a header was one column and no text column."""
    # read as far as the header only, its lines ended as the reader ends them (a lone "\r" too)
    lines = _lines(_decoded(path))
    # the first line with text: not one of separators only, which the reader skips (_blank)
    header = next((line for line in lines if line.strip("\r\n,;\t")), "").rstrip("\r\n")
    declared = header[4:5]
    if (
        header[:4].lower() == "sep="
        and declared
        and declared in DECLARED_SEPARATORS
        and not header[5:].strip(declared)  # "sep=;", or "sep=;;;" padded to the columns
    ):
        return declared, True
    if path.suffix.lower() == ".tsv":
        return "\t", False
    if "," in header:
        return ",", False
    if path.suffix.lower() == ".txt" and "\t" in header:
        return "\t", False
    if ";" in header and "\t" not in header:
        try:
            columns = next(csv.reader([header], delimiter=";"), [])
        except csv.Error:
            return ",", False
        if text_column in columns:
            return ";", False
    return ",", False


def _check_header(path: Path, line: int, header: list[str], text_column: str) -> None:
    """A header that is no CSV header (JSON Lines named .csv), or that names a column twice:
    csv.DictReader keeps the last of two columns of one name, and the other's values were
    lost without a word (Excel makes such a header when a column is copied)."""
    if text_column not in header and any(c.lstrip().startswith("{") for c in header):
        # JSON Lines named .csv (`labelbot export --out x.csv` wrote JSONL before it read the
        # format from the suffix): its "columns" would be fragments of the first object
        raise InvalidInputError(f"{path}:{line}: looks like JSON Lines, not CSV: name it .jsonl")
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header, start=1):
        if name.strip():
            positions.setdefault(name, []).append(i)
    for name, where in positions.items():
        if len(where) > 1:
            times = "twice" if len(where) == 2 else f"{len(where)} times"
            numbers = ", ".join(map(str, where[:-1])) + f" and {where[-1]}"
            raise InvalidInputError(
                f"{path}:{line}: column {name!r} appears {times} (columns {numbers}); "
                "give each column its own name"
            )


def _jsonl_rows(path: Path, blocks: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    # Lines end at "\n" only: str.splitlines() also breaks at U+2028, U+2029 and U+0085, which
    # JSON strings may hold unescaped (our own export writes them so), cutting a record in two.
    for number, raw in enumerate(_split_lines(blocks), start=1):
        # A byte order mark at a line's start is the start of another file joined on (`cat
        # a.jsonl b.jsonl`, b saved with one): outside any JSON value, so read past it as the
        # file's own first one is (json refused it: "Unexpected UTF-8 BOM").
        line = raw.removesuffix("\r")
        marks = len(line) - len(line := line.lstrip("\ufeff"))
        if not line.strip():
            continue
        try:
            obj = _loads(line)
        except json.JSONDecodeError as exc:
            where = exc.colno + marks  # the column in the line as the file has it
            raise InvalidInputError(
                f"{path}:{number}: invalid JSON: {_json_problem(exc, where, 'column')}"
            ) from exc
        except _Unreadable as exc:
            raise InvalidInputError(f"{path}:{number}: {exc}") from exc
        if isinstance(obj, list) and obj and all(isinstance(o, dict) for o in obj):
            # a JSON document's array of records, on one line: one record a line is wanted
            raise InvalidInputError(
                f"{path}:{number}: a JSON array of {len(obj):,} objects on one line; "
                + ONE_OBJECT_A_LINE
            )
        if not isinstance(obj, dict):
            raise InvalidInputError(f"{path}:{number}: each line must be a JSON object")
        yield number, obj


class _Unreadable(Exception):
    """Valid JSON that Python's json cannot read whole, or that would lose a value."""


def _loads(text: str) -> Any:
    """json.loads, with what it raises for valid but unreadable JSON turned into _Unreadable:
    nesting deep enough to exhaust the stack (RecursionError), an integer of more digits than
    Python converts (ValueError), and an object naming a key twice, whose first value json
    drops without a word (as a CSV header naming a column twice would)."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise _Unreadable(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise
        raise _Unreadable(
            f"a number of more than {sys.get_int_max_str_digits():,} digits; write it as a string"
        ) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _Unreadable(f"the field {twice!r} appears twice in one object; keep one")
    return obj


def _check_columns(
    path: Path,
    line: int,
    columns: set[str],
    text_column: str,
    label_column: str | None,
    id_column: str | None,
    require_label: bool,
    require_id: bool,
) -> None:
    found = _shown_columns(sorted(columns)) or "none"
    if text_column not in columns:
        raise InvalidInputError(
            f"{path}:{line}: no {text_column!r} column (columns: {found}); "
            + (
                _separator_hint(columns, tabs=path.suffix.lower() == ".tsv")
                or _other_case(columns, text_column, "use --text-column {option}", sep="")
                or "use --text-column"
            )
        )
    for name, option, required in (
        (label_column, "--label-column", require_label),
        (id_column, "--id-column", require_id),
    ):
        if required and name and name not in columns:
            raise InvalidInputError(
                f"{path}:{line}: no {name!r} column (columns: {found})"
                + _other_case(columns, name, f"did you mean {option} {{option}}?")
            )


def _other_case(columns: Iterable[str], name: str, hint: str, *, sep: str = "; ") -> str:
    """``hint`` (after ``sep``) when exactly one of ``columns`` is ``name`` in another case
    ("Text" for "text"): ``{found}`` in it is that column quoted, ``{option}`` the column as an
    option's value, quoted for the shell where it needs it. "" when none or several are."""
    matches = [c for c in columns if c != name and _loose(c) == _loose(name)]
    if len(matches) != 1:
        return ""
    return sep + hint.format(found=repr(matches[0]), option=shlex.quote(matches[0]))


def _loose(name: str) -> str:
    """A column name as a reader sees it: in any case, without spaces or a byte order mark
    around it (a BOM mid-file, from files joined, sticks to a name)."""
    return name.strip(" \t\ufeff").casefold()


def _shown(name: str) -> str:
    """A column name in a list of them: quoted where spaces around it or an invisible
    character would otherwise not show ("' text'", "'\\ufefftext'")."""
    return name if name.isprintable() and name == name.strip() and name else repr(name)


# An error lists this many of a header's columns ("… and N more" after them), each shown in at
# most this many characters: a text file of one long paragraph is a header of one "column",
# and listed whole it made an error line as long as the file, its hint at the very end.
COLUMNS_SHOWN = 20
COLUMN_SHOWN_MAX = 60


def _shown_columns(names: list[str]) -> str:
    """``names`` as an error lists them (:func:`_shown`), the list and each name cut."""
    shown = [_shown_cut(name) for name in names[:COLUMNS_SHOWN]]
    if len(names) > COLUMNS_SHOWN:
        shown.append(f"{ELLIPSIS} and {len(names) - COLUMNS_SHOWN:,} more")
    return ", ".join(shown)


def _shown_cut(name: str) -> str:
    """:func:`_shown`, in at most COLUMN_SHOWN_MAX characters: a longer name is cut, ending in
    an ellipsis (never inside a character as a reader sees it, nor inside an escape of repr)."""
    shown = _shown(name)
    keep = COLUMN_SHOWN_MAX - len(ELLIPSIS)
    while len(shown) > COLUMN_SHOWN_MAX and keep > 0:
        keep = cluster_start(name, keep)
        shown = _shown(name[:keep] + ELLIPSIS)
        keep -= 1
    return shown


def column_notes(read: ReadFile | FileRows, *, label_column: str | None) -> list[str]:
    """What an import that went through may have missed: rows a stray quote read into one
    value (:class:`RunawayCell`, a FileRows' iteration), and a file with no label column but
    one of that name in another case ("Label" for "label"), kept as metadata with its values.
    Column names are matched exactly, as they always were, so nothing an import stores
    changes: this only says so, naming the option that reads that column. (Importing again
    with it adds those labels as votes: a text already stored is not stored twice.)"""
    notes = [_runaway_note(cell) for cell in getattr(read, "runaways", [])[:MAX_RUNAWAY_NOTES]]
    return notes + _label_column_notes(read, label_column=label_column)


MAX_RUNAWAY_NOTES = 3  # lines of the report: the first few say what to look for

# The bundled encoder (all-MiniLM-L6-v2) learned English: a text mostly in another script comes
# out as characters it barely knows (Chinese and Thai as [UNK], Arabic and Hindi one letter a
# token), and a model trained on such texts stays poor however many labels it gets. An import
# looks at its first SCRIPT_SAMPLE rows, each text's first SCRIPT_PREFIX characters, and says so
# when at least SCRIPT_SHARE of those with letters are mostly in another script.
SCRIPT_SAMPLE = 500
SCRIPT_PREFIX = 200
SCRIPT_SHARE = 0.2
# Unicode names' first word for a script, as people call it (others are title-cased: Arabic)
_SCRIPT_NAMES = {"CJK": "Chinese/Japanese (CJK)", "HANGUL": "Korean (Hangul)"}


@dataclass
class ScriptCount:
    """What an import saw of its texts' scripts (:func:`main_script`), for :func:`script_note`."""

    sampled: int = 0  # rows looked at, with letters
    other: Counter[str] = field(default_factory=Counter)  # rows mostly in a script not Latin

    def add(self, texts: Iterable[str]) -> None:
        for text in itertools.islice(texts, max(0, SCRIPT_SAMPLE - self.sampled)):
            script = main_script(text)
            if script is None:
                continue
            self.sampled += 1
            if script != "LATIN":
                self.other[script] += 1

    @property
    def full(self) -> bool:
        return self.sampled >= SCRIPT_SAMPLE


def main_script(text: str) -> str | None:
    """The script most of ``text``'s first letters are in, as the first word of their Unicode
    names ("LATIN", "CJK", "ARABIC", "CYRILLIC", ...); LATIN when half of them or more are
    Latin; None for a text without letters."""
    counts: Counter[str] = Counter()
    for char in text[:SCRIPT_PREFIX]:
        if char.isalpha():
            counts[unicodedata.name(char, "?").split(" ", 1)[0]] += 1
    if not counts:
        return None
    if 2 * counts["LATIN"] >= counts.total():
        return "LATIN"
    return counts.most_common(1)[0][0]


def script_note(seen: ScriptCount, *, encoder: str) -> str | None:
    """The import report's note when many texts are in a script the bundled encoder
    ``encoder`` does not read well; None when few are, or another encoder is set."""
    other = seen.other.total()
    if not seen.sampled or other < SCRIPT_SHARE * seen.sampled:
        return None
    scripts = ", ".join(
        f"{_SCRIPT_NAMES.get(name, name.title())} {n}" for name, n in seen.other.most_common(4)
    )
    return (
        f"{other} of the {seen.sampled} texts looked at are mostly in a script other than Latin "
        f"({scripts}): the encoder {encoder} learned English, so a model trained on them will "
        "stay poor; set LABELBOT_ENCODER to a local multilingual model directory (README, "
        "'Texts in other languages') before labeling"
    )


def _runaway_note(cell: RunawayCell) -> str:
    return (
        f"line {cell.line}: the {cell.column!r} value runs to line {cell.end} and holds "
        f'{cell.rows} lines that look like rows: a stray quote (") in it? They were read as '
        "part of that one value; check the file, fix the quote and import it again"
    )


def _label_column_notes(read: ReadFile | FileRows, *, label_column: str | None) -> list[str]:
    if label_column is None or label_column in read.columns:
        return []
    matches = [c for c in read.columns if c.casefold() == label_column.casefold()]
    if len(matches) != 1:
        return []
    if isinstance(read, FileRows):  # read whole: the columns it kept values of
        if matches[0] not in read.meta_columns:
            return []
    elif not any(matches[0] in r.meta for r in read.records):
        return []
    return [
        f"no {label_column!r} column, so no labels were read; {matches[0]!r} is kept as "
        f"metadata: to import its labels, run the import again with --label-column "
        f"{shlex.quote(matches[0])}"
    ]


def _separator_hint(columns: set[str], *, tabs: bool = False) -> str | None:
    """What to do when the header looks split by another character than the one expected (a
    comma; a tab in a .tsv, ``tabs``): Excel in many locales saves "CSV" separated by ';', a
    tab-separated file may be named .csv or .txt, and a comma-separated one .tsv."""
    if tabs and any("," in c for c in columns):
        return "is it comma-separated? name it .csv"
    if len(columns) == 1 and ";" in (header := next(iter(columns))):
        # read at ';' when the header names the text column there (_separator)
        named = _shown_columns([c for c in header.split(";") if c.strip()])
        return f"separated by ';', its columns are {named}: name the text one with --text-column"
    if any(";" in c for c in columns):
        return "is it separated by ';'? save it comma-separated"
    if any("\t" in c for c in columns):
        return "is it separated by tabs? save it comma-separated, or name it .tsv"
    return None


def _undefused(row: dict[str, Any], columns: Iterable[str | None]) -> dict[str, Any]:
    """A row of a labelbot export's CSV with its ``columns`` (text, label, id) as stored: an
    export written --spreadsheet-safe (or that file saved again from a spreadsheet) has a
    ``'`` before a value a spreadsheet would run as a formula ("'=SUM(A1)", "'-1"). Kept, the
    text would be stored again beside the project's own, and the label be unknown. Only for a
    file with the SAFE_COLUMN such an export ends with: a plain export's "'=x" is the text
    "'=x" (taken off, it came back as a second example, "=x")."""
    return {
        key: undefused(value) if key in columns and isinstance(value, str) else value
        for key, value in row.items()
    }


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
    for key, value in row.items():
        if problem := _unstorable(key):
            raise InvalidInputError(f"{path}:{line}: the field name {key!r} {problem}")
        if problem := _unstorable(value):
            name = "text" if key == text_column else repr(key)
            raise InvalidInputError(f"{path}:{line}: {name} {problem}")
    text = text.strip()
    if problem := _empty_problem(text):
        raise InvalidInputError(f"{path}:{line}: {problem}")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInputError(
            f"{path}:{line}: text of {len(text):,} characters is over the "
            f"{MAX_TEXT_CHARS:,} limit; split long documents first"
        )
    label = _optional_str(path, line, label_column, row) if label_column else None
    external_id = _optional_str(path, line, id_column, row) if id_column else None
    if external_id is not None and len(external_id) > MAX_ID_CHARS:
        raise InvalidInputError(
            f"{path}:{line}: id of {len(external_id):,} characters is over the {MAX_ID_CHARS} limit"
        )
    used = {text_column, label_column, id_column}
    kept: dict[str, Any] = {}
    if row.keys() >= EXPORT_SIGNATURE:  # a labelbot export: its metadata, not its derived fields
        kept = _export_meta(path, line, row.get("meta"))
        used |= EXPORT_DERIVED
    meta = {k: v for k, v in row.items() if k not in used and v not in (None, "")}
    for key, value in meta.items():  # a stray quote can run a metadata value to the file's end
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            raise InvalidInputError(
                f"{path}:{line}: the {key!r} value of {len(value):,} characters is over the "
                f"{MAX_TEXT_CHARS:,} limit for a value kept with the text (a stray quote?)"
            )
    return Record(line=line, text=text, label=label, external_id=external_id, meta={**kept, **meta})


def _export_meta(path: Path, line: int, value: Any) -> dict[str, Any]:
    """An export's ``meta`` field: an object in JSONL, the same object as JSON text in CSV."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = _loads(value)
        except json.JSONDecodeError as exc:
            where = _json_problem(exc, exc.pos + 1, "character")
            raise InvalidInputError(f"{path}:{line}: 'meta' is not valid JSON: {where}") from exc
        except _Unreadable as exc:
            raise InvalidInputError(f"{path}:{line}: 'meta': {exc}") from exc
        if problem := _unstorable(value):
            raise InvalidInputError(f"{path}:{line}: 'meta' {problem}")
    if not isinstance(value, dict):
        raise InvalidInputError(
            f"{path}:{line}: 'meta' must be a JSON object (as `labelbot export` writes it)"
        )
    return value


def _json_problem(exc: json.JSONDecodeError, at: int, unit: str) -> str:
    """json's message with where it is: "Unterminated string starting at column 10". The
    message alone may end in "starting at", its position left for str(exc), which says "line 1"
    of the one line parsed."""
    where = f"{unit} {at}"
    return f"{exc.msg} {where}" if exc.msg.endswith(" at") else f"{exc.msg} at {where}"


def _optional_str(path: Path, line: int, name: str, row: dict[str, Any]) -> str | None:
    """The id or label in ``row[name]``, stripped; None when absent, null or blank. A JSON
    number is kept as its digits (7 is "7", as the CSV cell 7 would be; 2.5 is "2.5").
    true, a list or an object is refused: str() made them Python's "True", "[1, 2]"."""
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        kind = json.dumps(value) if isinstance(value, bool) else _json_kind(value)
        raise InvalidInputError(f"{path}:{line}: {name!r} must be a string or a number, not {kind}")
    text = str(value).strip()
    return text or None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# Characters that show nothing on their own (beyond str.isspace and control characters): format
# characters such as the zero-width space, joiners, direction marks and the byte order mark;
# variation selectors and tags; and the fillers that render blank (Hangul, braille). A text of
# only these looks empty to a labeler in Slack and carries nothing the encoder could learn from.
INVISIBLE_RANGES = (
        (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
        (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
        (0x2060, 0x2064), (0x2066, 0x206F), (0x2800, 0x2800), (0x3164, 0x3164),
        (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF9, 0xFFFB),
        (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
_INVISIBLE = frozenset(chr(c) for lo, hi in INVISIBLE_RANGES for c in range(lo, hi + 1))


def _invisible(text: str) -> str | None:
    """``text``'s first character if every character of it is invisible, else None."""
    if all(c.isspace() or c in _INVISIBLE or unicodedata.category(c) == "Cc" for c in text):
        return text[0]
    return None


def _empty_problem(text: str) -> str | None:
    """Why the stripped ``text`` is empty as a labeler would see it, or None."""
    if not text:
        return "empty text"
    if (shown := _invisible(text)) is not None:
        return f"empty text: only invisible characters (U+{ord(shown):04X})"
    return None


def text_problem(text: str) -> str | None:
    """Why ``text`` could not be imported (what the predict API refuses too), or None."""
    problem = _unstorable(text)
    if problem is not None:
        return f"text {problem}"
    stripped = text.strip()
    if problem := _empty_problem(stripped):
        return problem
    if len(stripped) > MAX_TEXT_CHARS:
        return f"text of {len(stripped):,} characters is over the {MAX_TEXT_CHARS:,} limit"
    return None


def _unstorable(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` (a cell, or any value in a JSON line) cannot be stored, or None.

    SQLite keeps all of these; PostgreSQL refuses them at INSERT time, as a traceback without
    the file's line: a NUL byte in text, NaN or Infinity in JSON (json.loads accepts them, and
    turns a number like 1e999 into infinity), and a lone surrogate ("\\ud800" in JSON), which
    is no Unicode character and cannot be encoded for storage, hashing or the encoder. A value
    nested over MAX_DEPTH levels is refused too: storing or exporting it recurses as deep (and
    so would this check, past Python's recursion limit, without the bound).
    """
    if isinstance(value, str):
        if "\x00" in value:
            return "contains a NUL byte (\\x00)"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode (a lone surrogate)"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        name = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return f"is {name}, not a finite number; use null"
    if isinstance(value, dict):
        items: Iterable[Any] = (*value.keys(), *value.values())
    elif isinstance(value, list):
        items = value
    else:
        return None
    if depth >= MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} levels deep"
    return next((p for v in items if (p := _unstorable(v, depth + 1)) is not None), None)
