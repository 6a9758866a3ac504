"""Slack settings: the engine's settings plus what the bot needs to talk to Slack.

Tokens are ``SecretStr`` so they never appear in a repr, a log line or a traceback's locals.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.config import Settings, settings_error
from storage.errors import ConfigurationError

SLACK_API_URL = "https://slack.com/api/"
OUTBOX_INTERVAL_MAX_S = 3600

# Where each Slack credential is found (https://api.slack.com/apps, the app's pages), for the
# errors that say a value was pasted into the wrong variable.
BOT_TOKEN_HOME = "the Bot User OAuth Token (xoxb-…, under OAuth & Permissions)"
APP_TOKEN_HOME = "an app-level token (xapp-…, under Basic Information → App-Level Tokens)"
SECRET_HOME = "the Signing Secret (under Basic Information → App Credentials)"
QUOTES = "\"'`“”‘’"
MAKE_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def _credential(value: SecretStr, *, kind: str) -> SecretStr:
    """A Slack credential as pasted: whitespace around it (a newline from a file, a space from a
    copy) is dropped, as no credential holds any; quotes around it are refused (a shell strips
    them, but a .env read by systemd or docker keeps them), and so is a value of another kind,
    naming the variable it belongs in. The message never quotes the value."""
    raw = value.get_secret_value().strip()
    if not raw or any(c.isspace() for c in raw):
        raise PydanticCustomError(
            "malformed_credential", "is empty or holds spaces: paste {kind} alone", {"kind": kind}
        )
    _refuse_quotes(raw)
    return SecretStr(raw)


def _refuse_quotes(raw: str) -> None:
    if raw[0] in QUOTES or raw[-1] in QUOTES:
        raise PydanticCustomError(
            "quoted_credential",
            "has quotes around it: remove them (a systemd EnvironmentFile or docker --env-file "
            "keeps quotes as part of the value)",
        )


def _api_token(value: SecretStr | None) -> SecretStr | None:
    """LABELBOT_API_TOKEN as set, treated like a Slack credential: whitespace around it is
    dropped (HTTP drops it from a header's value, so no client could send it: a trailing space
    from a .env line locked every client out), quotes around it are refused, and set empty it
    counts as not set (the REST API is off). A character no header can carry (a line break, a
    non-ASCII letter) is refused too. The message never quotes the value."""
    raw = value.get_secret_value().strip() if value is not None else ""
    if not raw:
        return None
    _refuse_quotes(raw)
    if any(not " " <= c <= "~" for c in raw):
        raise PydanticCustomError(
            "malformed_credential",
            "holds a character an HTTP header cannot carry (a tab, a line break or a non-ASCII "
            "one), so no client could send it: use at least 32 random characters, e.g. from "
            "`{make}`",
            {"make": MAKE_TOKEN},
        )
    return SecretStr(raw)


def _slack_api_url(value: str) -> str:
    """SLACK_API_URL as slack_sdk needs it: set empty (``SLACK_API_URL=`` in a compose file)
    it is Slack's own; else an http(s) URL with a host, ending in "/" (slack_sdk joins each
    method's name to it: without the "/" ``.../api`` became ``.../auth.test``). One without a
    scheme made serve die at start with urllib's "unknown url type" traceback."""
    url = value.strip()
    if not url:
        return SLACK_API_URL
    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018  (raises ValueError for a port that is no number or out of range)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        valid = False
    if not valid:
        raise PydanticCustomError(
            "bad_url",
            "is not an http(s) URL with a host: write one such as {default}, or leave it "
            "unset for Slack's own",
            {"default": SLACK_API_URL},
        )
    return url if url.endswith("/") else url + "/"


def _bot_token_kind(token: str) -> str | None:
    """Why ``token`` cannot be the bot token, or None when it looks like one (xoxb-, or
    xoxe.xoxb- with token rotation on)."""
    if token.startswith(("xoxb-", "xoxe.xoxb-")):
        return None
    if token.startswith("xapp-"):
        return (
            f"is an app-level token (xapp-…): it belongs in SLACK_APP_TOKEN; set {BOT_TOKEN_HOME}"
        )
    if token.startswith(("xoxp-", "xoxe.xoxp-")):
        return f"is a user token (xoxp-…): labelbot would post as that person; set {BOT_TOKEN_HOME}"
    if token.startswith("xoxe-"):
        return f"is a refresh token (xoxe-…), not an access token; set {BOT_TOKEN_HOME}"
    return f"is not a Slack bot token (they start with xoxb-): set {BOT_TOKEN_HOME}"


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
    metrics_token: SecretStr | None = Field(
        default=None,
        validation_alias="LABELBOT_METRICS_TOKEN",
        description="A bearer token GET /metrics takes besides LABELBOT_API_TOKEN, and nothing "
        "else does: for a Prometheus that should not hold the key to every project's data",
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
    # inf or 1e300 switched the retries off without a word (0 says so); over an hour between
    # retries is a typo, and a message held back that long is as good as lost
    outbox_interval_s: float = Field(
        default=15.0,
        ge=0,
        le=OUTBOX_INTERVAL_MAX_S,
        allow_inf_nan=False,
        validation_alias="LABELBOT_OUTBOX_INTERVAL",
        description="Seconds between retries of undelivered messages (0: off)",
    )
    api_deadline_s: float = Field(
        default=30.0,
        gt=0,
        allow_inf_nan=False,
        validation_alias="LABELBOT_API_DEADLINE_SECONDS",
        description="Seconds a REST API request may wait for the database in all (predict's "
        "encoding does not count) before it is answered 503 DatabaseUnavailable",
    )

    @field_validator("api_token", "metrics_token", mode="after")
    @classmethod
    def _api_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        return _api_token(value)

    @field_validator("slack_api_url", mode="after")
    @classmethod
    def _slack_api_url_shape(cls, value: str) -> str:
        return _slack_api_url(value)

    @field_validator("slack_bot_token", mode="after")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr) -> SecretStr:
        value = _credential(value, kind=BOT_TOKEN_HOME)
        why = _bot_token_kind(value.get_secret_value())
        if why is not None:
            raise PydanticCustomError("wrong_token", why)
        return value

    @field_validator("slack_signing_secret", mode="after")
    @classmethod
    def _signing_secret_shape(cls, value: SecretStr) -> SecretStr:
        value = _credential(value, kind=SECRET_HOME)
        if value.get_secret_value().startswith(("xox", "xapp-")):
            raise PydanticCustomError(
                "wrong_secret",
                "holds a token (xox…/xapp-…), not the signing secret: set {home}",
                {"home": SECRET_HOME},
            )
        return value

    @field_validator("slack_app_token", mode="after")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if not _set(value):  # SLACK_APP_TOKEN= (empty): no Socket Mode, as when not set
            return None
        assert value is not None
        value = _credential(value, kind=APP_TOKEN_HOME)
        token = value.get_secret_value()
        if token.startswith(("xoxb-", "xoxe.xoxb-")):
            raise PydanticCustomError(
                "wrong_token",
                "is a bot token (xoxb-…): it belongs in SLACK_BOT_TOKEN; SLACK_APP_TOKEN takes "
                "{home}, for Socket Mode",
                {"home": APP_TOKEN_HOME},
            )
        if not token.startswith("xapp-"):
            raise PydanticCustomError(
                "wrong_token",
                "is not an app-level token (they start with xapp-): set {home}",
                {"home": APP_TOKEN_HOME},
            )
        return value


def get_slack_settings(**overrides: object) -> SlackSettings:
    """The bot's settings; a missing variable is a ConfigurationError that names it, and the
    README section that says how to set it: 'Set up in Slack' for Slack's variables, else
    'Configuration' (LABELBOT_OUTBOX_INTERVAL, LABELBOT_SLACK_WORKERS... are not in the other)."""
    try:
        return SlackSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        slack = all(str(e["loc"][0]).startswith("SLACK_") for e in exc.errors())
        raise settings_error(exc, see="Set up in Slack" if slack else "Configuration") from None


class _SlackVariables(Settings):
    """Which of Slack's credentials the environment (or `.env`) sets; none is required."""

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )


class _SlackCredentials(_SlackVariables):
    """Slack's credentials as set, and the REST API's token; none is required."""

    # as SlackSettings reads it: one with only spaces is not set, one in quotes is refused
    api_token: SecretStr | None = Field(  # type: ignore[assignment]
        default=None, validation_alias="LABELBOT_API_TOKEN"
    )

    @field_validator("api_token", mode="after")
    @classmethod
    def _api_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        return _api_token(value)


def get_serve_settings() -> tuple[SlackSettings, bool]:
    """`labelbot serve`'s settings, and whether it serves Slack.

    With Slack's credentials set: :func:`get_slack_settings`. With neither SLACK_BOT_TOKEN nor
    SLACK_SIGNING_SECRET set but LABELBOT_API_TOKEN set: settings to serve the REST API alone,
    for teams that use labelbot without Slack; Slack's credentials in them are placeholders that
    nothing uses (no Slack request is served, the outbox is off; the signing secret is random).
    Otherwise a ConfigurationError that says which variables to set. One credential set without
    the other means Slack was meant: its error names the missing one. A variable set empty
    counts as not set.
    """
    import secrets

    try:
        given = _SlackCredentials()  # reads the engine's settings too: one may be invalid
    except ValidationError as exc:
        raise settings_error(exc, see="Configuration") from None
    if _set(given.slack_bot_token) or _set(given.slack_signing_secret):
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


def get_worker_settings() -> SlackSettings | None:
    """`labelbot worker`'s Slack settings: None when neither SLACK_BOT_TOKEN nor
    SLACK_SIGNING_SECRET is set (it only retrains); with either set, Slack was meant, so
    :func:`get_slack_settings`, whose ConfigurationError is serve's (a wrong token ran a worker
    that posted no digest, having logged only that Slack was not set up). A variable set empty
    counts as not set."""
    try:
        given = _SlackVariables()
    except ValidationError as exc:
        raise settings_error(exc, see="Configuration") from None
    if _set(given.slack_bot_token) or _set(given.slack_signing_secret):
        return get_slack_settings()
    return None


def _set(value: SecretStr | None) -> bool:
    """Whether a variable is set to something: one set empty (``SLACK_BOT_TOKEN=`` in a compose
    file or an EnvironmentFile) counts as not set."""
    return value is not None and bool(value.get_secret_value().strip())


class LogSettings(BaseSettings):
    """`serve`'s and `worker`'s LABELBOT_LOG_FORMAT and LABELBOT_ACCESS_LOG as the environment
    or `.env` sets them (None: not set). click reads them as the options' envvar from the
    environment alone, so a `.env` that set them, as it sets every other variable, was ignored:
    these fill in an option the command line and the environment left unset
    (bot.cli.serve.from_dotenv). Set empty, one counts as not set, as click has it."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    log_format: Literal["text", "json"] | None = Field(
        default=None, validation_alias="LABELBOT_LOG_FORMAT"
    )
    access_log: bool | None = Field(default=None, validation_alias="LABELBOT_ACCESS_LOG")

    @field_validator("log_format", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        """In any case, the spaces around it dropped, as the command line and the environment
        take it (bot.cli.common.log_format); spaces alone count as not set."""
        if isinstance(value, str):
            return value.strip().lower() or None
        return value


def get_log_settings() -> LogSettings:
    """The log variables; an invalid one is a ConfigurationError that names it."""
    try:
        return LogSettings()
    except ValidationError as exc:
        raise settings_error(exc, see="Configuration") from None
