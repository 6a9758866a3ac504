"""`labelbot digest --post` edges found by an audit of the README's Digests section, run as a
person runs them (typer's runner; Slack is the local fake server): each was a traceback or an
option ignored without a word, and nothing is marked sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot.test_cfgaudit_config import _one_line, _run
from tests.fakes.slack_api import FakeSlackAPI


@pytest.fixture
def slack_env(cli_env: None, slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_API_URL", slack_api.api_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "test-signing-secret")
    assert _run("project", "create", "p", "--labels", "a,b", "--channel", "C0DIGEST")[0] == 0


def _last_digest() -> object:
    from bot.cli.common import workspace
    from engine import projects

    ws = workspace()
    try:
        return projects.get_project(ws, "p").settings.get("last_digest_at")
    finally:
        ws.close()


def test_post_with_out_is_refused_before_anything_is_posted(
    slack_env: None, slack_api: FakeSlackAPI, tmp_path: Path
) -> None:
    """--out was ignored without a word with --post: no chart was written where it was asked."""
    chart = tmp_path / "chart.png"
    code, output = _run("digest", "p", "--post", "--out", str(chart))
    _one_line(code, output, 2)
    assert "--out does not go with --post" in output
    assert not chart.exists() and not slack_api.calls("chat.postMessage")
    assert _last_digest() is None


def test_post_when_slack_refuses_the_token_is_one_line(
    slack_env: None, slack_api: FakeSlackAPI
) -> None:
    """A refused token was a SlackApiError traceback; nothing is marked sent."""
    slack_api.fail_next("chat.postMessage", error="invalid_auth")
    code, output = _run("digest", "p", "--post")
    assert code == 6, output
    assert "Traceback" not in output
    assert "error: Slack refused SLACK_BOT_TOKEN (invalid_auth)" in output
    assert "nothing was posted" in output
    assert _last_digest() is None


def test_post_when_slack_is_rate_limiting_is_one_line(
    slack_env: None, slack_api: FakeSlackAPI
) -> None:
    slack_api.fail_next("chat.postMessage", status=429, retry_after=0, times=5)
    code, output = _run("digest", "p", "--post")
    assert code == 4, output
    assert "Traceback" not in output
    assert "error: Slack did not take the digest of p (HTTP 429" in output
    assert "try again in a while" in output
    assert _last_digest() is None


def test_post_when_slack_cannot_be_reached_is_one_line(
    slack_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreachable Slack (a closed port here) was urllib's URLError traceback."""
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")
    code, output = _run("digest", "p", "--post")
    assert code == 6, output
    assert "Traceback" not in output
    assert "error: could not reach Slack's Web API at http://127.0.0.1:9/api/" in output
    assert "SLACK_API_URL" in output and "nothing was posted" in output
    assert _last_digest() is None
