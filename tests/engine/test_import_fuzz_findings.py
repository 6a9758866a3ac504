"""What fuzzing the import found: valid JSON that Python's json cannot read whole (nesting a
thousand levels deep, an integer of 5,000 digits) escaped as a RecursionError or ValueError and a
traceback; an object naming a key twice lost its first value without a word; UTF-32 and
UTF-16 without a byte order mark, a second byte order mark, blank lines before the header and
a header with spaces around a name gave a wrong or puzzling message; a header repeated
mid-file (two files joined) was imported as an example; a file that cannot be read was
reported as one that "could not write". Each now fails with one line naming the file and its
line, and stores nothing, or is read as meant."""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine import exporting, projects
from engine.importing import MAX_DEPTH, read_file
from storage.errors import InvalidInputError
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)

EXPORT_HEADER = "text,annotations,comments,prediction,meta\n"


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _refused(path: Path, message: str) -> None:
    with pytest.raises(InvalidInputError, match="^" + re.escape(message) + "$"):
        read_file(path)


# --- valid JSON that json cannot read whole ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        # json.loads itself hits the recursion limit (RecursionError escaped)
        ("array.jsonl", '{"text": "ok"}\n{"text": "x", "m": ' + "[" * 100_000, "2: nested"),
        (
            "object.jsonl",
            '{"text": "x", "m": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001,
            "1: nested",
        ),
        # json reads 900 levels; checking the value for storage recursed once per level
        ("900.jsonl", '{"text": "x", "m": ' + "[" * 900 + "]" * 900 + "}", "1: 'm' is nested"),
        ("meta.csv", EXPORT_HEADER + 'x,,,,"' + "[" * 100_000 + '"\n', "2: 'meta': nested"),
    ],
)
def test_json_nested_too_deep_is_refused_with_its_line(
    tmp_path: Path, name: str, content: str, said: str
) -> None:
    path = _write(tmp_path, name, content + "\n")
    _refused(path, f"{path}:{said} more than {MAX_DEPTH} levels deep")


def test_json_nested_as_deep_as_allowed_is_kept(tmp_path: Path) -> None:
    nested = "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1)
    path = _write(tmp_path, "ok.jsonl", '{"text": "x", "m": ' + nested + "}\n")
    (record,) = read_file(path).records
    value = record.meta["m"]
    for _ in range(MAX_DEPTH - 2):
        (value,) = value
    assert value == [1]


@pytest.mark.parametrize("field", ["id", "score"])
def test_an_integer_too_long_for_python_is_refused_with_its_line(
    tmp_path: Path, field: str
) -> None:
    path = _write(
        tmp_path, "big.jsonl", f'{{"text": "x"}}\n{{"text": "y", "{field}": {"9" * 5000}}}\n'
    )
    _refused(path, f"{path}:2: a number of more than 4,300 digits; write it as a string")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"text": "first", "text": "second"}', "text"),
        ('{"text": "x", "m": {"a": 1, "a": 2}}', "a"),
    ],
)
def test_a_json_object_naming_a_field_twice_is_refused(
    tmp_path: Path, line: str, field: str
) -> None:
    """json keeps the last value: the first was dropped without a word, as a CSV header naming
    a column twice would drop a column (which is refused too)."""
    path = _write(tmp_path, "twice.jsonl", '{"text": "fine"}\n' + line + "\n")
    _refused(path, f"{path}:2: the field {field!r} appears twice in one object; keep one")


# --- encodings ---------------------------------------------------------------------------------

CSV = "text,label\nhello wörld,yes\n"


@pytest.mark.parametrize("encoding", ["utf-32", "utf-32-le", "utf-32-be"])
def test_utf32_with_a_byte_order_mark_is_read(tmp_path: Path, encoding: str) -> None:
    """UTF-32-LE's byte order mark starts with UTF-16-LE's: it was read as UTF-16."""
    bom = {"utf-32-le": codecs.BOM_UTF32_LE, "utf-32-be": codecs.BOM_UTF32_BE}.get(encoding, b"")
    path = _write(tmp_path, "u32.csv", bom + CSV.encode(encoding))
    (record,) = read_file(path).records
    assert (record.text, record.label) == ("hello wörld", "yes")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_utf16_or_32_without_a_byte_order_mark_says_so(tmp_path: Path, encoding: str) -> None:
    """It decoded as UTF-8 with a NUL beside each letter: "no 'text' column (columns:  t e x t)"."""
    path = _write(tmp_path, "nobom.csv", CSV.encode(encoding))
    _refused(
        path,
        f"{path}:1: NUL bytes (\\x00) in the first line: is the file UTF-16 or UTF-32 without a "
        "byte order mark? save the file as UTF-8",
    )


def test_a_second_byte_order_mark_does_not_hide_the_first_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "twice.csv", codecs.BOM_UTF8 * 2 + CSV.encode())
    (record,) = read_file(path).records
    assert record.text == "hello wörld"


# --- CSV shape ---------------------------------------------------------------------------------


def test_blank_lines_before_the_header_are_skipped(tmp_path: Path) -> None:
    """The blank line was the header: "2: more values than the header has columns"."""
    path = _write(tmp_path, "blank.csv", "\n\ntext,label\nhello,yes\n")
    (record,) = read_file(path).records
    assert (record.line, record.text, record.label) == (4, "hello", "yes")


def test_blank_lines_before_a_txt_header_keep_it_tab_separated(tmp_path: Path) -> None:
    path = _write(tmp_path, "excel.txt", "\r\ntext\tlabel\r\nhello, world\tyes\r\n")
    (record,) = read_file(path).records
    assert (record.text, record.label) == ("hello, world", "yes")


def test_the_header_again_mid_file_is_refused(tmp_path: Path) -> None:
    """Two files joined: without a label column its "text" was stored as an example."""
    path = _write(tmp_path, "joined.csv", "text,id\none,1\n\ufefftext,id\ntwo,2\n")
    _refused(path, f"{path}:3: the header (line 1) again: are two files joined? delete this line")


def test_a_column_with_spaces_around_its_name_is_shown_and_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "spaces.csv", " text ,label\nhello,yes\n")
    _refused(
        path, f"{path}:1: no 'text' column (columns: ' text ', label); use --text-column ' text '"
    )


# --- texts that look empty ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("\u200b", "200B"), ("\u200b\u200d\u2060", "200B"), ("\x07", "0007"), ("\u3164", "3164")],
    ids=ascii,
)
def test_a_text_of_only_invisible_characters_is_refused(
    tmp_path: Path, cell: str, shown: str
) -> None:
    """It was stored, and sent to labelers as a message that shows nothing to label."""
    path = _write(tmp_path, "blank.csv", f"text,label\nok,yes\n {cell} ,no\n")
    _refused(path, f"{path}:3: empty text: only invisible characters (U+{shown})")


@pytest.mark.parametrize("text", ["a\u200b", "\u200bcafe\u0301", "\U0001f600", "\u0600"], ids=ascii)
def test_a_text_with_a_visible_character_is_kept(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, "shown.csv", f"text\n{text}\n")
    (record,) = read_file(path).records
    assert record.text == text


# --- files that are no files -------------------------------------------------------------------


def test_a_fifo_is_not_a_regular_file(tmp_path: Path) -> None:
    """It was "no such file", though it is there (and reading it would wait for a writer)."""
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    _refused(path, f"{path}: not a regular file")


def test_a_file_that_cannot_be_read_says_so_from_the_cli(tmp_path: Path, cli_env) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A read error (here EIO: /proc/self/mem is a regular file whose first page is not mapped;
    a permission error reads alike, but root, as tests may run, reads any file) was caught as a
    failed write: "could not write: ...; free some space"."""
    path = tmp_path / "unreadable.csv"
    path.symlink_to("/proc/self/mem")
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "yes,no"]).exit_code == 0
    result = runner.invoke(app, ["import", "p", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {path}: cannot read it: Input/output error\n"


# --- the import stores nothing, and the CLI says one line --------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("deep.jsonl", '{"text": "new"}\n{"text": "x", "m": ' + "[" * 5000 + "}\n", ":2: nested"),
        ("big.jsonl", '{"text": "new", "n": ' + "1" * 5000 + "}\n", ":1: a number of"),
        ("twice.jsonl", '{"text": "new", "label": "yes", "label": "no"}\n', ":1: the field"),
        ("joined.csv", "text,label\nnew,yes\ntext,label\n", ":3: the header"),
        ("zwsp.jsonl", '{"text": "new"}\n{"text": "\\u200b\\ufeff"}\n', ":2: empty text: only"),
    ],
)
def test_a_refused_file_stores_nothing(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, name: str, content: str, said: str
) -> None:
    projects.create_project(ws, name="p", labels=["yes", "no"])
    seed = _write(tmp_path, "seed.csv", "text,label,id\nstored,no,s1\n")
    projects.import_file(ws, project="p", path=seed, embed=False)
    before = list(exporting.export_records(ws, "p"))
    path = _write(tmp_path, name, content)
    with pytest.raises(InvalidInputError, match=re.escape(f"{path}{said}")):
        projects.import_file(ws, project="p", path=path, embed=False)
    assert list(exporting.export_records(ws, "p")) == before


def test_the_cli_refuses_deep_json_in_one_line(tmp_path: Path, cli_env) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """It printed a RecursionError's traceback and exited 1."""
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "yes,no"]).exit_code == 0
    path = _write(tmp_path, "deep.jsonl", '{"text": "x", "m": ' + "[" * 100_000 + "}\n")
    result = runner.invoke(app, ["import", "p", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {path}:1: nested more than {MAX_DEPTH} levels deep\n"
