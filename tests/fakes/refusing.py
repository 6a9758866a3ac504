"""The local Slack Web API with standing refusals: a channel archived or gone, a user
deactivated, a bot token revoked. Each lasts until the test lifts it, as Slack's do."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.slack_api import Call, FakeSlackAPI, Params


class RefusingSlackAPI(FakeSlackAPI):
    """FakeSlackAPI plus standing failures: every call of a method whose ``channel`` /
    ``user_id`` / ``user`` is one target answers ``{"ok": false, "error": ...}`` (HTTP 429
    with Retry-After 0 for ``status=429``), and ``all_error`` refuses every Web API method."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.standing: dict[tuple[str, str], tuple[int, str]] = {}
        self.all_error: str | None = None

    def fail_target(self, method: str, target: str, error: str, status: int = 200) -> None:
        self.standing[(method, target)] = (status, error)

    def _handle(
        self, method: str, params: Params, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        target = params.get("channel") or params.get("user_id") or params.get("user") or ""
        hit = self.standing.get((method, str(target)))
        if self.all_error and method not in ("response_url", "upload"):
            hit = (200, self.all_error)
        if hit is None:
            return super()._handle(method, params, headers, body)
        with self._cond:
            self._state.calls.append(Call(method, params, headers, body))
            self._cond.notify_all()
        status, error = hit
        answer = {"Content-Type": "application/json; charset=utf-8"}
        if status == 429:
            answer["Retry-After"] = "0"
        return status, answer, json.dumps({"ok": False, "error": error}).encode()
