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
