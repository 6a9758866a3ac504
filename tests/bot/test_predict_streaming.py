"""`labelbot predict` on a file of several chunks: answered a chunk at a time (never the whole
file's texts at once), every chunk by the model active when it began, written as the one-shot
answer was; a malformed row after the first chunk writes nothing, to --out or stdout. On SQLite
and PostgreSQL (the CLI runs on the fixture's workspace)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.cli import data as cli_data
from engine import exporting, predicting, taxonomy, training
from engine.workspace import Workspace
from storage.repositories import models as stored_models
from tests.engine.test_predict_one_model import NEW_TEXT, two_models  # noqa: F401  (fixture)
from tests.engine.test_taxonomy import seeded  # noqa: F401  (fixture)

CHUNK = 3  # texts per chunk here: an 8-row file is 3 chunks
NEW_TEXTS = [
    "how long until the card you sent me arrives?",
    "the cash machine swallowed my card",
    NEW_TEXT,
    "what rate do you use from dollars to euros?",
    "I forgot my PIN, how do I set a new one?",
]


class Calls:
    """The chunks the engine was asked: (model version, texts) per fresh prediction, and how
    many times the stored predictions were read (once per chunk)."""

    def __init__(self) -> None:
        self.fresh: list[tuple[int, int]] = []
        self.stored_reads = 0


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    seen = Calls()
    predict_with = training.predict_with
    get_predictions_for = stored_models.get_predictions_for

    def counting(
        ws: Workspace, name: str, run: Any, model: Any, texts: list[str], **kw: Any
    ) -> Any:
        seen.fresh.append((run.version, len(texts)))
        return predict_with(ws, name, run, model, texts, **kw)

    def reading(**kw: Any) -> Any:
        seen.stored_reads += 1
        return get_predictions_for(**kw)

    monkeypatch.setattr(training, "predict_with", counting)
    monkeypatch.setattr(stored_models, "get_predictions_for", reading)
    monkeypatch.setattr(predicting, "CHUNK", CHUNK)
    return seen


def _on(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI on ``ws``'s database."""
    monkeypatch.setattr(cli_data, "workspace", lambda: ws)


def _file(path: Path, texts: list[str]) -> Path:
    """A CSV of ``texts`` with ids (the fourth row without one)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "text"])
        writer.writerows([("" if i == 3 else f"T{i}", t) for i, t in enumerate(texts)])
    return path


def _one_shot(ws: Workspace, texts: list[str], fmt: str) -> str:
    """What predict wrote when it answered the whole file at once."""
    said = predicting.answer(ws, "bank", texts)
    rows = [
        {"id": None if i == 3 else f"T{i}", **p.to_dict()} for i, p in enumerate(said.predictions)
    ]
    buffer = io.StringIO()
    exporting.write_predictions(rows, buffer, fmt)
    return buffer.getvalue()


def _predict(*args: str) -> Result:
    return CliRunner().invoke(app, ["predict", "bank", *args])


def test_a_file_of_several_chunks_is_written_as_the_one_shot_answer(
    seeded: Any,  # noqa: F811
    calls: Calls,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, truth = seeded
    pool = list(truth)[:3]  # texts the project stores a prediction for: one in each chunk
    texts = [pool[0], *NEW_TEXTS[:2], pool[1], *NEW_TEXTS[2:4], pool[2], NEW_TEXTS[4]]
    path = _file(tmp_path / "texts.csv", texts)
    expected = {fmt: _one_shot(ws, texts, fmt) for fmt in ("jsonl", "csv")}
    _on(ws, monkeypatch)
    calls.fresh.clear()
    shown = _predict(str(path), "--format", "csv")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == expected["csv"]
    out = tmp_path / "predictions.jsonl"
    written = _predict(str(path), "--out", str(out))
    assert written.exit_code == 0, written.output
    assert out.read_text(encoding="utf-8") == expected["jsonl"]
    assert f"wrote 8 predictions to {out}" in " ".join(written.stderr.split())
    # a chunk at a time: never more than CHUNK texts embedded at once, pool texts not at all
    assert calls.fresh == [(1, 2), (1, 2), (1, 1)] * 2


def test_a_model_promoted_mid_file_answers_the_next_file(
    two_models: Any,  # noqa: F811
    calls: Calls,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, pool_text = two_models
    texts = [pool_text, *NEW_TEXTS[:2], NEW_TEXT, *NEW_TEXTS[3:], NEW_TEXTS[0]]
    by_v2 = _one_shot(ws, texts, "jsonl")
    training.activate_version(ws, "bank", 1)
    by_v1 = _one_shot(ws, texts, "jsonl")
    training.activate_version(ws, "bank", 2)
    # v1 answers the later chunks otherwise: a mixed answer would show
    assert by_v1.splitlines()[3:] != by_v2.splitlines()[3:]
    path = _file(tmp_path / "texts.csv", texts)
    out = tmp_path / "predictions.jsonl"

    # v1 is promoted as the second chunk starts, before it reads anything
    reading = stored_models.get_predictions_for
    read = 0

    def promoting(**kw: Any) -> Any:
        nonlocal read
        read += 1
        if read == 2:
            training.activate_version(ws, "bank", 1)
        return reading(**kw)

    monkeypatch.setattr(stored_models, "get_predictions_for", promoting)
    _on(ws, monkeypatch)
    calls.fresh.clear()
    result = _predict(str(path), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert read == 3  # one read per chunk: the promotion happened between chunks
    assert out.read_text(encoding="utf-8") == by_v2
    assert {version for version, _ in calls.fresh} == {2}
    # the next file: v1's, whole
    again = _predict(str(path), "--out", str(out))
    assert again.exit_code == 0, again.output
    assert out.read_text(encoding="utf-8") == by_v1


def test_a_malformed_row_after_the_first_chunk_writes_nothing(
    seeded: Any,  # noqa: F811
    calls: Calls,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, _ = seeded
    folder = tmp_path / "files"
    folder.mkdir()
    path = _file(folder / "texts.csv", [*NEW_TEXTS, *NEW_TEXTS[:2]])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("T7,   \n")  # line 9, in the third chunk: a text of spaces only
    _on(ws, monkeypatch)
    out = folder / "predictions.jsonl"
    out.write_text("KEEP\n", encoding="utf-8")
    for args in ([], ["--out", str(out)]):
        result = _predict(str(path), *args)
        assert result.exit_code == 2, result.output
        assert result.stderr == f"error: {path}:9: empty text\n"
        assert result.stdout == ""
    assert out.read_text(encoding="utf-8") == "KEEP\n"
    assert sorted(p.name for p in folder.iterdir()) == [
        "predictions.jsonl",
        "texts.csv",
    ]  # no temporary file
    assert calls.fresh == []  # found before anything was predicted


def test_notes_are_said_once_after_a_file_of_several_chunks(
    seeded: Any,  # noqa: F811
    calls: Calls,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, _ = seeded
    taxonomy.split_label(
        ws, project="bank", label="atm_support", into=["atm_find", "atm_fee"], actor="U0ADMIN"
    )
    path = _file(tmp_path / "texts.csv", [*NEW_TEXTS, *NEW_TEXTS[:3]])
    _on(ws, monkeypatch)
    out = tmp_path / "predictions.jsonl"
    result = _predict(str(path), "--out", str(out))
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert said.count("note: ") == 1, said
    assert "was split into atm_find, atm_fee since model v1" in said
    assert "(`labelbot train bank`)" in said
    assert said.index(f"wrote 8 predictions to {out}") < said.index("note: ")
    assert len(calls.fresh) == 3  # a chunk at a time
