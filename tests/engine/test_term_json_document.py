"""A JSON document where JSON Lines are read (a .json file, or an array of records on one line
of a .jsonl) is refused saying how to turn it into JSON Lines: it said only "unknown file type
'.json'" or "each line must be a JSON object"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.importing import read_file
from storage.errors import InvalidInputError

RECORDS = [{"text": "where is my card?"}, {"text": "what is the rate?"}]


def test_a_json_file_is_refused_naming_json_lines_and_how_to_write_them(tmp_path: Path) -> None:
    document = tmp_path / "tickets.json"
    document.write_text(json.dumps(RECORDS, indent=2))
    with pytest.raises(InvalidInputError) as caught:
        read_file(document)
    assert str(caught.value) == (
        f"{document}: unknown file type '.json': use .csv, .tsv, .txt, .jsonl or .ndjson; JSON "
        "Lines (.jsonl) has one object per line: for a JSON array of objects, `jq -c '.[]' "
        "FILE.json > FILE.jsonl` writes them so"
    )


def test_an_array_of_records_on_one_line_says_what_it_is(tmp_path: Path) -> None:
    lines = tmp_path / "tickets.jsonl"
    lines.write_text(json.dumps(RECORDS) + "\n")
    with pytest.raises(InvalidInputError) as caught:
        read_file(lines)
    assert str(caught.value).startswith(
        f"{lines}:1: a JSON array of 2 objects on one line; JSON Lines (.jsonl) has one object "
        "per line"
    )


def test_any_other_line_that_is_no_object_is_refused_as_before(tmp_path: Path) -> None:
    lines = tmp_path / "numbers.jsonl"
    lines.write_text('{"text": "fine"}\n[1, 2]\n')
    with pytest.raises(InvalidInputError, match=r":2: each line must be a JSON object$"):
        read_file(lines)
