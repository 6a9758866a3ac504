"""Slack settings: the engine's settings plus what the bot needs to talk to Slack.

Tokens are ``SecretStr`` so they never appear in a repr, a log line or a traceback's locals.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError

from engine.config import Settings, settings_error
from storage.errors import ConfigurationError

SLACK_API_URL = "https://slack.com/api/"


class SlackSettings(Settings):
    """Read from the environment (and `.env`), like :class:`engine.config.Settings`."""

    slack_bot_token: SecretStr = Field(
        validation_alias="SLACK_BOT_TOKEN", description="Bot User OAuth Token (xoxb-...)"
    )
    slack_signing_secret: SecretStr = Field(
        validation_alias="SLACK_SIGNING_SECRET",
        description="Signing secret: Bolt checks every request's signature with it",
    )
    # Overrides the engine's plain string so the token cannot leak through a repr either.
    api_token: SecretStr | None = Field(  # type: ignore[assignment]
        default=None,
        validation_alias="LABELBOT_API_TOKEN",
        description="Bearer token the REST API requires",
    )
    slack_api_url: str = Field(
        default=SLACK_API_URL,
        validation_alias="SLACK_API_URL",
        description="Base URL of the Slack Web API (tests point it at a local server)",
    )
    slack_app_token: SecretStr | None = Field(
        default=None,
        validation_alias="SLACK_APP_TOKEN",
        description="App-level token (xapp-...): when set, labelbot also connects in Socket Mode",
    )
    slack_workers: int = Field(
        default=32,
        ge=1,
        validation_alias="LABELBOT_SLACK_WORKERS",
        description="Threads running listeners after their ack (Bolt's default is 5)",
    )
    outbox_interval_s: float = Field(
        default=15.0,
        ge=0,
        validation_alias="LABELBOT_OUTBOX_INTERVAL",
        description="Seconds between retries of undelivered messages (0: off)",
    )


def get_slack_settings(**overrides: object) -> SlackSettings:
    """The bot's settings; a missing variable is a ConfigurationError that names it."""
    try:
        return SlackSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise settings_error(exc, see="Set up in Slack") from None


class _SlackCredentials(Settings):
    """Which of Slack's credentials the environment (or `.env`) sets; none is required."""

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )


def get_serve_settings() -> tuple[SlackSettings, bool]:
    """`labelbot serve`'s settings, and whether it serves Slack.

    With Slack's credentials set: :func:`get_slack_settings`. With neither SLACK_BOT_TOKEN nor
    SLACK_SIGNING_SECRET set but LABELBOT_API_TOKEN set: settings to serve the REST API alone,
    for teams that use labelbot without Slack; Slack's credentials in them are placeholders that
    nothing uses (no Slack request is served, the outbox is off; the signing secret is random).
    Otherwise a ConfigurationError that says which variables to set. One credential set without
    the other means Slack was meant: its error names the missing one.
    """
    import secrets

    try:
        given = _SlackCredentials()  # reads the engine's settings too: one may be invalid
    except ValidationError as exc:
        raise settings_error(exc, see="Configuration") from None
    if given.slack_bot_token is not None or given.slack_signing_secret is not None:
        return get_slack_settings(), True
    if not given.api_token:
        raise ConfigurationError(
            "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not set (see README, 'Set up in "
            "Slack'); to serve the REST API alone, without Slack, set LABELBOT_API_TOKEN"
        )
    rest_only = get_slack_settings(
        slack_bot_token="xoxb-unused-rest-only",
        slack_signing_secret=secrets.token_hex(32),
        outbox_interval_s=0,
    )
    return rest_only, False
