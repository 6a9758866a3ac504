"""Audit 34, bad input: cases where a wrong file name or an odd file loses data or misleads.

Each test shows a bug still open (strict xfail): the rule is "bad input gets a clear error and
loses nothing; a crash never corrupts stored labels"."""

from __future__ import annotations

import csv
import gzip
import json
import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("cli_env")  # a fresh SQLite file per test

TEXTS = [
    ("the receiving party keeps the information confidential", "NDA"),
    ("confidential information excludes what is public", "NDA"),
    ("the tenant pays the rent on the first of each month", "Lease"),
    ("the landlord repairs the roof and the heating", "Lease"),
]


def _run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _database() -> Path:
    """The SQLite file the cli_env fixture points DATABASE_URL at."""
    return Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))


def _seed(runner: CliRunner, tmp_path: Path, rows: list[tuple[str, str]] = TEXTS) -> Path:
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    seed = tmp_path / "seed.csv"
    with seed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        writer.writerows([(f"T{i}", text, label) for i, (text, label) in enumerate(rows)])
    _run(runner, "import", "c", str(seed))
    return seed


# --- db backup onto the database's own WAL file ------------------------------------------------


def test_db_backup_onto_the_databases_wal_file_is_refused_and_corrupts_nothing(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    _run(runner, "init")
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    database = _database()
    # another process using the database (`labelbot serve`, a worker): a committed write still
    # in the WAL, not yet checkpointed into the file
    held = sqlite3.connect(database)
    try:
        assert held.execute("PRAGMA journal_mode = wal").fetchone() == ("wal",)
        held.execute("PRAGMA wal_autocheckpoint = 0")
        held.execute("UPDATE projects SET description = 'kept' WHERE name = 'c'")
        held.commit()
        wal = database.with_name(database.name + "-wal")
        assert wal.exists()
        result = runner.invoke(app, ["db", "backup", str(wal), "--force"])
        assert result.exit_code == 2, result.output  # exit 0 today: "backed up … to …-wal"
        assert "database" in result.output
    finally:
        held.close()
    check = sqlite3.connect(database)
    try:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert check.execute("SELECT description FROM projects").fetchall() == [("kept",)]
    finally:
        check.close()


@pytest.mark.parametrize("name", ["-wal", "-shm", "-journal", "link-to-wal", "hard-link-to-shm"])
def test_db_backup_onto_any_of_sqlites_files_beside_the_database_is_refused(
    tmp_path: Path, name: str
) -> None:
    runner = CliRunner()
    _run(runner, "init")
    database = _database()
    held = sqlite3.connect(database)  # keeps the -wal and -shm files there
    try:
        assert held.execute("PRAGMA journal_mode = wal").fetchone() == ("wal",)
        held.execute("CREATE TABLE IF NOT EXISTS t (x)")
        held.commit()
        side = database.with_name(database.name + "-wal")
        if name == "link-to-wal":
            target = tmp_path / "backup.db"
            target.symlink_to(side)
        elif name == "hard-link-to-shm":
            target = tmp_path / "backup.db"
            os.link(database.with_name(database.name + "-shm"), target)
        else:  # -journal: not there in WAL mode, refused by its name all the same
            target = database.with_name(database.name + name)
        before = target.read_bytes() if target.exists() else None
        result = runner.invoke(app, ["db", "backup", str(target), "--force"])
        assert result.exit_code == 2, result.output
        assert "corrupt the database" in " ".join(result.output.split()), result.output
        assert (target.read_bytes() if target.exists() else None) == before
    finally:
        held.close()


# --- predict --out naming the file it reads -----------------------------------------------------


def test_predict_out_naming_its_own_input_file_is_refused_and_keeps_the_file(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    _seed(runner, tmp_path)
    _run(runner, "train", "c")
    tickets = tmp_path / "tickets.csv"
    original = (
        "ticket,text,customer,priority\n"
        "T-1,the tenant wants the heating fixed,ACME,high\n"
        "T-2,keep the customer list confidential,Globex,low\n"
    )
    tickets.write_text(original, encoding="utf-8")
    (tmp_path / "link.csv").symlink_to(tickets)
    os.link(tickets, tmp_path / "hard.csv")
    (tmp_path / "sub").mkdir()
    for out in (
        tickets,
        tmp_path / "sub" / ".." / "tickets.csv",
        tmp_path / "link.csv",
        tmp_path / "hard.csv",
    ):
        result = runner.invoke(
            app, ["predict", "c", str(tickets), "--id-column", "ticket", "--out", str(out)]
        )
        assert tickets.read_text(encoding="utf-8") == original  # the customer, priority columns
        assert result.exit_code == 2, result.output
        assert "is the file predict reads" in " ".join(result.output.split()), result.output
    # another file beside it is written as before
    out = tmp_path / "predicted.csv"
    _run(runner, "predict", "c", str(tickets), "--id-column", "ticket", "--out", str(out))
    assert [r["id"] for r in csv.DictReader(out.open(encoding="utf-8"))] == ["T-1", "T-2"]


# --- a plain CSV export imported again --------------------------------------------------------


def test_importing_the_projects_own_plain_csv_export_again_adds_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    rows = [*TEXTS, ("'=the tenant's note, quoted as typed", "Lease")]
    _seed(runner, tmp_path, rows)
    exported = tmp_path / "export.csv"
    _run(runner, "export", "c", "--out", str(exported))
    before = [json.loads(x) for x in _run(runner, "export", "c").splitlines()]
    said = _run(runner, "import", "c", str(exported))
    after = [json.loads(x) for x in _run(runner, "export", "c").splitlines()]
    assert [r["text"] for r in after] == [r["text"] for r in before], said
    assert "imported 0 new examples" in said


def test_a_plain_csv_export_keeps_a_quote_before_a_formula_character_in_ids_labels_and_texts(
    tmp_path: Path,
) -> None:
    """Into another project: what a plain export holds is stored as it is written, its id,
    its text and its label (a label named "'-1" is a label of its own, not "-1")."""
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "'-1,-1")
    seed = tmp_path / "seed.csv"
    seed.write_text("id,text,label\n'-7,'@support my refund,'-1\n8,=SUM(A1),-1\n", "utf-8")
    _run(runner, "import", "c", str(seed))
    exported = tmp_path / "export.csv"
    _run(runner, "export", "c", "--out", str(exported))
    with exported.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert "spreadsheet_safe" not in header  # the plain export's columns, as before
    _run(runner, "project", "create", "d", "--labels", "'-1,-1")
    assert "imported 2 new examples, 2 labels" in _run(runner, "import", "d", str(exported))
    got = [json.loads(x) for x in _run(runner, "export", "d").splitlines()]
    assert [(r["id"], r["text"], r["label"]) for r in got] == [
        ("'-7", "'@support my refund", "'-1"),
        ("8", "=SUM(A1)", "-1"),
    ]


def test_a_spreadsheet_safe_export_says_so_in_a_last_column_and_imports_as_the_project_holds(
    tmp_path: Path,
) -> None:
    """The ' it puts on comes off again in another project too, and its marking column is
    not kept as metadata."""
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "'-1,-1")
    seed = tmp_path / "seed.csv"
    seed.write_text("id,text,label\n'-7,'@support my refund,'-1\n8,=SUM(A1),-1\n", "utf-8")
    _run(runner, "import", "c", str(seed))
    safe = tmp_path / "safe.csv"
    _run(runner, "export", "c", "--out", str(safe), "--spreadsheet-safe")
    with safe.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[-1] == "spreadsheet_safe"
    assert [(r["id"], r["text"], r["label"], r["spreadsheet_safe"]) for r in rows] == [
        ("''-7", "''@support my refund", "''-1", "true"),
        ("8", "'=SUM(A1)", "'-1", "true"),
    ]
    _run(runner, "project", "create", "d", "--labels", "'-1,-1")
    assert "imported 2 new examples, 2 labels" in _run(runner, "import", "d", str(safe))
    got = [json.loads(x) for x in _run(runner, "export", "d").splitlines()]
    assert [(r["id"], r["text"], r["label"], r["meta"]) for r in got] == [
        ("'-7", "'@support my refund", "'-1", {}),
        ("8", "=SUM(A1)", "-1", {}),
    ]


# --- a compressed file --------------------------------------------------------------------------


def test_a_gzip_file_is_refused_saying_it_is_compressed(tmp_path: Path) -> None:
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    packed = tmp_path / "data.csv.gz"
    packed.write_bytes(gzip.compress(b"text,label\nthe tenant pays,Lease\n"))
    result = runner.invoke(app, ["import", "c", str(packed)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split()).split("data.csv.gz", 1)[-1].lower()  # not the path
    assert "gzip" in said or "compressed" in said, result.output
    assert "gunzip" in said, result.output
    assert "utf-8" not in said, result.output
    assert "has no examples yet" in _run(runner, "export", "c")  # nothing stored
