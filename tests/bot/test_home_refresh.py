"""The App Home refresh after a promoted model: each project's figures worked out once for all
the viewers, off the retrain job, one try per call (a rate limit ends the round without
sleeping), a project deleted meanwhile left out, and Slack's trouble told in one line."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot import flow
from bot.scheduling import training_notifier
from engine import digest, progress, projects
from storage.errors import NotFoundError
from storage.models import ModelRun
from storage.repositories import feedback
from storage.repositories import projects as project_repo
from tests.bot.conftest import Bot
from tests.fakes import payloads

VIEWERS = ("U0D", "U0C", "U0B", "U0A")  # the last is the newest: refreshed first
NAMES = ("alpha", "beta", "gamma")
WAIT = 15.0  # seconds a test waits on another thread before it fails (never a measure)


def _projects(bot: Bot, tmp_path: Path, names: tuple[str, ...] = NAMES) -> None:
    """Small projects with a few imported labels each (no encoder, no model)."""
    for name in names:
        projects.create_project(bot.ws, name=name, labels=["yes", "no"])
        path = tmp_path / f"{name}.csv"
        rows = [f"{name} example {i},{('yes', 'no')[i % 2]}" for i in range(6)]
        path.write_text("text,label\n" + "\n".join(rows) + "\n", "utf-8")
        projects.import_file(bot.ws, project=name, path=path, embed=False)


def _viewers(bot: Bot, users: tuple[str, ...] = VIEWERS) -> None:
    for user in users:
        bot.services.home_viewers.saw(user)


def _promoted(version: int = 2) -> ModelRun:
    return ModelRun(
        project_id=1, version=version, status="ready", is_active=True,
        metrics={"promotion": {"promoted": True}},
    )  # fmt: skip


def _count(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, calls: Counter[str]) -> None:
    """Count the calls of ``owner.name`` (by project name when it takes one), calling through;
    nothing when ``owner`` has no such function."""
    real = getattr(owner, name, None)
    if real is None:
        return

    def counted(*args: Any, **kwargs: Any) -> Any:
        project = (
            kwargs.get("name") or kwargs.get("project_id") or (args[1] if len(args) > 1 else "")
        )
        calls[f"{name}:{project}"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)


def _published(bot: Bot) -> list[str]:
    return [c.params["user_id"] for c in bot.api.calls("views.publish")]


def test_a_refresh_works_out_each_projects_figures_once_for_all_viewers(
    bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _projects(bot, tmp_path)
    _viewers(bot)
    calls: Counter[str] = Counter()
    for name in ("build_digest", "home_digest"):
        _count(monkeypatch, digest, name, calls)
    _count(monkeypatch, projects, "project_status", calls)
    _count(monkeypatch, feedback, "list_annotations", calls)

    assert flow.refresh_homes(bot.services) == len(VIEWERS)

    assert _published(bot) == list(reversed(VIEWERS))
    for call in bot.api.calls("views.publish"):
        home = json.dumps(call.params["view"])
        assert all(name in home for name in NAMES)
    # four viewers, three projects: each project's figures once, its annotations read once
    figures = {k: n for k, n in calls.items() if not k.startswith("list_annotations")}
    assert sum(figures.values()) <= len(NAMES) and max(figures.values()) == 1, calls
    reads = {k: n for k, n in calls.items() if k.startswith("list_annotations")}
    assert sum(reads.values()) == len(NAMES), calls


def test_the_retrain_hook_returns_before_the_home_refresh_runs(
    bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _projects(bot, tmp_path, names=("alpha",))
    _viewers(bot)
    started, release = threading.Event(), threading.Event()
    runs: list[str] = []
    real = flow.refresh_homes

    def held(services: Any) -> int:
        runs.append(threading.current_thread().name)
        started.set()
        release.wait(WAIT)
        return real(services)

    monkeypatch.setattr(flow, "refresh_homes", held)
    on_trained = training_notifier(bot.services)
    on_trained("alpha", _promoted())  # returns although the refresh is held
    assert not release.is_set() and not bot.api.calls("views.publish")
    assert started.wait(WAIT), "the refresh never started"
    # the round promotes two more models while the refresh runs: one more refresh waits for
    # them, not one each
    on_trained("beta", _promoted(3))
    on_trained("gamma", _promoted(4))
    release.set()
    bot.settle()
    assert len(runs) == 2 and all(name.startswith("listener") for name in runs), runs
    assert _published(bot) == list(reversed(VIEWERS)) * 2


def test_a_rate_limit_ends_the_refresh_at_once(bot: Bot, tmp_path: Path) -> None:
    """A 429 with Retry-After 30 on the first viewer: no retry (the client would sleep 30 s
    twice, in the retrain job before), and no next viewer."""
    _projects(bot, tmp_path, names=("alpha",))
    _viewers(bot)
    bot.api.fail_next("views.publish", status=429, retry_after=30, times=5)
    assert flow.refresh_homes(bot.services) == 0
    assert len(bot.api.calls("views.publish")) == 1


def test_a_project_deleted_while_home_is_drawn_is_left_out(
    bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _projects(bot, tmp_path, names=("alpha", "doomed"))
    _viewers(bot, ("U0B", "U0A"))
    real = project_repo.get_project
    deleted: list[str] = []

    def racing(*, session: Any, name: str) -> Any:
        if name == "doomed" and not deleted:  # listed, and deleted before it is drawn
            deleted.append(name)
            projects.delete_project(bot.ws, "doomed")
        return real(session=session, name=name)

    monkeypatch.setattr(project_repo, "get_project", racing)
    with caplog.at_level(logging.WARNING):
        training_notifier(bot.services)("alpha", _promoted())
        bot.settle()
    assert deleted and _published(bot) == ["U0A", "U0B"]
    for call in bot.api.calls("views.publish"):
        home = json.dumps(call.params["view"])
        assert "alpha" in home and "doomed" not in home
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_a_viewer_whose_home_cannot_be_drawn_is_skipped(
    bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _projects(bot, tmp_path, names=("alpha",))
    _viewers(bot, ("U0C", "U0B", "U0A"))
    real: Callable[..., progress.UserProgress] = progress.user_progress

    def failing(ws: Any, *, annotator: str, **kw: Any) -> progress.UserProgress:
        if annotator == "U0B":
            raise NotFoundError("no project named 'x' (projects: alpha)")
        return real(ws, annotator=annotator, **kw)

    monkeypatch.setattr(progress, "user_progress", failing)
    with caplog.at_level(logging.WARNING):
        assert flow.refresh_homes(bot.services) == 2
    assert _published(bot) == ["U0A", "U0C"]
    (said,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "U0B" in said.getMessage() and "no project named" in said.getMessage()


def test_a_view_slack_refuses_as_built_ends_the_refresh_with_one_error(
    bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A Home tab past a Block Kit limit (a labelbot bug) is refused alike for every viewer:
    one ERROR with Slack's reasons, and the round stops."""
    _projects(bot, tmp_path, names=("alpha",))
    _viewers(bot)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    monkeypatch.setattr(
        flow.views, "home_tab", lambda stats: {"type": "home", "blocks": [section] * 101}
    )
    with caplog.at_level(logging.WARNING):
        assert flow.refresh_homes(bot.services) == 0
    assert len(bot.api.calls("views.publish")) == 1
    (said,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert said.levelno == logging.ERROR and not said.exc_info
    assert "invalid_arguments" in said.getMessage() and "blocks" in said.getMessage()

    caplog.clear()
    bot.api.reset()
    bot.api.fail_next("views.publish", error="invalid_blocks", times=5)
    with caplog.at_level(logging.WARNING):
        assert flow.refresh_homes(bot.services) == 0
    assert len(bot.api.calls("views.publish")) == 1
    (said,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert said.levelno == logging.ERROR and "invalid_blocks" in said.getMessage()


@pytest.mark.parametrize("trouble", ["500", "no answer"])
def test_slack_in_trouble_when_home_is_opened_is_one_warning(
    bot: Bot, tmp_path: Path, caplog: pytest.LogCaptureFixture, trouble: str
) -> None:
    _projects(bot, tmp_path, names=("alpha",))
    if trouble == "500":
        bot.api.fail_next("views.publish", status=500, times=5)
    else:  # the connection closed without an answer, as a timeout ends
        bot.api.lose_answer("views.publish", status=None, times=5)
    with caplog.at_level(logging.WARNING):
        bot.slack.event(payloads.app_home_opened("U0A"))
        bot.settle()
    ours = [r for r in caplog.records if r.name.startswith("bot") and r.levelno >= logging.WARNING]
    (said,) = ours
    assert said.levelno == logging.WARNING and not said.exc_info
    assert "app_home_opened" in said.getMessage() or "event_callback" in said.getMessage()
    assert "Slack did not answer" in said.getMessage()
