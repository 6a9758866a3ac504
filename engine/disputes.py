"""Where each disagreement is settled: the one project-channel thread opened for it.

engine.consensus finds disagreements and stores adjudications; this remembers the thread a
front-end opened for one (a discussion thread of kind ``dispute``, so replies in it are kept as
comments like any discussion), so it is opened once whichever process notices it first.
"""

from __future__ import annotations

from engine.discussions import Thread
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import slack

DISPUTE = "dispute"


def dispute_thread(ws: Workspace, *, example_id: int) -> Thread | None:
    """The thread already opened on the example's disagreement, if any."""
    with session_scope(ws.db, read_only=True) as session:
        found = slack.example_thread(session=session, example_id=example_id, kind=DISPUTE)
        if found is None:
            return None
        return Thread(found.example_id, found.channel, found.thread_ts)
