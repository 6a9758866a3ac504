"""What the listeners share: the workspace, the Web API client, the courier, the thread pools
and the workspace-admin check.

Built once per process by `build_services` (nothing happens at import time) and handed to
Bolt listeners through the request context (`context["services"]`).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk import WebClient

from bot.config import SlackSettings
from bot.delivery import Courier, make_client
from bot.workspace_admins import WorkspaceAdmins
from engine import labeling, rhythm
from engine.labeling import BatchCount
from engine.workspace import Workspace


class Batches:
    """ "Label 5 now": how many examples each expert still has to go in a batch they started.

    Kept in the database (engine.labeling), so that with several bot replicas behind one URL the
    answer that ends a batch is counted wherever it lands and the summary follows it.
    """

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    def start(self, user: str, project: str, size: int) -> None:
        labeling.start_batch(self._ws, project=project, user=user, size=size)

    def end(self, user: str, project: str) -> None:
        labeling.end_batch(self._ws, project=project, user=user)

    def give_back(self, user: str, project: str, *, annotation_id: int) -> bool:
        """The answer ``annotation_id`` undone: its place in a running batch is open again."""
        return labeling.give_back_batch_answer(
            self._ws, project=project, user=user, annotation_id=annotation_id
        )

    def consume(self, user: str, project: str, *, agreed: bool | None = None) -> BatchCount | None:
        """Count one answer (``agreed``: with the model's view; None when it had none): what is
        left of the batch and its tally (``counted`` False: it had ended before), or None when
        there is no batch."""
        return labeling.count_batch_answer(self._ws, project=project, user=user, agreed=agreed)


class HomeViewers:
    """Who opened the App Home tab lately, so a new model can refresh their view.

    In the database (engine.rhythm): with several replicas, the one that trains the next model
    refreshes the tab for viewers whichever replica saw them open it.
    """

    def __init__(
        self, ws: Workspace, *, within: timedelta = timedelta(hours=1), limit: int = 200
    ) -> None:
        self._ws = ws
        self.within = within
        self.limit = limit  # views.publish is rate limited (Tier 4): refresh at most this many

    def saw(self, user: str, *, now: datetime | None = None) -> None:
        rhythm.saw_home(self._ws, user=user, now=now)

    def recent(self, *, now: datetime | None = None) -> list[str]:
        """Users who opened it within ``within``, most recent first."""
        return rhythm.recent_home_viewers(self._ws, within=self.within, limit=self.limit, now=now)


@dataclass
class Services:
    settings: SlackSettings
    ws: Workspace
    client: WebClient
    courier: Courier
    # Runs listeners after their ack (Bolt's default pool has 5 threads: too few for a team).
    listener_executor: ThreadPoolExecutor
    # Runs Bolt's synchronous dispatch (signature check, ack) off the event loop.
    dispatch_executor: ThreadPoolExecutor
    batches: Batches = field(init=False)
    home_viewers: HomeViewers = field(init=False)
    # users.info for the workspace-admin fallback, its answers kept a few minutes: built once,
    # so every listener shares what it learned.
    workspace_admins: WorkspaceAdmins = field(init=False)
    # Set once the process stops (close): long work on the listener threads that can be left
    # undone (an App Home refresh for many viewers: flow.refresh_homes) ends early, so that a
    # SIGTERM's graceful stop does not wait it out, past a supervisor's grace period.
    stopping: threading.Event = field(init=False, default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.batches = Batches(self.ws)
        self.home_viewers = HomeViewers(self.ws)
        self.workspace_admins = WorkspaceAdmins(self.client)

    def close(self) -> None:
        self.stopping.set()
        self.listener_executor.shutdown(wait=True, cancel_futures=False)
        self.dispatch_executor.shutdown(wait=False, cancel_futures=True)
        self.ws.close()


def build_services(settings: SlackSettings, *, ws: Workspace | None = None) -> Services:
    """Open the workspace (unless given) and build the client and pools from ``settings``."""
    ws = ws or Workspace.open(settings)
    client = make_client(settings)
    return Services(
        settings=settings,
        ws=ws,
        client=client,
        courier=Courier(client, ws),
        listener_executor=ThreadPoolExecutor(
            max_workers=settings.slack_workers, thread_name_prefix="listener"
        ),
        dispatch_executor=ThreadPoolExecutor(
            max_workers=settings.slack_workers, thread_name_prefix="dispatch"
        ),
    )
