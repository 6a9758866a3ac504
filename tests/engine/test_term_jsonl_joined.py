"""JSON Lines files joined (`cat a.jsonl b.jsonl > all.jsonl`) import as one, also when the
second was saved with a byte order mark, which then starts a line in the middle of the file:
it was refused as "invalid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig)"."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.importing import read_file
from storage.errors import InvalidInputError

BOM = "\ufeff"


def test_a_byte_order_mark_starting_a_joined_files_first_line_is_read_past(
    tmp_path: Path,
) -> None:
    joined = tmp_path / "all.jsonl"
    joined.write_text(
        f'{BOM}{{"text": "first file", "label": "A"}}\n'
        f'{BOM}{{"text": "second file", "label": "B"}}\r\n'
        f"{BOM}\n",  # a third, empty, saved with its mark
        encoding="utf-8",
    )
    rows = read_file(joined).records
    assert [(r.line, r.text, r.label) for r in rows] == [
        (1, "first file", "A"),
        (2, "second file", "B"),
    ]


def test_a_broken_line_after_the_mark_names_its_column_as_the_file_has_it(
    tmp_path: Path,
) -> None:
    joined = tmp_path / "all.jsonl"
    joined.write_text(f'{{"text": "ok"}}\n{BOM}{{"text": }}\n', encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        read_file(joined)
    assert str(caught.value) == (f"{joined}:2: invalid JSON: Expecting value at column 11")
