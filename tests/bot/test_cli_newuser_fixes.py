"""What a first-time user's audit found in the CLI, each checked through `labelbot` itself."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.bot.test_operator_mistakes import env, serve  # noqa: F401  (env: the fixture)
from tests.fakes.slack_api import FakeSlackAPI


def test_importing_an_excel_workbook_says_what_it_is(tmp_path: Path, cli_env) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A support lead's first try is an Excel export: it was refused as UTF-16 without a BOM."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    path = tmp_path / "tickets.xlsx"
    path.write_bytes(buffer.getvalue())
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "yes,no"]).exit_code == 0
    result = runner.invoke(app, ["import", "p", str(path)])
    assert result.exit_code == 2, result.output
    assert "an Excel workbook (.xlsx), not a text file" in result.output
    assert "File → Save As → CSV UTF-8 (Comma delimited)" in result.output
    assert "UTF-16" not in result.output


@pytest.mark.parametrize("suffix", [".xlsx", ".xls", ".ods", ".XLSX"])
def test_a_spreadsheet_name_for_an_export_or_prediction_is_refused(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    cli_env,  # noqa: F811
    suffix: str,
) -> None:
    """`export --out x.xlsx` wrote JSON Lines under that name, exit 0 (Excel cannot open it)."""
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "yes,no"]).exit_code == 0
    data = tmp_path / "in.csv"
    data.write_text("text,label\nhello there,yes\ngoodbye now,no\n", encoding="utf-8")
    assert runner.invoke(app, ["import", "p", str(data)]).exit_code == 0
    out = tmp_path / f"x{suffix}"
    for extra in ([], ["--format", "csv"], ["--format", "jsonl"]):
        result = runner.invoke(app, ["export", "p", "--out", str(out), *extra])
        assert result.exit_code == 2, result.output
        said = " ".join(result.output.split())
        assert f"{out}: labelbot writes CSV or JSON Lines, not a spreadsheet's own format" in said
        assert "write --out x.csv --spreadsheet-safe and open that in Excel" in said
        assert not out.exists()
    result = runner.invoke(app, ["predict", "p", str(data), "--out", str(out)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "write --out x.csv --spreadsheet-safe and open that in Excel" in said  # as export
    assert not out.exists()
    # the CSV it points at is written
    csv_out = tmp_path / "x.csv"
    ok = runner.invoke(app, ["export", "p", "--out", str(csv_out), "--spreadsheet-safe"])
    assert ok.exit_code == 0, ok.output
    assert csv_out.read_text(encoding="utf-8-sig").startswith("id,text,label")


def test_a_scheduler_poll_under_a_tenth_of_a_second_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LABELBOT_SCHEDULER_POLL_SECONDS=0.01 was accepted (the scheduler polled 100 times a
    second) while `worker --poll-seconds 0.01` was refused. Every command reads the settings
    first (`project list` here: `worker` and `serve` would run on without the check)."""
    from engine.config import get_settings

    monkeypatch.chdir(tmp_path)  # no .env of the checkout's
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LABELBOT_API_TOKEN", "t")  # serve's REST-only mode: no Slack needed
    monkeypatch.setenv("LABELBOT_SCHEDULER_POLL_SECONDS", "0.01")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["project", "list"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 6, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: LABELBOT_SCHEDULER_POLL_SECONDS: "), line
    assert "greater than or equal to 0.1" in line and "(got '0.01')" in line
    assert not (tmp_path / "cli.db").exists()  # refused before anything was opened


def test_the_settings_shortest_poll_is_the_workers() -> None:
    from engine.config import Settings

    assert Settings(scheduler_poll_seconds=0.1).scheduler_poll_seconds == 0.1
    with pytest.raises(ValidationError, match="greater than or equal to 0.1"):
        Settings(scheduler_poll_seconds=0.09)
    refused = CliRunner().invoke(app, ["worker", "--poll-seconds", "0.09"])
    assert refused.exit_code == 2 and "at least 0.1" in refused.output, refused.output


def test_flags_resolve_of_an_unknown_example_points_at_the_flags_listing(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    cli_env,  # noqa: F811
) -> None:
    """It said "or the #number `labelbot disagreements` shows" (adjudicate's listing)."""
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "tickets", "--labels", "a,b"]).exit_code == 0
    data = tmp_path / "in.csv"
    data.write_text("text\nhello there\n", encoding="utf-8")
    assert runner.invoke(app, ["import", "tickets", str(data)]).exit_code == 0
    result = runner.invoke(app, ["flags", "resolve", "tickets", "T9999"])
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    assert "or the #number `labelbot flags tickets` shows" in said, said
    assert "disagreements" not in said
    # adjudicate's numbers still come from `labelbot disagreements`
    result = runner.invoke(app, ["adjudicate", "tickets", "T9999", "a"])
    assert result.exit_code == 3, result.output
    assert "or the #number `labelbot disagreements` shows" in " ".join(result.output.split())


def test_slack_out_of_reach_at_serve_start_is_one_line(  # type: ignore[no-untyped-def]
    env,  # noqa: F811
    slack_api: FakeSlackAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """slack_sdk logged "ERROR slack_sdk.web.base_client: Failed to send a request to Slack API
    server: ..." before labelbot's own warning (README promises one line)."""
    caplog.set_level(logging.DEBUG)
    url = slack_api.api_url
    slack_api.stop()
    env.setenv("SLACK_API_URL", url)
    result, _ = serve(env)
    assert result.exit_code == 0, result.output
    assert f"warning: Slack's Web API at {url} did not answer" in result.output
    failed = [r for r in caplog.records if "Failed to send a request" in r.getMessage()]
    assert failed == []
    # muted only around the check: slack_sdk's logger is as it was
    client_logger = logging.getLogger("slack_sdk.web.base_client")
    assert client_logger.filters == []
    client_logger.error("Failed to send a request to Slack API server: later")
    assert caplog.records[-1].getMessage().endswith(": later")
