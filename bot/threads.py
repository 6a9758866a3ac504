"""Opening an example's thread in a project channel once, however many replicas try at once
(bot.disputes for disagreements, bot.flag_threads for flags)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from bot.services import Services
from bot.views.text import Block
from engine import discussions, jobs

# How long a claim to open an example's thread lasts: one chat.postMessage with the client's
# retries fits many times over; lapses if its process dies between the post and the record.
OPENING_LEASE = timedelta(minutes=5)


def open_once(
    services: Services, *, example_id: int, kind: str, channel: str, root: Callable[[], Block]
) -> tuple[str, str] | None:
    """Post ``root()`` (drawn only when it is posted) to ``channel`` and remember it as the
    example's thread of ``kind``, unless it has one or another thread or process is opening
    it; the thread's (channel, ts) if it was opened here. The claim is on the example, across
    processes; a failed post (raised) releases it with no thread recorded, so the next try
    opens it."""
    if discussions.example_thread(services.ws, example_id=example_id, kinds=(kind,)):
        return None
    with jobs.claim(services.ws, f"{kind}:{example_id}", ttl=OPENING_LEASE) as got:
        if not got or discussions.example_thread(services.ws, example_id=example_id, kinds=(kind,)):
            return None  # someone else is opening it, or opened it since the first look
        # Not queued: without the root's ts there is no thread to record.
        posted = services.client.chat_postMessage(channel=channel, **root())
        where = (str(posted["channel"]), str(posted["ts"]))
        discussions.open_thread(
            services.ws,
            example_id=example_id,
            channel=where[0],
            thread_ts=where[1],
            kind=kind,
            opened_by="labelbot",
        )
    return where
