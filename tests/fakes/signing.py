"""Sign inbound requests exactly as Slack does, so Bolt's real signature check runs in tests.

Slack signs `v0:{timestamp}:{raw body}` with HMAC-SHA256 keyed by the app's signing secret and
sends `X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=<hex>`
(https://docs.slack.dev/authentication/verifying-requests-from-slack). The raw body is signed
byte for byte, so each helper returns the exact string to send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class SignedRequest:
    """A body and the headers Slack would send with it (POST to the Request URL)."""

    body: str
    headers: dict[str, str]


def signature(secret: str, timestamp: str, body: str | bytes) -> str:
    raw = body.decode("utf-8") if isinstance(body, bytes) else body
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{raw}".encode(), hashlib.sha256)
    return f"v0={digest.hexdigest()}"


def sign(
    secret: str, body: str, content_type: str, *, timestamp: int | None = None
) -> SignedRequest:
    """Headers for `body`; pass an old `timestamp` to test replay rejection (> 5 minutes)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature(secret, ts, body),
    }
    return SignedRequest(body=body, headers=headers)


def signed_slash_command(secret: str, form: dict[str, str], **kw: Any) -> SignedRequest:
    """Slash commands are plain form fields (`command=%2Flabel&text=...`), not JSON."""
    return sign(secret, urlencode(form), FORM, **kw)


def signed_interactivity(secret: str, payload: dict[str, Any], **kw: Any) -> SignedRequest:
    """block_actions, view_submission and shortcuts arrive as `payload=<urlencoded JSON>`."""
    return sign(secret, urlencode({"payload": json.dumps(payload)}), FORM, **kw)


def signed_event(secret: str, envelope: dict[str, Any], **kw: Any) -> SignedRequest:
    """Events API callbacks are a JSON body (the `event_callback` envelope)."""
    return sign(secret, json.dumps(envelope), "application/json", **kw)
