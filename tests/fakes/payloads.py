"""Builders for the payloads Slack sends labelbot, copied from real shapes (bolt-python's
scenario tests; see the `_source` notes in the team's slack-payloads samples) so a clone
without those samples still has them. Sign the result with `tests.fakes.signing`.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

TEAM = "T111"
APP = "A111"
BOT_USER = "UBOT"
HOOKS = "https://hooks.slack.com"
Payload = dict[str, Any]
_seq = itertools.count(1)


def _ts() -> str:
    return f"{time.time():.6f}"


def _trigger() -> str:
    return f"{next(_seq)}.{TEAM}.trigger"


def _user(user: str) -> Payload:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM}


def slash_command(
    user: str, text: str, channel: str, *, command: str = "/label", response_url: str | None = None
) -> dict[str, str]:
    """Form fields of a slash command (sign with `signed_slash_command`)."""
    return {
        "token": "verification_token",
        "team_id": TEAM,
        "team_domain": "labelbot-test",
        "channel_id": channel,
        "channel_name": "directmessage" if channel.startswith("D") else channel.lower(),
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP,
        "is_enterprise_install": "false",
        "response_url": response_url or f"{HOOKS}/commands/{TEAM}/1/xxxxx",
        "trigger_id": _trigger(),
    }


def block_actions(
    user: str,
    action_id: str,
    value: str | None,
    channel: str,
    message_ts: str,
    message_blocks: list[Payload],
    *,
    block_id: str = "b",
    selected_option: Payload | None = None,
    message_text: str = "",
    response_url: str | None = None,
) -> Payload:
    """A click on a button (or, with `selected_option`, a static_select) in a bot message."""
    action: Payload = {"action_id": action_id, "block_id": block_id, "action_ts": _ts()}
    if selected_option is not None:
        action.update(type="static_select", selected_option=selected_option)
    else:
        action.update(type="button", value=value, text={"type": "plain_text", "text": "Button"})
    return {
        "type": "block_actions",
        "user": _user(user),
        "api_app_id": APP,
        "token": "verification_token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": _trigger(),
        "team": {"id": TEAM, "domain": "labelbot-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "directmessage"},
        "message": {
            "bot_id": "BBOT",
            "type": "message",
            "text": message_text,
            "user": BOT_USER,
            "ts": message_ts,
            "app_id": APP,
            "blocks": message_blocks,
            "team": TEAM,
        },
        "state": {"values": {}},
        "response_url": response_url or f"{HOOKS}/actions/{TEAM}/1/xxxxx",
        "actions": [action],
    }


def view_submission(
    user: str,
    callback_id: str,
    values: dict[str, dict[str, Payload]],
    *,
    private_metadata: str = "",
    blocks: list[Payload] | None = None,
    view_id: str = "V111",
) -> Payload:
    """A modal submit; `values` is `{block_id: {action_id: {"type": ..., "value": ...}}}`."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "labelbot-test"},
        "user": _user(user),
        "api_app_id": APP,
        "token": "verification_token",
        "trigger_id": _trigger(),
        "view": {
            "id": view_id,
            "team_id": TEAM,
            "type": "modal",
            "blocks": blocks or [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": values},
            "hash": f"{_ts()}.hash",
            "title": {"type": "plain_text", "text": "labelbot"},
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": APP,
            "external_id": "",
            "app_installed_team_id": TEAM,
            "bot_id": "BBOT",
        },
        "response_urls": [],
    }


def message_shortcut(
    user: str, callback_id: str, channel: str, message_ts: str, text: str, *, author: str = "U999"
) -> Payload:
    """The "Classify with labelbot" message shortcut (type `message_action`)."""
    return {
        "type": "message_action",
        "token": "verification_token",
        "action_ts": _ts(),
        "team": {"id": TEAM, "domain": "labelbot-test"},
        "user": _user(user),
        "channel": {"id": channel, "name": channel.lower()},
        "is_enterprise_install": False,
        "callback_id": callback_id,
        "trigger_id": _trigger(),
        "message_ts": message_ts,
        "message": {"type": "message", "user": author, "text": text, "ts": message_ts},
        "response_url": f"{HOOKS}/app/{TEAM}/1/xxxxx",
    }


def event_callback(event: Payload, *, event_id: str | None = None) -> Payload:
    """The Events API envelope; Slack retries with the same `event_id`, so tests pass one."""
    return {
        "token": "verification_token",
        "team_id": TEAM,
        "api_app_id": APP,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_seq):08d}",
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True, "is_enterprise_install": False}
        ],
        "is_ext_shared_channel": False,
    }


def message_event(
    channel: str,
    user: str,
    text: str,
    ts: str,
    thread_ts: str | None = None,
    event_id: str | None = None,
    *,
    subtype: str | None = None,
) -> Payload:
    """A `message` event; `channel_type` follows the id (D: im, G: group, else channel)."""
    kind = {"D": "im", "G": "group"}.get(channel[:1], "channel")
    event: Payload = {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "team": TEAM,
        "channel": channel,
        "event_ts": ts,
        "channel_type": kind,
    }
    if thread_ts is not None:
        event.update(thread_ts=thread_ts, parent_user_id=BOT_USER)
    if subtype is not None:  # e.g. "thread_broadcast" for "Also send to #channel" replies
        event["subtype"] = subtype
    return event_callback(event, event_id=event_id)


def app_home_opened(user: str, *, tab: str = "home", channel: str = "D111") -> Payload:
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": tab,
        "event_ts": _ts(),
    }
    return event_callback(event)
