"""Files that go through a spreadsheet: what Excel, LibreOffice and Google Sheets write (a byte
order mark, CRLF, trailing empty columns, rows of separators only, ';' as separator) imports as
the data it holds, and an export opened in one and saved again imports back unchanged: the same
ids, texts, labels and metadata, nothing stored twice, no vote added."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine import exporting
from engine.importing import read_file
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)


def _run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _excel_csv(path: Path, rows: list[list[str]], *, separator: str = ",") -> Path:
    """``rows`` as Excel's "CSV UTF-8" writes them: a byte order mark, CRLF, every cell that
    needs it quoted (a line break in a cell stays "\\n")."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=separator, lineterminator="\r\n").writerows(rows)
    path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))
    return path


def _resaved(source: Path, target: Path, *, separator: str = ",") -> Path:
    """``source`` (a CSV) opened in a spreadsheet and saved again as CSV UTF-8: the cells as
    they were read, written back the spreadsheet's way."""
    with source.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    return _excel_csv(target, rows, separator=separator)


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


@pytest.mark.parametrize(
    ("name", "first", "separator"),
    [("t.csv", "sep=;", ";"), ("t.csv", "SEP=,", ","), ("t.txt", "sep=|", "|"),
     ("t.tsv", "sep=;;;", ";"), ("t.csv", "sep=\t", "\t")],
)  # fmt: skip
def test_a_first_line_sep_declares_the_separator(
    tmp_path: Path, name: str, first: str, separator: str
) -> None:
    """Excel reads a first line "sep=;" as the file's separator (tools that write CSV for Excel
    put one first, so it opens in columns in every locale): it was read as the header, and
    the import refused the file as having no 'text' column, its columns "sep=" ("name the
    text one with --text-column")."""
    s = separator
    path = tmp_path / name
    path.write_bytes(
        f'\ufeff{first}\r\nid{s}text{s}label\r\n7{s}"card declined, again"{s}card\r\n'.encode()
    )
    read = read_file(path)
    assert read.columns == {"id", "text", "label"}
    assert [(r.line, r.external_id, r.text, r.label) for r in read.records] == [
        (3, "7", "card declined, again", "card")
    ]


# texts, labels and ids a spreadsheet would run as formulas, one quoted as the defusing is
TRICKY = [
    ("T1", "=SUM(A1:A2) is what the invoice shows", "+1", {"priority": "1.0"}),
    ("-7", "-- forwarded message -- card declined", "-1", {"priority": "00123"}),
    ("T3", "@support my refund is late", "+1", {}),
    ("T4", "'=this text starts with a quote", "-1", {"note": "=not a formula"}),
    ("00123", "a plain ticket, with a comma", "neutral", {}),
]


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("separator", [",", ";"])
def test_spreadsheet_safe_export_saved_again_imports_back_unchanged(
    tmp_path: Path, separator: str
) -> None:
    """`export --spreadsheet-safe` puts a ' before a cell that starts as a formula would: the
    file README points Excel users to. Imported again, as it is or saved again from Excel
    (here also with ';', as Excel saves "CSV" where the decimal mark is a comma), its
    "'=SUM..." texts were stored a second time beside the project's own (with a warning about
    their shared ids), and a "'-1" label failed the import as unknown."""
    runner = CliRunner()
    _run(runner, "project", "create", "s", "--labels", "+1,-1,neutral")
    seed = _excel_csv(
        tmp_path / "seed.csv",
        [
            ["id", "text", "label", "priority", "note"],
            *[[i, t, lb, m.get("priority", ""), m.get("note", "")] for i, t, lb, m in TRICKY],
        ],
    )
    assert "imported 5 new examples, 5 labels" in _run(runner, "import", "s", str(seed))
    before = _export(runner, tmp_path / "before.jsonl")
    assert [(r["id"], r["text"], r["label"], r["meta"]) for r in before] == TRICKY

    safe = tmp_path / "safe.csv"
    _run(runner, "export", "s", "--out", str(safe), "--spreadsheet-safe")
    with safe.open(encoding="utf-8-sig", newline="") as handle:
        cells = list(csv.DictReader(handle))
    # what a spreadsheet shows: no cell of these starts as a formula
    assert [(r["id"], r["text"][:2], r["label"]) for r in cells] == [
        ("T1", "'=", "'+1"),
        ("'-7", "'-", "'-1"),
        ("T3", "'@", "'+1"),
        ("T4", "''", "'-1"),
        ("00123", "a ", "neutral"),
    ]

    for source in (safe, _resaved(safe, tmp_path / "saved.csv", separator=separator)):
        said = _run(runner, "import", "s", str(source))
        assert "imported 0 new examples; 5 already in the project" in said, said
        assert "warning" not in said
        after = _export(runner, tmp_path / "after.jsonl")
        assert after == before  # no example, vote or metadata added or changed


def test_defusing_is_undone_exactly() -> None:
    """What `labelbot import` takes off an export's cell is exactly what --spreadsheet-safe
    put on, also for a value that itself starts with ' before a formula's character."""
    for value in ("=1", "'=1", "''+x", "-", "'", "''", "plain", "'quoted'", "@", "\t", ""):
        shown = exporting._defused(value)
        assert not shown.startswith(exporting.FORMULA_STARTS)
        assert exporting.undefused(shown) == value


def _export(runner: CliRunner, out: Path) -> list[dict[str, object]]:
    _run(runner, "export", "s", "--out", str(out))
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
