"""LABELBOT_MODELS_DIR puts model files outside the data directory: training writes them there,
predictions read them there, `project delete` and the leftover tidying look there. The demo uses
it to keep each session's model files beside its own database (they used to pile up in the data
directory's models/banking77-demo/, ~60 MB per `make demo`)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.test_cli_audit_fixes import _invoke
from tests.bot.test_cli_project_delete import _project, env  # noqa: F401 (a fixture)
from tests.bot.test_cli_ux2 import tiny_demo_data


@pytest.fixture
def models_env(
    env: dict[str, str],  # noqa: F811 (the imported fixture)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """test_cli_project_delete's data dir of the test's own, and a models dir beside it."""
    from engine.config import get_settings

    monkeypatch.setenv("LABELBOT_MODELS_DIR", str(tmp_path / "models-volume"))
    get_settings.cache_clear()
    yield {**env, "LABELBOT_MODELS_DIR": str(tmp_path / "models-volume")}
    get_settings.cache_clear()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_model_files_go_to_the_models_dir_and_leave_with_the_project(
    models_env: dict[str, str], tmp_path: Path
) -> None:
    models = Path(models_env["LABELBOT_MODELS_DIR"])
    _project("trial", tmp_path)

    written = _files(models / "trial")
    assert [p.suffix for p in written] == [".npz"]
    assert not (Path(models_env["LABELBOT_DATA_DIR"]) / "models").exists()  # nothing there any more

    text = tmp_path / "new.csv"
    text.write_text("text\nthe tenant must pay the rent\n", encoding="utf-8")
    predicted = _invoke("predict", "trial", str(text))  # reads the model from there
    assert predicted.exit_code == 0, predicted.output
    assert "Lease" in predicted.output

    deleted = _invoke("project", "delete", "trial", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert f"and {models}" in deleted.output.replace("\n", "")
    assert _files(models / "trial") == []


def test_an_empty_models_dir_means_the_default(
    models_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.config import Settings

    monkeypatch.setenv("LABELBOT_MODELS_DIR", "")
    settings = Settings()
    assert settings.models_dir is None
    assert settings.models_root == Path(models_env["LABELBOT_DATA_DIR"]) / "models"


def test_leftovers_are_tidied_in_the_models_dir(tmp_path: Path) -> None:
    from engine.training import remove_leftovers

    models = tmp_path / "elsewhere"
    (models / "p").mkdir(parents=True)
    stale = models / "p" / ".v3-1a2b3c4d.npz.abcd1234.tmp"
    stale.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(stale, (old, old))

    removed = remove_leftovers(tmp_path / "data", models_dir=models)

    assert removed == [stale]
    assert not stale.exists()


def test_the_demo_keeps_its_model_files_beside_its_database(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import demo
    from engine.config import Settings

    train = [
        ("my card has not arrived", "card"), ("where is my new card", "card"),
        ("card still not delivered", "card"), ("how do I change my pin", "pin"),
        ("reset my pin please", "pin"), ("I forgot my pin code", "pin"),
    ]  # fmt: skip
    test = [("card not here yet", "card"), ("new pin needed", "pin")]

    tiny_demo_data(monkeypatch, train, test)
    session = tmp_path / "session"
    session.mkdir()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (embedding_cache_dir / "embeddings").mkdir(exist_ok=True)
    (data_dir / "embeddings").symlink_to(embedding_cache_dir / "embeddings")

    demo.run_demo(
        budget=4, batch=2, out_dir=tmp_path / "out",
        database_url=f"sqlite:///{session / 'demo.db'}", settings=Settings(data_dir=data_dir),
    )  # fmt: skip

    assert _files(session / "models" / "banking77-demo")  # the session's models, with its db
    assert not (data_dir / "models").exists()  # none left in the shared data directory
