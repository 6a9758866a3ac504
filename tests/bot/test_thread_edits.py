"""Replies in a discussion thread that are edited or deleted in Slack, over real HTTP on SQLite
and PostgreSQL: the comment follows the edit, and a deleted reply's text leaves the database
(and so every export), not only the view; also when Slack delivers the edit or the deletion
before the reply itself, or the reply again after its deletion."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from bot import ids
from engine import exporting, jobs
from storage.db import session_scope
from storage.models import Comment, ReplyRecord, utcnow
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


def _changed(
    channel: str, message: dict[str, Any], previous: dict[str, Any], at: str = "1700000009.000000"
) -> dict[str, Any]:
    """A `message_changed` event as Slack sends it: the message as it is now in `message`, the
    event's own ts (``at``) when the edit was made."""
    return payloads.event_callback({
        "type": "message", "subtype": "message_changed", "hidden": True, "channel": channel,
        "ts": at, "event_ts": at, "channel_type": "channel",
        "message": {**message, "edited": {"user": message.get("user"), "ts": at}},
        "previous_message": previous,
    })  # fmt: skip


def _deleted(channel: str, previous: dict[str, Any], *, described: bool = True) -> dict[str, Any]:
    """A `message_deleted` event: the message named by `deleted_ts`, as it was in
    `previous_message` (left out when not ``described``)."""
    event = {
        "type": "message", "subtype": "message_deleted", "hidden": True, "channel": channel,
        "ts": "1700000010.000000", "deleted_ts": previous["ts"], "event_ts": "1700000010.000000",
        "channel_type": "channel", "previous_message": previous,
    }  # fmt: skip
    if not described:
        del event["previous_message"]
    return payloads.event_callback(event)


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
        assert "card number 4111" not in exported and "keep me" in exported


def _records(bot: Bot) -> dict[str, bool]:
    """What is remembered of replies' events: key → deleted."""
    with session_scope(bot.ws.db, read_only=True) as session:
        return {r.external_key: r.deleted for r in session.exec(select(ReplyRecord)).all()}


def test_a_reply_deleted_before_it_arrives_is_never_stored(bot: Bot, bank: dict[str, str]) -> None:
    """Slack does not promise the order of events: the deletion of a reply can come before the
    reply, or the reply be delivered again after its deletion. Either way its text is never
    stored, however the deletion describes it."""
    eid, thread_ts = _thread(bot)
    early = {"type": "message", "user": U2, "text": "secret card number 4111",
             "ts": "1700000000.000200", "thread_ts": thread_ts}  # fmt: skip
    bare = {**early, "text": "my password is hunter2", "ts": "1700000000.000300"}
    again = {**early, "text": "call me on 555-0100", "ts": "1700000000.000400"}
    assert bot.slack.event(_deleted(CHANNEL, early)).status_code == 200
    bot.slack.event(_deleted(CHANNEL, bare, described=False))  # only its deleted_ts
    bot.settle()
    for reply in (early, bare):  # now the replies themselves, in their thread
        sent = payloads.message_event(CHANNEL, U2, reply["text"], reply["ts"], thread_ts)
        assert bot.slack.event(sent).status_code == 200
    bot.slack.event(payloads.message_event(CHANNEL, U3, "keep me", "1700000000.000500", thread_ts))
    bot.settle()
    assert _stored_texts(bot) == ["keep me"]

    # Stored, deleted, then delivered again (a retry handled late, under another event id).
    reply = payloads.message_event(CHANNEL, U2, again["text"], again["ts"], thread_ts)
    bot.slack.event(reply)
    bot.settle()
    assert _comments(bot, eid) == ["call me on 555-0100", "keep me"]
    bot.slack.event(_deleted(CHANNEL, again))
    bot.settle()
    redelivered = payloads.message_event(CHANNEL, U2, again["text"], again["ts"], thread_ts)
    bot.slack.event(redelivered)
    bot.settle()
    assert _comments(bot, eid) == ["keep me"]
    assert _stored_texts(bot) == ["keep me"]
    for fmt in ("jsonl", "csv"):
        exported = exporting.export_text(bot.ws, PROJECT, fmt)
        # whole phrases: a bare "555" or "4111" can occur in an exported timestamp
        for secret in ("card number 4111", "hunter2", "555-0100"):
            assert secret not in exported

    # An edit that comes after the deletion (out of order too) brings nothing back.
    bot.slack.event(_changed(CHANNEL, {**early, "text": "4111 edited"}, early))
    bot.settle()
    assert _stored_texts(bot) == ["keep me"]
    tombstones = [key for key, deleted in _records(bot).items() if deleted]
    assert sorted(tombstones) == [f"slack:{CHANNEL}:{r['ts']}" for r in (early, bare, again)]


def test_a_reply_edited_before_it_arrives_is_stored_as_edited(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Edits that come before their reply, in any order: the comment is stored as the latest
    reads; an older edit delivered late never overwrites a newer one."""
    eid, thread_ts = _thread(bot)
    reply = {"type": "message", "user": U3, "text": "original text",
             "ts": "1700000000.000100", "thread_ts": thread_ts}  # fmt: skip
    first = {**reply, "text": "first edit"}
    second = {**reply, "text": "second edit: &lt;atm_support&gt;"}
    # The second edit is delivered before the first, and both before the reply.
    bot.slack.event(_changed(CHANNEL, second, first, at="1700000002.000000"))
    bot.slack.event(_changed(CHANNEL, first, reply, at="1700000001.000000"))
    bot.settle()
    assert _stored_texts(bot) == []  # nothing is a comment before its reply arrives
    bot.slack.event(payloads.message_event(CHANNEL, U3, reply["text"], reply["ts"], thread_ts))
    bot.settle()
    assert _comments(bot, eid) == ["second edit: <atm_support>"]
    assert _stored_texts(bot) == ["second edit: <atm_support>"]

    bot.slack.event(_changed(CHANNEL, first, reply, at="1700000001.000000"))  # a late retry
    bot.settle()
    assert _comments(bot, eid) == ["second edit: <atm_support>"]
    third = {**reply, "text": "third edit"}
    bot.slack.event(_changed(CHANNEL, third, second, at="1700000003.000000"))
    bot.settle()
    assert _comments(bot, eid) == ["third edit"]


def test_only_replies_in_discussions_are_remembered(bot: Bot, bank: dict[str, str]) -> None:
    """Edits and deletions of messages that are no reply in a discussion leave nothing behind
    (most messages in the channel and the DMs are none); a reply's are kept only a while."""
    _, thread_ts = _thread(bot)
    top = {"type": "message", "user": U2, "text": "hello channel", "ts": "1700000000.000700"}
    elsewhere = {**top, "text": "in another thread", "thread_ts": "1690000000.000001"}
    for message in (top, elsewhere):
        bot.slack.event(_changed(CHANNEL, {**message, "text": "edited"}, message))
        bot.slack.event(_deleted(CHANNEL, message))
    bot.settle()
    assert _records(bot) == {}

    stale = {"type": "message", "user": U2, "text": "hi", "ts": "1700000000.000800",
             "thread_ts": thread_ts}  # fmt: skip
    with session_scope(bot.ws.db) as session:  # a tombstone three days old
        session.add(ReplyRecord(external_key="slack:C0OLD:1.0", deleted=True,
                                seen_at=utcnow() - timedelta(days=3)))  # fmt: skip
    bot.slack.event(_deleted(CHANNEL, stale))
    bot.settle()
    jobs.tidy(bot.ws)  # the scheduler's housekeeping job forgets old records
    assert _records(bot) == {f"slack:{CHANNEL}:{stale['ts']}": True}  # the old one pruned
