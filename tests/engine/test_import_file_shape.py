"""What an import makes of a file's shape: JSON ids and labels that are no string or number, a
CSV header naming a column twice or leaving one unnamed, and a short row without its text.
Each is refused with the line that has it, and nothing of the file is stored."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine import projects
from engine.importing import read_file
from storage.errors import InvalidInputError


def _write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def _jsonl(tmp_path: Path, name: str, *objects: object) -> Path:
    return _write(tmp_path, name, "".join(json.dumps(o) + "\n" for o in objects))


def _refused(path: Path, message: str, **options: str) -> None:
    with pytest.raises(InvalidInputError, match="^" + re.escape(message) + "$"):
        read_file(path, **options)  # type: ignore[arg-type]


# --- JSON ids and labels ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "said"),
    [(True, "true"), (False, "false"), ([1, 2], "a list"), ({"n": 1}, "an object")],
)
def test_a_json_id_that_is_no_string_or_number_is_refused_with_its_line(
    tmp_path: Path, value: object, said: str
) -> None:
    """str() stored them as Python writes them: true as "True", [1, 2] as "[1, 2]"."""
    path = _jsonl(tmp_path, "ids.jsonl", {"id": "a1", "text": "fine"}, {"id": value, "text": "x"})
    _refused(path, f"{path}:2: 'id' must be a string or a number, not {said}")
    # the column an --id-column names, and a label, the same
    named = _jsonl(tmp_path, "named.jsonl", {"ticket": value, "text": "x"})
    _refused(
        named, f"{named}:1: 'ticket' must be a string or a number, not {said}", id_column="ticket"
    )
    label = _jsonl(tmp_path, "label.jsonl", {"text": "x"}, {"text": "y", "label": value})
    _refused(label, f"{label}:2: 'label' must be a string or a number, not {said}")


def test_json_numbers_and_nulls_are_kept_as_before(tmp_path: Path) -> None:
    """A number is kept as its digits, as the same id in a CSV cell would be (7 is "7"); a
    string as it is ("007"); null, or no field, is no id."""
    path = _jsonl(
        tmp_path,
        "ok.jsonl",
        {"id": 7, "text": "a"},
        {"id": 2.5, "text": "b"},
        {"id": -3, "text": "c"},
        {"id": "007", "text": "d"},
        {"id": None, "text": "e"},
        {"text": "f", "label": 1},
    )
    records = read_file(path).records
    assert [r.external_id for r in records] == ["7", "2.5", "-3", "007", None, None]
    assert records[-1].label == "1"


# --- the CSV header ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("text,text,", "column 'text' appears twice (columns 1 and 2)"),
        ("id,label,text,label", "column 'label' appears twice (columns 2 and 4)"),
        ("text,x,x,x", "column 'x' appears 3 times (columns 2, 3 and 4)"),
    ],
)
def test_a_csv_header_naming_a_column_twice_is_refused(
    tmp_path: Path, header: str, message: str
) -> None:
    """csv.DictReader kept the last of the two and lost the other's values without a word."""
    path = _write(tmp_path, "dup.csv", f"{header}\nfirst,second,third,fourth\n")
    _refused(path, f"{path}:1: {message}; give each column its own name")


def test_a_value_in_a_column_without_a_name_is_refused(tmp_path: Path) -> None:
    """It was kept as metadata named "" (in every export after); any name made up for it would
    stay too. Refused at the line that has the value, so the user names the column."""
    path = _write(tmp_path, "blank.csv", "text,,label\nok,,yes\nfine,stray,no\n")
    _refused(
        path,
        f"{path}:3: a value in column 2, which has no name in the header (line 1): "
        "name that column, or delete it",
    )


def test_empty_columns_without_a_name_are_left_out(tmp_path: Path) -> None:
    """Excel saves a few empty, unnamed columns after the last: such a file imports as before,
    and an error lists the named columns only."""
    path = _write(tmp_path, "trail.csv", "text,label,,\nok,yes,,\nfine,no, ,\n")
    read = read_file(path)
    assert [(r.text, r.label, r.meta) for r in read.records] == [
        ("ok", "yes", {}),
        ("fine", "no", {}),
    ]
    assert read.columns == {"text", "label"}
    body = _write(tmp_path, "body.csv", "body,,\nx,,\n")
    _refused(body, f"{body}:1: no 'text' column (columns: body); use --text-column")


# --- short rows -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,text\nr1,fine\nr2\n", ":3: 1 value where the header has 2 columns: no 'text' value"),
        (
            "id,label,text\nr1,yes\n",
            ":2: 2 values where the header has 3 columns: no 'text' value",
        ),
    ],
)
def test_a_short_row_without_its_text_cell_says_so(
    tmp_path: Path, content: str, message: str
) -> None:
    """It said "'text' must be a string", which a row of plain text cells never helps with."""
    path = _write(tmp_path, "short.csv", content)
    _refused(path, f"{path}{message}")


def test_a_short_row_that_has_its_text_is_read_as_before(tmp_path: Path) -> None:
    path = _write(tmp_path, "short.csv", "text,label,source\nok,yes\nfine\n")
    assert [(r.text, r.label, r.meta) for r in read_file(path).records] == [
        ("ok", "yes", {}),
        ("fine", None, {}),
    ]


# --- nothing stored -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("id.jsonl", '{"id": "a", "text": "one"}\n{"id": true, "text": "two"}\n', ":2: 'id'"),
        ("dup.csv", "text,label,label\none,yes,no\n", ":1: column 'label' appears twice"),
        ("blank.csv", "text,label,\none,yes,\ntwo,no,oops\n", ":3: a value in column 3"),
        ("short.csv", "id,text,label\na,one,yes\nb\n", ":3: 1 value where"),
    ],
)
def test_a_refused_file_stores_nothing(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, name: str, content: str, where: str
) -> None:
    projects.create_project(ws, name="p", labels=["yes", "no"])
    path = _write(tmp_path, name, content)
    with pytest.raises(InvalidInputError, match=re.escape(f"{path}{where}")):
        projects.import_file(ws, project="p", path=path, embed=False)
    status = projects.project_status(ws, "p")
    assert (status["examples"], status["annotations"]) == (0, 0)
