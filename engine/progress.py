"""One expert's progress and every project's, as the App Home tab shows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from engine import rhythm
from engine.projects import project_status
from engine.rare import MIN_EXAMPLES
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import feedback as annotation_repo
from storage.repositories import projects


@dataclass(frozen=True)
class ProjectSummary:
    name: str
    labeled: int
    total: int
    class_counts: list[tuple[str, int]]
    # `labelbot status`'s "rare": the active classes under the project's rare_minimum, rarest
    # first, and that minimum (App Home shows the same classes)
    too_rare: list[str] = field(default_factory=list)
    rare_minimum: int = MIN_EXAMPLES


@dataclass(frozen=True)
class UserProgress:
    annotator: str
    labeled_today: int
    labeled_total: int
    projects: list[ProjectSummary]  # at most max_projects: the annotator's own first
    more_projects: int = 0  # projects left out of ``projects``
    labeled_in: list[str] = field(default_factory=list)  # projects the annotator has labels in


def user_progress(
    ws: Workspace, *, annotator: str, now: datetime | None = None, max_projects: int = 20
) -> UserProgress:
    """The annotator's label counts across projects and each project's status: at most
    ``max_projects`` of them, those the annotator labels first (then by age), with how many
    more there are."""
    now = now or utcnow()
    today = total = 0
    names: list[str] = []
    labeled_in: list[str] = []
    with session_scope(ws.db, read_only=True) as session:
        midnight = rhythm.day_start_of(session=session, user=annotator, now=now)
        for project in projects.list_projects(session=session):
            assert project.id is not None
            names.append(project.name)
            given = annotation_repo.count_annotations(
                session=session, project_id=project.id, annotator=annotator
            )
            total += given
            if given:
                labeled_in.append(project.name)
            today += annotation_repo.count_annotations(
                session=session, project_id=project.id, annotator=annotator, since=midnight
            )
    mine = set(labeled_in)
    shown = (labeled_in + [n for n in names if n not in mine])[:max_projects]
    summaries = []
    for name in shown:
        status = project_status(ws, name)
        summaries.append(
            ProjectSummary(
                name=name,
                labeled=status["labeled"],
                total=status["examples"],
                class_counts=[(lb["name"], lb["count"]) for lb in status["labels"] if lb["active"]],
                too_rare=list(status["rare"]["too_rare"]),
                rare_minimum=int(status["rare"]["minimum"]),
            )
        )
    return UserProgress(
        annotator, today, total, summaries, more_projects=len(names) - len(shown),
        labeled_in=labeled_in,
    )  # fmt: skip


def labeled_today(
    ws: Workspace, *, annotator: str, project: str, now: datetime | None = None
) -> int:
    """How many live labels ``annotator`` gave in ``project`` since their midnight (their
    Slack time zone once known, else UTC)."""
    with session_scope(ws.db, read_only=True) as session:
        midnight = rhythm.day_start_of(session=session, user=annotator, now=now or utcnow())
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return annotation_repo.count_annotations(
            session=session, project_id=found.id, annotator=annotator, since=midnight
        )
