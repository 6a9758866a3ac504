"""`/label models` writes each version's accuracy as `labelbot models` does
(evaluation.accuracy_figure: audit "75.0% (n=4)", CV "0.847", where Slack wrote "CV 84.7%"), and
marks every version trained before the latest taxonomy change as the CLI marks it ("before the
taxonomy change"), with the same note. The real Bolt app over signed HTTP and the real CLI
(click's CliRunner) on the same database, real training, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine import projects, taxonomy, training
from tests.bot.conftest import PROJECT, Bot, cli_environment
from tests.bot.test_mrkdwn_escaping import mrkdwn_texts
from tests.helpers import label_next

ADMIN = "U0ADMIN"
BEFORE = "before the taxonomy change"


@pytest.fixture
def cli(
    bot: Bot,
    db_url_and_schema: Any,
    embedding_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """`labelbot` on the bot's database (a PostgreSQL schema through search_path)."""
    from engine.config import get_settings

    url, schema = db_url_and_schema
    monkeypatch.setenv("COLUMNS", "250")  # one table row per version
    cli_environment(monkeypatch, url, embedding_cache_dir, schema=schema)
    yield
    get_settings.cache_clear()


def _cli_rows() -> dict[int, list[str]]:
    """`labelbot models bank`'s table: each version's cells (version, trained, labels, kind,
    CV acc, audit acc, status, marks), and the notes below it."""
    result = CliRunner().invoke(app, ["models", PROJECT])
    assert result.exit_code == 0, result.output
    rows = {}
    for line in str(result.output).splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and re.fullmatch(r"v\d+", cells[0]):
            rows[int(cells[0][1:])] = cells
    assert rows, result.output
    return rows


def _cli_notes() -> str:
    result = CliRunner().invoke(app, ["models", PROJECT])
    return " ".join(str(result.output).split())


def _slack_lines(bot: Bot) -> tuple[dict[int, str], str]:
    """`/label models bank` answered: each version's line, and the whole answer."""
    bot.slack.command(ADMIN, f"models {PROJECT}")
    bot.settle()
    answer = bot.api.calls("response_url")[-1].params
    texts = list(mrkdwn_texts(answer))
    lines = {
        int(m.group(1)): line
        for text in texts
        for line in text.split("\n")
        if (m := re.match(r"`v(\d+)`", line))
    }
    return lines, "\n".join(texts)


def _agree(bot: Bot) -> dict[int, str]:
    """Slack's line of each version carries the CLI's figures and its taxonomy mark."""
    cli, (slack, _) = _cli_rows(), _slack_lines(bot)
    assert sorted(cli) == sorted(slack)
    for version, cells in cli.items():
        cv, audit, marks = cells[4], cells[5], cells[7]
        line = slack[version]
        assert f" · audit {audit} · CV {cv}" in line, (line, cells)
        assert (BEFORE in line) == (BEFORE in marks), (line, cells)
        assert "%" not in line.split(" · CV ")[1]  # the CV figure a fraction, as the CLI's
    return slack


def test_models_figures_and_taxonomy_marks_agree_with_labelbot_models(
    bot: Bot, bank: dict[str, str], cli: None
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, audit_share=0.5, admins=[ADMIN])
    label_next(bot.ws, bank, 40, project=PROJECT, source="slack")
    training.train_project(bot.ws, PROJECT)
    label_next(bot.ws, bank, 20, project=PROJECT, source="slack")
    training.train_project(bot.ws, PROJECT)
    slack = _agree(bot)
    for version in (1, 2):
        assert re.search(r" · audit \d{1,3}\.\d% \(n=\d+\) · CV \d\.\d{3}", slack[version])
    assert BEFORE not in _slack_lines(bot)[1]  # no taxonomy change yet

    taxonomy.rename_label(bot.ws, project=PROJECT, label="change_pin", new_name="pin_change",
                          actor=ADMIN)  # fmt: skip
    slack = _agree(bot)
    assert BEFORE in slack[1] and BEFORE in slack[2]  # the active one and the one it replaced
    whole = _slack_lines(bot)[1]
    note = (
        "trained before the latest taxonomy change, so its accuracy measured the labels as they "
        "were then"
    )
    assert note in whole and note in _cli_notes()

    label_next(bot.ws, bank, 10, project=PROJECT, source="slack")
    training.train_project(bot.ws, PROJECT)
    slack = _agree(bot)
    assert BEFORE in slack[1] and BEFORE in slack[2] and BEFORE not in slack[3]
