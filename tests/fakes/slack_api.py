"""A local Slack Web API: a real HTTP server on 127.0.0.1 that answers like slack.com.

slack_sdk talks to it for real (`WebClient(token=..., base_url=server.api_url)`), so tests
exercise serialisation, retries and error handling the way production does. Every call is
recorded; failures (429 with Retry-After, 5xx, `{"ok": false}`) can be programmed, and so can
an answer lost after the call took effect (`lose_answer`: Slack stored the message, the client
saw a 5xx, a dropped connection or nothing in time); Block Kit
limits are checked on message and view methods the way Slack answers `invalid_blocks`, and a
message whose blocks hold too much text in all is refused with `msg_blocks_too_long` (a limit
Slack does not document: see bot.views.limits). Messages posted to a response_url are checked
the same way and refused as Slack refuses a webhook: HTTP 400 with the error as the body.
Shapes follow https://docs.slack.dev/reference/methods/<method>.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.views.limits import (
    MSG_BLOCKS_TOO_LONG,
    block_errors,
    message_text_errors,
    view_errors,
)

Params = dict[str, Any]
# Form-encoded calls send these as JSON strings (slack_sdk does so for chat.* `blocks` and
# files.completeUploadExternal `files`); decode them so tests see the same data either way.
_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")
_MESSAGE_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage")


@dataclass(frozen=True)
class Call:
    """One request the server received. `headers` keys are lower-cased."""

    method: str
    params: Params
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class _Failure:
    status: int
    error: str | None
    retry_after: int | None
    times: int
    needed: str | None = None  # missing_scope: the scope Slack says the call needs


@dataclass
class _LostAnswer:
    status: int | None  # None: the connection is closed without an answer
    late: float  # seconds to wait before answering (past the client's timeout, say)
    times: int


# What `_handle` returns to make the handler hang up without answering.
DROP = -1


@dataclass
class _State:
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[_Failure]] = field(default_factory=dict)
    lost: dict[str, list[_LostAnswer]] = field(default_factory=dict)
    messages: dict[str, dict[str, Params]] = field(default_factory=dict)  # channel -> ts -> msg
    deleted: set[tuple[str, str]] = field(default_factory=set)  # (channel, ts) deleted by a person
    dms: dict[str, str] = field(default_factory=dict)  # user id -> D channel id
    views: dict[str, Params] = field(default_factory=dict)
    home_views: dict[str, Params] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    users: dict[str, Params] = field(default_factory=dict)
    unknown_users: set[str] = field(default_factory=set)  # users.info: user_not_found
    warnings: list[str] = field(default_factory=list)
    refused: list[Call] = field(default_factory=list)  # response_url posts answered with a 400
    delays: dict[str, tuple[float, str | None]] = field(default_factory=dict)  # method -> (s, ch)


class FakeSlackAPI:
    """Start with `start()` (or `with FakeSlackAPI() as api:`); point clients at `api_url`."""

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        team_id: str = "T111",
        strict_messages: bool = False,
    ) -> None:
        self.token = token  # None accepts any xox* token
        self.bot_user_id, self.bot_id, self.team_id = bot_user_id, bot_id, team_id
        self.strict_messages = strict_messages  # chat.update of an unknown ts -> message_not_found
        self._state = _State()
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._last_us = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeSlackAPI:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeSlackAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL carries: slack_sdk joins method names onto it with urljoin, so it
        ends in "/" (WebClient appends one when missing)."""
        return f"{self.url}/api/"

    def response_url(self, name: str = "1") -> str:
        """A response_url for payload builders; POSTs to it are recorded as "response_url"."""
        return f"{self.url}/response_url/{name}"

    # --- inspection and programming ---------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self._state.calls if method is None or c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until `count` calls of `method` arrived; fail the test after `timeout`."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.calls(method)) >= count, timeout)
            found = self.calls(method)
        if not ok:
            raise AssertionError(
                f"expected {count} {method} call(s) in {timeout}s, got {len(found)}"
            )
        return found

    def reset(self) -> None:
        with self._cond:
            self._state = _State()

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        error: str | None = None,
        needed: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` fail: HTTP 429 (with Retry-After), a 5xx,
        or -- with `error=` -- HTTP 200 `{"ok": false, "error": error}` as Slack does for
        `not_in_channel`, `channel_not_found`, `expired_trigger_id`...; with `needed=`, the
        scope a `missing_scope` answer names (Slack adds `needed` and `provided`)."""
        failure = _Failure(200 if error else status, error, retry_after, times, needed)
        with self._cond:
            self._state.failures.setdefault(method, []).append(failure)

    def lose_answer(
        self, method: str, *, status: int | None = 503, late: float = 0.0, times: int = 1
    ) -> None:
        """Make the next `times` calls of `method` take effect (a chat.postMessage is stored)
        and then lose the answer, as Slack's edge can: HTTP `status` (a 5xx with an HTML body)
        instead of the result, or -- with `status=None` -- the connection closed without an
        answer. With `late=` seconds the answer (the lost one, or the real one when `status`
        is 200) comes that much later: past the client's timeout, the client never sees it.
        `method` "response_url" (or "upload") loses the answer to a post there the same way."""
        lost = _LostAnswer(status, late, times)
        with self._cond:
            self._state.lost.setdefault(method, []).append(lost)

    def slow_down(self, method: str, seconds: float, *, channel: str | None = None) -> None:
        """Answer `method` (only for `channel`, when given) after `seconds`, as a Slack under
        load or rate limiting would: the call is recorded at once, its effect comes after the
        wait. `seconds=0` makes it fast again."""
        with self._cond:
            if seconds > 0:
                self._state.delays[method] = (seconds, channel)
            else:
                self._state.delays.pop(method, None)

    def add_user(self, user_id: str, **fields: Any) -> None:
        with self._cond:
            self._state.users[user_id] = {**self._user(user_id), **fields}

    def forget_user(self, user_id: str) -> None:
        """An id Slack knows no one by (a typo, another workspace's): users.info answers
        user_not_found."""
        with self._cond:
            self._state.unknown_users.add(user_id)

    def add_message(
        self, channel: str, *, text: str, user: str, thread_ts: str | None = None
    ) -> str:
        """Seed a human message (e.g. a thread reply) so conversations.replies returns it."""
        with self._cond:
            seeded = {"type": "message", "user": user, "text": text}
            return str(self._store(channel, seeded, thread_ts)["ts"])

    def delete_message(self, channel: str, ts: str) -> None:
        """A person deletes a message in Slack: gone, and chat.update of it is refused
        (message_not_found) from then on."""
        with self._cond:
            channel = self._channel(channel)
            self._state.messages.get(channel, {}).pop(ts, None)
            self._state.deleted.add((channel, ts))

    def messages(self, channel: str) -> list[Params]:
        with self._cond:
            return sorted(self._state.messages.get(channel, {}).values(), key=lambda m: m["ts"])

    def wait_for_new_message(self, channel: str, after_ts: str, timeout: float = 10.0) -> Params:
        """Block until a message newer than `after_ts` is posted in `channel`; return a copy of
        the oldest such message (cheap: scans only the newest messages)."""

        def newest() -> Params | None:
            found = None
            for message in reversed(self._state.messages.get(channel, {}).values()):
                if float(message["ts"]) <= float(after_ts):
                    break
                found = message
            return found

        with self._cond:
            if not self._cond.wait_for(lambda: newest() is not None, timeout):
                raise AssertionError(f"no new message in {channel} after {after_ts} in {timeout}s")
            return copy.deepcopy(newest() or {})

    def dm_channel(self, user_id: str) -> str:
        with self._cond:
            if user_id not in self._state.dms:
                self._state.dms[user_id] = f"D{next(self._ids):08d}"
            return self._state.dms[user_id]

    @property
    def warnings(self) -> list[str]:
        with self._cond:
            return list(self._state.warnings)

    def refused(self, call: Call) -> bool:
        """Whether Slack refused ``call`` (a response_url post with invalid blocks), so that
        nobody saw it."""
        with self._cond:
            return any(call is c for c in self._state.refused)

    @property
    def uploads(self) -> dict[str, bytes]:
        with self._cond:
            return dict(self._state.uploads)

    # --- request handling (called from server threads) --------------------------------------
    def _handle(
        self, method: str, params: Params, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        call = Call(method, params, headers, body)
        with self._cond:
            self._state.calls.append(call)
            self._cond.notify_all()
            seconds, channel = self._state.delays.get(method, (0.0, None))
        if seconds and channel in (None, params.get("channel")):
            time.sleep(seconds)  # outside the lock: other calls are answered meanwhile
        with self._cond:
            queue = self._state.failures.get(method)
            failure = queue[0] if queue else None
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    queue.pop(0)  # type: ignore[union-attr]
            if failure is not None:
                return _failure_response(failure)
            lost = _take(self._state.lost, method)
            if method == "response_url":
                answer = self._respond(call)
            elif method == "upload":
                self._state.uploads[params["file_id"]] = body
                answer = 200, {"Content-Type": "text/plain"}, f"OK - {len(body)}".encode()
            else:
                result = self._authorize(params, headers) or self._dispatch(method, params)
                json_type = {"Content-Type": "application/json; charset=utf-8"}
                answer = 200, json_type, json.dumps(result).encode()
        if lost is not None:  # done; the answer goes astray
            if lost.late:
                time.sleep(lost.late)
            if lost.status is None:
                return DROP, {}, b""
            if lost.status != 200:
                return _failure_response(_Failure(lost.status, None, None, 1))
        return answer

    def _respond(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        """A post to a response_url: a message payload like chat.postMessage's, under the same
        block limits (https://docs.slack.dev/interactivity/handling-user-interaction), refused
        as a webhook refuses one: HTTP 400 with the error alone as text (Slack's webhooks answer
        "invalid_blocks" so: sourcegraph/sourcegraph#49979). What a response_url answers to too
        much text in all is not documented; we answer as chat.postMessage does."""
        blocks = call.params.get("blocks") or []
        errors = block_errors(blocks) if isinstance(blocks, list) else []
        if errors:
            too_long = message_text_errors(blocks)
            error = MSG_BLOCKS_TOO_LONG if errors == too_long else "invalid_blocks"
            self._state.refused.append(call)
            self._state.warnings.append(f"response_url: {error}: {'; '.join(errors)}")
            return 400, {"Content-Type": "text/plain"}, error.encode()
        return 200, {"Content-Type": "text/plain"}, f"OK - {len(call.body)}".encode()

    def _authorize(self, params: Params, headers: dict[str, str]) -> Params | None:
        token = headers.get("authorization", "").removeprefix("Bearer ").strip() or params.get(
            "token"
        )
        if not token:
            return {"ok": False, "error": "not_authed"}
        if (self.token is not None and token != self.token) or not str(token).startswith("xox"):
            return {"ok": False, "error": "invalid_auth"}
        return None

    def _dispatch(self, method: str, params: Params) -> Params:
        errors: list[str] = []
        too_long: list[str] = []
        if method in _MESSAGE_METHODS and params.get("blocks"):
            too_long = message_text_errors(params["blocks"])
            errors = [e for e in block_errors(params["blocks"]) if e not in too_long]
            if not errors and not params.get("text"):
                self._state.warnings.append(f"{method}: blocks without a top-level text fallback")
        elif method.startswith("views.") and isinstance(params.get("view"), dict):
            errors = view_errors(params["view"])
        if too_long and not errors:
            # Slack says no more than this (slackapi/bolt-js#2867 asks for the count)
            return {"ok": False, "error": MSG_BLOCKS_TOO_LONG}
        if errors:
            error = "invalid_blocks" if method in _MESSAGE_METHODS else "invalid_arguments"
            return {
                "ok": False,
                "error": error,
                "errors": errors,
                "response_metadata": {"messages": errors},
            }
        handler = _METHODS.get(method)
        return handler(self, params) if handler else {"ok": True}

    # --- state helpers (callers hold the lock) ----------------------------------------------
    def _next_ts(self) -> str:
        """Unique, strictly increasing message timestamps, formatted like Slack's."""
        self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _channel(self, channel: str) -> str:
        # Posting to a user id lands in the bot's DM with that user, as on Slack.
        return self.dm_channel(channel) if channel[:1] in ("U", "W") else channel

    def _store(self, channel: str, message: Params, thread_ts: str | None = None) -> Params:
        stored = {**message, "ts": self._next_ts(), "team": self.team_id}
        if thread_ts:
            stored["thread_ts"] = thread_ts
        self._state.messages.setdefault(channel, {})[stored["ts"]] = stored
        return stored

    def _user(self, user_id: str) -> Params:
        profile = {"real_name": f"User {user_id}", "display_name": user_id.lower()}
        return self._state.users.get(user_id) or {
            **{"id": user_id, "team_id": self.team_id, "name": user_id.lower()},
            **{"deleted": False, "is_bot": False, "is_admin": False, "is_owner": False},
            **{"tz": "Europe/Berlin", "tz_label": "Central European Time", "tz_offset": 3600},
            **{"real_name": profile["real_name"], "profile": profile},
        }

    def _view(self, view: Params, view_id: str | None = None) -> Params:
        view_id = view_id or f"V{next(self._ids):08d}"
        stored = {
            **view,
            "id": view_id,
            "team_id": self.team_id,
            "app_id": "A111",
            "bot_id": self.bot_id,
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.hash",
            "root_view_id": view_id,
            "previous_view_id": None,
            "private_metadata": view.get("private_metadata", ""),
        }
        self._state.views[view_id] = stored
        return stored


def _take(queues: dict[str, list[_LostAnswer]], method: str) -> _LostAnswer | None:
    queue = queues.get(method)
    if not queue:
        return None
    lost = queue[0]
    lost.times -= 1
    if lost.times <= 0:
        queue.pop(0)
    return lost


def _failure_response(failure: _Failure) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if failure.status == 429:
        headers["Retry-After"] = str(failure.retry_after or 0)
        return 429, headers, json.dumps({"ok": False, "error": "ratelimited"}).encode()
    if failure.error is not None:
        answer: dict[str, object] = {"ok": False, "error": failure.error}
        if failure.needed is not None:
            answer |= {"needed": failure.needed, "provided": "chat:write,commands"}
        return 200, headers, json.dumps(answer).encode()
    return failure.status, {"Content-Type": "text/html"}, b"<html>Slack is having trouble</html>"


def _post_message(api: FakeSlackAPI, p: Params) -> Params:
    if not p.get("channel"):
        return {"ok": False, "error": "channel_not_found"}
    channel = api._channel(p["channel"])
    fields: Params = {k: p[k] for k in ("text", "blocks", "attachments", "metadata") if k in p}
    message = api._store(
        channel,
        {
            "type": "message",
            "user": api.bot_user_id,
            "bot_id": api.bot_id,
            "app_id": "A111",
            **fields,
        },
        p.get("thread_ts"),
    )
    return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}


def _update(api: FakeSlackAPI, p: Params) -> Params:
    channel = api._channel(p.get("channel", ""))
    stored = api._state.messages.get(channel, {}).get(p.get("ts", ""))
    if stored is None:
        if api.strict_messages or (channel, str(p.get("ts", ""))) in api._state.deleted:
            return {"ok": False, "error": "message_not_found"}
        stored = {
            "type": "message",
            "user": api.bot_user_id,
            "ts": p.get("ts"),
            "team": api.team_id,
        }
        api._state.messages.setdefault(channel, {})[str(p.get("ts"))] = stored
    stored.update({k: p[k] for k in ("text", "blocks", "attachments", "metadata") if k in p})
    stored["edited"] = {"user": api.bot_user_id, "ts": api._next_ts()}
    return {
        "ok": True,
        "channel": channel,
        "ts": stored["ts"],
        "text": stored.get("text", ""),
        "message": stored,
    }


def _ephemeral(api: FakeSlackAPI, p: Params) -> Params:
    if not p.get("user"):
        return {"ok": False, "error": "user_not_in_channel"}
    return {"ok": True, "message_ts": api._next_ts()}


def _permalink(api: FakeSlackAPI, p: Params) -> Params:
    channel, ts = p.get("channel", ""), p.get("message_ts", "")
    if (api._channel(channel), ts) in api._state.deleted:  # as Slack answers for a deleted one
        return {"ok": False, "error": "message_not_found"}
    link = f"https://labelbot-test.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    return {"ok": True, "channel": channel, "permalink": link}


def _open(api: FakeSlackAPI, p: Params) -> Params:
    users = [u for u in str(p.get("users", "")).split(",") if u]
    if len(users) != 1:
        return {"ok": False, "error": "users_list_not_supplied" if not users else "not_supported"}
    already = users[0] in api._state.dms
    return {
        "ok": True,
        "no_op": already,
        "already_open": already,
        "channel": {"id": api.dm_channel(users[0])},
    }


def _replies(api: FakeSlackAPI, p: Params) -> Params:
    """conversations.replies (https://docs.slack.dev/reference/methods/conversations.replies):
    the thread's root, then its replies oldest first, windowed and paged as conversations.history
    (`oldest`, `latest`, `inclusive`, `limit` -- 1,000 unless given, at most 1,000 -- and
    `cursor`)."""
    root = p.get("ts")
    thread = [
        m for m in api.messages(p.get("channel", "")) if root in (m["ts"], m.get("thread_ts"))
    ]
    if not thread:
        return {"ok": False, "error": "thread_not_found"}
    window = _window(thread[1:], p)
    if isinstance(window, str):
        return {"ok": False, "error": window}
    paged = _page(window, p, newest_first=False, default_limit=1000, max_limit=1000)
    if paged is None:
        return {"ok": False, "error": "invalid_cursor"}
    # The root comes first whatever the window; the replies in it follow, oldest first.
    page, cursor = paged
    return {
        "ok": True,
        "messages": [_shown(m, p) for m in [thread[0], *page]],
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


def _history(api: FakeSlackAPI, p: Params) -> Params:
    """conversations.history (https://docs.slack.dev/reference/methods/conversations.history):
    the channel's messages newest first, thread replies left out; `oldest`/`latest` bound the
    window (exclusive unless `inclusive`), `limit` (100 unless given, at most 999) and `cursor`
    page it, and message metadata comes back only with `include_all_metadata`. A user id is not
    a conversation here (post to it, then read the DM's D channel id from the answer or
    conversations.open)."""
    channel = p.get("channel", "")
    if not channel or channel[:1] in ("U", "W"):
        return {"ok": False, "error": "channel_not_found"}
    timeline = [m for m in api.messages(channel) if m.get("thread_ts") in (None, m["ts"])]
    window = _window(timeline, p)
    if isinstance(window, str):
        return {"ok": False, "error": window}
    paged = _page(window, p, newest_first=True, default_limit=100, max_limit=999)
    if paged is None:
        return {"ok": False, "error": "invalid_cursor"}
    page, cursor = paged
    return {
        "ok": True,
        "messages": [_shown(m, p) for m in page],
        "has_more": bool(cursor),
        "pin_count": 0,
        "response_metadata": {"next_cursor": cursor},
    }


def _flag(p: Params, name: str) -> bool:
    return str(p.get(name, "")).lower() in ("1", "true")


def _ts(value: object) -> Decimal | None:
    """A message timestamp ("1712345678.123456") as an exact number; None if it is none."""
    try:
        ts = Decimal(str(value))
    except InvalidOperation:
        return None
    return ts if ts.is_finite() and ts >= 0 else None


def _window(messages: list[Params], p: Params) -> list[Params] | str:
    """The messages between `oldest` and `latest` (exclusive unless `inclusive`), or the error
    Slack answers to a bound that is no timestamp."""
    inclusive = _flag(p, "inclusive")
    oldest = _ts(p.get("oldest") or 0)
    latest = _ts(p["latest"]) if p.get("latest") else Decimal("Infinity")
    if oldest is None:
        return "invalid_ts_oldest"
    if latest is None:
        return "invalid_ts_latest"

    def inside(ts: Decimal) -> bool:
        if inclusive:
            return oldest <= ts <= latest
        return oldest < ts < latest

    return [m for m in messages if inside(Decimal(m["ts"]))]


# Slack's cursors are opaque strings; for messages they are base64 of "next_ts:" and the digits
# of the timestamp the next page starts at, so a page resumes there even when messages arrive
# in between. A cursor Slack did not make is answered `invalid_cursor`.
_CURSOR_PREFIX = "next_ts:"


def _cursor(ts: str) -> str:
    return base64.b64encode(f"{_CURSOR_PREFIX}{ts.replace('.', '')}".encode()).decode()


def _resume_at(cursor: str) -> Decimal | None:
    try:
        decoded = base64.b64decode(cursor, validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    digits = decoded.removeprefix(_CURSOR_PREFIX)
    if decoded == digits or not digits.isdigit() or len(digits) <= 6:
        return None
    return Decimal(f"{digits[:-6]}.{digits[-6:]}")


def _page(
    messages: list[Params], p: Params, *, newest_first: bool, default_limit: int, max_limit: int
) -> tuple[list[Params], str] | None:
    """One page of `messages` from the `cursor` on (None: a cursor Slack would refuse), `limit`
    long, and the cursor of the next page ("" at the end)."""
    ordered = sorted(messages, key=lambda m: Decimal(m["ts"]), reverse=newest_first)
    start = 0
    if p.get("cursor"):
        resume = _resume_at(str(p["cursor"]))
        if resume is None:
            return None
        past = [Decimal(m["ts"]) > resume if newest_first else Decimal(m["ts"]) < resume
                for m in ordered]  # fmt: skip
        start = past.index(False) if False in past else len(ordered)
    limit = min(max(int(p.get("limit") or default_limit), 1), max_limit)
    page, rest = ordered[start : start + limit], ordered[start + limit :]
    return page, _cursor(rest[0]["ts"]) if rest else ""


def _shown(message: Params, p: Params) -> Params:
    """A copy of a stored message as a read answers it: no metadata unless asked for."""
    shown = copy.deepcopy(message)
    if not _flag(p, "include_all_metadata"):
        shown.pop("metadata", None)
    return shown


def _auth_test(api: FakeSlackAPI, p: Params) -> Params:
    return {
        "ok": True,
        "url": "https://labelbot-test.slack.com/",
        "team": "Labelbot Test",
        "user": "labelbot",
        "team_id": api.team_id,
        "user_id": api.bot_user_id,
        "bot_id": api.bot_id,
        "is_enterprise_install": False,
    }


def _views_open(api: FakeSlackAPI, p: Params) -> Params:
    if not p.get("trigger_id") or not isinstance(p.get("view"), dict):
        return {"ok": False, "error": "invalid_arguments"}
    return {"ok": True, "view": api._view(p["view"])}


def _views_update(api: FakeSlackAPI, p: Params) -> Params:
    view_id = p.get("view_id") or next(
        (
            k
            for k, v in api._state.views.items()
            if p.get("external_id") and v.get("external_id") == p["external_id"]
        ),
        None,
    )
    if view_id not in api._state.views:
        return {"ok": False, "error": "not_found"}
    return {"ok": True, "view": api._view(p["view"], view_id)}


def _views_publish(api: FakeSlackAPI, p: Params) -> Params:
    if not p.get("user_id") or not isinstance(p.get("view"), dict):
        return {"ok": False, "error": "invalid_arguments"}
    view = api._view(p["view"], api._state.home_views.get(p["user_id"], {}).get("id"))
    api._state.home_views[p["user_id"]] = view
    return {"ok": True, "view": view}


def _users_info(api: FakeSlackAPI, p: Params) -> Params:
    user = p.get("user", "")
    if user[:1] not in ("U", "W") or user in api._state.unknown_users:
        return {"ok": False, "error": "user_not_found"}
    return {"ok": True, "user": api._user(user)}


def _conversations_info(api: FakeSlackAPI, p: Params) -> Params:
    channel = p.get("channel", "")
    kind = {"C": "is_channel", "G": "is_private", "D": "is_im"}.get(channel[:1], "is_channel")
    return {
        "ok": True,
        "channel": {"id": channel, "name": channel.lower(), kind: True, "is_member": True},
    }


def _upload_url(api: FakeSlackAPI, p: Params) -> Params:
    file_id = f"F{next(api._ids):08d}"
    return {"ok": True, "upload_url": f"{api.url}/upload/v1/{file_id}", "file_id": file_id}


def _complete_upload(api: FakeSlackAPI, p: Params) -> Params:
    files = []
    for f in p.get("files") or []:
        if f["id"] not in api._state.uploads:
            return {"ok": False, "error": "file_not_found"}
        files.append(
            {"id": f["id"], "title": f.get("title", ""), "size": len(api._state.uploads[f["id"]])}
        )
    return {"ok": True, "files": files}


_METHODS: dict[str, Callable[[FakeSlackAPI, Params], Params]] = {
    "auth.test": _auth_test,
    "chat.postMessage": _post_message,
    "chat.update": _update,
    "chat.postEphemeral": _ephemeral,
    "chat.getPermalink": _permalink,
    "conversations.open": _open,
    "conversations.replies": _replies,
    "conversations.history": _history,
    "conversations.info": _conversations_info,
    "users.info": _users_info,
    "views.open": _views_open,
    "views.push": _views_open,
    "views.update": _views_update,
    "views.publish": _views_publish,
    "files.getUploadURLExternal": _upload_url,
    "files.completeUploadExternal": _complete_upload,
}


def _parse(content_type: str, body: bytes, query: str) -> Params:
    params: Params = dict(parse_qsl(query))
    if content_type.startswith("application/json") and body:
        params.update(json.loads(body))
    elif content_type.startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    for name in _JSON_FIELDS:
        if isinstance(params.get(name), str) and params[name][:1] in ("[", "{"):
            params[name] = json.loads(params[name])
    return params


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        fake: FakeSlackAPI = self.server.fake  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        parts = url.path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            method, params = parts[1], _parse(headers.get("content-type", ""), body, url.query)
        elif parts[:2] == ["upload", "v1"] and len(parts) == 3:
            method, params = "upload", {"file_id": parts[2]}
        elif parts[0] == "response_url":
            # The path after /response_url/ says whose answer it was (see `response_url`).
            params = {**json.loads(body or b"{}"), "_to": "/".join(parts[1:])}
            method = "response_url"
        else:
            self.send_error(404)
            return
        status, out_headers, out = fake._handle(method, params, headers, body)
        if status == DROP:  # hang up without a word (see FakeSlackAPI.lose_answer)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(status)
            for name, value in {**out_headers, "Content-Length": str(len(out))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (its timeout): as on Slack

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass
