"""Discussion threads in Slack: opening an example's thread in a project channel once, however
many replicas try at once (bot.disputes for disagreements, bot.flag_threads for flags), and
reading a Slack message as a reply to keep, as the Events API delivers it and as
conversations.replies lists it (bot.flow.discuss)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.posting import NotPosted, post_once
from bot.services import Services
from bot.slack_text import plain_from_slack
from bot.views.text import Block
from engine import discussions, jobs, planned_posts

# How long a claim to open an example's thread lasts: one chat.postMessage with the client's
# retries fits many times over; lapses if its process dies between the post and the record.
OPENING_LEASE = timedelta(minutes=5)


def open_once(
    services: Services,
    *,
    project: str,
    example_id: int,
    kind: str,
    channel: str,
    root: Callable[[], Block],
) -> tuple[str, str] | None:
    """Post ``root()`` (drawn only when it is posted) to ``channel`` and remember it as the
    example's thread of ``kind``, unless it has one or another thread or process is opening
    it; the thread's (channel, ts) if it was opened here. The claim is on the example, across
    processes; a failed post (raised) releases it with no thread recorded, so the next try
    opens it. The post is noted before it is made (bot.posting.post_once): a process killed
    after Slack stored the root and before it was recorded leaves the note, and the next try
    records that root, found in the channel, rather than open a second thread (and redraws
    it: it shows the example as it stood then)."""
    if discussions.example_thread(services.ws, example_id=example_id, kinds=(kind,)):
        return None
    with jobs.claim(services.ws, f"{kind}:{example_id}", ttl=OPENING_LEASE) as got:
        if not got or discussions.example_thread(services.ws, example_id=example_id, kinds=(kind,)):
            return None  # someone else is opening it, or opened it since the first look

        found_earlier: list[bool] = []

        def record(posted_to: str, ts: str, earlier: bool) -> None:
            discussions.open_thread(services.ws, example_id=example_id, channel=posted_to,
                                    thread_ts=ts, kind=kind, opened_by="labelbot")  # fmt: skip
            found_earlier.append(earlier)

        # Not queued: without the root's ts there is no thread to record.
        note = planned_posts.note_name(f"{kind}:{example_id}", project=project)
        where = post_once(services, note=note, channel=channel, message=root, record=record)
    if isinstance(where, NotPosted):
        return None  # the next try opens it (bot.posting.post_once)
    if any(found_earlier):
        # posted by the try cut short: drawn as things stood then (a vote, a flag since)
        services.courier.update(root(), channel=where[0], ts=where[1])
    return where


# Thread replies arrive as plain messages, as `thread_broadcast` when also sent to the channel
# (https://docs.slack.dev/reference/events/message/thread_broadcast), or as `file_share` with a
# file attached (https://docs.slack.dev/reference/events/message/file_share).
REPLY_SUBTYPES = (None, "thread_broadcast", "file_share")


def reply_text(message: dict[str, Any]) -> str:
    """A reply as the comment keeps it: the text as typed, the names of attached files, and
    where a message shared into the thread comes from ("" when the reply has none of these).

    A shared (forwarded) message arrives as an attachment with ``is_share`` and its permalink
    in ``from_url``, the reply's own text empty unless the sharer added a comment: it is named
    by its link, as files are by their names, not copied (its words are its author's, not the
    sharer's). Other attachments (link previews) add nothing to what was typed."""
    text = plain_from_slack(message.get("text") or "")
    notes = []
    files = [f.get("name") or f.get("title") or "a file" for f in message.get("files") or []]
    if files:
        notes.append(f"[attached: {', '.join(files)}]")
    for shared in (a for a in message.get("attachments") or [] if a.get("is_share")):
        link = shared.get("from_url") or shared.get("original_url")
        notes.append(f"[shared a message: {link}]" if link else "[shared a message]")
    if notes:
        text = "\n".join([text, *notes]).strip()
    return text if text.strip() else ""


def kept_reply(message: dict[str, Any]) -> str:
    """The text a thread message is kept as, "" when it is no reply to keep: a thread's root,
    a message in no thread, a bot's (labelbot's own posts, other apps'), an edit or a deletion
    (other subtypes), or one with nothing said, attached or shared (an unfurl, blocks only)."""
    thread_ts = message.get("thread_ts")
    if (
        message.get("subtype") not in REPLY_SUBTYPES
        or message.get("bot_id")
        or not thread_ts
        or thread_ts == message.get("ts")
    ):
        return ""
    return reply_text(message)
