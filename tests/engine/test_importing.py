"""Imports are transactional: a bad file fails with its line number and stores nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import projects
from storage.errors import InvalidInputError


def _snapshot(ws) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    status = projects.project_status(ws, "p")
    return status["examples"], status["annotations"]


@pytest.fixture
def project(ws):  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="p", labels=["yes", "no"])
    return ws


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_csv_with_labels_ids_and_duplicates(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _write(
        tmp_path,
        "a.csv",
        "id,text,label,source\n1,Good day,yes,web\n2,Bad day,no,\n3,Good  day,yes,web\n4,Meh,,\n",
    )
    report = projects.import_file(project, project="p", path=path)
    assert (report.rows, report.inserted, report.duplicates, report.annotations) == (4, 3, 1, 2)
    again = projects.import_file(project, project="p", path=path)
    assert (again.inserted, again.duplicates, again.annotations) == (0, 4, 0)
    assert _snapshot(project) == (3, 2)


def test_text_only_jsonl_imports_unlabeled_examples(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = [json.dumps({"text": t, "channel": "x"}) for t in ("one", "two")]
    path = _write(tmp_path, "a.jsonl", "\n".join(lines) + "\n")
    report = projects.import_file(project, project="p", path=path)
    assert (report.inserted, report.annotations) == (2, 0)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("enc.csv", b"text,label\nfine,yes\ncaf\xe9,no\n", r"enc.csv:3: not valid UTF-8"),
        ("col.csv", "body,label\nx,yes\n", r"col.csv:1: no 'text' column"),
        ("empty.csv", "text,label\nok,yes\n   ,no\n", r"empty.csv:3: empty text"),
        ("unk.csv", "text,label\nok,yes\nhm,maybe\n", r"unk.csv:3: unknown label 'maybe'"),
        ("big.csv", "text,label\nok,yes\n" + "x" * 1_000_000 + ",no\n", r"big.csv:3: text of"),
        ("bad.jsonl", '{"text": "ok"}\n{"text": broken\n', r"bad.jsonl:2: invalid JSON"),
        ("arr.jsonl", '{"text": "ok"}\n["x"]\n', r"arr.jsonl:2: each line must be a JSON object"),
        ("none.csv", "text,label\n", r"none.csv: the file has no rows"),
        ("quote.csv", 'text,label\nok,yes\n"unterminated,no\n', r"quote.csv"),
        # where a line breaks: json's message alone ended at "starting at"
        ("cut.jsonl", '{"text": "ok"}\n{"text": "cut\n', r"cut.jsonl:2: invalid JSON: "
                      r"Unterminated string starting at column 10$"),
        ("meta.csv", 'text,annotations,comments,prediction,meta\nok,[],[],,"{""a"": "\n',
         r"meta.csv:2: 'meta' is not valid JSON: Expecting value at character 7$"),
        # a column in another case is named; JSON Lines in a .csv is said to be that
        ("caps.csv", "Text,label\nx,yes\n", r"caps.csv:1: no 'text' column \(columns: Text, "
                     r"label\); use --text-column Text$"),
        ("two.csv", "Text,TEXT\nx,y\n", r"two.csv:1: no 'text' column \(columns: TEXT, Text\); "
                    r"use --text-column$"),
        ("caps.jsonl", '{"Text": "x"}\n', r"caps.jsonl:1: no 'text' field in this object; it has "
                       r"'Text': use --text-column Text$"),
        ("lines.csv", '{"id": "1", "text": "x"}\n{"id": "2", "text": "y"}\n',
         r"lines.csv:1: looks like JSON Lines, not CSV: name it .jsonl$"),
    ],
)  # fmt: skip
def test_bad_files_fail_with_line_and_change_nothing(  # type: ignore[no-untyped-def]
    project, tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    projects.import_file(project, project="p", path=_write(tmp_path, "seed.csv", "text\nkept\n"))
    before = _snapshot(project)
    with pytest.raises(InvalidInputError, match=message):
        projects.import_file(
            project, project="p", path=_write(tmp_path, name, content), require_label_column=False
        )
    assert _snapshot(project) == before


def test_explicit_label_column_must_exist(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, "a.csv", "text\nhello\n")
    with pytest.raises(InvalidInputError, match="no 'category' column"):
        projects.import_file(
            project, project="p", path=path, label_column="category", require_label_column=True
        )
    assert _snapshot(project) == (0, 0)


def test_explicit_id_column_must_exist_in_jsonl_too(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A JSON Lines file without the field an --id-column names is refused as a CSV without
    that column is, naming one in another case; a field that is null on some lines is not."""
    path = _write(tmp_path, "a.jsonl", '{"text": "hello", "Ticket": "T1"}\n{"text": "bye"}\n')
    with pytest.raises(
        InvalidInputError, match=r"a.jsonl: no 'ticket' field in any line; did you mean "
                                 r"--id-column Ticket\?$"
    ):  # fmt: skip
        projects.import_file(project, project="p", path=path, id_column="ticket",
                             require_id_column=True)  # fmt: skip
    assert _snapshot(project) == (0, 0)
    some = _write(
        tmp_path, "b.jsonl", '{"text": "hi", "ticket": null}\n{"text": "yo", "ticket": 7}\n'
    )
    report = projects.import_file(project, project="p", path=some, id_column="ticket",
                                  require_id_column=True)  # fmt: skip
    assert report.inserted == 2


def test_a_label_column_in_another_case_is_noted_and_imported_as_before(  # type: ignore[no-untyped-def]
    project, tmp_path: Path
) -> None:
    """Column names are matched exactly, as they always were: "Label" is kept as metadata and
    the report says which option reads it; an explicit one that is missing names it too."""
    path = _write(tmp_path, "a.csv", "text,Label\nhello,yes\n")
    report = projects.import_file(project, project="p", path=path)
    assert (report.inserted, report.annotations) == (1, 0)
    assert report.notes == (
        "no 'label' column, so no labels were read; 'Label' is kept as metadata: to import "
        "its labels, run the import again with --label-column Label",
    )
    with pytest.raises(InvalidInputError, match=r"did you mean --label-column Label\?$"):
        projects.import_file(project, project="p", path=path, require_label_column=True)
    jsonl = _write(tmp_path, "a.jsonl", '{"text": "hi", "Label": "yes"}\n')
    with pytest.raises(InvalidInputError, match=r"any line; did you mean --label-column Label\?$"):
        projects.import_file(project, project="p", path=jsonl, require_label_column=True)
    # a field that is there, null or blank on every line, is not said to be missing
    empty = _write(
        tmp_path, "e.jsonl", '{"text": "hi", "label": null}\n{"text": "yo", "label": ""}\n'
    )
    with pytest.raises(InvalidInputError, match=r"e.jsonl: no 'label' value in any line$"):
        projects.import_file(project, project="p", path=empty, require_label_column=True)
    # nothing to say: a label column as named, an empty one in another case, two candidates
    for name, content in (
        ("b.csv", "text,label,Label\nhi there,,yes\n"),
        ("c.csv", "text,Label\nhi again,\n"),
        ("d.csv", "text,Label,LABEL\nhi once more,yes,no\n"),
    ):
        assert (
            projects.import_file(project, project="p", path=_write(tmp_path, name, content)).notes
            == ()
        )


def test_postgres_planner_sees_the_imported_rows(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """After an import the planner's row counts are fresh (ANALYZE): with tables that look
    empty, PostgreSQL planned the per-click 'examples still free' count as a nested loop over
    every annotation (2 s per click at 1,000 examples in bench/slack_latency.py)."""
    import sqlalchemy as sa

    if project.db.dialect.name != "postgresql":
        pytest.skip("SQLite's planner does not use these statistics")
    rows = "".join(f"{i},text number {i},{'yes' if i % 2 else 'no'}\n" for i in range(300))
    path = _write(tmp_path, "b.csv", "id,text,label\n" + rows)
    projects.import_file(project, project="p", path=path)
    query = sa.text(
        "SELECT relname, reltuples FROM pg_class WHERE relname IN ('examples', 'annotations')"
        " AND relnamespace = current_schema()::regnamespace"
    )
    with project.db.connect() as conn:
        counts = dict(conn.execute(query).all())
    assert counts == {"examples": 300, "annotations": 300}
