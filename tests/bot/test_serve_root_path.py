"""`labelbot serve --root-path`: behind a proxy that serves the app under a path prefix and
strips it, uvicorn is told the prefix, and the app's own URLs carry it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from bot.cli import app
from tests.fakes.server import ServerThread

TOKEN = "rest-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def rest_only(tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """`serve`'s environment for the REST API alone (no Slack variables, no .env)."""
    from engine.config import get_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    monkeypatch.setenv("LABELBOT_OUTBOX_INTERVAL", "0")
    monkeypatch.setenv("LABELBOT_API_TOKEN", TOKEN)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def serve(env: pytest.MonkeyPatch, *args: str) -> dict[str, Any]:
    """Run `labelbot serve ARGS` with uvicorn.run replaced: what uvicorn was given, and the
    app's answers when a real uvicorn serves it with that configuration."""
    seen: dict[str, Any] = {}

    def fake_run(api: Any, **kw: Any) -> None:
        seen["config"] = uvicorn.Config(api, **kw)  # arguments uvicorn accepts
        server = ServerThread(api)
        server.server.config.root_path = seen["config"].root_path
        with server, httpx.Client(base_url=server.url, headers=AUTH) as http:
            # the proxy has stripped the prefix: the request reaches uvicorn without it
            seen["schema"] = http.get("/openapi.json").json()
            seen["projects"] = http.get("/api/projects")
            seen["anonymous"] = http.get("/api/projects", headers={"Authorization": ""})

    env.setattr("uvicorn.run", fake_run)
    result = CliRunner().invoke(app, ["serve", "--no-scheduler", *args])
    assert result.exit_code == 0, result.output
    return seen


def test_serve_passes_its_root_path_to_uvicorn(rest_only: pytest.MonkeyPatch) -> None:
    seen = serve(rest_only, "--root-path", "/labelbot")
    assert seen["config"].root_path == "/labelbot"
    assert seen["schema"]["servers"] == [{"url": "/labelbot"}]
    assert seen["projects"].status_code == 200 and seen["projects"].json() == []
    assert seen["anonymous"].status_code == 401  # the prefix does not open the API


def test_serve_without_a_root_path_serves_at_the_root(rest_only: pytest.MonkeyPatch) -> None:
    seen = serve(rest_only)
    assert seen["config"].root_path == ""
    assert "servers" not in seen["schema"]
    assert seen["projects"].status_code == 200
