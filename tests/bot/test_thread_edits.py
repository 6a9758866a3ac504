"""Replies in a discussion thread that are edited or deleted in Slack, over real HTTP on SQLite
and PostgreSQL: the comment follows the edit, and a deleted reply's text leaves the database
(and so every export), not only the view."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from bot import ids
from engine import exporting
from storage.db import session_scope
from storage.models import Comment
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.fakes import payloads

U1, U2, U3 = "U0ALICE", "U0BOB", "U0CAROL"


def _thread(bot: Bot) -> tuple[int, str]:
    """Alice discusses her first example: (example id, the thread's ts in the channel)."""
    from tests.fakes.slack_client import example_id

    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    (root,) = bot.api.messages(CHANNEL)
    eid = example_id(message)
    assert eid is not None
    return eid, str(root["ts"])


def _changed(channel: str, message: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """A `message_changed` event as Slack sends it: the message as it is now in `message`."""
    return payloads.event_callback({
        "type": "message", "subtype": "message_changed", "hidden": True, "channel": channel,
        "ts": "1700000009.000000", "event_ts": "1700000009.000000", "channel_type": "channel",
        "message": {**message, "edited": {"user": message.get("user"), "ts": "1700000009.0"}},
        "previous_message": previous,
    })  # fmt: skip


def _deleted(channel: str, previous: dict[str, Any]) -> dict[str, Any]:
    """A `message_deleted` event: the message named by `deleted_ts`, as it was in
    `previous_message`."""
    return payloads.event_callback({
        "type": "message", "subtype": "message_deleted", "hidden": True, "channel": channel,
        "ts": "1700000010.000000", "deleted_ts": previous["ts"], "event_ts": "1700000010.000000",
        "channel_type": "channel", "previous_message": previous,
    })  # fmt: skip


def _comments(bot: Bot, eid: int) -> list[str]:
    record = next(r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(eid))
    return sorted(c["text"] for c in record["comments"])


def _stored_texts(bot: Bot) -> list[str]:
    with session_scope(bot.ws.db, read_only=True) as session:
        return sorted(c.text for c in session.exec(select(Comment)).all())


def test_an_edited_reply_updates_its_comment(bot: Bot, bank: dict[str, str]) -> None:
    eid, thread_ts = _thread(bot)
    reply = {"type": "message", "user": U3, "text": "original text",
             "ts": "1700000000.000100", "thread_ts": thread_ts}  # fmt: skip
    bot.slack.event(payloads.message_event(CHANNEL, U3, reply["text"], reply["ts"], thread_ts))
    bot.settle()
    assert _comments(bot, eid) == ["original text"]

    edited = {**reply, "text": "EDITED: actually &lt;atm_support&gt;"}
    assert bot.slack.event(_changed(CHANNEL, edited, reply)).status_code == 200
    bot.settle()
    assert _comments(bot, eid) == ["EDITED: actually <atm_support>"]  # as it reads in Slack

    with_file = {**edited, "text": "see the file", "files": [{"id": "F1", "name": "a.pdf"}]}
    bot.slack.event(_changed(CHANNEL, with_file, edited))
    other = {"type": "message", "user": U2, "text": "not a reply we keep", "ts": "1690000000.1"}
    bot.slack.event(_changed(CHANNEL, {**other, "text": "still not"}, other))
    bots = {**reply, "text": "a bot's edit", "bot_id": "B999"}
    bot.slack.event(_changed(CHANNEL, bots, reply))
    bot.settle()
    assert _comments(bot, eid) == ["see the file\n[attached: a.pdf]"]


def test_a_deleted_reply_leaves_no_text_behind(bot: Bot, bank: dict[str, str]) -> None:
    eid, thread_ts = _thread(bot)
    secret = {"type": "message", "user": U2, "text": "secret card number 4111",
              "ts": "1700000000.000200", "thread_ts": thread_ts}  # fmt: skip
    for reply, ts in (("keep me", "1700000000.000100"), (secret["text"], secret["ts"])):
        bot.slack.event(payloads.message_event(CHANNEL, U2, reply, ts, thread_ts))
    in_dm = payloads.message_event(
        bot.api.dm_channel(U1), U1, "dm thread reply", "1700000000.000300", thread_ts="1.0"
    )
    bot.slack.event(in_dm)  # no discussion there: not kept, and its deletion is a no-op
    bot.settle()
    assert _comments(bot, eid) == ["keep me", "secret card number 4111"]

    deleted = _deleted(CHANNEL, secret)
    for _ in range(2):  # a redelivery deletes nothing more
        assert bot.slack.event(deleted).status_code == 200
        bot.settle()
    assert _comments(bot, eid) == ["keep me"]
    assert _stored_texts(bot) == ["keep me"]  # gone from the database, not hidden
    for fmt in ("jsonl", "csv"):
        exported = exporting.export_text(bot.ws, PROJECT, fmt)
        assert "4111" not in exported and "keep me" in exported
