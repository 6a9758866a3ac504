"""What import and export make of names: the export's format from the --out file's name, the
characters --spreadsheet-safe guards as its help lists them, a label or text column in another
case, where a broken JSON line breaks, and ids the import gives to more than one example."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.exporting import CSV_COLUMNS, FORMULA_STARTS
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)

LABELS = "NDA,Lease"

pytestmark = pytest.mark.usefixtures("cli_env")  # a fresh SQLite file per test


def _run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _file(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def contracts(tmp_path: Path) -> CliRunner:
    """A project "c" with three labeled examples."""
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", LABELS)
    seed = _file(tmp_path / "seed.csv", "text,label\nan nda clause,NDA\na lease,Lease\n=1+1,NDA\n")
    _run(runner, "import", "c", str(seed))
    return runner


def test_export_help_lists_every_character_spreadsheet_safe_guards() -> None:
    helped = " ".join(_run(CliRunner(), "export", "--help").split())
    named = {"\t": "a tab", "\r": "a carriage return"}
    listed = ", ".join(named.get(c, c) for c in FORMULA_STARTS[:-1])
    assert f"starts with {listed} or {named.get(FORMULA_STARTS[-1])} gets a ' in front" in helped
    assert "a tab" in helped and "a carriage return" in helped


def test_export_takes_its_format_from_the_out_files_name(
    contracts: CliRunner, tmp_path: Path
) -> None:
    runner = contracts
    _run(runner, "export", "c", "--out", str(tmp_path / "out.csv"))
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS and [r["label"] for r in rows] == ["NDA", "Lease", "NDA"]
    # read back as the export it is: the same texts, each label one vote
    _run(runner, "project", "create", "d", "--labels", LABELS)
    assert "imported 3 new examples, 3 labels" in _run(
        runner, "import", "d", str(tmp_path / "out.csv"), "--label-column", "label"
    )
    # any case; with --spreadsheet-safe, which only CSV takes, and needs no --format then
    _run(runner, "export", "c", "--out", str(tmp_path / "safe.CSV"), "--spreadsheet-safe")
    assert "\n3,'=1+1,NDA," in (tmp_path / "safe.CSV").read_text(encoding="utf-8")
    for name in ("out.jsonl", "out.ndjson", "out.json", "out.txt"):  # other names: JSONL, as before
        _run(runner, "export", "c", "--out", str(tmp_path / name))
        lines = (tmp_path / name).read_text(encoding="utf-8").splitlines()
        assert [json.loads(x)["text"] for x in lines] == ["an nda clause", "a lease", "=1+1"]
    assert json.loads(_run(runner, "export", "c").splitlines()[0])["id"] == "1"  # stdout too
    # a --format that agrees, in any case, is taken as before
    _run(runner, "export", "c", "--format", "CSV", "--out", str(tmp_path / "again.csv"))
    assert (tmp_path / "again.csv").read_text(encoding="utf-8").startswith("id,text,label,")


@pytest.mark.parametrize(
    ("fmt", "name", "said"),
    [
        ("jsonl", "old.csv", "--format jsonl does not match {path}, named as csv: leave out "
                             "--format to write csv, or name the file old.jsonl"),
        ("csv", "old.jsonl", "--format csv does not match {path}, named as jsonl"),
        ("csv", "old.ndjson", "--format csv does not match {path}, named as jsonl"),
    ],
)  # fmt: skip
def test_a_format_the_out_name_contradicts_is_refused_and_the_file_kept(
    contracts: CliRunner, tmp_path: Path, fmt: str, name: str, said: str
) -> None:
    path = _file(tmp_path / name, "yesterday's export\n")
    output = _run(contracts, "export", "c", "--format", fmt, "--out", str(path), code=2)
    assert output.startswith(f"error: {said.format(path=path)}")
    assert len(output.strip().splitlines()) == 1
    assert path.read_text(encoding="utf-8") == "yesterday's export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary
    new = tmp_path / f"new{Path(name).suffix}"
    _run(contracts, "export", "c", "--format", fmt, "--out", str(new), code=2)
    assert not new.exists()


def test_a_label_column_in_another_case_is_named_in_the_summary(
    contracts: CliRunner, tmp_path: Path
) -> None:
    runner = contracts
    caps = _file(tmp_path / "caps.csv", "Text,Label\nan employment clause,NDA\nrent is due,Lease\n")
    missing = _run(runner, "import", "c", str(caps), code=2)
    assert f"error: {caps}:1: no 'text' column (columns: Label, Text); use --text-column Text" in (
        missing
    )
    said = _run(runner, "import", "c", str(caps), "--text-column", "Text").splitlines()
    # the import itself is as it always was: the texts, no labels, 'Label' kept as metadata
    assert said[0] == "imported 2 new examples, 0 labels"
    assert said[1] == (
        "note: no 'label' column, so no labels were read; 'Label' is kept as metadata: to "
        "import its labels, run the import again with --label-column Label"
    )
    status = json.loads(_run(runner, "status", "c", "--json"))
    assert (status["examples"], status["labeled"]) == (5, 3)
    again = _run(
        runner, "import", "c", str(caps), "--text-column", "Text", "--label-column", "Label"
    )
    assert "2 already in the project (their labels added as votes)" in again and "note" not in again
    assert json.loads(_run(runner, "status", "c", "--json"))["labeled"] == 5
    wrong = _run(runner, "import", "c", str(caps), "--text-column", "Text", "--label-column",
                 "label", code=2)  # fmt: skip
    assert "no 'label' column (columns: Label, Text); did you mean --label-column Label?" in wrong
    # JSON Lines: the field named too
    fields = _file(tmp_path / "caps.jsonl", '{"Text": "a non-compete clause", "Label": "NDA"}\n')
    said = _run(runner, "import", "c", str(fields), code=2)
    assert (
        "caps.jsonl:1: no 'text' field in this object; it has 'Text': use --text-column Text"
        in (said)
    )
    said = _run(runner, "import", "c", str(fields), "--text-column", "Text")
    assert "note: no 'label' column, so no labels were read; 'Label' is kept" in said


def test_a_broken_json_line_says_where_it_breaks(contracts: CliRunner, tmp_path: Path) -> None:
    broken = _file(tmp_path / "broken.jsonl", '{"text": "fine"}\n{"text": "cut off\n')
    said = _run(contracts, "import", "c", str(broken), code=2)
    assert said == (f"error: {broken}:2: invalid JSON: Unterminated string starting at column 10\n")
    extra = _file(tmp_path / "extra.jsonl", '{"text": "fine"} {"text": "two"}\n')
    said = _run(contracts, "import", "c", str(extra), code=2)
    assert said == f"error: {extra}:1: invalid JSON: Extra data at column 18\n"


def test_jsonl_named_csv_is_recognised(contracts: CliRunner, tmp_path: Path) -> None:
    """What an export --out x.csv wrote before it read the format from the name."""
    jsonl = _run(contracts, "export", "c")
    old = _file(tmp_path / "old.csv", jsonl)
    said = _run(contracts, "import", "c", str(old), code=2)
    assert said == f"error: {old}:1: looks like JSON Lines, not CSV: name it .jsonl\n"


def test_ids_given_to_more_than_one_example_are_warned_of(
    contracts: CliRunner, tmp_path: Path
) -> None:
    runner = contracts
    _run(runner, "import", "c", str(_file(tmp_path / "s.csv", "id,text\ns1,stored one\n")))
    dup = _file(
        tmp_path / "dup.csv",
        "id,text\nx1,first\nx1,second\ns1,third\nx2,stored one\nx3,fourth\nx3,fourth\n",
    )
    said = _run(runner, "import", "c", str(dup)).splitlines()
    assert said == [
        "imported 4 new examples; 1 already in the project; 1 row repeats an earlier row's "
        "text (stored once); 0 labels",
        "warning: 2 ids now name more than one example each ('x1', 's1'): commands that take an "
        "example id (adjudicate, flags resolve) will ask for the #number of the one meant",
    ]
    # the import stands: every new text is stored under the id it was given
    ids = [json.loads(x)["id"] for x in _run(runner, "export", "c").splitlines()]
    assert ids[-5:] == ["s1", "x1", "x1", "s1", "x3"]
    # the same file again stores nothing, so it has nothing to warn of
    assert "warning" not in _run(runner, "import", "c", str(dup))
    later = _run(runner, "adjudicate", "c", "x1", "NDA", code=2)
    assert "'x1' names 2 examples" in later


def test_an_id_column_no_json_line_has_is_refused_before_anything_is_written(
    contracts: CliRunner, tmp_path: Path
) -> None:
    """As for a CSV without that column: a typo in --id-column gave every prediction a null id
    (and an import no ids), without a word."""
    tickets = _file(tmp_path / "t.jsonl", '{"text": "a lease", "Ticket": "T1"}\n')
    out = tmp_path / "p.jsonl"
    said = _run(contracts, "predict", "c", str(tickets), "--id-column", "ticket", "--out",
                str(out), code=2)  # fmt: skip
    assert said == (
        f"error: {tickets}: no 'ticket' field in any line; did you mean --id-column Ticket?\n"
    )
    assert not out.exists()
    said = _run(contracts, "import", "c", str(tickets), "--id-column", "ticket", code=2)
    assert "no 'ticket' field in any line" in said
    assert len(_run(contracts, "export", "c").splitlines()) == 3  # the seed's, nothing more


def test_predicts_refusals_speak_of_what_predict_does(contracts: CliRunner, tmp_path: Path) -> None:
    """predict shares import's reading and export's output names: its refusals told a user of
    predict to "import" the saved file, and that "an export" is not tab-separated."""
    book = tmp_path / "tickets.xlsx"
    book.write_bytes(b"PK\x03\x04" + b"\x00" * 26 + b"xl/workbook.xml")
    said = _run(contracts, "predict", "c", str(book), code=2)
    assert said.startswith(f"error: {book}: an Excel workbook (.xlsx), not a text file; save it ")
    tickets = _file(tmp_path / "t.csv", "text\na lease\n")
    tabbed = _run(contracts, "predict", "c", str(tickets), "--out", str(tmp_path / "p.tsv"), code=2)
    assert "labelbot writes comma-separated CSV or JSON Lines, not tab-separated" in tabbed
    for refused in (said, tabbed):
        assert "import" not in refused and "export" not in refused, refused
