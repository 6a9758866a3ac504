"""What a first-time user's audit found in the engine: an Excel workbook or a PDF imported was
refused with a hint about UTF-16 (its NUL bytes), and a spreadsheet's name was answered with
only two of the five file types the importer reads; models and pool graphs were written 0600
whatever the umask; the demo kept its pool graph where the user's project 1 keeps its own."""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.classifier import load_model, train_model
from engine.config import Settings
from engine.importing import read_file
from engine.pool_graph import graph_path, pool_graph
from storage.errors import InvalidInputError
from tests.bot.test_cli_ux2 import tiny_demo_data

SAVE_AS = "save it as CSV UTF-8 (in Excel: File → Save As → CSV UTF-8 (Comma delimited))"


def _xlsx_like(path: Path) -> Path:
    """A minimal workbook as Excel lays one out: a ZIP of XML parts under xl/."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        archive.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet><sheetData/></worksheet>")
    path.write_bytes(buffer.getvalue())
    return path


def _refused(path: Path) -> str:
    with pytest.raises(InvalidInputError) as caught:
        read_file(path)
    return str(caught.value)


@pytest.mark.parametrize("name", ["tickets.xlsx", "tickets.csv"])
def test_an_excel_workbook_is_named_with_how_to_save_it_as_csv(tmp_path: Path, name: str) -> None:
    """Its name does not matter: the opening bytes say what it is."""
    path = _xlsx_like(tmp_path / name)
    said = _refused(path)
    assert said.startswith(f"{path}: an Excel workbook (.xlsx), not a text file; {SAVE_AS}")
    assert "UTF-16" not in said and "NUL" not in said


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00" + b"\x00" * 30 + b"mimetypeapplication/vnd.oasis."
         b"opendocument.spreadsheet", "an OpenDocument spreadsheet (.ods)"),
        (b"PK\x03\x04\x14\x00\x00\x00" + b"\x00" * 30 + b"word/document.xml",
         "a Word document (.docx)"),
        (b"PK\x03\x04\x14\x00\x00\x00" + b"\x00" * 30 + b"other.bin", "a ZIP archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64,
         "an old Excel (.xls) or Word (.doc) file"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\x00\n", "a PDF"),
    ],
    ids=["ods", "docx", "zip", "xls", "pdf"],
)  # fmt: skip
def test_other_binary_files_say_what_they_are(tmp_path: Path, content: bytes, kind: str) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    said = _refused(path)
    assert said.startswith(f"{path}: {kind}"), said
    assert SAVE_AS in said and "UTF-16" not in said


def test_utf16_without_a_byte_order_mark_keeps_its_hint(tmp_path: Path) -> None:
    path = tmp_path / "nobom.csv"
    path.write_bytes("text,label\nhello,yes\n".encode("utf-16-le"))
    assert "UTF-16 or UTF-32 without a byte order mark" in _refused(path)


def test_an_unknown_suffix_lists_every_one_the_importer_reads(tmp_path: Path) -> None:
    path = tmp_path / "tickets.dat"
    path.write_text("text\nhello\n")
    assert _refused(path) == (
        f"{path}: unknown file type '.dat': use .csv, .tsv, .txt, .jsonl or .ndjson"
    )
    # each of them is read
    for suffix in (".csv", ".tsv", ".txt"):
        (tmp_path / f"t{suffix}").write_text("text\nhello\n")
        assert [r.text for r in read_file(tmp_path / f"t{suffix}").records] == ["hello"]
    for suffix in (".jsonl", ".ndjson"):
        (tmp_path / f"t{suffix}").write_text('{"text": "hello"}\n')
        assert [r.text for r in read_file(tmp_path / f"t{suffix}").records] == ["hello"]


def test_a_spreadsheet_name_on_a_text_file_says_how_to_save_it(tmp_path: Path) -> None:
    path = tmp_path / "plain.xls"
    path.write_text("text\nhello\n")
    said = _refused(path)
    assert re.match(re.escape(f"{path}: unknown file type '.xls': use .csv, "), said)
    assert SAVE_AS in said


# --- files replicas share get the umask's mode ---------------------------------------------------


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process's umask for a test, the one it had put back after."""
    before = os.umask(0o022)

    def set_umask(mask: int) -> None:
        os.umask(mask)

    yield set_umask
    os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_a_saved_model_has_the_mode_the_umask_gives(
    tmp_path: Path, umask: Callable[[int], None], mask: int, mode: int
) -> None:
    """It was 0600 whatever the umask: a service user could not read a model an admin trained
    in the models folder every replica mounts."""
    umask(mask)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 8)).astype(np.float32)
    model = train_model(X, np.arange(40) % 2, n_classes=2, kind="linear")
    path = tmp_path / "models" / "v1.npz"
    model.save(path)
    assert _mode(path) == mode
    assert load_model(path).n_classes == 2
    export = tmp_path / "export.csv"  # as an export (a plain open) is made
    export.write_text("x")
    assert _mode(export) == mode


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_a_saved_pool_graph_has_the_mode_the_umask_gives(
    tmp_path: Path, umask: Callable[[int], None], mask: int, mode: int
) -> None:
    umask(mask)
    X = np.random.default_rng(1).normal(size=(300, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    path = graph_path(tmp_path, encoder="enc", project_id=1)
    pool_graph(X, path=path)
    assert _mode(path) == mode
    assert [p.name for p in path.parent.iterdir()] == ["project-1.npz"]


# --- the demo keeps its pool graphs in its own folder --------------------------------------------


def test_pool_graphs_stay_in_the_data_directory_by_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.graphs_root == tmp_path / "data" / "graphs"
    assert graph_path(
        settings.data_dir, encoder="enc", project_id=1, graphs_dir=settings.graphs_root
    ) == graph_path(settings.data_dir, encoder="enc", project_id=1)
    moved = settings.with_graphs_dir(tmp_path / "session" / "graphs")
    assert moved.graphs_root == tmp_path / "session" / "graphs"
    assert settings.graphs_root == tmp_path / "data" / "graphs"  # the original is as it was
    assert moved.data_dir == settings.data_dir


def test_the_demo_keeps_its_pool_graphs_beside_its_database(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's project is id 1 in its own database, as a user's first project is in theirs:
    both kept their graph in the data directory's graphs/<encoder>/project-1.npz, and each
    training rebuilt the other's."""
    from engine import demo

    intents = {
        "card": ["my card has not arrived", "where is my new card", "card still not delivered",
                 "the card never came", "still waiting for my card", "card delivery is late"],
        "pin": ["how do I change my pin", "reset my pin please", "I forgot my pin code",
                "pin locked after three tries", "new pin for my card", "change the pin number"],
    }  # fmt: skip
    train = [(t, lb) for lb, texts in intents.items() for t in texts]
    tiny_demo_data(monkeypatch, train, [("card not here yet", "card"), ("new pin", "pin")])
    session = tmp_path / "session"
    session.mkdir()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (embedding_cache_dir / "embeddings").mkdir(exist_ok=True)
    (data_dir / "embeddings").symlink_to(embedding_cache_dir / "embeddings")

    demo.run_demo(
        budget=6, batch=2, out_dir=tmp_path / "out",
        database_url=f"sqlite:///{session / 'demo.db'}", settings=Settings(data_dir=data_dir),
    )  # fmt: skip

    assert [p.name for p in (session / "graphs").rglob("*.npz")] == ["project-1.npz"]
    assert not (data_dir / "graphs").exists()
