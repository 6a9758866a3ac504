"""Helpers shared by tests that need a project with real data and experts labeling it."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine import labeling, projects, training
from engine.workspace import Workspace
from storage.models import TaxonomyProposal

SLICE_LABELS = ["card_arrival", "age_limit", "atm_support", "change_pin", "exchange_rate"]


def load_slice(
    ws: Workspace,
    rows: Sequence[tuple[str, str]],
    tmp_path: Path,
    *,
    project: str = "bank",
    channel_id: str | None = None,
) -> dict[str, str]:
    """Create ``project`` with the slice's labels, import its texts unlabeled (a cold-start
    queue is ready); returns the oracle: text → true label."""
    projects.create_project(ws, name=project, labels=SLICE_LABELS, channel_id=channel_id)
    path = tmp_path / f"{project}-slice.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t, _ in rows)
    projects.import_file(ws, project=project, path=path)
    training.rescore_project(ws, project)
    return dict(rows)


def labeled_csv(path: Path, rows: Sequence[tuple[str, str]]) -> Path:
    """``path`` written as a CSV of (text, label) rows under a text,label header."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def label_next(
    ws: Workspace,
    truth: dict[str, str],
    n: int,
    *,
    annotators: Sequence[str] = ("U1",),
    project: str = "bank",
    source: str = "cli",
) -> None:
    """``n`` examples from the queue labeled by oracle, the annotators taking turns."""
    for i in range(n):
        who = annotators[i % len(annotators)]
        task = labeling.next_task(ws, project=project, annotator=who)
        assert task is not None, "the queue ran dry"
        labeling.submit_label(
            ws,
            project=project,
            example_id=task.example_id,
            label=truth[task.text],
            annotator=who,
            source=source,
            key=f"{who}:{task.example_id}",
        )


def scheduler_job(ws: Workspace, job_id: str) -> Any:
    """The function the scheduler (engine.scheduler.build_scheduler, owner "w1") runs as job
    ``job_id`` ("retrain", "digest", "tidy", ...), to call it as one round would."""
    from engine.scheduler import build_scheduler

    return {job.id: job.func for job in build_scheduler(ws, owner="w1").get_jobs()}[job_id]


def label_held_example(project: str, annotator: str, label: str) -> None:
    """Label the example ``annotator`` holds in ``project``, as another terminal or message of
    theirs would (through the CLI's workspace, as `labelbot label` there would)."""
    from bot.cli.common import workspace

    ws = workspace()
    try:
        task = labeling.next_task(ws, project=project, annotator=annotator)
        assert task is not None
        labeling.submit_label(ws, project=project, example_id=task.example_id, label=label,
                              annotator=annotator, source="cli", key="elsewhere")  # fmt: skip
    finally:
        ws.close()


def store_vote(
    ws: Workspace, project: str, example_id: int, label: str, who: str, *, source: str = "slack"
) -> None:
    """A live vote stored as any path stores one (a click, an import, a second opinion), with
    no queue or assignment in between: for tests that set up who voted what."""
    from storage.db import session_scope
    from storage.repositories import feedback
    from storage.repositories import projects as project_repo

    with session_scope(ws.db) as s:
        found = project_repo.get_project(session=s, name=project)
        assert found.id is not None
        label_id = project_repo.get_label(session=s, project_id=found.id, name=label).id
        assert label_id is not None
        feedback.add_annotation(
            session=s, example_id=example_id, label_id=label_id, annotator=who, source=source,
            key=f"{who}:{example_id}:{label}",
        )  # fmt: skip


@contextmanager
def python_child(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """``python -c``-style child process (``args`` after the interpreter), its stdin and stdout
    piped as text; killed and reaped however the test ends."""
    process = subprocess.Popen(
        [sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)


def sigkill(process: subprocess.Popen[str]) -> None:
    """Kill ``process`` as the OOM killer or `kill -9` would, and see that it died of it."""
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL


def save_found_twice(**fields: Any) -> tuple[TaxonomyProposal, bool]:
    """``storage.repositories.proposals.save_open_proposal`` twice, as two refreshes in a row
    leave a proposal they both find: the bot posts it (``engine.proposing.unposted``) only then,
    or once it has stood for an hour. Returns the second save's (row, created)."""
    from storage.repositories import proposals

    proposals.save_open_proposal(**fields)
    return proposals.save_open_proposal(**fields)


@contextmanager
def own_data_workspace(
    db_url_and_schema: tuple[str, str | None],
    encoder: Any,
    embedding_cache_dir: Path,
    tmp_path: Path,
    *,
    models_in_data_dir: bool = False,
    **env: Any,
) -> Iterator[Workspace]:
    """A workspace with a data directory of the test's own (``tmp_path/data``; its model files,
    pool graphs and deletions are the test's alone) sharing the session's embedding cache;
    ``env``: more settings (``LABELBOT_KEEP_MODELS=0``), ``models_in_data_dir``: the data
    directory is LABELBOT_MODELS_DIR too."""
    from engine.config import Settings

    url, schema = db_url_and_schema
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (embedding_cache_dir / "embeddings").mkdir(exist_ok=True)
    (data_dir / "embeddings").symlink_to(embedding_cache_dir / "embeddings")
    if models_in_data_dir:
        env["LABELBOT_MODELS_DIR"] = data_dir
    settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=data_dir, **env)
    workspace = Workspace.open(settings, schema=schema, encoder=encoder)
    try:
        yield workspace
    finally:
        workspace.close()
