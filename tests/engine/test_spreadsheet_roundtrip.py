"""Files that go through a spreadsheet: what Excel, LibreOffice and Google Sheets write (a byte
order mark, CRLF, trailing empty columns, rows of separators only, ';' as separator) imports as
the data it holds, and an export opened in one and saved again imports back unchanged: the same
ids, texts, labels and metadata, nothing stored twice, no vote added."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.importing import read_file


@pytest.mark.parametrize("separator", [",", ";"])
def test_rows_of_separators_only_are_blank_lines(tmp_path: Path, separator: str) -> None:
    """Excel writes a line of separators only (",,,") for each row of the sheet's used range
    left empty, often many after the data: read as rows, the first was "empty text" and
    nothing imported (nor predicted). They are blank lines, before the header too."""
    s = separator
    empty = s * 3
    path = tmp_path / "tickets.csv"
    path.write_bytes(
        "\ufeff".encode()
        + (
            f"{empty}\r\nid{s}text{s}label{s}\r\n"
            f'00123{s}"card declined\nat the shop"{s}card{s}\r\n'
            f"{empty}\r\n"
            f"124{s}where is my refund{s}{s}\r\n"
            f"{empty}\r\n{empty}\r\n"
        ).encode()
    )
    read = read_file(path)  # as `labelbot import` and `labelbot predict` read a file
    assert [(r.line, r.external_id, r.text, r.label, r.meta) for r in read.records] == [
        (3, "00123", "card declined\nat the shop", "card", {}),
        (6, "124", "where is my refund", None, {}),
    ]


def test_a_row_with_a_value_but_no_text_is_still_refused(tmp_path: Path) -> None:
    """Only a row with nothing in it is skipped: one with an id or a label, or a text of
    spaces, still says the text is empty (a value lost, not a row left over)."""
    from storage.errors import InvalidInputError

    for body in ("7,,\r\n", ",,card\r\n", ",   ,\r\n"):
        path = tmp_path / "t.csv"
        path.write_text(f"id,text,label\r\n1,ok,card\r\n{body}", encoding="utf-8")
        with pytest.raises(InvalidInputError, match=r"t\.csv:3: empty text"):
            read_file(path)
