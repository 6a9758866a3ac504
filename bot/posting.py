"""Posting a message whose ts labelbot records (a proposal's card, a thread's root) once, even
when the process that posted it was killed before it recorded it (engine.planned_posts)."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from datetime import datetime

from slack_sdk.errors import SlackApiError

from bot.delivery import (
    CONNECTION_ERRORS,
    DELIVERY_EVENT,
    SearchCutShort,
    delivery_key,
    post_may_have_landed,
    post_window,
    rate_limited,
    refusal,
    search_post,
    with_delivery_key,
)
from bot.services import Services
from bot.slack_errors import error_code, is_auth_error
from bot.views.text import Block
from engine import planned_posts
from engine.planned_posts import PlannedPost

log = logging.getLogger(__name__)

# Slack's answers to the search for an earlier try that will not change by waiting: the
# channel is gone or archived, labelbot is out of it, or the app lacks the history scope.
# Whatever the earlier try left there is lost to labelbot (it cannot be read, nor its card
# followed), so the message is posted (to a gone channel: refused, the caller says how to mend
# it); for missing_scope, as find_post does (TokenWatch logs the scope as an ERROR).
FOR_GOOD = frozenset({"channel_not_found", "not_in_channel", "is_archived", "missing_scope"})


class NotPosted(enum.Enum):
    """Why :func:`post_once` posted nothing."""

    LAPSED = "the claim lapsed: another try noted a post meanwhile (the work is theirs)"
    UNSURE = "whether an earlier try posted it could not be told just now"
    # UNSURE for a rate limit of conversations.history's: Slack counts the app's calls of a
    # method together, so another note's search now is refused too
    RATE_LIMITED = "the search for an earlier try was rate limited"


def post_once(
    services: Services,
    *,
    note: str,
    channel: str,
    message: Callable[[], Block],
    record: Callable[[str, str, bool], None],
) -> tuple[str, str] | NotPosted:
    """chat.postMessage ``message()`` to ``channel`` and ``record`` it (its channel, its ts,
    and whether an earlier try posted it: what it shows may be older than ``message()``); the
    (channel, ts) recorded. The caller holds the claim on the work (one try at a time):
    NotPosted.LAPSED when that claim lapsed and another try noted a post meanwhile (the work
    is theirs), UNSURE (RATE_LIMITED) when whether an earlier try posted it is not known yet
    (nothing posted: see below).

    The post is noted as ``note`` (engine.planned_posts.note_name) before it is made and the note
    dropped once it is recorded. A note left by an earlier try (its process killed between the
    post and the record, or its answer lost) makes this look for that message in the note's
    channel first (bot.delivery.find_post): found, it is recorded instead of posting a second
    one; not found (the search read its whole window: the messages up to
    bot.delivery.post_window after its first try, when any try of it had landed), the message
    is posted. A search that
    could not tell (a 429: Slack gives conversations.history about a call a minute; unanswered;
    cut short) posts nothing (logged, UNSURE): the note stays (with how far the search read:
    the next one reads on from there, a page a call a minute), and the next try looks again,
    until the note lapses (engine.planned_posts.NOTED_FOR) and the message is posted anew. A
    search Slack refuses for good (FOR_GOOD: the channel deleted, labelbot removed from it),
    or a note of a post to another channel than ``channel`` (the project moved since), does
    not hold the message back: it is posted to ``channel``. A post Slack refused outright
    (nothing stored) drops the note; one that may have landed (a timeout, a 5xx; a try of the
    client's before the last one too, which its search could not rule out:
    bot.delivery.post_may_have_landed) keeps it for the next try.
    Slack's errors are raised."""
    earlier = planned_posts.planned(services.ws, note)
    if earlier is not None and earlier.channel != channel:
        log.info("%s: a try at %s cut short before it was recorded may have posted it to %s; "
                 "posted to %s now", note.removeprefix(planned_posts.PREFIX),
                 _when(earlier), earlier.channel, channel)  # fmt: skip
    elif earlier is not None:
        # the post landed by post_window after its first try: the channel's later messages are
        # not read (Slack gives conversations.history about a call a minute); a search cut
        # short noted how far it read, and this one goes on from there
        latest = earlier.read_to or f"{earlier.first_try + post_window(services.client):.6f}"
        read: list[str] = []
        try:
            found = search_post(
                services.client, _shaped(earlier), latest=latest, read_to=read.append
            )
        except (SlackApiError, *CONNECTION_ERRORS, SearchCutShort) as exc:
            if error_code(exc) not in FOR_GOOD:
                if read:
                    planned_posts.searched(services.ws, note, earlier, read_to=read[-1])
                _unsure(note, earlier, exc)
                return NotPosted.RATE_LIMITED if rate_limited(exc) else NotPosted.UNSURE
            log.warning("%s: could not check whether a try at %s cut short before it was "
                        "recorded posted it to %s (%s, for good): posted now",
                        note.removeprefix(planned_posts.PREFIX), _when(earlier),
                        earlier.channel, refusal(exc))  # fmt: skip
            found = None
        if found is not None:
            where = (str(found["channel"]), str(found["ts"]))
            tried = datetime.fromtimestamp(earlier.first_try).astimezone()
            log.warning("%s was posted to %s (message %s) by a try at %s cut short before it was "
                        "recorded: recorded, not posted again", note.removeprefix(
                            planned_posts.PREFIX), where[0], where[1],
                        tried.isoformat(timespec="seconds"))  # fmt: skip
            record(*where, True)
            planned_posts.done(services.ws, note, earlier)
            return where
    payload = with_delivery_key({"channel": channel, **message()})
    key = delivery_key(payload)
    assert key is not None
    post = PlannedPost(channel, key, float(payload["metadata"]["event_payload"]["first_try"]))
    if not planned_posts.note(services.ws, note, post, instead_of=earlier):
        return NotPosted.LAPSED
    try:
        sent = services.client.chat_postMessage(**payload)
    except (SlackApiError, *CONNECTION_ERRORS) as exc:
        if not post_may_have_landed(exc):
            planned_posts.done(services.ws, note, post)
        raise
    where = (str(sent["channel"]), str(sent["ts"]))
    record(*where, False)
    planned_posts.done(services.ws, note, post)
    return where


def _when(post: PlannedPost) -> str:
    return datetime.fromtimestamp(post.first_try).astimezone().isoformat(timespec="seconds")


def _unsure(note: str, earlier: PlannedPost, exc: Exception) -> None:
    """Log that the search for ``earlier``, the post noted as ``note``, failed with ``exc``."""
    tried = _when(earlier)
    # A refused token is logged by the client's TokenWatch, and refuses everything else too.
    (log.debug if is_auth_error(exc) else log.warning)(
        "%s: could not check whether a try at %s cut short before it was recorded posted it to "
        "%s (%s): not posted now, looked for again next time", note.removeprefix(
            planned_posts.PREFIX), tried, earlier.channel, refusal(exc),
    )  # fmt: skip


def _shaped(post: PlannedPost) -> dict[str, object]:
    """A payload as ``post`` was sent, as much as find_post reads of it: the channel, and the
    delivery key and first try in its metadata (the channel's history is read from then on)."""
    event = {"delivery_key": post.key, "first_try": post.first_try}
    return {"channel": post.channel,
            "metadata": {"event_type": DELIVERY_EVENT, "event_payload": event}}  # fmt: skip
