"""`labelbot review` and the review DM as an expert meets them: why there is nothing to review
(no scan yet, not one's own, all answered) and what a verdict did to the example's label (it
stands, it is the label now, or it is one vote that did not carry)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli_reviews import LABELS, _import


@pytest.fixture
def cli_env(tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from engine.config import get_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _ok(runner: CliRunner, *args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich wraps long lines: compare words


def test_review_says_why_there_is_nothing_to_review(cli_env, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", ",".join(LABELS))
    rows = list(banking_slice)
    flipped = rows[0][0]
    rows[0] = (flipped, "exchange_rate")  # a card_arrival question, mislabeled by ana
    _import(tmp_path / "ana.csv", rows, "ana")

    # no model, no scan: not "thank you", as if every label had been checked
    out = _ok(runner, "review", "bank", "--annotator", "ben")
    assert "nothing to review: no model yet, and the labels were never scanned" in out
    assert "`labelbot review bank --scan` scans them now" in out
    _ok(runner, "train", "bank")
    out = _ok(runner, "review", "bank", "--annotator", "ben")
    assert "nothing to review: the labels were not scanned since model v1" in out
    assert "the worker scans them after each retrain" in out

    # scanned: ana is not offered her own label
    out = _ok(runner, "review", "bank", "--annotator", "ana", "--scan", input="q\n")
    assert "1 likely mislabel," in out
    assert "nothing to review: 1 open review, none of them ana's to answer" in out

    # ben changes it (ana's label alone: his vote carries), then nothing is left
    _ok(runner, "review", "bank", "--annotator", "ben", input="c\nq\n")
    out = _ok(runner, "review", "bank", "--annotator", "cy")
    assert "nothing to review: every review is answered or withdrawn (1 changed)" in out
