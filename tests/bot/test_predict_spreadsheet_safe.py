"""`labelbot predict --spreadsheet-safe`: predict's CSV, which its .xlsx refusal tells people to
open in Excel, is written as a spreadsheet-safe export is (a ' before a cell a spreadsheet
would run as a formula, a UTF-8 byte order mark first). predict reads outsiders' texts
(tickets, reviews): "=cmd|' /C calc'!A0" must show as text, not run."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("cli_env")  # a fresh SQLite file per test

BOM = "\ufeff"
SEED = [
    ("the receiving party keeps the information confidential", "NDA"),
    ("confidential information excludes what is public", "NDA"),
    ("the tenant pays the rent on the first of each month", "Lease"),
    ("the landlord repairs the roof and the heating", "Lease"),
]
# what a customer may write: each starts as a formula would (a leading tab or CR is stripped as
# the file is read), one is not Latin
HOSTILE = [
    ("=cmd|' /C calc'!A0", "=cmd|' /C calc'!A0"),
    ("+1 the tenant pays", None),
    ("-1 confidential", None),
    ("@SUM(1,1) rent", None),
    ("информация конфиденциальна", None),
]


def _run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def trained(tmp_path: Path) -> tuple[CliRunner, Path]:
    """A trained project "c" and a file of hostile texts to predict, ids included."""
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    seed = tmp_path / "seed.csv"
    with seed.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *SEED])
    _run(runner, "import", "c", str(seed))
    _run(runner, "train", "c")
    texts = tmp_path / "tickets.csv"
    with texts.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("id", "text"))
        writer.writerows((f"T{i}" if id_ is None else id_, t) for i, (t, id_) in enumerate(HOSTILE))
    return runner, texts


def test_predict_spreadsheet_safe_defuses_formulas_and_starts_with_a_bom(
    trained: tuple[CliRunner, Path], tmp_path: Path
) -> None:
    runner, texts = trained
    plain = tmp_path / "plain.csv"
    _run(runner, "predict", "c", str(texts), "--out", str(plain))
    safe = tmp_path / "safe.csv"
    said = _run(runner, "predict", "c", str(texts), "--out", str(safe), "--spreadsheet-safe")
    assert f"wrote 5 predictions to {safe}" in " ".join(said.split())
    raw = safe.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,text,label,confidence,top\n")  # Excel: UTF-8
    assert "информация".encode() in raw
    assert not plain.read_bytes().startswith(b"\xef\xbb\xbf")  # plain CSV: as before
    with plain.open(encoding="utf-8", newline="") as handle:
        before = list(csv.DictReader(handle))
    with safe.open(encoding="utf-8-sig", newline="") as handle:
        after = list(csv.DictReader(handle))
    assert [r["text"] for r in before] == [t for t, _ in HOSTILE]  # raw: the defect
    assert [r["text"] for r in after] == [
        "'=cmd|' /C calc'!A0",
        "'+1 the tenant pays",
        "'-1 confidential",
        "'@SUM(1,1) rent",
        "информация конфиденциальна",
    ]
    assert after[0]["id"] == "'=cmd|' /C calc'!A0"  # every cell, the id column's too
    # no other cell starts as a formula would; the rest is the plain CSV's, cell for cell
    starts = ("=", "+", "-", "@", "\t", "\r")
    assert not any(v.startswith(starts) for r in after for v in r.values())
    for b, a in zip(before, after, strict=True):
        assert (a["label"], a["confidence"], json.loads(a["top"])) == (
            b["label"],
            b["confidence"],
            json.loads(b["top"]),
        )
    # to stdout too (redirected into a file for Excel), with --format csv
    shown = _run(runner, "predict", "c", str(texts), "--format", "csv", "--spreadsheet-safe")
    assert shown.startswith(BOM + "id,text,label,")
    rows = list(csv.DictReader(io.StringIO(shown.removeprefix(BOM))))
    assert rows[0]["text"] == "'=cmd|' /C calc'!A0"


def test_predict_spreadsheet_safe_is_refused_for_jsonl_as_export_refuses_it(
    trained: tuple[CliRunner, Path], tmp_path: Path
) -> None:
    """JSON Lines is read by programs, not spreadsheets: asked for it (stdout's default, a
    .jsonl name, --format jsonl) the option is refused before anything is read or written."""
    runner, texts = trained
    old = tmp_path / "old.jsonl"
    old.write_text("yesterday\n", encoding="utf-8")
    for extra in ([], ["--out", str(old)], ["--format", "jsonl"]):
        said = _run(runner, "predict", "c", str(texts), "--spreadsheet-safe", *extra, code=2)
        assert "spreadsheet-safe applies to CSV output only (format csv)" in said
        assert '"label"' not in said
    assert old.read_text(encoding="utf-8") == "yesterday\n"
    said = _run(runner, "export", "c", "--spreadsheet-safe", code=2)  # the same words
    assert "spreadsheet-safe applies to CSV output only (format csv)" in said


@pytest.mark.parametrize("suffix", [".xlsx", ".ods"])
def test_predict_names_spreadsheet_safe_when_it_refuses_a_spreadsheet_name(
    trained: tuple[CliRunner, Path], tmp_path: Path, suffix: str
) -> None:
    """The refusal said "write x.csv and open that in Excel": the raw CSV it pointed at runs
    a ticket's formula. It names the option now, as export's does, and that command works."""
    runner, texts = trained
    out = tmp_path / f"x{suffix}"
    said = " ".join(_run(runner, "predict", "c", str(texts), "--out", str(out), code=2).split())
    assert "write --out x.csv --spreadsheet-safe and open that in Excel" in said
    assert not out.exists()
    exported = " ".join(_run(runner, "export", "c", "--out", str(out), code=2).split())
    assert "write --out x.csv --spreadsheet-safe and open that in Excel" in exported
    _run(runner, "predict", "c", str(texts), "--out", str(tmp_path / "x.csv"), "--spreadsheet-safe")
    assert (tmp_path / "x.csv").read_text(encoding="utf-8-sig").count("'=cmd") == 2


def test_predict_help_describes_the_option() -> None:
    helped = " ".join(_run(CliRunner(), "predict", "--help").split())
    assert "--spreadsheet-safe" in helped and "gets a ' in front" in helped
    assert "byte order mark" in helped
