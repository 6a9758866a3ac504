"""An import re-run after one stopped while embedding stores nothing new and finishes the
embedding; stopped again, it said "the file's 0 new examples and 0 labels are stored"."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.helpers import labeled_csv as _csv


@pytest.mark.usefixtures("cli_env")
def test_an_import_rerun_stopped_while_embedding_says_nothing_new_was_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said "the file's 0 new examples and 0 labels are stored, but …"."""
    from engine import training

    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "a,b"]).exit_code == 0
    data = _csv(tmp_path / "p.csv", [("hello there", "a"), ("goodbye now", ""), ("a third", "")])

    def interrupt(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # as if Ctrl-C came during the embedding

    said = []
    with monkeypatch.context() as m:
        m.setattr(training, "load_pool", interrupt)
        for _ in range(2):
            stopped = runner.invoke(app, ["import", "p", str(data)])
            assert stopped.exit_code == 130, stopped.output
            assert len(stopped.output.strip().splitlines()) == 1, stopped.output
            said.append(" ".join(stopped.output.split()))
    assert said[0].startswith(
        "interrupted while embedding: the file's 3 new examples and 1 label are stored, but "
    ), said[0]
    assert said[1].startswith("interrupted while embedding: nothing new was stored"), said[1]
    assert "run the same import again to finish embedding" in said[1]
    assert "0 new examples" not in said[1] and "0 labels" not in said[1]
    finished = runner.invoke(app, ["import", "p", str(data)])
    assert finished.exit_code == 0, finished.output
    assert "imported 0 new examples; 3 already in the project" in finished.output


@pytest.mark.usefixtures("cli_env")
def test_an_interrupted_import_counts_the_texts_left_to_embed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said only "not every text is embedded yet": the count is of the project's texts the
    embedding cache lacks, not of the file's rows, nor of the project's examples."""
    from engine import training

    tag = uuid.uuid4().hex  # texts no other test embedded into the session's shared cache
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "q", "--labels", "a,b"]).exit_code == 0
    first = _csv(tmp_path / "one.csv", [(f"first {tag} {i}", "") for i in range(3)])
    assert runner.invoke(app, ["import", "q", str(first)]).exit_code == 0  # embedded
    second = _csv(tmp_path / "two.csv", [(f"second {tag} {i}", "a") for i in range(2)])

    def interrupt(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(training, "load_pool", interrupt)
        stopped = runner.invoke(app, ["import", "q", str(second)])
        again = runner.invoke(app, ["import", "q", str(second)])
    said = " ".join(stopped.output.split())
    assert stopped.exit_code == 130, stopped.output
    assert said.startswith(
        "interrupted while embedding: the file's 2 new examples and 2 labels are stored, but 2 "
        "of the project's texts are not embedded yet; run the same import again"
    ), said
    said = " ".join(again.output.split())
    assert said.startswith(
        "interrupted while embedding: nothing new was stored (the file's texts are all in the "
        "project already) and 2 of the project's texts are still to be embedded; run the same "
        "import again to finish embedding"
    ), said
    finished = runner.invoke(app, ["import", "q", str(second)])
    assert finished.exit_code == 0, finished.output

    with monkeypatch.context() as m:  # everything embedded: nothing is left to do
        m.setattr(training, "load_pool", interrupt)
        stopped = runner.invoke(app, ["import", "q", str(second)])
    said = " ".join(stopped.output.split())
    assert said == (
        "interrupted while embedding: nothing new was stored (the file's texts are all in the "
        "project already); every text of the project is embedded, so nothing is left to do"
    ), said
