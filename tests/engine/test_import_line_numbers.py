"""An import's errors cite the line an editor shows: blank lines and Excel's "sep=;" line
before the header count, and a row whose quoted value runs over several lines is cited at the
line it starts on (the header was cited as line 1, and rows shifted, whatever came first)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import projects
from engine.importing import read_file
from storage.errors import InvalidInputError


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _refused(path: Path, message: str, **options: object) -> None:
    with pytest.raises(InvalidInputError, match="^" + re.escape(f"{path}:{message}") + "$"):
        read_file(path, **options)  # type: ignore[arg-type]


# Two blank lines, a separator-only line (Excel's empty rows) and a "sep=;" line: the header
# is on line 5 of the file.
BEFORE = "\n\n;;\nsep=;\n"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_header_after_blank_lines_and_a_sep_line_is_cited_at_its_line(
    tmp_path: Path, newline: str
) -> None:
    def file(name: str, body: str) -> Path:
        return _write(tmp_path, name, (BEFORE + body).replace("\n", newline))

    _refused(
        file("nocol.csv", "id;body\n1;a\n"),
        "5: no 'text' column (columns: body, id); use --text-column",
    )
    _refused(
        file("nolabel.csv", "id;text\n1;a\n"),
        "5: no 'label' column (columns: id, text)",
        require_label_column=True,
    )
    _refused(
        file("twice.csv", "text;text\na;b\n"),
        "5: column 'text' appears twice (columns 1 and 2); give each column its own name",
    )
    _refused(
        file("unnamed.csv", "text;;\na;;\n\nb;;x\n"),
        "8: a value in column 3, which has no name in the header (line 5): name that column, "
        "or delete it",
    )
    _refused(
        file("joined.csv", "text;label\na;yes\ntext;label\n"),
        "7: the header (line 5) again: are two files joined? delete this line",
    )


def test_json_lines_named_csv_is_cited_at_its_first_line_with_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "lines.csv", '\n\n{"text": "a"}\n')
    _refused(path, "3: looks like JSON Lines, not CSV: name it .jsonl")


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_rows_after_a_value_over_several_lines_keep_their_lines(
    tmp_path: Path, newline: str
) -> None:
    """Lines 1-4: blank, blank, sep, header; a row over lines 5-7; a blank line 8; then a
    row over lines 9-10 and one on line 11 with no text."""
    body = (
        '\n\nsep=,\ntext,label\n"first\nsecond\nthird",yes\n\n"a value\nover two",no\n ,yes\n'
    ).replace("\n", newline)
    path = _write(tmp_path, "multi.csv", body)
    _refused(path, "11: empty text")
    fine = _write(tmp_path, "fine.csv", body.rsplit(" ,yes", 1)[0])
    assert [r.line for r in read_file(fine).records] == [5, 9]
    # a bad row over several lines is cited at its first line
    bad = _write(tmp_path, "bad.csv", body.replace(" ,yes", '"one\ntwo",yes,extra'))
    _refused(bad, "11: more values than the header has columns")


def test_an_unknown_label_after_those_lines_is_cited_at_its_row(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The check that runs as the import stores its rows (engine.projects) cites the same line."""
    projects.create_project(ws, name="p", labels=["yes", "no"])
    path = _write(
        tmp_path,
        "labels.csv",
        '\r\nsep=;\r\ntext;label\r\n"one\r\ntwo";yes\r\n"three\r\nfour";maybe\r\n',
    )
    with pytest.raises(InvalidInputError, match=f"^{re.escape(str(path))}:6: unknown label"):
        projects.import_file(ws, project="p", path=path)
    assert projects.project_status(ws, "p")["examples"] == 0


@pytest.mark.parametrize("block", [1, 3, 1 << 20])
def test_a_broken_character_is_cited_at_its_line_however_lines_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """ "\\r\\n", a lone "\\r" (old Mac files) and "\\n" each end one line, also when a block
    read cuts a "\\r\\n" in two."""
    import engine.importing

    monkeypatch.setattr(engine.importing, "READ_BYTES", block)
    path = _write(tmp_path, "enc.csv", b"\r\n\ntext\r\na\r\rb\n\xff\n")
    _refused(path, "7: not valid UTF-8 (byte 0xff); save the file as UTF-8")


def test_nul_bytes_after_blank_lines_are_cited_at_the_header(tmp_path: Path) -> None:
    """UTF-16 saved without a byte order mark, after blank lines: the header is the first
    line with text (line 3), not line 1."""
    path = _write(tmp_path, "nobom.csv", "\r\n\r\ntext,label\r\nhi,yes\r\n".encode("utf-16-le"))
    _refused(
        path,
        "3: NUL bytes (\\x00) in the first line with text: is the file UTF-16 or UTF-32 "
        "without a byte order mark? save the file as UTF-8",
    )
