"""Events API: the App Home tab, and replies in discussion threads (kept as comments, edited
and deleted with them); Slack's notice that it is dropping events, and its notices that the
bot token no longer works (the app uninstalled, the token revoked)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltResponse

from bot import flow, threads
from bot.delivery import TOKEN_ADVICE, token_watch
from bot.listeners.registrar import Registrar
from bot.services import Services
from engine import messaging

# An edit carries the message as it is now in `message`
# (https://docs.slack.dev/reference/events/message/message_changed); a deletion names it by
# `deleted_ts` (https://docs.slack.dev/reference/events/message/message_deleted).
EDITED, DELETED = "message_changed", "message_deleted"

log = logging.getLogger(__name__)


def register(app: Registrar) -> None:
    app.event("app_home_opened")(home_opened)
    # One listener for message.im / message.channels / message.groups: all are `message`.
    app.event("message")(message_posted)
    # Bolt answers these without checking the token (auth.test would fail by now).
    app.event("app_uninstalled")(token_lost)
    app.event("tokens_revoked")(token_lost)


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
    if event.get("subtype") == EDITED:
        _edited(services, event)
        return
    if event.get("subtype") == DELETED:
        _deleted(services, event)
        return
    text = threads.kept_reply(event)
    if not text or not _first_time(services, body):
        return
    flow.thread_reply(
        services,
        channel=event["channel"],
        thread_ts=event["thread_ts"],
        ts=event["ts"],
        user=event.get("user", ""),
        text=text,
    )


def _edited(services: Services, event: dict[str, Any]) -> None:
    """Any person's edited message: the comment it may be follows (an edit can remove what
    should not have been written, so no reply is passed over); bots' messages are no comments.
    The event's own ts is when the edit was made: edits delivered out of order keep the last."""
    message = event.get("message") or {}
    if message.get("bot_id") or not message.get("ts"):
        return
    flow.reply_edited(
        services,
        channel=event["channel"],
        ts=message["ts"],
        thread_ts=message.get("thread_ts") or message["ts"],
        text=threads.reply_text(message),
        edited_ts=event.get("event_ts") or event.get("ts") or message["ts"],
    )


def _deleted(services: Services, event: dict[str, Any]) -> None:
    """Any deleted message: the comment it may be is deleted too, and a reply deleted before
    its own event arrived (Slack does not promise their order) is not stored when it does.
    `previous_message` says which thread it was in; without it, it may have been a reply."""
    previous = event.get("previous_message")
    ts = event.get("deleted_ts") or (previous or {}).get("ts")
    if not ts:
        return
    thread_ts = None if previous is None else previous.get("thread_ts") or ts
    flow.reply_deleted(services, channel=event["channel"], ts=ts, thread_ts=thread_ts)


def token_lost(event: dict[str, Any], context: BoltContext) -> None:
    """Slack says the app was uninstalled, or tokens of it revoked: every Web API call will be
    refused until an operator reinstalls it or sets a new SLACK_BOT_TOKEN. Logged as Slack's
    refusals of the token are (bot.delivery.TokenWatch), and shown in /healthz; a redelivery
    is not logged again. https://docs.slack.dev/reference/events/app_uninstalled
    https://docs.slack.dev/reference/events/tokens_revoked"""
    kind = str(event.get("type"))
    if kind == "tokens_revoked" and not (event.get("tokens") or {}).get("bot"):
        log.info("Slack revoked user tokens of the app: the bot token is not among them")
        return
    services: Services = context["services"]
    watch = token_watch(services.client)
    if watch is not None:
        watch.refused(kind)
    else:
        log.error("Slack refuses the bot token (%s): %s", kind, TOKEN_ADVICE)


def rate_limited(body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse | None:
    """Slack's `app_rate_limited` notice (no event: no listener matches it, and Bolt would
    answer 404): the app passed 30,000 events in an hour from one workspace, and Slack does
    not deliver those past the limit.
    https://docs.slack.dev/reference/events/app_rate_limited"""
    if body.get("type") != "app_rate_limited":
        return next()
    log.warning(
        "Slack is not delivering all events to this app: app_rate_limited (team %s, minute %s);"
        " thread replies and Home tab visits past the limit are lost",
        body.get("team_id"),
        body.get("minute_rate_limited"),
    )
    return BoltResponse(status=200, body="")
