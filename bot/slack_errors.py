"""Slack's error codes, grouped by what labelbot does about them.

A Web API call refused with one of ``AUTH_ERRORS`` says the bot token itself no longer works
(the app was uninstalled or reinstalled, the token revoked or rotated, the bot user
deactivated): every call will fail alike until an operator fixes it, so nothing is marked done
and nothing is given up. One of ``CHANNEL_ERRORS`` says a channel cannot take the bot's
messages: that project's admins are told, and the other projects go on. One of
``CONTENT_ERRORS`` refuses a message labelbot built (past a Block Kit limit): a labelbot bug,
which no retry mends.
"""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

__all__ = [
    "AUTH_ERRORS",
    "BOT_SCOPES",
    "CHANNEL_ERRORS",
    "CONTENT_ERRORS",
    "MESSAGE_GONE",
    "RATE_LIMITED",
    "error_code",
    "is_auth_error",
    "is_channel_error",
    "missing_scopes",
    "scope_advice",
]

# https://docs.slack.dev/reference/methods/chat.postMessage#errors (and auth.test's)
AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "ekm_access_denied",
        "team_access_not_granted",
        "no_permission",
        "org_login_required",
    }
)
CHANNEL_ERRORS = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "channel_is_archived"}
)
# Slack's refusals of a message's content: a labelbot bug (Block Kit limits), told as one.
CONTENT_ERRORS = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "msg_blocks_too_long"}
)
# chat.update of one message Slack no longer lets the bot change (deleted in the channel, or
# never the bot's): that message is lost to labelbot, the others of its channel are not.
# https://docs.slack.dev/reference/methods/chat.update#errors
MESSAGE_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
# What a Web API call refused for its rate says once the client's own retries are spent
RATE_LIMITED = "ratelimited"


def error_code(exc: BaseException) -> str | None:
    """The ``error`` of a refused Slack Web API call, or None for any other exception."""
    if not isinstance(exc, SlackApiError):
        return None
    data = exc.response.data if exc.response is not None else None
    error = data.get("error") if isinstance(data, dict) else None
    return str(error) if error else None


def is_auth_error(exc: BaseException) -> bool:
    """Whether Slack refused the bot token itself (every call fails until it is fixed)."""
    return error_code(exc) in AUTH_ERRORS


def is_channel_error(exc: BaseException) -> bool:
    """Whether Slack refused a channel: the bot is not in it, or it is archived or gone."""
    return error_code(exc) in CHANNEL_ERRORS


# The bot token's scopes labelbot uses, as manifest.yml asks for them (tests/bot/
# test_operator_mistakes.py checks the two agree): manifest.yml is not in an installed package.
BOT_SCOPES = (
    "chat:write",
    "commands",
    "im:write",
    "im:history",
    "channels:history",
    "groups:history",
    "users:read",
    "files:write",
)
SCOPE_FIX = (
    "add them to the app (https://api.slack.com/apps → the app → OAuth & Permissions → Bot "
    "Token Scopes, or paste manifest.yml again under App Manifest), then reinstall it to the "
    "workspace (its page offers to once the scopes change)"
)


def missing_scopes(granted: str | None) -> list[str]:
    """The scopes of ``BOT_SCOPES`` that ``granted`` (Slack's ``x-oauth-scopes`` header: comma
    separated) lacks; none when Slack did not say (the header is absent)."""
    if granted is None:
        return []
    have = {scope.strip() for scope in granted.split(",")}
    return [scope for scope in BOT_SCOPES if scope not in have]


def scope_advice(exc: BaseException) -> str | None:
    """What to do about a call Slack refused with ``missing_scope`` (its answer names the scope
    it ``needed``); None for any other exception."""
    if error_code(exc) != "missing_scope":
        return None
    assert isinstance(exc, SlackApiError)
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    needed = data.get("needed")
    lacks = f"the scope {needed}" if needed else "a scope it needs (Slack did not say which)"
    return f"the Slack app lacks {lacks}: {SCOPE_FIX}"
