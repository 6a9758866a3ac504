"""Imports of unusual files: what PostgreSQL would refuse, repeated texts, retired labels, two
imports at once. Every case fails with the file's line and stores nothing, or imports cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import exporting, projects, taxonomy
from storage.db import session_scope
from storage.errors import InvalidInputError
from storage.repositories import examples
from storage.repositories.examples import NewExample


@pytest.fixture
def project(ws):  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="p", labels=["yes", "no", "maybe"])
    return ws


def _write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8", "surrogatepass"))
    return path


def _snapshot(ws) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    status = projects.project_status(ws, "p")
    return status["examples"], status["annotations"]


def _labels(ws, project: str = "p") -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    return {r["text"]: r["label"] for r in exporting.export_records(ws, project)}


def test_own_jsonl_export_reimports_texts_with_line_separators(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The export leaves U+2028, U+2029 and U+0085 unescaped (valid JSON): the importer splits
    lines at "\\n" only, where str.splitlines() cut such a record in two."""
    texts = ["line one\u2028line two", "para one\u2029para two", "next\u0085line", "plain"]
    lines = [json.dumps({"text": t, "label": "yes"}) for t in texts]
    projects.import_file(project, project="p", path=_write(tmp_path, "in.jsonl", "\n".join(lines)))
    exported = exporting.export_text(project, "p", "jsonl")
    assert "\u2028" in exported  # written as is, not escaped
    projects.create_project(project, name="q", labels=["yes", "no"])
    again = _write(tmp_path, "out.jsonl", exported.replace("\n", "\r\n"))
    report = projects.import_file(project, project="q", path=again, require_label_column=True)
    assert (report.rows, report.inserted, report.annotations) == (4, 4, 4)
    assert _labels(project, "q") == dict.fromkeys(texts, "yes")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("nul.csv", "text,label\nok,yes\nnul\x00byte,no\n", r"nul.csv:3: text contains a NUL byte"),
        ("nulmeta.csv", "text,src\nok,a\nfine,b\x00\n", r"nulmeta.csv:3: 'src' contains a NUL"),
        ("nulkey.jsonl", '{"text": "ok", "a\\u0000": 1}\n', r"nulkey.jsonl:1: the field name"),
        ("nan.jsonl", '{"text": "ok"}\n{"text": "x", "score": NaN}\n', r":2: 'score' is NaN"),
        ("inf.jsonl", '{"text": "x", "score": -Infinity}\n', r"inf.jsonl:1: 'score' is -Infinity"),
        ("big.jsonl", '{"text": "x", "score": 1e999}\n', r"big.jsonl:1: 'score' is Infinity"),
        ("deep.jsonl", '{"text": "x", "m": {"a": [1, NaN]}}\n', r"deep.jsonl:1: 'm' is NaN"),
        ("id.csv", "text,id\nok,1\nlong," + "i" * 201 + "\n", r"id.csv:3: id of 201 characters"),
        (
            "sur.jsonl",
            '{"text": "lone \\ud800 surrogate"}\n',
            r"sur.jsonl:1: text is not valid Unicode",
        ),
        (
            "surl.jsonl",
            '{"text": "ok", "label": "\\udfff"}\n',
            r"surl.jsonl:1: 'label' is not valid",
        ),
    ],
)
def test_values_postgresql_refuses_fail_with_their_line(  # type: ignore[no-untyped-def]
    project, tmp_path: Path, name: str, content: str, message: str
) -> None:
    """SQLite stored these silently and PostgreSQL refused them with a traceback at INSERT
    time (a lone surrogate crashed both): now one clear error, on both, and nothing stored."""
    with pytest.raises(InvalidInputError, match=message):
        projects.import_file(project, project="p", path=_write(tmp_path, name, content))
    assert _snapshot(project) == (0, 0)


def test_an_id_as_long_as_its_column_is_kept(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, "id.csv", "text,id\nok," + "i" * 200 + "\n")
    assert projects.import_file(project, project="p", path=path).inserted == 1


def test_a_repeated_text_keeps_its_first_label_even_after_an_unlabeled_row(  # type: ignore[no-untyped-def]
    project, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "d.csv",
        "text,label\nsame thing,\nsame thing,yes\nother thing,no\nother  thing,no\nlast,\n",
    )
    report = projects.import_file(project, project="p", path=path)
    assert (report.rows, report.inserted, report.duplicates, report.annotations) == (5, 3, 2, 2)
    assert _labels(project) == {"same thing": "yes", "other thing": "no", "last": None}


def test_a_repeated_text_with_another_label_fails_naming_both_lines(  # type: ignore[no-untyped-def]
    project, tmp_path: Path
) -> None:
    """Keeping either label would silently drop the other: the file is refused instead."""
    path = _write(tmp_path, "d.csv", "text,label\nfirst,yes\nother thing,no\nother  thing,yes\n")
    with pytest.raises(InvalidInputError, match=r"d.csv:4: the same text as line 3 with another"):
        projects.import_file(project, project="p", path=path)
    assert _snapshot(project) == (0, 0)


def test_merged_label_is_stored_as_named_and_counts_as_its_target(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """As a Slack click on a stale button: a merged label's name is stored and counts as the
    label it was merged into (it used to fail with advice to add a label that exists)."""
    taxonomy.merge_labels(project, project="p", labels=["maybe", "yes"], into="yes", actor="a")
    taxonomy.rename_label(project, project="p", label="no", new_name="nope", actor="a")
    path = _write(
        tmp_path,
        "m.csv",
        "text,label\nfirst,maybe\nfirst,yes\nsecond,no\nthird,yes\n",  # "no" was renamed
    )
    report = projects.import_file(project, project="p", path=path)
    assert (report.inserted, report.annotations) == (3, 3)
    assert _labels(project) == {"first": "yes", "second": "nope", "third": "yes"}
    stored = {
        r["text"]: r["annotations"][0]["label"] for r in exporting.export_records(project, "p")
    }
    assert stored == {"first": "maybe", "second": "nope", "third": "yes"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("split", r"s.csv:3: the label 'maybe' was split into sure, unsure: pick one of those"),
        ("retire", r"s.csv:3: the label 'maybe' was retired; pick another \(yes, no\)"),
    ],
)
def test_label_that_counts_as_nothing_fails_with_what_to_pick(  # type: ignore[no-untyped-def]
    project, tmp_path: Path, change: str, message: str
) -> None:
    if change == "split":
        taxonomy.split_label(
            project, project="p", label="maybe", into=["sure", "unsure"], actor="a"
        )
    else:
        taxonomy.retire_label(project, project="p", label="maybe", actor="a")
    path = _write(tmp_path, "s.csv", "text,label\nfine,yes\nhm,maybe\n")
    with pytest.raises(InvalidInputError, match=message):
        projects.import_file(project, project="p", path=path)
    assert _snapshot(project) == (0, 0)


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ('text,label\ngood,yes\n"ok" trailing,yes\n', 3),  # the error is on line 3 itself
        ('text,label\ngood one,yes\ngood two,no\n"unterminated,yes\ngood three,no\n', 4),
        ('text,label\n"hello world,yes\nfoo,no\n', 2),  # not the header
        ('text,label\n"two\nlines",yes\n"x" y,no\n', 4),  # after a record over two lines
    ],
)
def test_csv_quoting_error_names_the_line_its_record_starts_on(  # type: ignore[no-untyped-def]
    project, tmp_path: Path, content: str, line: int
) -> None:
    with pytest.raises(InvalidInputError, match=rf"q.csv:{line}: malformed CSV"):
        projects.import_file(project, project="p", path=_write(tmp_path, "q.csv", content))


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("open.csv", 'text,label\ngood,yes\n"never closed,no\nmore,yes\n',
         'open.csv:3: malformed CSV: a quoted value starts in this row and is never closed: '
         'the file ends inside it (a stray quote (")?)'),
        ("after.csv", 'text,label\n"quoted" then more,yes\n',
         "after.csv:2: malformed CSV: text after the closing quote (\") of a value, where ',' or "
         'the line\'s end should be: write a quote inside a quoted value twice ("")'),
        ("semi.csv", 'text;label\n"quoted" then more;yes\n', "where ';' or the line's end"),
        ("tabs.tsv", 'text\tlabel\n"quoted" then more\tyes\n', "where a tab or the line's end"),
    ],
)  # fmt: skip
def test_a_broken_quote_is_said_in_words_and_stores_nothing(  # type: ignore[no-untyped-def]
    project, tmp_path: Path, name: str, content: str, said: str
) -> None:
    """Not csv.reader's own "unexpected end of data" or "',' expected after '"'"."""
    with pytest.raises(InvalidInputError) as caught:
        projects.import_file(project, project="p", path=_write(tmp_path, name, content))
    assert said in str(caught.value) and str(caught.value).startswith(str(tmp_path / name))
    assert _snapshot(project) == (0, 0)


def test_csv_rows_are_numbered_by_their_first_line(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    content = 'text,label\n\n"two\nlines",yes\n\n   ,no\n'
    with pytest.raises(InvalidInputError, match=r"e.csv:6: empty text"):
        projects.import_file(project, project="p", path=_write(tmp_path, "e.csv", content))


def _import_at_once(ws, schema, encoder, name: str, files: list[Path]) -> list[object]:  # type: ignore[no-untyped-def]
    """Import each file into project ``name`` from its own thread and workspace (as separate
    processes would), all starting together; the reports, or the errors raised."""
    import threading

    from engine.workspace import Workspace

    barrier = threading.Barrier(len(files))
    outcomes: list[object] = []

    def importer(path: Path) -> None:
        other = Workspace.open(ws.settings, schema=schema, encoder=encoder, migrate=False)
        barrier.wait()
        try:
            outcomes.append(projects.import_file(other, project=name, path=path, embed=False))
        except Exception as exc:  # reported by the caller's assertion
            outcomes.append(exc)
        finally:
            other.close()

    threads = [threading.Thread(target=importer, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


@pytest.mark.parametrize("order", ["same", "reversed"])
def test_two_imports_of_overlapping_files_at_once_both_succeed(  # type: ignore[no-untyped-def]
    project, db_url_and_schema, encoder, tmp_path: Path, order: str
) -> None:
    """Two imports at the same moment: on PostgreSQL the later one died with a unique
    violation on the examples' hash. Now both succeed; the texts are stored once and counted as
    duplicates by whichever import came second, and every label is stored. Files holding the
    same texts in opposite orders must not deadlock either."""
    _, schema = db_url_and_schema
    # 1,000 rows: enough for the reversed files to deadlock when imports do not take turns
    rows = [(f"text number {i}", "yes" if i % 3 else "no") for i in range(1000)]
    files = []
    for k in range(2):
        mine = rows if order == "same" or k == 0 else rows[::-1]
        body = "".join(f"{t},{lb}\n" for t, lb in mine)
        files.append(_write(tmp_path, f"f{k}.csv", "text,label\n" + body))
    for attempt in range(3):  # a race: a few tries
        name = f"c{attempt}"
        projects.create_project(project, name=name, labels=["yes", "no"])
        outcomes = _import_at_once(project, schema, encoder, name, files)
        reports = [o for o in outcomes if isinstance(o, projects.ImportReport)]
        assert len(reports) == 2, outcomes
        assert sorted(r.inserted for r in reports) == [0, 1000]
        assert sorted(r.duplicates for r in reports) == [0, 1000]
        assert sum(r.annotations for r in reports) == 1000
        assert _labels(project, name) == dict(rows)
        assert projects.project_status(project, name)["annotations"] == 1000


def test_add_examples_skips_texts_stored_since_it_read(project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A text another transaction committed between the read of the known hashes and the
    INSERT is skipped (ON CONFLICT DO NOTHING) and counted as a duplicate, not an error."""
    rows = [NewExample("already here"), NewExample("brand new"), NewExample("already  here")]
    with session_scope(project.db) as session:
        pid = projects.get_project(project, "p").id
        first = examples.add_examples(session=session, project_id=pid, rows=rows[:1])
    real = examples.existing_hashes
    calls: list[int] = []

    def stale_read(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return {} if len(calls) == 1 else real(**kwargs)  # the first read misses the row

    monkeypatch.setattr(examples, "existing_hashes", stale_read)
    with session_scope(project.db) as session:
        added = examples.add_examples(session=session, project_id=pid, rows=rows)
    assert (added.inserted, added.duplicates) == (1, 2)
    assert added.ids[0] == added.ids[2] == first.ids[0] != added.ids[1]
    assert _snapshot(project) == (2, 0)


def test_a_reimport_says_which_texts_it_moved_to_another_label(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A label for a stored text is a new vote, and the latest vote wins a tie: the report counts
    the texts that moved; the same label again is no new vote (imports are idempotent)."""
    first = "text,label\na,yes\nb,yes\nc,no\n"
    projects.import_file(project, project="p", path=_write(tmp_path, "one.csv", first))
    again = "text,label\na,no\nb,yes\nc,no\nd,maybe\n"
    report = projects.import_file(project, project="p", path=_write(tmp_path, "two.csv", again))
    assert (report.inserted, report.duplicates, report.annotations) == (1, 3, 2)
    assert report.relabeled == 1  # a: yes -> no; b and c unchanged; d is new
    assert _labels(project) == {"a": "no", "b": "yes", "c": "no", "d": "maybe"}


def test_the_report_tells_a_files_own_repeats_from_texts_stored_before(  # type: ignore[no-untyped-def]
    project, tmp_path: Path
) -> None:
    """``repeated`` counts the rows whose text an earlier row of the same file has (as the import
    compares texts: "b" and "b " are one), apart from the texts the project had already."""
    projects.import_file(project, project="p", path=_write(tmp_path, "one.csv", "text\na\n"))
    path = _write(tmp_path, "two.csv", "text\na\nb\nb \nc\na\nb\n")
    report = projects.import_file(project, project="p", path=path)
    assert (report.rows, report.inserted, report.duplicates, report.repeated) == (6, 2, 4, 3)


def test_ids_the_import_gives_to_more_than_one_example_are_reported(  # type: ignore[no-untyped-def]
    project, tmp_path: Path
) -> None:
    """Ids need not be unique (the import stands), but a command given a shared one must ask
    which example: the report names the new examples' ids that another example has too."""
    seed = _write(tmp_path, "s.csv", "id,text\ns1,stored one\ns2,stored two\n")
    assert projects.import_file(project, project="p", path=seed).shared_ids == ()
    rows = [
        ("x1", "first"),
        ("x1", "second"),  # another new text under the same id
        ("s1", "third"),  # an id a stored example has
        ("x2", "stored one"),  # a stored text: not stored again, nor its id
        ("", "fifth"),  # stored without an id: the first row of a text gives it...
        ("s2", "fifth"),  # ... so this s2 is not stored
        ("u1", "unique"),
    ]
    path = _write(tmp_path, "d.csv", "id,text\n" + "".join(f"{i},{t}\n" for i, t in rows))
    report = projects.import_file(project, project="p", path=path)
    assert (report.inserted, report.shared_ids) == (5, ("x1", "s1"))
    by_id = [r["id"] for r in exporting.export_records(project, "p")]
    assert by_id.count("x1") == 2 and by_id.count("s1") == 2 and "x2" not in by_id
    # the same file again stores nothing new: nothing to report, though x1 still names two
    assert projects.import_file(project, project="p", path=path).shared_ids == ()
    later = _write(tmp_path, "e.csv", "id,text\nu2,later\n")
    assert projects.import_file(project, project="p", path=later).shared_ids == ()


def test_rows_a_stray_quote_swallowed_are_pointed_out(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A quote opened in row 2 and closed in row 5 reads rows 3-5 into row 2's notes: a valid
    file, so the import goes through, and its report says where to look. A message that merely
    runs over lines is not taken for rows."""
    swallowed = (
        'text,label,notes\nrow a,yes,"customer said hi\nrow b,no,ok\nrow c,yes,ok\n'
        'row d,no,see above"\nrow e,yes,fine\n'
    )
    report = projects.import_file(project, project="p", path=_write(tmp_path, "s.csv", swallowed),
                                  embed=False)  # fmt: skip
    assert report.inserted == 2
    assert report.notes[0].startswith(
        "line 2: the 'notes' value runs to line 5 and holds 3 lines that look like rows"
    )
    prose = 'text,label,notes\nrow f,yes,"Dear team,\nI paid twice\nthanks, ann"\n'
    report = projects.import_file(project, project="p", path=_write(tmp_path, "m.csv", prose),
                                  embed=False)  # fmt: skip
    assert report.inserted == 1 and report.notes == ()


def test_a_runaway_metadata_value_fails_with_its_line(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A quote never closed in a metadata column would take the rest of a large file into one
    value: over the text's limit it fails, naming the line, and stores nothing."""
    body = "\n".join(f"row {i},yes,ok" for i in range(6_000))
    content = f'text,label,notes\nfirst,yes,"oops\n{body}"\n'
    before = _snapshot(project)
    with pytest.raises(InvalidInputError, match=r"r.csv:2: the 'notes' value of [\d,]+ characters"):
        projects.import_file(project, project="p", path=_write(tmp_path, "r.csv", content))
    assert _snapshot(project) == before
