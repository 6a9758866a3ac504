"""Slack settings: clear errors for what is missing, secrets hidden."""

from __future__ import annotations

import pytest

from bot.config import get_slack_settings
from storage.errors import ConfigurationError


def test_missing_variables_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-value")
    with pytest.raises(ConfigurationError, match="SLACK_SIGNING_SECRET is not set") as raised:
        get_slack_settings()
    assert "SLACK_BOT_TOKEN" not in str(raised.value)


def test_tokens_are_hidden_and_socket_mode_is_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-value")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-value")
    monkeypatch.setenv("LABELBOT_API_TOKEN", "api-secret-value")
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    settings = get_slack_settings()
    assert settings.slack_app_token is None
    assert settings.slack_api_url == "https://slack.com/api/"
    for secret in ("xoxb-secret-value", "signing-secret-value", "api-secret-value"):
        assert secret not in repr(settings) and secret not in str(settings)
