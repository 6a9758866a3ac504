"""`labelbot demo --seed N`: every random draw of the session (the queue's cold start, ties and
exploration, the audit picks, training, the random baseline) comes from the seed, so two runs with
the same seed print the same numbers and label the same examples in the same order. A plain
`labelbot demo` uses seed 0: two plain runs agree too. (Before, the audit picks were drawn
unseeded: each run labeled other examples and printed other numbers.)"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.bot.test_cli_audit_fixes import temp_dir  # noqa: F401  (the fixture)
from tests.bot.test_cli_ux2 import tiny_demo_data

# 30 labels in batches of 10: three retrains, and three audit picks (10% of deliveries) among
# 120 queries, so an unseeded draw would label other examples
DEMO = ["demo", "--budget", "30", "--batch", "10"]


def _run(*extra: str) -> tuple[list[str], dict[str, Any]]:
    """The demo's printed lines (the seconds column and the database's path aside) and what its
    kept database holds: the examples labeled in order, by whom, the audit picks, the seed."""
    result = CliRunner().invoke(app, [*DEMO, *extra])
    assert result.exit_code == 0, result.output
    lines: list[str] = []
    database = None
    for line in result.stdout.splitlines():
        if line.startswith("the session's database: "):
            database = line.split()[3]  # sqlite:////…/demo.db
            continue
        words = line.split()
        if words and words[0].isdigit():
            words = words[:-1]  # a table row: its last column is seconds the batch took
        lines.append(" ".join(words))
    assert database is not None, result.stdout
    with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
        stored = {
            "labeled": conn.execute(
                "SELECT example_id, annotator, label_id FROM annotations ORDER BY id"
            ).fetchall(),
            "audit": conn.execute("SELECT id FROM examples WHERE audit ORDER BY id").fetchall(),
            "settings": json.loads(conn.execute("SELECT settings FROM projects").fetchone()[0]),
        }
    return lines, stored


def _rows(lines: list[str]) -> list[str]:
    return [line for line in lines if line[:1].isdigit()]


@pytest.fixture
def tiny_banking(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, banking_slice: list[tuple[str, str]]
) -> None:
    """Five Banking77 intents: 120 queries to label, 30 to test on; run where the chart may go."""
    tiny_demo_data(monkeypatch, banking_slice[:120], banking_slice[120:])
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("cli_env", "temp_dir", "tiny_banking")
def test_two_plain_demo_runs_print_the_same_curve() -> None:
    first, first_db = _run()
    second, second_db = _run()
    assert len(_rows(first)) == 3, first  # 10, 20 and 30 labels
    assert "seed 0 (`--seed`: the same seed prints the same numbers)" in " ".join(first)
    assert second == first
    assert len(first_db["labeled"]) == 30 and len(first_db["audit"]) == 3, first_db
    assert second_db["labeled"] == first_db["labeled"]
    assert second_db["audit"] == first_db["audit"]


@pytest.mark.usefixtures("cli_env", "temp_dir", "tiny_banking")
def test_the_same_seed_repeats_a_run() -> None:
    first, first_db = _run("--seed", "5")
    second, second_db = _run("--seed", "5")
    assert "seed 5 (`--seed`" in " ".join(first)
    assert first_db["settings"]["seed"] == 5  # the queue's draws read the project's seed
    assert len(_rows(first)) == 3, first
    assert second == first
    assert second_db["labeled"] == first_db["labeled"]
    assert second_db["audit"] == first_db["audit"]


def test_the_demo_help_tells_of_the_seed() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "--seed" in said and "[default: 0]" in said, said
    assert "the same seed prints the same curve (at least 0)" in said, said
    assert "two runs with the same seed print the same numbers" in said, said
