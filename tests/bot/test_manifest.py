"""manifest.yml is a contract: valid per Slack's schema, least-privilege scopes, and in step
with what the code declares in bot/ids.py: every Web API method bot/ calls has its scopes there,
and every method there is called. test_listener_registry.py checks the Bolt app's listeners
against the same registry, which is so the single source of truth between code and manifest.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from slack_sdk import WebClient

from bot import ids

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "bot" / "manifest_schema"
# The dispatcher refers to the versioned schemas by their published URLs; serve them locally.
REMOTE = "https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas/"
REQUEST_URL = "https://labelbot.example.com/slack/events"
Manifest = dict[str, Any]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    resources = [
        (REMOTE + path.name, Resource.from_contents(_load(path), default_specification=DRAFT7))
        for path in (SCHEMA_DIR / "schemas").glob("manifest.schema.*.json")
    ]
    schema = _load(SCHEMA_DIR / "manifest.schema.json")
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, registry=Registry().with_resources(resources))


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    loaded: Manifest = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    return loaded


def _scopes(manifest: dict[str, Any]) -> set[str]:
    return set(manifest["oauth_config"]["scopes"]["bot"])


def _events(manifest: dict[str, Any]) -> set[str]:
    return set(manifest["settings"]["event_subscriptions"]["bot_events"])


def test_manifest_matches_slack_schema(
    validator: jsonschema.Draft7Validator, manifest: Manifest
) -> None:
    errors = sorted(validator.iter_errors(manifest), key=str)
    assert not errors, "\n".join(e.message for e in errors)


def test_schema_rejects_a_broken_manifest(
    validator: jsonschema.Draft7Validator, manifest: Manifest
) -> None:
    # Guards against a validator that passes everything (e.g. a $ref that never resolved).
    broken = copy.deepcopy(manifest)
    broken["features"]["shortcuts"][0]["name"] = "x" * 25  # Slack's limit is 24
    (error,) = validator.iter_errors(broken)  # the oneOf dispatcher fails as a whole...
    reasons = [sub.message for sub in error.context or []]
    assert any("is too long" in reason for reason in reasons)  # ...because of the name


@pytest.mark.parametrize(
    ("event", "scope"),
    [
        ("message.im", "im:history"),  # replies in the expert's DM threads
        ("message.channels", "channels:history"),  # discussion threads in public channels
        ("message.groups", "groups:history"),  # ... and in private ones
    ],
)
def test_thread_capture_has_event_and_scope(manifest: Manifest, event: str, scope: str) -> None:
    assert event in _events(manifest) and scope in _scopes(manifest)


def test_manifest_declares_what_the_code_handles(manifest: Manifest) -> None:
    features = manifest["features"]
    assert {c["command"] for c in features["slash_commands"]} == set(ids.COMMANDS)
    assert {s["callback_id"] for s in features["shortcuts"]} == set(ids.SHORTCUTS)
    assert _events(manifest) == set(ids.EVENTS)


def test_scopes_are_exactly_what_the_code_needs(manifest: Manifest) -> None:
    needed = set(ids.INTERACTION_SCOPES)
    for scopes in (*ids.SCOPES_NEEDED.values(), *ids.EVENT_SCOPES.values()):
        needed.update(scopes)
    assert set(ids.EVENTS) <= set(ids.EVENT_SCOPES), "every subscribed event needs a scope entry"
    assert _scopes(manifest) == needed  # missing: calls fail; extra: a harder install review


def test_http_mode_urls_and_surfaces(manifest: Manifest) -> None:
    settings, features = manifest["settings"], manifest["features"]
    assert not settings["socket_mode_enabled"]
    assert settings["event_subscriptions"]["request_url"] == REQUEST_URL
    assert settings["interactivity"] == {"is_enabled": True, "request_url": REQUEST_URL}
    assert all(c["url"] == REQUEST_URL for c in features["slash_commands"])
    # a typed #channel / @user reaches `/label` as its id (<#C0123|name>, <@U0123|name>):
    # `/label #channel` and `settings ... admins=@ann` need the id, which a name does not give
    assert all(c["should_escape"] for c in features["slash_commands"])
    # app_home_opened only fires for an enabled Home tab; message.im needs a writable DM tab.
    assert features["app_home"]["home_tab_enabled"]
    assert features["app_home"]["messages_tab_enabled"]
    assert not features["app_home"]["messages_tab_read_only_enabled"]
    # the hint names every `/label` verb the command listener dispatches on (bot/ids.py)
    hint = set(re.findall(r"\w+", features["slash_commands"][0]["usage_hint"]))
    assert set(ids.COMMAND_VERBS) - {"help"} <= hint, set(ids.COMMAND_VERBS) - hint


def _bot_source() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for path in (ROOT / "bot").rglob("*.py")
        if path.name != "ids.py"
    )


def _methods_of(function: str) -> set[str]:
    """The Web API methods slack_sdk's ``WebClient.<function>`` calls: its ``api_call("...")``,
    and those of the client's methods it calls (files_upload_v2's files.getUploadURLExternal and
    files.completeUploadExternal)."""
    source = inspect.getsource(getattr(WebClient, function))
    methods = set(re.findall(r'api_call\(\s*"([\w.]+)"', source))
    for inner in set(re.findall(r"self\.([a-z]+_\w+)\(", source)) - {function}:
        if callable(getattr(WebClient, inner, None)):
            methods |= _methods_of(inner)
    return methods


def test_every_web_api_method_called_has_its_scopes_in_the_registry() -> None:
    """The reverse of the test below: a method bot/ calls (``client.users_info(...)``, or by its
    name for ``api_call``, as the outbox does) but the registry lacks would have no scope checked
    into the manifest, and fail with missing_scope in a real workspace only."""
    source = _bot_source()
    every = set().union(
        *(_methods_of(name) for name in dir(WebClient) if re.fullmatch(r"[a-z]+_\w+", name))
    )
    called = {m for m in every if f'"{m}"' in source}  # api_call("chat.update", ...)
    for function in set(re.findall(r"\.([a-z]+_\w+)\(", source)):
        if function != "api_call" and callable(getattr(WebClient, function, None)):
            called |= _methods_of(function)
    assert {"chat.postMessage", "chat.update", "files.completeUploadExternal"} <= called
    # apps.connections.open takes the app-level token (connections:write), no bot scope
    missing = called - set(ids.SCOPES_NEEDED) - {"apps.connections.open"}
    assert not missing, f"called, but no scopes in bot/ids.py SCOPES_NEEDED: {sorted(missing)}"


def test_every_method_the_scopes_are_asked_for_is_called() -> None:
    """The registry the scopes come from names only methods bot/ calls (a scope kept for a
    method nobody calls is a harder install review for nothing)."""
    source = _bot_source()
    uncalled = [
        method
        for method in ids.SCOPES_NEEDED
        if method not in ids.CALLED_FOR_US
        and f'"{method}"' not in source
        and method.replace(".", "_") + "(" not in source
    ]
    assert uncalled == []
