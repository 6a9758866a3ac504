"""The encoder's model is loaded only when a text is missing from the embedding cache (an audit:
every `labelbot labels rename|merge|split|retire|describe` took 18-26 s and ~640 MB at 8,000
examples, and an import of known rows 33 s, loading MiniLM only to read its name and size).

A workspace's encoder knows its name (the cache's) from the configuration and its size from the
cache; the model is built at its first ``encode``. Whether it was built is read from
``encoders._load_encoder``, the one function that builds a model (every ``get_encoder`` calls
it): its calls are counted, nothing is replaced. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from engine import encoders, exporting, projects, taxonomy, training
from engine.encoders import Encoder, LazyEncoder, get_encoder
from engine.workspace import Workspace

LABELS = ["card_arrival", "age_limit", "atm_support", "change_pin", "exchange_rate"]
UNSEEN = "lost_card"  # a label with no example: the queue searches for it by its name


def _model_loads() -> int:
    """Calls of the function that builds (or hands back the built) model, so far."""
    info = encoders._load_encoder.cache_info()
    return info.hits + info.misses


def _new_name(stem: str) -> str:
    """A label name (or description) whose text is in no embedding cache yet."""
    return f"{stem}_{uuid.uuid4().hex[:12]}"


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def _labeled(banking_slice: list[tuple[str, str]], per_class: int = 6) -> list[tuple[str, str]]:
    """The slice with the first ``per_class`` texts of each label labeled, the rest not."""
    seen: dict[str, int] = {}
    rows = []
    for text, label in banking_slice:
        seen[label] = seen.get(label, 0) + 1
        rows.append((text, label if seen[label] <= per_class else ""))
    return rows


@pytest.mark.parametrize(
    "config",
    [{}, {"device": "cpu", "precision": "fp32"}, {"device": "cpu", "precision": "int8"}],
    ids=["default", "fp32", "int8"],
)
def test_the_name_worked_out_lazily_is_the_loaded_encoders(config: dict[str, str]) -> None:
    if config.get("precision") == "int8":
        pytest.importorskip("onnxruntime")
    lazy = LazyEncoder(**config)
    assert not lazy.loaded
    loaded = get_encoder(**config)
    assert lazy.name == loaded.name  # else the embedding cache would split in two
    assert lazy.load() is loaded and lazy.name == loaded.name and lazy.dim == loaded.dim


def test_a_model_directory_gets_the_same_name_lazily() -> None:
    path = str(encoders.MODELS["all-MiniLM-L6-v2"]())
    lazy = LazyEncoder(path, device="cpu", precision="fp32")
    assert lazy.name == get_encoder(path, device="cpu", precision="fp32").name
    assert lazy.name.startswith("model-")


def test_the_default_device_is_the_one_pytorch_picks() -> None:
    torch = pytest.importorskip("torch")
    assert encoders._default_device() == ("cuda" if torch.cuda.is_available() else "cpu")


def test_naming_the_encoder_imports_no_model_library(tmp_path: Path) -> None:
    """A fresh process: the encoder's name costs no PyTorch (unless a GPU could be there, where
    PyTorch picks the device as before), transformers, ONNX or ONNX Runtime import."""
    script = """
import sys
from engine.encoders import LazyEncoder, _gpu_possible
name = LazyEncoder().name
heavy = [m for m in ("transformers", "onnx", "onnxruntime") if m in sys.modules]
if not _gpu_possible() and "torch" in sys.modules:
    heavy.append("torch")
print(name, heavy)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"{get_encoder().name} []"


@pytest.fixture
def known(ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path) -> Path:
    """Project "bank" (the five intents and UNSEEN, with no example), the slice imported with
    6 labels per intent, and a model: every text, label names included, is in the cache."""
    projects.create_project(ws, name="bank", labels=[*LABELS, UNSEEN])
    path = _csv(tmp_path / "bank.csv", _labeled(banking_slice))
    projects.import_file(ws, project="bank", path=path)
    training.train_project(ws, "bank")
    training.rescore_project(ws, "bank")
    return path


def test_taxonomy_changes_rescores_and_imports_of_cached_texts_build_no_model(
    ws: Workspace, known: Path
) -> None:
    lazy = Workspace(settings=ws.settings, db=ws.db)  # its own encoder, from the settings
    renamed = _new_name("minimum_age")  # names no test has embedded (the cache is the session's)
    before = _model_loads()

    taxonomy.rename_label(lazy, project="bank", label="age_limit", new_name=renamed,
                          actor="a")  # fmt: skip
    taxonomy.describe_label(lazy, project="bank", label="atm_support",
                            description=_new_name("cash machines"), actor="a")  # fmt: skip
    cards = _new_name("cards")
    taxonomy.merge_labels(lazy, project="bank", labels=["card_arrival", "change_pin"],
                          into=cards, actor="a")  # fmt: skip
    taxonomy.retire_label(lazy, project="bank", label="exchange_rate", map_to=cards, actor="a")
    again = projects.import_file(lazy, project="bank", path=known)
    assert again.inserted == 0  # all known
    assert training.rescore_project(lazy, "bank") > 0

    assert _model_loads() == before and not lazy.encoder.loaded  # type: ignore[attr-defined]
    predicted = {r["prediction"]["label"] for r in exporting.export_records(lazy, "bank")
                 if r["prediction"]}  # fmt: skip
    assert renamed in predicted and "age_limit" not in predicted  # the queue was re-scored

    # the label with no example is searched by its name: renamed, that name is a new text
    taxonomy.rename_label(lazy, project="bank", label=UNSEEN, new_name=_new_name("lost"),
                          actor="a")  # fmt: skip
    assert _model_loads() == before + 1 and lazy.encoder.loaded  # type: ignore[attr-defined]


def test_a_text_missing_from_the_cache_builds_the_model_once(
    ws: Workspace, encoder: Encoder
) -> None:
    lazy = Workspace(settings=ws.settings, db=ws.db)
    text = f"where is the card I ordered, ref {uuid.uuid4().hex}"
    before = _model_loads()

    got = lazy.embed([text])

    assert _model_loads() == before + 1 and lazy.encoder.loaded  # type: ignore[attr-defined]
    assert lazy.encoder.name == encoder.name
    # as the loaded encoder gives it, after the cache's float16 round trip
    expected = encoder.encode([text]).astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(Workspace(settings=ws.settings, db=ws.db).embed([text]), got)


# --- The commands of the audit, through the CLI ----------------------------------------------


@pytest.fixture
def cli_env(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    from engine.config import get_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _ok(runner: CliRunner, *args: str) -> str:
    from bot.cli import app

    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_taxonomy_changes_and_known_imports_build_no_model(
    cli_env: Any, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    runner = CliRunner()
    path = _csv(tmp_path / "bank.csv", _labeled(banking_slice))
    _ok(runner, "project", "create", "bank", "--labels", ",".join([*LABELS, UNSEEN]))
    _ok(runner, "import", "bank", str(path))  # embeds what the cache lacks
    _ok(runner, "train", "bank")
    before = _model_loads()

    renamed, cards = _new_name("minimum_age"), _new_name("cards")
    assert "renamed" in _ok(runner, "labels", "rename", "bank", "age_limit", renamed)
    _ok(runner, "labels", "describe", "bank", "atm_support", _new_name("cash machines"))
    _ok(runner, "labels", "merge", "bank", "card_arrival", "change_pin", "--into", cards)
    _ok(runner, "labels", "retire", "bank", "exchange_rate", "--map-to", cards)
    _ok(runner, "import", "bank", str(path))

    assert _model_loads() == before
