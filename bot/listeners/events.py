"""Events API: the App Home tab, and replies in discussion threads (kept as comments)."""

from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext

from bot import flow
from bot.listeners.registrar import Registrar
from bot.services import Services
from bot.slack_text import plain_from_slack
from engine import messaging

# Thread replies arrive as plain messages, as `thread_broadcast` when also sent to the channel
# (https://docs.slack.dev/reference/events/message/thread_broadcast), or as `file_share` with a
# file attached (https://docs.slack.dev/reference/events/message/file_share).
REPLY_SUBTYPES = (None, "thread_broadcast", "file_share")


def register(app: Registrar) -> None:
    app.event("app_home_opened")(home_opened)
    # One listener for message.im / message.channels / message.groups: all are `message`.
    app.event("message")(message_posted)


def _first_time(services: Services, body: dict[str, Any]) -> bool:
    """Slack redelivers an event it thinks timed out, with the same event_id."""
    return messaging.first_delivery(services.ws, event_id=body["event_id"])


def home_opened(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
    services: Services = context["services"]
    if event.get("tab") == "home" and _first_time(services, body):
        services.home_viewers.saw(event["user"])  # refreshed after the next model, for a while
        flow.publish_home(services, user=event["user"])


def message_posted(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
    services: Services = context["services"]
    thread_ts = event.get("thread_ts")
    if (
        event.get("subtype") not in REPLY_SUBTYPES
        or event.get("bot_id")  # our own posts (Bolt drops those too) and other apps'
        or not thread_ts
        or thread_ts == event.get("ts")  # a thread's root, not a reply
        or not _first_time(services, body)
    ):
        return
    flow.thread_reply(
        services,
        channel=event["channel"],
        thread_ts=thread_ts,
        ts=event["ts"],
        user=event.get("user", ""),
        text=reply_text(event),
    )


def reply_text(event: dict[str, Any]) -> str:
    """A reply as the comment keeps it: the text as typed, and the names of attached files."""
    text = plain_from_slack(event.get("text") or "")
    files = [f.get("name") or f.get("title") or "a file" for f in event.get("files") or []]
    if files:
        text = f"{text}\n[attached: {', '.join(files)}]".strip()
    return text
