"""`labelbot status`, `labelbot project list` and `labelbot models` write a model's accuracy
alike (evaluation.accuracy_figure): `models` wrote the audit estimate "0.750 (n=4)" where the
others wrote "75.0%"; and `models` marks every version trained before the latest taxonomy change,
not only none of them. Through the real CLI, encoder and training, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.conftest import cli_environment
from tests.conftest import BANKING_SLICE_LABELS
from tests.helpers import label_next, labeled_csv

BEFORE = "before the taxonomy change"


@pytest.fixture
def cli_db(db_url_and_schema: Any, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The CLI on a fresh database: SQLite, or a PostgreSQL schema (search_path in the URL)."""
    from engine.config import get_settings

    url, schema = db_url_and_schema
    monkeypatch.setenv("COLUMNS", "220")  # one table row per version
    cli_environment(monkeypatch, url, embedding_cache_dir, schema=schema)
    yield
    get_settings.cache_clear()


def _ok(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return " ".join(str(result.output).split())


def _import(path: Path, rows: list[tuple[str, str]], name: str) -> None:
    _ok("import", name, str(labeled_csv(path, rows)))


def _audited_project(name: str, rows: list[tuple[str, str]], tmp_path: Path) -> None:
    """A project whose 40 labels came through the queue, half of them drawn as audit labels."""
    from bot.cli.common import workspace

    _ok("project", "create", name, "--labels", ",".join(BANKING_SLICE_LABELS))
    _ok("project", "set", name, "--audit-share", "0.5")
    _import(tmp_path / f"{name}.csv", [(text, "") for text, _ in rows], name)
    ws = workspace()
    try:
        label_next(ws, dict(rows), 40, annotators=("ana",), project=name)
    finally:
        ws.close()


def _version_row(models: str, version: int) -> str:
    """The table row of ``version`` in `labelbot models`' output (whitespace collapsed)."""
    found = re.search(rf"│ v{version} │(.*?)│ (?=v\d+ │|└)", models) or re.search(
        rf"│ v{version} │(.*?)└", models
    )
    assert found is not None, models
    return found.group(1)


def test_status_project_list_and_models_print_the_same_figure(
    cli_db: None, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    # an audit estimate: the headline of status and project list, the audit column of models
    _audited_project("audited", banking_slice, tmp_path)
    _ok("train", "audited")
    head = json.loads(_ok("status", "audited", "--json"))["model"]["estimate"]["headline"]
    assert head["source"] == "audit" and head["n"] > 0  # the JSON's fields as they were

    status = _ok("status", "audited")
    said = re.search(r"model v1 \(\w+\): accuracy (\S+) \(90% interval \S+ on (\d+) audit", status)
    assert said is not None, status
    figure, n = said.group(1), int(said.group(2))
    assert re.fullmatch(r"\d{1,3}\.\d%", figure) and n == head["n"]
    assert figure == f"{head['accuracy']:.1%}"
    listed = _ok("project", "list")
    models = _ok("models", "audited")
    assert f"v1 audit {figure} (n={n})" in listed, listed
    assert f" {figure} (n={n}) " in _version_row(models, 1), models
    cv = re.search(r"also cross-validated accuracy (\d\.\d{3}),", status)
    assert cv is not None, status
    assert f" {cv.group(1)} " in _version_row(models, 1), models
    assert f"{head['accuracy']:.3f} (n=" not in models  # the audit estimate as a fraction

    # no audit labels: the cross-validated figure heads status and project list
    _ok("project", "create", "imported", "--labels", ",".join(BANKING_SLICE_LABELS))
    _import(tmp_path / "imported.csv", banking_slice[:50], "imported")
    _ok("train", "imported")
    status = _ok("status", "imported")
    cv = re.search(r"model v1 \(\w+\): cross-validated accuracy (\d\.\d{3}),", status)
    assert cv is not None, status
    assert f"v1 CV {cv.group(1)}" in _ok("project", "list")
    row = _version_row(_ok("models", "imported"), 1)
    assert f" {cv.group(1)} │ - │" in row, row


def test_models_marks_every_version_trained_before_the_latest_taxonomy_change(
    cli_db: None, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    _ok("project", "create", "bank", "--labels", ",".join(BANKING_SLICE_LABELS))
    _import(tmp_path / "bank.csv", banking_slice[:50], "bank")
    _ok("train", "bank")
    _ok("train", "bank")
    models = _ok("models", "bank")
    assert BEFORE not in models  # no change yet

    old, new = BANKING_SLICE_LABELS[0], "card_delivery"
    _ok("labels", "rename", "bank", old, new)
    models = _ok("models", "bank")
    for version in (1, 2):  # the active one and the one it replaced alike
        assert BEFORE in _version_row(models, version), models
    assert f"{BEFORE}: trained before the latest taxonomy change" in models

    _ok("train", "bank")
    models = _ok("models", "bank")
    assert BEFORE in _version_row(models, 1) and BEFORE in _version_row(models, 2), models
    assert BEFORE not in _version_row(models, 3), models
    assert f"{BEFORE}: trained before the latest taxonomy change" in models
    # status and project list agree on the active version: v3 knows today's labels
    info = json.loads(_ok("status", "bank", "--json"))
    assert info["model"]["version"] == 3 and info["model"]["before_taxonomy_change"] is False
    assert BEFORE not in _ok("project", "list")
