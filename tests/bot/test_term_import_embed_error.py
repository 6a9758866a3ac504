"""An import whose embedding fails after its rows are committed (an encoder that cannot be
loaded) says, in its one error line, that the file's rows are stored and how to finish: said
alone, "encoder ... cannot be loaded" read as if nothing had been imported. The exit code stays
the error's own (6, configuration), and the re-run embeds what is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import get_settings
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.bot.test_cli_audit_fixes import _invoke, _ok, _one_line_error
from tests.helpers import labeled_csv


@pytest.mark.usefixtures("cli_env")
def test_an_encoder_that_cannot_load_says_the_rows_are_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ok("project", "create", "c", "--labels", "NDA,Lease")
    data = labeled_csv(tmp_path / "c.csv", [("keep it secret", "NDA"), ("pay the rent", "Lease")])
    monkeypatch.setenv("LABELBOT_ENCODER", str(tmp_path / "no-such-model"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    get_settings.cache_clear()
    result = _invoke("import", "c", str(data))
    _one_line_error(result, 6, "cannot be loaded")
    assert result.output.rstrip().endswith(
        "; the file's 2 new examples and 2 labels are stored, but 2 of the project's texts are "
        "not embedded yet; run the same import again to finish embedding (what is stored is "
        "skipped as already in the project)"
    ), result.output
    monkeypatch.delenv("LABELBOT_ENCODER")
    get_settings.cache_clear()
    assert _ok("import", "c", str(data)).startswith("imported 0 new examples; 2 already")
    assert "c: 2 examples, 2 labeled" in _ok("status", "c")
