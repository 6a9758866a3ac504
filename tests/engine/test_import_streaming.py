"""An import streams its file: decoded and checked a block at a time (importing.FileRows), stored
a chunk of rows at a time (projects.IMPORT_CHUNK) in one transaction, embedded a chunk at a
time (projects.EMBED_CHUNK). The chunk sizes are lowered here so that a small file spans many
chunks: what an import stores and reports must not depend on where the chunks fall."""

from __future__ import annotations

import codecs
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from engine import importing, projects, taxonomy
from engine.importing import read_file
from storage.db import session_scope
from storage.errors import InvalidInputError
from storage.hashing import content_hash
from storage.repositories import examples, feedback


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _stored(ws: Any, project: str) -> tuple[list[tuple[str | None, str]], list[tuple[str, str]]]:
    """The project's examples (external id, text) and live votes (text, label), in order."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.projects.get_project(session=session, name=project)
        rows = examples.list_examples(session=session, project_id=found.id)
        text = {e.id: e.text for e in rows}
        votes = feedback.list_annotations(session=session, project_id=found.id)
        return (
            [(e.external_id, e.text) for e in rows],
            [(text[v.example_id], v.label) for v in votes],
        )


@pytest.fixture
def chunks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Chunks of 3 rows; the sizes of the chunks add_examples was given, in order."""
    monkeypatch.setattr(projects, "IMPORT_CHUNK", 3)
    sizes: list[int] = []
    add = examples.add_examples

    def counted(**kwargs: Any) -> Any:
        sizes.append(len(kwargs["rows"]))
        return add(**kwargs)

    monkeypatch.setattr(examples, "add_examples", counted)
    return sizes


# One file for many chunks: a text repeated unlabeled, then labeled, then labeled again in
# chunks further on; ids shared by two new texts, and by a new and a stored one.
ROWS = [
    ("a1", "alpha", ""),
    ("a2", "bravo", "yes"),
    ("s1", "charlie", "no"),
    ("a4", "alpha", "no"),  # chunk 2: alpha's first label
    ("a5", "delta", ""),
    ("dup", "echo", "yes"),
    ("dup", "foxtrot", ""),  # chunk 3: a second new example with id "dup"
    ("a8", "alpha", "no"),  # the same label again: no second vote
    ("a9", "bravo", ""),
    ("old", "golf", "yes"),  # chunk 4: id "old" is a stored example's too
    ("a11", "  alpha ", "no"),  # the same text (stripped)
]


def _many_chunks_file(tmp_path: Path) -> Path:
    body = "".join(f"{i},{t},{lb}\n" for i, t, lb in ROWS)
    return _write(tmp_path, "many.csv", "id,text,label\n" + body)


def _prepare(ws: Any, name: str, tmp_path: Path) -> None:
    projects.create_project(ws, name=name, labels=["yes", "no"])
    before = _write(tmp_path, f"{name}-before.csv", "id,text,label\nold,hotel,no\n")
    projects.import_file(ws, project=name, path=before, embed=False)


def test_a_file_of_many_chunks_reports_and_stores_as_one_chunk(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, chunks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _many_chunks_file(tmp_path)
    _prepare(ws, "small", tmp_path)
    _prepare(ws, "whole", tmp_path)
    chunks.clear()
    small = projects.import_file(ws, project="small", path=path, embed=False)
    assert chunks == [3, 3, 3, 2]  # stored a chunk at a time
    monkeypatch.setattr(projects, "IMPORT_CHUNK", 1_000)
    whole = projects.import_file(ws, project="whole", path=path, embed=False)
    assert small == whole
    assert dataclasses.astuple(small) == (
        11,  # rows
        7,  # inserted: alpha bravo charlie delta echo foxtrot golf
        4,  # duplicates: alpha twice more, bravo, "  alpha "
        5,  # annotations: bravo charlie alpha echo golf
        0,  # embedded
        0,  # relabeled
        4,  # repeated
        (),
        ("dup", "old"),
        {},  # left_alone: no label of the file for a text labeled before
    )
    assert _stored(ws, "small") == _stored(ws, "whole")
    stored, votes = _stored(ws, "small")
    assert [t for _, t in stored] == [
        "hotel", "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"
    ]  # fmt: skip
    assert ("a1", "alpha") in stored  # a text's first row's id
    assert votes == [
        ("hotel", "no"), ("bravo", "yes"), ("charlie", "no"), ("alpha", "no"), ("echo", "yes"),
        ("golf", "yes"),
    ]  # fmt: skip
    again = projects.import_file(ws, project="small", path=path, embed=False)
    assert (again.inserted, again.annotations, again.repeated, again.shared_ids) == (0, 0, 4, ())


def test_a_conflicting_label_chunks_later_stores_nothing(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, chunks: list[int]
) -> None:
    projects.create_project(ws, name="p", labels=["yes", "no"])
    rows = [f"filler {i},yes\n" for i in range(7)]
    path = _write(
        tmp_path,
        "conflict.csv",
        "text,label\nsame,yes\n" + "".join(rows) + "same,no\nlast,yes\n",
    )
    with pytest.raises(InvalidInputError) as caught:
        projects.import_file(ws, project="p", path=path, embed=False)
    assert str(caught.value) == (
        f"{path}:10: the same text as line 2 with another label ('no' here, 'yes' there); "
        "give each text one label"
    )
    assert chunks == [3, 3, 3]  # three chunks were stored before the row of line 10...
    assert _stored(ws, "p") == ([], [])  # ... and rolled back with it


def test_a_label_counting_the_same_chunks_later_keeps_the_first(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, chunks: list[int]
) -> None:
    projects.create_project(ws, name="p", labels=["yes", "no", "maybe"])
    taxonomy.merge_labels(
        ws, project="p", labels=["maybe", "yes"], into="yes", actor="U1", rescore=False
    )
    fill = "".join(f"filler {i},\n" for i in range(5))
    path = _write(tmp_path, "m.csv", "text,label\nsame,\n" + fill + "same,maybe\n" + fill.replace(
        "filler", "more") + "same,yes\n")  # fmt: skip
    report = projects.import_file(ws, project="p", path=path, embed=False)
    assert (report.rows, report.inserted, report.repeated, report.annotations) == (13, 11, 2, 1)
    assert _stored(ws, "p")[1] == [("same", "maybe")]  # the first labeled row's label


def test_a_bad_row_chunks_later_stores_nothing_and_no_chunk_is_written(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, chunks: list[int]
) -> None:
    """A malformed row or an unknown label anywhere fails before the first chunk is stored."""
    projects.create_project(ws, name="p", labels=["yes", "no"])
    rows = "".join(f"row {i},yes\n" for i in range(10))
    for content, said in (
        ("text,label\n" + rows + "bad,yes,extra\n", "12: more values than the header"),
        ("text,label\n" + rows + "odd,nope\n", "12: unknown label 'nope'"),
    ):
        path = _write(tmp_path, "bad.csv", content)
        with pytest.raises(InvalidInputError, match=re.escape(f"{path}:{said}")):
            projects.import_file(ws, project="p", path=path, embed=False)
    assert chunks == []
    assert _stored(ws, "p") == ([], [])


def test_embedding_goes_a_chunk_at_a_time_and_covers_every_text(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    projects.create_project(ws, name="p", labels=["yes", "no"])
    monkeypatch.setattr(projects, "EMBED_CHUNK", 2)
    texts = ["streamed one", "streamed two", "streamed one", "streamed three", "streamed four"]
    path = _write(tmp_path, "e.csv", "text\n" + "".join(f"{t}\n" for t in texts))
    calls: list[int] = []
    embed = ws.embed

    def counted(batch: Any, **kwargs: Any) -> Any:
        calls.append(len(batch))
        return embed(batch, **kwargs)

    monkeypatch.setattr(ws, "embed", counted)
    report = projects.import_file(ws, project="p", path=path)
    assert report.embedded == 5
    assert calls == [2, 2]  # the four distinct texts, two at a time
    found, _ = ws.cache.lookup([content_hash(t) for t in texts])
    assert found.all()


# --- decoding a block at a time --------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7])
@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bom.csv", codecs.BOM_UTF8 * 2 + '\r\n\r\ntext,label\r\ncafé ☕,yes\r\n"a\r\nb",no\r\n'
         .encode()),
        ("mac.csv", b"text,label\rone,yes\rtwo,no\r"),
        ("u16.txt", codecs.BOM_UTF16_LE + "text\tlabel\n日本語\tyes\nzwei\tno".encode("utf-16-le")),
        ("u32.csv", codecs.BOM_UTF32_BE + "text,label\n𝔘nicode,yes\nb,no".encode("utf-32-be")),
        ("u.jsonl", '{"text": "a\u2028b", "label": "yes"}\r\n\n{"text": "ü", "x": 1}'.encode()),
    ],
)  # fmt: skip
def test_rows_do_not_depend_on_where_blocks_cut_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: bytes, block: int
) -> None:
    path = _write(tmp_path, name, content)
    whole = read_file(path)
    monkeypatch.setattr(importing, "READ_BYTES", block)
    assert read_file(path) == whole
    assert len(whole.records) == 2


@pytest.mark.parametrize("block", [1, 4, 1 << 20])
def test_a_broken_character_is_placed_in_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Its line and byte, counted in the file, not in the block being decoded; after a byte
    order mark, the byte itself (was the one three bytes before it, on the line before)."""
    monkeypatch.setattr(importing, "READ_BYTES", block)
    path = _write(tmp_path, "b.csv", codecs.BOM_UTF8 + b"text\nfine\nab\xffc\n")
    with pytest.raises(InvalidInputError) as caught:
        read_file(path)
    assert str(caught.value) == (f"{path}:3: not valid UTF-8 (byte 0xff); save the file as UTF-8")
    wide = _write(
        tmp_path, "w.csv", codecs.BOM_UTF16_LE + "text\nok\n".encode("utf-16-le") + b"\x00\xdc!\x00"
    )
    with pytest.raises(InvalidInputError) as caught:
        read_file(wide)
    assert str(caught.value) == (
        f"{wide}: not valid UTF-16 (a broken character at byte 18); save the file as UTF-8"
    )
