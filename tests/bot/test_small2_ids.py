"""An example or proposal id past the database's integers, typed to `labelbot adjudicate`,
`labelbot flags resolve` or `labelbot proposals approve|reject`, is a missing id (exit 3, one
line), never an OverflowError traceback from SQLite, nor int()'s ValueError past 4,300 digits.
On SQLite and PostgreSQL, through typer's runner."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli_model_figures import cli_db  # noqa: F401  (the fixture)
from tests.helpers import labeled_csv

HUGE = "9" * 23  # past SQLite's 2**63 and PostgreSQL's INTEGER
ENORMOUS = "9" * 5000  # past int()'s 4,300 digits


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == code, result.output
    return " ".join(str(result.output).split())


def test_ids_past_the_databases_integers_are_missing(
    cli_db: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    _run("project", "create", "bank", "--labels", "a,b")
    rows = [("hello there", "a"), ("goodbye now", "")]
    _run("import", "bank", str(labeled_csv(tmp_path / "bank.csv", rows)))

    for typed in (HUGE, f"#{HUGE}", "2147483648", f"#{ENORMOUS}"):
        said = _run("adjudicate", "bank", typed, "a", code=3)
        assert said.startswith(f"error: no example {typed[:40]}") or said.startswith(
            f"error: no example '{typed[:40]}"
        ), said
        said = _run("flags", "resolve", "bank", typed, code=3)
        assert said.startswith(f"error: no example '{typed[:40]}"), said
    # an example's own number is still found (here: it has no flag)
    assert "has no open flag" in _run("flags", "resolve", "bank", "#1", code=3)

    # proposals: 0a63f63 took ids past the database's integers; one past int()'s digits too
    said = _run("proposals", "approve", "bank", ENORMOUS, code=3)
    assert said.startswith(f"error: no proposal {ENORMOUS} in project 'bank'"), said[:200]
    assert said.endswith("`labelbot proposals bank --status all` lists its proposals")
    said = _run("proposals", "reject", "nobank", f"#{ENORMOUS}", code=3)
    assert said.startswith("error: no project named 'nobank'"), said[:200]
