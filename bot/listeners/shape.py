"""What a request from Slack looks like, checked before any listener reads it.

A correctly signed request may still be malformed: a fake Slack, a proxy that rewrote it, a
replayed body edited by someone who holds the signing secret. The listeners read their payload
as Slack documents it (``body["user"]["id"]``, ``action["value"]``); a payload of another shape
made them fail with a KeyError or TypeError -- logged as labelbot's bug and answered "something
went wrong" -- or made Bolt itself fail with a 500 (``"actions": []`` breaks the arguments Bolt
builds for every middleware). Here such a request is answered 400 with the reason, once, before
Bolt builds anything from it; what Slack does send goes on unchanged. The answer says
``X-Slack-No-Retry: 1``: Slack re-sends an event answered with an error up to three times
(https://docs.slack.dev/apis/events-api/#retries), and the same body would be refused again.

Button values and a modal's private_metadata are labelbot's own text, read back by parsers in
bot/views; :func:`read` turns a value they cannot read (a message of an older labelbot, an
edited payload) into a StaleActionError: the clicker is told the button is out of date.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from storage.errors import StaleActionError
from storage.models import ID_MAX

log = logging.getLogger(__name__)

T = TypeVar("T")

# Slack's ids: a capital letter and capitals or digits (U0123ABC, W…, C…, D…, G…, T…, E…).
SLACK_ID = re.compile(r"^[A-Z][A-Z0-9]+$")
# A person's id: U… (W… on Enterprise Grid).
USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
# A message's ts: seconds, a dot, microseconds (https://docs.slack.dev/messaging); digits alone
# are taken too.
TS = re.compile(r"^\d{1,12}(\.\d{1,6})?$")
# Row ids a button or form may carry stop at storage.models.ID_MAX, what PostgreSQL's INTEGER
# columns hold: a larger one named no row, but PostgreSQL refused the query ("integer out of
# range") and the clicker was told that instead of "out of date".
STALE = "this button or form is out of date (labelbot cannot read what it carries)"
# Slack's Events API takes this header on an error answer as "do not send it again" (bot/api.py
# sends it with its own refusals too)
NO_RETRY_HEADER = "X-Slack-No-Retry"
NO_RETRY: dict[str, str | Sequence[str]] = {NO_RETRY_HEADER: "1"}


def read(parse: Callable[[str], T], value: object) -> T:
    """``parse(value)``, or a StaleActionError when ``value`` is no text ``parse`` can read or
    names an id no row can have (not positive, or past the database's INTEGER)."""
    if not isinstance(value, str):
        raise StaleActionError(STALE)
    try:
        parsed = parse(value)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        raise StaleActionError(STALE) from None
    ints = [v for v in (parsed if isinstance(parsed, tuple) else (parsed,)) if type(v) is int]
    if any(not 0 < v <= ID_MAX for v in ints):
        raise StaleActionError(STALE)
    return parsed


def example_id(value: object) -> int:
    """The example id a Skip, Discuss, Flag, Undo or "Show full text" button carries."""
    return read(lambda v: int(v) if v.isascii() and v.isdecimal() else int("x"), value)


def _text(found: Any, where: str, *, pattern: re.Pattern[str] | None = None) -> str | None:
    if not isinstance(found, str):
        return f"{where} is not a string"
    if pattern is not None and not pattern.match(found):
        return f"{where} is not a Slack id or timestamp"
    return None


def _optional(found: dict[str, Any], key: str, where: str, pattern: re.Pattern[str] | None = None
              ) -> str | None:  # fmt: skip
    return None if found.get(key) is None else _text(found[key], f"{where}.{key}", pattern=pattern)


def _user(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    if not isinstance(user, dict):
        return "user is not an object"
    return (
        _text(user.get("id"), "user.id", pattern=USER_ID)
        or _optional(user, "team_id", "user")
        or _text(body.get("trigger_id"), "trigger_id")  # Slack sends one with every interaction
    )


def _block_actions(body: dict[str, Any]) -> str | None:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        return "actions is not a non-empty list"
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            return "an action has no action_id"
        if "selected_option" in action and not isinstance(action["selected_option"], dict):
            return "selected_option is not an object"
    container = body.get("container")
    if container is not None and not isinstance(container, dict):
        return "container is not an object"
    if isinstance(container, dict) and container.get("type") == "message":
        return (
            _text(container.get("channel_id"), "container.channel_id", pattern=SLACK_ID)
            or _text(container.get("message_ts"), "container.message_ts", pattern=TS)
            or _text(body.get("response_url"), "response_url")  # a message's click has one
        )
    return None


def _view_submission(body: dict[str, Any]) -> str | None:
    view = body.get("view")
    if not isinstance(view, dict):
        return "view is not an object"
    for key in ("type", "callback_id"):  # Bolt reads both before any listener
        if problem := _text(view.get(key), f"view.{key}"):
            return problem
    if not isinstance(view.get("private_metadata", ""), str):
        return "view.private_metadata is not a string"
    values = (view.get("state") or {}).get("values") if isinstance(view.get("state"), dict) else 0
    if not isinstance(values, dict) or not all(
        isinstance(block, dict) and all(isinstance(field, dict) for field in block.values())
        for block in values.values()
    ):
        return "view.state.values is not {block_id: {action_id: {...}}}"
    return None


def _shortcut(body: dict[str, Any]) -> str | None:
    channel, message = body.get("channel"), body.get("message")
    if not isinstance(channel, dict) or _text(channel.get("id"), "", pattern=SLACK_ID):
        return "channel.id is not a Slack id"
    if not isinstance(message, dict) or not isinstance(message.get("text") or "", str):
        return "message is not an object with a text"
    return _text(body.get("response_url"), "response_url")  # the answer goes there


def _command(body: dict[str, Any]) -> str | None:
    ids = {"user_id": USER_ID, "channel_id": SLACK_ID, "trigger_id": None, "text": None,
           "response_url": None}  # fmt: skip
    for key, pattern in ids.items():
        if problem := _text(body.get(key, "" if key == "text" else None), key, pattern=pattern):
            return problem
    return None


def _event(body: dict[str, Any]) -> str | None:
    event = body.get("event")
    if not isinstance(event, dict):
        return "event is not an object"
    if body.get("type") != "event_callback" or not isinstance(body.get("event_id"), str):
        return "not an event_callback with an event_id"
    ids = {"user": USER_ID, "channel": SLACK_ID, "ts": TS, "thread_ts": TS, "deleted_ts": TS}
    for key in ("type", "subtype", "text", "bot_id", "tab", "user_team", *ids):
        if problem := _optional(event, key, "event", ids.get(key)):
            return problem
    needed = {"message": ("channel", "ts"), "app_home_opened": ("user",)}
    for key in needed.get(str(event.get("type")), ()):
        if problem := _text(event.get(key), f"event.{key}", pattern=ids[key]):
            return problem
    for key in ("message", "previous_message"):
        inner = event.get(key)
        if inner is None:
            continue
        if not isinstance(inner, dict):
            return f"event.{key} is not an object"
        for field in ("user", "ts", "thread_ts", "text", "bot_id", "subtype", "user_team"):
            if problem := _optional(inner, field, f"event.{key}", ids.get(field)):
                return problem
    return None


CHECKS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "block_actions": lambda body: _user(body) or _block_actions(body),
    "view_submission": lambda body: _user(body) or _view_submission(body),
    "message_action": lambda body: _user(body) or _shortcut(body),
}


def _unstorable(found: object, depth: int = 0) -> str | None:
    """Text Slack never sends: a lone surrogate ("\\ud800" is legal JSON, but no UTF-8) or a
    NUL; neither can be stored (PostgreSQL refuses both in text, SQLite's driver the first)."""
    if depth > 64:
        return "nesting deeper than Slack's"
    if isinstance(found, str):
        if "\x00" in found:
            return "a NUL character"
        try:
            found.encode("utf-8")
        except UnicodeEncodeError:
            return "text that is not UTF-8 (a lone surrogate)"
        return None
    items = found.items() if isinstance(found, dict) else found if isinstance(found, list) else ()
    for item in items:
        for part in item if isinstance(found, dict) else (item,):
            if (problem := _unstorable(part, depth + 1)) is not None:
                return problem
    return None


def malformed(body: dict[str, Any]) -> str | None:
    """Why ``body`` (as Bolt parsed it) is not a request Slack sends, or None when it is."""
    if (problem := _unstorable(body)) is not None:
        return problem
    if "response_url" in body and not (isinstance(body["response_url"], str) and
                                       body["response_url"]):  # fmt: skip
        return "response_url is not a URL"  # where labelbot answers (bot.app checks whose)
    if body.get("command"):
        return _command(body)
    if "event" in body:  # an event_callback (its type is checked with the rest)
        return _event(body)
    check = CHECKS.get(str(body.get("type")))
    return check(body) if check is not None else None


class WellFormed(Middleware):
    """Answers a malformed request 400 with the reason (and NO_RETRY), before Bolt builds a
    listener's arguments from it (a plain Middleware: Bolt builds no arguments for it); anything
    else goes to ``then``, the app's other before-authorize step (``then(body=..., next=...)``)."""

    def __init__(self, then: Callable[..., BoltResponse | None]) -> None:
        self._then = then

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        body = req.body if isinstance(req.body, dict) else {}
        problem = malformed(body)
        if problem is not None:
            log.warning(
                "refused a malformed %s request: %s",
                body.get("type") or body.get("command") or "Slack",
                problem,
            )
            # JSON, as every other error of the server (bot/api.py passes a JSON one on
            # unchanged, with its headers)
            return BoltResponse(
                status=400,
                body={"error": "Bad Request", "detail": f"Not a request Slack sends: {problem}."},
                headers=dict(NO_RETRY),
            )
        return self._then(body=body, next=next)
