"""`labelbot serve [--no-scheduler]` and `labelbot worker` with and without Slack settings."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import bot.scheduling  # bound before any test patches engine.scheduler
from bot.cli import app
from tests.bot.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.fakes.server import ServerThread

SLACK_VARS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL", "SLACK_APP_TOKEN")


@pytest.fixture
def env(tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from engine.config import get_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    monkeypatch.setenv("LABELBOT_OUTBOX_INTERVAL", "0")
    for name in SLACK_VARS:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _slack(monkeypatch: pytest.MonkeyPatch, api_url: str = "http://127.0.0.1:9/api/") -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", api_url)


class StoppedScheduler:
    """Stands in for the BlockingScheduler: Ctrl-C at once."""

    def start(self) -> None:
        raise KeyboardInterrupt

    def add_job(self, *args: Any, **kw: Any) -> None:  # bot_scheduler's proposal poster
        pass


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake_build(ws: Any, **kw: Any) -> StoppedScheduler:
        calls.append(kw)
        return StoppedScheduler()

    monkeypatch.setattr("engine.scheduler.build_scheduler", fake_build)
    monkeypatch.setattr(bot.scheduling, "build_scheduler", fake_build)
    return calls


def test_worker_without_slack_only_retrains(env, built, caplog) -> None:  # type: ignore[no-untyped-def]
    env.setenv("LABELBOT_SCHEDULER_POLL_SECONDS", "3")
    caplog.set_level(logging.INFO)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 0, result.output
    assert "every 3 s" in result.output and "worker stopped" in result.output
    assert "retraining only, no digests" in caplog.text
    (kw,) = built
    assert kw["poll_seconds"] == 3 and kw["blocking"] and "send_digest" not in kw


def test_worker_with_slack_sends_digests(env, built, caplog) -> None:  # type: ignore[no-untyped-def]
    _slack(env)
    caplog.set_level(logging.INFO)
    result = CliRunner().invoke(app, ["worker", "--poll-seconds", "0.5"])
    assert result.exit_code == 0, result.output
    assert "posting digests" in caplog.text
    (kw,) = built
    assert kw["poll_seconds"] == 0.5 and callable(kw["send_digest"]) and callable(kw["on_trained"])


@pytest.mark.parametrize("flag", [[], ["--no-scheduler"]])
def test_serve_runs_the_scheduler_with_the_server(env, caplog, flag: list[str]) -> None:  # type: ignore[no-untyped-def]
    _slack(env)
    caplog.set_level(logging.INFO)

    def fake_run(api: Any, **kw: Any) -> None:
        with ServerThread(api) as server:  # a real uvicorn: the app's start-up and shutdown
            assert httpx.get(f"{server.url}/healthz").status_code == 200

    env.setattr("uvicorn.run", fake_run)
    result = CliRunner().invoke(app, ["serve", *flag])
    assert result.exit_code == 0, result.output
    if flag:
        assert "scheduler off" in result.output and "scheduler started" not in caplog.text
    else:
        assert "scheduler on" in result.output
        assert "scheduler started" in caplog.text and "scheduler stopped" in caplog.text


def test_serve_without_slack_serves_the_rest_api_alone(env, caplog, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A team that only wants /api/* needs no Slack credentials (it used to set fake ones):
    with LABELBOT_API_TOKEN and neither Slack variable, serve answers the REST API, the Slack
    route says why it is off, and the scheduler retrains without posting anything."""
    env.chdir(tmp_path)  # no .env with Slack variables
    env.setenv("LABELBOT_API_TOKEN", "rest-token")
    caplog.set_level(logging.INFO)
    seen: dict[str, Any] = {}

    def fake_run(api: Any, **kw: Any) -> None:
        with ServerThread(api) as server:
            auth = {"Authorization": "Bearer rest-token"}
            seen["projects"] = httpx.get(f"{server.url}/api/projects", headers=auth)
            seen["anonymous"] = httpx.get(f"{server.url}/api/projects")
            seen["slack"] = httpx.post(f"{server.url}/slack/events", content=b"token=x")
            seen["health"] = httpx.get(f"{server.url}/healthz")

    env.setattr("uvicorn.run", fake_run)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert "serving the REST API alone" in " ".join(result.output.split())
    assert "(no digests)" in result.output and "scheduler started" in caplog.text
    assert "no digests) run in this process" in caplog.text  # the log agrees with the output
    assert "retraining and digests run" not in caplog.text
    assert seen["projects"].status_code == 200 and seen["projects"].json() == []
    assert seen["anonymous"].status_code == 401
    assert seen["slack"].status_code == 503
    body = seen["slack"].json()
    assert body["error"] == "ConfigurationError" and "without Slack" in body["detail"]
    assert seen["health"].json()["ok"] is True


def test_serve_without_slack_or_api_token_says_what_to_set(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env.chdir(tmp_path)
    env.delenv("LABELBOT_API_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 6
    said = " ".join(result.output.split())
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not set" in said
    assert "to serve the REST API alone, without Slack, set LABELBOT_API_TOKEN" in said
    # one Slack variable set means Slack was meant: the missing one is named, no REST-only
    env.setenv("LABELBOT_API_TOKEN", "rest-token")
    env.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    half = CliRunner().invoke(app, ["serve"])
    assert half.exit_code == 6 and "SLACK_SIGNING_SECRET is not set" in half.output


@pytest.fixture
def scheduler_logging():  # type: ignore[no-untyped-def]
    """Put APScheduler's loggers back as they were after the test."""
    loggers = [logging.getLogger(n) for n in ("apscheduler", "apscheduler.scheduler")]
    saved = [(lg, lg.level, list(lg.filters)) for lg in loggers]
    yield
    for lg, level, filters in saved:
        lg.setLevel(level)
        lg.filters[:] = filters


def _scheduler_records(caplog, level: str) -> list[logging.LogRecord]:  # type: ignore[no-untyped-def]
    """Run a real scheduler whose job outlasts its interval, logging as `serve --log-level
    level` does, until the job has run and a run of it was skipped: what APScheduler logged."""
    import threading

    from apscheduler.events import EVENT_JOB_MAX_INSTANCES
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.cli.logs import configure_logging

    configure_logging(level)
    caplog.clear()
    running, skipped, busy = threading.Event(), threading.Event(), threading.Event()

    def job() -> None:
        running.set()  # "Running job" is logged before the job is called
        busy.wait(30)

    # misfire_grace_time=None: a run that starts late on a loaded machine is not skipped with a
    # "was missed by" warning, which is not what this test is about
    defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    scheduler = BackgroundScheduler(job_defaults=defaults)
    scheduler.add_job(job, "interval", seconds=0.2, id="slow")
    # the skipped-run warning is logged before this event is dispatched
    scheduler.add_listener(lambda event: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    try:
        assert running.wait(30) and skipped.wait(30), "the job did not run, or no run was skipped"
    finally:
        busy.set()
        scheduler.shutdown(wait=True)
    return [r for r in caplog.records if r.name.startswith("apscheduler")]


def test_scheduler_job_runs_are_logged_only_at_debug(caplog, scheduler_logging) -> None:  # type: ignore[no-untyped-def]
    """APScheduler logged every job run at INFO and a run skipped while one is under way at
    WARNING: about a thousand lines an hour of a worker's log. Now: nothing at INFO; at DEBUG
    the runs, and the skipped run at DEBUG too (it is how max_instances=1 is meant to work)."""
    caplog.set_level(logging.DEBUG)
    assert _scheduler_records(caplog, "info") == []
    records = _scheduler_records(caplog, "debug")
    said = [(r.levelname, r.getMessage()) for r in records]
    assert any("Running job" in m for _, m in said), said
    skipped = [lv for lv, m in said if "maximum number of running instances" in m]
    assert skipped and set(skipped) == {"DEBUG"}, said


def test_worker_is_quiet_unless_verbose(env, built, scheduler_logging) -> None:  # type: ignore[no-untyped-def]
    assert CliRunner().invoke(app, ["worker"]).exit_code == 0
    assert logging.getLogger("apscheduler").level == logging.WARNING
    assert CliRunner().invoke(app, ["worker", "--verbose"]).exit_code == 0
    assert logging.getLogger("apscheduler").level == logging.NOTSET  # the root's: DEBUG


def test_a_run_that_lasts_is_said_once_when_its_next_runs_are_skipped(  # type: ignore[no-untyped-def]
    caplog, scheduler_logging, monkeypatch
) -> None:
    """A normal overlap stays at DEBUG, but once the run under way has lasted LONG_RUN_S its
    skipped run is one WARNING naming the job (a retrain hung on a lock: /healthz said ok and the
    log was silent); once per run, whatever the skips after it."""
    import threading
    import time

    from apscheduler.events import EVENT_JOB_MAX_INSTANCES
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.cli import logs
    from engine.scheduler import DatabaseWatch

    monkeypatch.setattr(logs, "LONG_RUN_S", 0.5)
    logs.configure_logging("info")
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    busy = threading.Event()
    skips: list[float] = []
    began = time.monotonic()
    defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    scheduler = BackgroundScheduler(job_defaults=defaults)
    scheduler.add_job(DatabaseWatch().guard("stuck", lambda: busy.wait(60)), "interval",
                      seconds=0.1, id="stuck")  # fmt: skip
    scheduler.add_listener(
        lambda e: skips.append(time.monotonic() - began), EVENT_JOB_MAX_INSTANCES
    )
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while not [s for s in skips if s > 1.5] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        busy.set()
        scheduler.shutdown(wait=True)
    assert [s for s in skips if s > 1.5], "no run was skipped past the long-run mark"
    warned = [r.getMessage() for r in caplog.records
              if r.name.startswith("apscheduler") and r.levelno == logging.WARNING]  # fmt: skip
    assert len(warned) == 1, warned
    assert "the scheduler's stuck job has been running for 0 min" in warned[0]
