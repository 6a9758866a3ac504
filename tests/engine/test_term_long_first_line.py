"""A file whose first line is very long (a JSON array of 200 MB saved as .jsonl, one line) is
read in time linear in its size: the first line, held whole for the check for UTF-16 without a
byte order mark, was scanned again and copied after every block read, and such a file took 4
minutes to be refused (20 MB: 2.7 s)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import importing
from engine.importing import _RAW_LINE_END as RAW_LINE_END
from engine.importing import read_file
from storage.errors import InvalidInputError


class _CountedLineEnds:
    """importing._RAW_LINE_END, counting the bytes each search for line ends is given."""

    def __init__(self) -> None:
        self.scanned: list[int] = []

    def finditer(self, data: bytes, pos: int = 0) -> Iterator[re.Match[bytes]]:
        self.scanned.append(len(data) - pos)
        return RAW_LINE_END.finditer(data, pos)


def test_a_long_first_line_is_scanned_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "READ_BYTES", 64)  # 200 blocks in a 13 kB line
    counted = _CountedLineEnds()
    monkeypatch.setattr(importing, "_RAW_LINE_END", counted)
    scanned = counted.scanned
    array = tmp_path / "array.jsonl"
    array.write_text(json.dumps([{"text": f"ticket {i}"} for i in range(1_000)]) + "\n")
    with pytest.raises(InvalidInputError, match="a JSON array of 1,000 objects on one line"):
        read_file(array)
    size = array.stat().st_size
    assert size > 100 * 64
    assert sum(scanned) <= 2 * size, (sum(scanned), size)


def test_utf16_without_a_byte_order_mark_is_still_found_after_a_long_first_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "READ_BYTES", 64)
    wide = tmp_path / "wide.csv"
    wide.write_bytes(("text," + "x" * 500 + "\r\nhello,A\r\n").encode("utf-16-le"))
    with pytest.raises(InvalidInputError, match="UTF-16 or UTF-32 without a byte order mark"):
        read_file(wide)
