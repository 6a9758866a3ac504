"""The files export and predict write: a spreadsheet-safe CSV starts with a UTF-8 byte order
mark (Excel reads one without it in the ANSI code page) and imports back as itself; predict's
--out name chooses its format as export's does (a .csv file held JSON Lines)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine import exporting
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("cli_env")  # a fresh SQLite file per test

BOM = b"\xef\xbb\xbf"
TEXTS = [
    ("the receiving party keeps the information confidential", "NDA"),
    ("confidential information excludes what is public", "NDA"),
    ("the tenant pays the rent on the first of each month", "Lease"),
    ("the landlord repairs the café roof and the heating", "Lease"),
]


def _run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _project(runner: CliRunner, tmp_path: Path, name: str = "c") -> Path:
    _run(runner, "project", "create", name, "--labels", "NDA,Lease")
    seed = tmp_path / "seed.csv"
    with seed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        writer.writerows([(f"T{i}", text, label) for i, (text, label) in enumerate(TEXTS)])
        writer.writerow(["F1", "=1+1", "NDA"])
    _run(runner, "import", name, str(seed))
    return seed


# --- the byte order mark ----------------------------------------------------------------------


def test_a_spreadsheet_safe_csv_starts_with_a_bom_and_imports_back(tmp_path: Path) -> None:
    runner = CliRunner()
    _project(runner, tmp_path)
    safe = tmp_path / "safe.csv"
    _run(runner, "export", "c", "--out", str(safe), "--spreadsheet-safe")
    raw = safe.read_bytes()
    assert raw.startswith(BOM + b"id,text,label,")
    assert "café".encode() in raw  # UTF-8 after the mark, as it says
    # read back (the importer skips the mark): the first column is still "id", not "\ufeffid"
    _run(runner, "project", "create", "d", "--labels", "NDA,Lease")
    _run(runner, "import", "d", str(safe))
    back = [json.loads(x) for x in _run(runner, "export", "d").splitlines()]
    assert [(r["id"], r["text"], r["label"]) for r in back] == [
        *((f"T{i}", text, label) for i, (text, label) in enumerate(TEXTS)),
        ("F1", "=1+1", "NDA"),  # defused in the file, and undone as it is imported
    ]
    assert all("\ufeff" not in key for r in back for key in (*r, *r["meta"]))
    # to stdout too (redirected into a file for Excel)
    assert _run(runner, "export", "c", "--format", "csv", "--spreadsheet-safe").startswith(
        "\ufeffid,text,label,"
    )


def test_only_the_spreadsheet_safe_csv_has_the_mark(tmp_path: Path) -> None:
    """A plain CSV or JSONL export stays byte for byte what it was (a script reads it), and the
    export's text (the REST body) has the mark only when asked."""
    runner = CliRunner()
    _project(runner, tmp_path)
    for name in ("plain.csv", "plain.jsonl"):
        _run(runner, "export", "c", "--out", str(tmp_path / name))
        assert not (tmp_path / name).read_bytes().startswith(BOM)
    records = [{"id": "1", "text": "t", "label": None, "annotations": [], "comments": [],
                "prediction": None, "meta": {}, "disputed": False}]  # fmt: skip
    out = io.StringIO()
    exporting.write_export(records, out, "csv", spreadsheet_safe=True, bom=False)
    assert out.getvalue().startswith("id,text,")
    out = io.StringIO()
    exporting.write_export(records, out, "csv", spreadsheet_safe=True)
    assert out.getvalue().startswith("\ufeffid,text,")


# --- predict's format ---------------------------------------------------------------------------


@pytest.fixture
def trained(tmp_path: Path) -> tuple[CliRunner, Path]:
    runner = CliRunner()
    seed = _project(runner, tmp_path)
    _run(runner, "train", "c")
    return runner, seed


def test_predict_out_named_csv_writes_csv(trained: tuple[CliRunner, Path], tmp_path: Path) -> None:
    """As export: the --out name chooses the format; a .csv file held JSON Lines."""
    runner, seed = trained
    jsonl = [json.loads(x) for x in _run(runner, "predict", "c", str(seed)).splitlines()]
    out = tmp_path / "pred.csv"
    said = _run(runner, "predict", "c", str(seed), "--out", str(out))
    assert f"wrote 5 predictions to {out}" in " ".join(said.split())
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert (
        tuple(rows[0])
        == exporting.PREDICTION_COLUMNS
        == ("id", "text", "label", "confidence", "top")
    )
    assert [
        (r["id"], r["text"], r["label"], float(r["confidence"]), json.loads(r["top"])) for r in rows
    ] == [(x["id"], x["text"], x["label"], x["confidence"], x["top"]) for x in jsonl]
    # .jsonl (any case), and --format csv to stdout
    _run(runner, "predict", "c", str(seed), "--out", str(tmp_path / "pred.JSONL"))
    lines = (tmp_path / "pred.JSONL").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == jsonl
    shown = _run(runner, "predict", "c", str(seed), "--format", "CSV")
    assert [r["label"] for r in csv.DictReader(shown.splitlines())] == [x["label"] for x in jsonl]


def test_predict_refuses_a_format_its_out_name_contradicts(
    trained: tuple[CliRunner, Path], tmp_path: Path
) -> None:
    """In export's words, leaving the file as it was."""
    runner, seed = trained
    old = tmp_path / "old.csv"
    old.write_text("yesterday\n", encoding="utf-8")
    said = _run(runner, "predict", "c", str(seed), "--format", "jsonl", "--out", str(old), code=2)
    assert "--format jsonl does not match" in said and "named as csv" in " ".join(said.split())
    assert old.read_text(encoding="utf-8") == "yesterday\n"
    said = _run(runner, "predict", "c", str(seed), "--format", "xml", code=2)
    assert "unknown format 'xml': use jsonl or csv" in said


def test_a_prediction_without_an_id_is_an_empty_csv_cell(
    trained: tuple[CliRunner, Path], tmp_path: Path
) -> None:
    runner, _ = trained
    texts = tmp_path / "new.jsonl"
    texts.write_text('{"text": "the tenant pays rent"}\n', encoding="utf-8")
    shown = _run(runner, "predict", "c", str(texts), "--format", "csv")
    (row,) = csv.DictReader(shown.splitlines())
    assert row["id"] == "" and row["label"] in ("NDA", "Lease")
