"""Exports keep what was imported (metadata), say which labels are disputed, import back as
what they are, and their ids name examples for `labelbot adjudicate`; SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from engine import consensus, exporting, projects
from storage.errors import InvalidInputError, NotFoundError

LABELS = ["card_arrival", "age_limit", "atm_support"]
# What the CSV export had before metadata and disputes were added: scripts read these by position.
FIRST_CSV_COLUMNS = [
    "id", "text", "label", "annotation_count", "annotators", "annotations", "comments",
    "prediction", "confidence",
]  # fmt: skip


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _import(ws, path: Path, who: str = "import", project: str = "bank") -> None:  # type: ignore[no-untyped-def]
    projects.import_file(ws, project=project, path=path, annotator=who, embed=False)


@pytest.fixture
def bank(ws, tmp_path: Path):  # type: ignore[no-untyped-def]
    """T1 (ana: card_arrival, ben: age_limit: a tie), T2 (ana: age_limit), T3 (unlabeled, no
    channel), one text without an id; ticket metadata in a `channel` and a `priority` column."""
    projects.create_project(ws, name="bank", labels=LABELS)
    _import(ws, _write(tmp_path / "ana.csv", ["id", "text", "channel", "priority", "label"], [
        ["T1", "My card has not arrived yet", "email", "2", "card_arrival"],
        ["T2", "How old must I be to open an account?", "chat", "", "age_limit"],
        ["T3", "Where is the nearest cash machine?", "", "", ""],
    ]), "ana")  # fmt: skip
    _import(ws, _write(tmp_path / "ben.csv", ["text", "label"], [
        ["My card has not arrived yet", "age_limit"],
        ["Can I change my PIN at an ATM?", ""],
    ]), "ben")  # fmt: skip
    return ws


def _by_id(records: list[dict]) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["id"]: r for r in records}


def test_exports_carry_the_imported_metadata(bank) -> None:  # type: ignore[no-untyped-def]
    records = _by_id(exporting.export_records(bank, "bank"))
    assert records["T1"]["meta"] == {"channel": "email", "priority": "2"}
    assert records["T2"]["meta"] == {"channel": "chat"}  # empty cells are not stored
    assert records["T3"]["meta"] == {}
    jsonl = [json.loads(x) for x in exporting.export_text(bank, "bank", "jsonl").splitlines()]
    assert _by_id(jsonl)["T1"]["meta"] == {"channel": "email", "priority": "2"}
    reader = csv.reader(io.StringIO(exporting.export_text(bank, "bank", "csv")))
    header = next(reader)
    # new columns go at the end: every column a script read by position is where it was
    assert header[: len(FIRST_CSV_COLUMNS)] == FIRST_CSV_COLUMNS
    assert header[len(FIRST_CSV_COLUMNS) :] == ["meta", "disputed", "flags"]
    rows = {row[0]: dict(zip(header, row, strict=True)) for row in reader}
    assert json.loads(rows["T1"]["meta"]) == {"channel": "email", "priority": "2"}
    assert json.loads(rows["T3"]["meta"]) == {}


def test_a_tie_is_exported_as_disputed_until_settled(bank) -> None:  # type: ignore[no-untyped-def]
    records = _by_id(exporting.export_records(bank, "bank"))
    # ana and ben disagree on T1: the label the model trains on is the latest vote (ben's), and
    # the export says it is no agreement; T2's one vote and unlabeled T3 are not disputed
    assert records["T1"]["label"] == "age_limit" and records["T1"]["disputed"] is True
    assert records["T2"]["label"] == "age_limit" and records["T2"]["disputed"] is False
    assert records["T3"]["label"] is None and records["T3"]["disputed"] is False
    rows = {
        r["id"]: r for r in csv.DictReader(io.StringIO(exporting.export_text(bank, "bank", "csv")))
    }
    assert (rows["T1"]["disputed"], rows["T2"]["disputed"]) == ("true", "false")
    listed = consensus.disagreements(bank, "bank")
    assert [d.external_id for d in listed] == ["T1"]  # the same examples `disagreements` lists
    consensus.adjudicate(
        bank, project="bank", example_id=listed[0].example_id, label="card_arrival", actor="lead"
    )
    settled = _by_id(exporting.export_records(bank, "bank"))["T1"]
    assert settled["label"] == "card_arrival" and settled["disputed"] is False


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_imports_back_as_an_export(bank, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"export.{fmt}"
    path.write_text(exporting.export_text(bank, "bank", fmt), encoding="utf-8")
    projects.create_project(bank, name="copy", labels=LABELS)
    _import(bank, path, project="copy")
    copied = _by_id(exporting.export_records(bank, "copy"))
    original = _by_id(exporting.export_records(bank, "bank"))
    assert set(copied) == set(original)
    for key, record in original.items():
        # the metadata is the metadata again; the export's derived fields are not metadata
        assert copied[key]["meta"] == record["meta"], key
        assert copied[key]["label"] == record["label"], key
    # the agreed label comes back as one vote: who gave which vote is not kept
    assert [a["annotator"] for a in copied["T1"]["annotations"]] == ["import"]
    assert copied["T1"]["disputed"] is False


def test_a_file_that_is_no_export_keeps_such_columns_as_metadata(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="bank", labels=LABELS)
    path = _write(tmp_path / "tickets.csv", ["text", "comments", "confidence", "meta"],
                  [["My card has not arrived yet", "VIP customer", "high", "x"]])  # fmt: skip
    _import(ws, path)
    [record] = exporting.export_records(ws, "bank")
    assert record["meta"] == {"comments": "VIP customer", "confidence": "high", "meta": "x"}


def test_a_broken_meta_cell_in_an_export_fails_with_its_line(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="bank", labels=LABELS)
    header = [*FIRST_CSV_COLUMNS, "meta", "disputed"]
    row = ["T1", "My card has not arrived yet", "", "0", "", "[]", "[]", "", "", "[1, 2]", "false"]
    with pytest.raises(InvalidInputError, match=r"export.csv:2: 'meta' must be a JSON object"):
        _import(ws, _write(tmp_path / "export.csv", header, [row]))


def test_an_export_id_or_number_names_the_example(bank, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    records = _by_id(exporting.export_records(bank, "bank"))
    [t1] = [d.example_id for d in consensus.disagreements(bank, "bank")]
    assert exporting.find_example(bank, "bank", "T1") == t1  # the id it was imported with
    assert exporting.find_example(bank, "bank", f"#{t1}") == t1  # `disagreements`' number
    assert exporting.find_example(bank, "bank", str(t1)) == t1
    # a text imported without an id is exported under its number: that names it too
    plain = next(key for key, r in records.items() if r["text"].startswith("Can I change"))
    assert exporting.find_example(bank, "bank", plain) == int(plain)
    with pytest.raises(NotFoundError, match="no example 'T9' in project 'bank'"):
        exporting.find_example(bank, "bank", "T9")
    # an imported id that is another example's number: ambiguous, and #N says which
    _import(bank, _write(tmp_path / "more.csv", ["id", "text"], [[str(t1), "Is there a fee?"]]))
    with pytest.raises(InvalidInputError, match=rf"'{t1}' names 2 examples \(#{t1}, #\d+\)"):
        exporting.find_example(bank, "bank", str(t1))
    assert exporting.find_example(bank, "bank", f"#{t1}") == t1
    projects.create_project(bank, name="other", labels=LABELS)
    with pytest.raises(NotFoundError):  # another project's example is not this project's
        exporting.find_example(bank, "other", f"#{t1}")


def test_a_spreadsheet_safe_csv_defuses_cells_that_would_run_as_formulas(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path
) -> None:
    """A text that starts as a formula (=, +, -, @, a tab) runs when the CSV is opened in a
    spreadsheet; --spreadsheet-safe puts a ' in front of such cells and of no other. The plain
    export keeps texts as they are (it imports back as itself)."""
    formulas = ['=HYPERLINK("http://x.example","refund")', "+1 234 my card", "-5 fee?", "@SUM(A1)"]
    plain = ["My card has not arrived", "it costs 5 - why?"]
    projects.create_project(ws, name="p", labels=["a", "b"])
    rows = [[f"E{i}", t, "a"] for i, t in enumerate([*formulas, "\tindented", *plain])]
    _import(ws, _write(tmp_path / "f.csv", ["id", "text", "label"], rows), project="p")
    safe = {
        r["id"]: r
        for r in csv.DictReader(
            io.StringIO(exporting.export_text(ws, "p", "csv", spreadsheet_safe=True))
        )
    }
    raw = {r["id"]: r for r in csv.DictReader(io.StringIO(exporting.export_text(ws, "p", "csv")))}
    stored = {r["id"]: r["text"] for r in exporting.export_records(ws, "p")}
    for ident, text in stored.items():
        assert raw[ident]["text"] == text  # unchanged without the flag
        starts_as_formula = text[:1] in ("=", "+", "-", "@", "\t")
        assert safe[ident]["text"] == ("'" + text if starts_as_formula else text), text
    assert sum(text[:1] in "=+-@" for text in stored.values()) == len(formulas)
    assert all(safe[i]["annotations"].startswith("[") for i in safe)  # JSON cells untouched
    with pytest.raises(InvalidInputError, match="CSV output only"):
        exporting.export_text(ws, "p", "jsonl", spreadsheet_safe=True)


def test_a_bad_export_request_is_refused_before_the_project_is_read(  # type: ignore[no-untyped-def]
    ws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown format, or spreadsheet-safe asked of JSONL, costs no read of the project (a
    REST caller gets its 422 at once, however large the project)."""

    def read(*args, **kw):  # type: ignore[no-untyped-def]
        raise AssertionError("the project was read")

    monkeypatch.setattr(exporting, "export_records", read)
    for fmt, safe in (("xml", False), ("jsonl", True), ("JSONL", True)):
        with pytest.raises(InvalidInputError):
            exporting.export_text(ws, "any", fmt, spreadsheet_safe=safe)


def test_a_lone_carriage_return_in_a_text_keeps_the_csv_one_row_per_example(  # type: ignore[no-untyped-def]
    bank, tmp_path: Path
) -> None:
    """csv quoted "\\n" but not a lone "\\r" (it looks at the line terminator): every reader ended
    the row there, and the export did not import back. Such a row is quoted whole."""
    path = tmp_path / "cr.jsonl"
    path.write_text(json.dumps({"id": "CR", "text": "first part\rsecond part"}) + "\n")
    _import(bank, path)
    text = exporting.export_text(bank, "bank", "csv")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(exporting.export_records(bank, "bank"))
    assert {r["id"]: r["text"] for r in rows}["CR"] == "first part\rsecond part"
    assert "\nT2," in text  # the other rows are written as before, unquoted
    back = tmp_path / "back.csv"
    back.write_text(text, encoding="utf-8", newline="")
    projects.create_project(bank, name="copy", labels=LABELS)
    _import(bank, back, project="copy")
    assert _by_id(exporting.export_records(bank, "copy"))["CR"]["text"] == "first part\rsecond part"

    out = io.StringIO(newline="")
    predicted = [{"id": "q1", "text": "x\ry", "label": "a", "confidence": 0.5, "top": []},
                 {"id": "q2", "text": "z", "label": "b", "confidence": 0.5, "top": []}]  # fmt: skip
    assert exporting.write_predictions(predicted, out, "csv") == 2
    read = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert [(r["id"], r["text"]) for r in read] == [("q1", "x\ry"), ("q2", "z")]
