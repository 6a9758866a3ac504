"""A text is the same text whatever ends its lines: a quoted CSV cell with "\\r\\n" in it, saved
back by a spreadsheet with "\\n" (or an old Mac tool's "\\r"), re-imports as the example it was.
Its text stays stored as first written; only the matching ignores line endings, as it always
has (storage.hashing: the key collapses every run of whitespace, in every database so far, so
no stored key changes). Through the engine on SQLite and PostgreSQL, and `labelbot import`."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine import exporting, projects
from engine.workspace import Workspace
from storage.db import session_scope
from storage.hashing import content_hash
from storage.repositories import examples, feedback
from storage.repositories import projects as project_repo
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)

WRITTEN = "Dear team,\r\nmy card has not arrived.\r\nThanks"
SAVED = "Dear team,\nmy card has not arrived.\nThanks"


def _stored(ws: Workspace) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Each example's text, key, and live votes as (annotator, label)."""
    with session_scope(ws.db, read_only=True) as s:
        found = project_repo.get_project(session=s, name="p")
        assert found.id is not None
        votes = feedback.list_annotations(session=s, project_id=found.id)
        return [
            (
                e.text,
                e.content_hash,
                [(v.annotator, v.label) for v in votes if v.example_id == e.id],
            )
            for e in examples.list_examples(session=s, project_id=found.id)
        ]


def _spreadsheet_copy(export: str, path: Path, newline: str) -> Path:
    """The CSV export as a spreadsheet saves it again: every cell's line ends as ``newline``,
    the rows ended by "\\r\\n"."""
    rows = list(csv.reader(io.StringIO(export, newline="")))
    assert any("\r\n" in cell for row in rows for cell in row)  # the export kept them
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows(
            [[cell.replace("\r\n", newline) for cell in row] for row in rows]
        )
    return path


@pytest.mark.parametrize("newline", ["\n", "\r"])
def test_an_edited_export_with_other_line_ends_adds_no_example(
    ws: Workspace, tmp_path: Path, newline: str
) -> None:
    projects.create_project(ws, name="p", labels=["card_arrival", "other"])
    first = tmp_path / "tickets.csv"
    with first.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text", "label"], [WRITTEN, "card_arrival"]])
    assert projects.import_file(ws, project="p", path=first, embed=False).inserted == 1
    before = _stored(ws)
    assert before == [(WRITTEN, content_hash(WRITTEN), [("import", "card_arrival")])]

    copy = _spreadsheet_copy(
        exporting.export_text(ws, "p", "csv"), tmp_path / "edited.csv", newline
    )
    report = projects.import_file(ws, project="p", path=copy, embed=False)
    assert (report.inserted, report.duplicates, report.annotations) == (0, 1, 0)
    assert _stored(ws) == before  # the text as first written, its label and votes kept
    # a plain file of the saved text, labeled the same, finds it too
    plain = tmp_path / "plain.csv"
    with plain.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(
            [["text", "label"], [SAVED.replace("\n", newline), "card_arrival"]]
        )
    assert projects.import_file(ws, project="p", path=plain, embed=False).inserted == 0
    assert _stored(ws) == before


@pytest.mark.usefixtures("cli_env")
def test_labelbot_import_of_the_saved_copy_finds_the_example(tmp_path: Path) -> None:
    from bot.cli.common import workspace

    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    run("project", "create", "p", "--labels", "card_arrival,other")
    first = tmp_path / "tickets.csv"
    with first.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["id", "text", "label"], ["T1", WRITTEN, "card_arrival"]])
    assert "imported 1 new example, 1 label" in run("import", "p", str(first))
    before = _stored(workspace())
    out = tmp_path / "export.csv"
    run("export", "p", "--out", str(out))
    copy = _spreadsheet_copy(out.read_bytes().decode("utf-8-sig"), tmp_path / "saved.csv", "\n")
    said = run("import", "p", str(copy))
    assert "imported 0 new examples; 1 already in the project" in said
    assert _stored(workspace()) == before
