"""`labelbot serve` refusing at start in one line (exit 6, a configuration error), as README's
"Set up in Slack" says it does: an address it cannot listen on (uvicorn's own exit 3 is labelbot's
"not found"), and Socket Mode with Slack out of reach (slack_sdk's ERROR line for each try came
first). Real uvicorn, real sockets; Slack's Web API is a closed loopback port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.config import get_settings
from tests.bot.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.bot.test_slack_web_api_down import closed_port

SLACK_VARS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL", "SLACK_APP_TOKEN")


@pytest.fixture
def env(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    monkeypatch.setenv("LABELBOT_OUTBOX_INTERVAL", "0")
    for name in SLACK_VARS:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_a_port_in_use_is_one_line_naming_it_and_exit_6(env: pytest.MonkeyPatch) -> None:
    env.setenv("LABELBOT_API_TOKEN", "a-rest-token-of-thirty-two-chars")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port), "--no-scheduler"])
    assert result.exit_code == 6, result.output  # uvicorn's own was 3, labelbot's "not found"
    assert f"error: cannot listen on 127.0.0.1 port {port} (Address already in use)" in (
        result.output
    )
    assert "choose another --port" in result.output
    assert "stopped:" not in result.output and "Traceback" not in result.output


def test_a_host_not_of_this_machine_is_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("LABELBOT_API_TOKEN", "a-rest-token-of-thirty-two-chars")
    # TEST-NET-1 (RFC 5737): documentation only, never an address of this machine
    result = CliRunner().invoke(app, ["serve", "--host", "192.0.2.1", "--no-scheduler"])
    assert result.exit_code == 6, result.output
    assert "cannot listen on 192.0.2.1 port 3000" in result.output
    assert "--host must be an address of this machine" in result.output


def test_socket_mode_with_slack_out_of_reach_is_refused_in_one_line(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    env.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    env.setenv("SLACK_APP_TOKEN", "xapp-1-A111-1-socket")
    env.setenv("SLACK_API_URL", f"http://127.0.0.1:{closed_port()}/api/")
    result = CliRunner().invoke(app, ["serve", "--port", "0", "--no-scheduler"])
    assert result.exit_code == 6, result.output
    assert "error: could not connect to Slack in Socket Mode" in result.output
    # slack_sdk's own lines for each of its tries (an ERROR each) said it three times before
    said = [r.getMessage() for r in caplog.records if r.name.startswith("slack_sdk")]
    assert said == []
