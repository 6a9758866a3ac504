"""Where each disagreement is settled: the one project-channel thread opened for it.

engine.consensus finds disagreements and stores adjudications; this remembers the thread a
front-end opened for one (a discussion thread of kind ``dispute``, so replies in it are kept as
comments like any discussion), so it is opened once whichever process notices it first.
"""

from __future__ import annotations

from engine.discussions import DISPUTE, Thread, example_thread, project_threads
from engine.workspace import Workspace

__all__ = ["DISPUTE", "dispute_thread", "dispute_threads"]


def dispute_thread(ws: Workspace, *, example_id: int) -> Thread | None:
    """The thread already opened on the example's disagreement, if any."""
    return example_thread(ws, example_id=example_id, kinds=(DISPUTE,))


def dispute_threads(ws: Workspace, *, project: str) -> list[Thread]:
    """Every disagreement thread opened in ``project`` (settled or not), oldest first."""
    return project_threads(ws, project=project, kind=DISPUTE)
