"""bot/ids.py is the source of truth the manifest is checked against (test_manifest.py); here
the Bolt app's registered listeners are checked against it: each listener answers something
the registry declares, and each declared command, shortcut, event, action and view has one."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltRequest, BoltResponse

from bot import ids
from bot.app import build_app
from bot.config import SlackSettings
from bot.services import Services
from tests.fakes import payloads


def _sample(action: str | re.Pattern[str]) -> str:
    return action if isinstance(action, str) else action.pattern.lstrip("^").split(":")[0] + ":0"


def _probes() -> dict[str, dict[str, Any]]:
    """One request body per registry entry, shaped as Slack sends it."""
    probes: dict[str, dict[str, Any]] = {}
    for command in ids.COMMANDS:
        probes[f"command {command}"] = {
            "form": payloads.slash_command("U1", "", "D1", command=command)
        }
    for callback_id in ids.SHORTCUTS:
        probes[f"shortcut {callback_id}"] = {
            "payload": payloads.message_shortcut("U1", callback_id, "C1", "1.1", "hi")
        }
    for event in ids.EVENTS:
        if event.startswith("message."):
            channel = {"im": "D1", "channels": "C1", "groups": "G1"}[event.split(".")[1]]
            probes[f"event {event}"] = {
                "json": payloads.message_event(channel, "U1", "hi", "1.2", thread_ts="1.1")
            }
        else:
            probes[f"event {event}"] = {
                "json": payloads.app_home_opened("U1")
                if event == "app_home_opened"
                else payloads.event_callback({"type": event})
            }
    for action in ids.ACTIONS:
        probes[f"action {_sample(action)}"] = {
            "payload": payloads.block_actions("U1", _sample(action), "1", "D1", "1.1", [])
        }
    for callback_id in ids.VIEW_SUBMISSIONS:
        probes[f"view {callback_id}"] = {"payload": payloads.view_submission("U1", callback_id, {})}
    return probes


def _request(probe: dict[str, Any]) -> BoltRequest:
    if "form" in probe:
        return BoltRequest(
            body=urlencode(probe["form"]),
            headers={"content-type": ["application/x-www-form-urlencoded"]},
        )
    if "payload" in probe:
        body = urlencode({"payload": json.dumps(probe["payload"])})
        return BoltRequest(
            body=body, headers={"content-type": ["application/x-www-form-urlencoded"]}
        )
    return BoltRequest(
        body=json.dumps(probe["json"]), headers={"content-type": ["application/json"]}
    )


@pytest.fixture
def app(slack_api_url: str, tmp_path) -> App:  # type: ignore[no-untyped-def]
    settings = SlackSettings(
        DATABASE_URL=f"sqlite:///{tmp_path}/x.db",
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL=slack_api_url,
    )
    services = Services.__new__(Services)  # listeners are matched, never run, here
    services.listener_executor = None  # type: ignore[assignment]
    services.client = None  # type: ignore[assignment]
    from slack_sdk import WebClient

    services.client = WebClient(token="xoxb-test-token", base_url=slack_api_url)
    return build_app(settings, services)


def _matches(app: App, probe: dict[str, Any]) -> list[str]:
    request = _request(probe)
    names = []
    for listener in app._listeners:
        if listener.matches(req=request, resp=BoltResponse(status=200)):
            names.append(listener.ack_function.__name__)
    return names


def test_every_registry_entry_has_exactly_one_listener(app: App) -> None:
    for name, probe in _probes().items():
        assert len(_matches(app, probe)) == 1, f"{name}: {_matches(app, probe)}"


def test_every_listener_answers_a_registry_entry(app: App) -> None:
    matched = {n for probe in _probes().values() for n in _matches(app, probe)}
    registered = {listener.ack_function.__name__ for listener in app._listeners}
    assert registered == matched, f"listeners outside bot/ids.py: {registered - matched}"
    assert (
        len(app._listeners)
        == len(ids.COMMANDS) + len(ids.SHORTCUTS) + len(ids.ACTIONS) + len(ids.VIEW_SUBMISSIONS) + 4
    )  # events: app_home_opened, message (im/channels/groups), app_uninstalled, tokens_revoked


def test_undeclared_ids_match_nothing(app: App) -> None:
    stray = payloads.block_actions("U1", "not_in_registry", "1", "D1", "1.1", [])
    assert _matches(app, {"payload": stray}) == []
    assert _matches(app, {"form": payloads.slash_command("U1", "", "D1", command="/other")}) == []
