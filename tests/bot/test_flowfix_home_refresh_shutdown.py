"""A graceful stop (SIGTERM of `labelbot serve` or `labelbot worker`: Services.close waits for
the listener threads) waited for a whole App Home refresh (flow.refresh_homes: views.publish
for up to 200 viewers, one after another), which could outlast a supervisor's grace period
and end in a SIGKILL. The refresh now stops at the next viewer once the process stops; the
tabs left are drawn when their users open them. Real Web API calls to the fake Slack server,
on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

from bot.scheduling import HomeRefresh
from bot.services import build_services
from engine import projects
from engine.workspace import Workspace
from tests.bot.conftest import slack_settings
from tests.fakes.slack_api import FakeSlackAPI

VIEWERS = [f"U0V{i:02d}" for i in range(20)]
PUBLISH_S = 0.4  # each views.publish answered after this: the whole refresh takes 8 s
WAIT = 15.0  # seconds a test waits on another thread before it fails (never a measure)


def test_a_stop_during_an_app_home_refresh_does_not_wait_for_every_viewer(
    slack_api: FakeSlackAPI, db_url_and_schema, embedding_cache_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    url, schema = db_url_and_schema
    settings = slack_settings(url, slack_api.api_url, embedding_cache_dir)
    services = build_services(settings, ws=Workspace.open(settings, schema=schema))
    projects.create_project(services.ws, name="alpha", labels=["yes", "no"])
    for user in VIEWERS:
        services.home_viewers.saw(user)
    slack_api.slow_down("views.publish", PUBLISH_S)
    assert HomeRefresh(services).request()
    slack_api.wait_for("views.publish", timeout=WAIT)  # the refresh is under way

    started = time.monotonic()
    services.close()  # what serve's and worker's SIGTERM end in
    took = time.monotonic() - started

    published = len(slack_api.calls("views.publish"))
    assert published < len(VIEWERS) // 2, published
    assert took < len(VIEWERS) * PUBLISH_S / 2, took
