"""What on-call reads of retrains and the scheduler: /metrics' retrain and job figures, one
WARNING a minute (not one a probe) from /healthz and /metrics while the database is down, and
a failed training's reason in `labelbot status` and `labelbot models`."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine import jobs
from storage.db import make_engine
from tests.bot.conftest import Bot
from tests.bot.test_metrics import scrape, value
from tests.helpers import labeled_csv


def test_retrain_and_job_figures_are_this_processs(bot: Bot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    activity = jobs.Activity(clock=lambda: 1700000000.0)
    monkeypatch.setattr(jobs, "ACTIVITY", activity)
    activity.retrained("bank", seconds=12.0, failed=True)
    activity.retrained("bank", seconds=0.5, failed=False)
    activity.job_started("retrain")
    activity.job_ended("retrain", ok=True)
    samples = scrape(bot)
    assert value(samples, "labelbot_retrain_failures_total", project="bank") == 1
    name = "labelbot_retrain_duration_seconds"
    assert value(samples, f"{name}_bucket", le="1") == 1
    assert value(samples, f"{name}_bucket", le="15") == 2
    assert value(samples, f"{name}_bucket", le="+Inf") == 2
    assert value(samples, f"{name}_count") == 2 and value(samples, f"{name}_sum") == 12.5
    job = "labelbot_scheduler_job_last_success_timestamp_seconds"
    assert value(samples, job, job="retrain") == 1700000000.0


def test_an_outage_is_one_warning_a_minute_then_reachable_again(  # type: ignore[no-untyped-def]
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.bot.test_metrics import AUTH

    with socket.socket() as closed:  # a port nobody listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with caplog.at_level(logging.INFO):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bot.ws, "db", make_engine(f"postgresql+psycopg://x@127.0.0.1:{port}/x"))
            for _ in range(5):
                assert bot.slack.http.get("/healthz").status_code == 503
                assert bot.slack.http.get("/metrics", headers=AUTH).status_code == 200
        assert bot.slack.http.get("/healthz").status_code == 200
        assert bot.slack.http.get("/metrics", headers=AUTH).status_code == 200
    said = [r.getMessage() for r in caplog.records if r.name in ("bot.api", "engine.scheduler")]
    assert [m.split(":")[0] for m in said] == ["health check", "metrics"] * 2, said
    assert said[0].startswith("health check: database unavailable: ")
    assert said[0].endswith("; said once a minute while it lasts")
    assert said[2:] == [
        "health check: database reachable again",
        "metrics: database reachable again",
    ]


def test_status_and_models_say_why_the_last_training_failed(  # type: ignore[no-untyped-def]
    tmp_path: Path, embedding_cache_dir: Path, banking_slice, monkeypatch
) -> None:
    from engine.config import get_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    monkeypatch.setenv("LABELBOT_MODELS_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        labels = sorted({lb for _, lb in banking_slice})[:3]
        rows = [(t, lb) for t, lb in banking_slice if lb in labels][:30]
        assert (
            runner.invoke(
                app, ["project", "create", "bank", "--labels", ",".join(labels)]
            ).exit_code
            == 0
        )
        assert (
            runner.invoke(
                app, ["import", "bank", str(labeled_csv(tmp_path / "b.csv", rows))]
            ).exit_code
            == 0
        )
        (tmp_path / "models").mkdir()
        (tmp_path / "models" / "bank").write_text("not a folder")  # where the model folder goes
        assert runner.invoke(app, ["train", "bank"]).exit_code != 0
        info = json.loads(runner.invoke(app, ["status", "bank", "--json"]).output)
        failure = info["last_failure"]
        assert failure["version"] == 1 and failure["error"].startswith("FileExistsError: ")
        text = runner.invoke(app, ["status", "bank"]).output
        line = f"training v1 failed at {failure['at']} ({failure['error']})"
        assert line in text.replace("\n", " ") or line in text
        assert "label a few examples per class" not in text
        listed = runner.invoke(app, ["models", "bank"], terminal_width=400).output
        assert line in listed
        # the REST API's status is the same report (one function), the failure too
        from engine import projects, workspace

        ws = workspace.Workspace.open(get_settings())
        try:
            assert projects.status_report(ws, "bank")["last_failure"] == failure
        finally:
            ws.close()
    finally:
        get_settings.cache_clear()
