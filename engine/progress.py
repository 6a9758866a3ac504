"""One expert's progress and every project's, as the App Home tab shows them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from engine import digest, rhythm
from engine.digest import Digest
from engine.projects import held_out, learned_from, rare_summary
from engine.rare import MIN_EXAMPLES
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import NotFoundError
from storage.models import utcnow
from storage.repositories import assignments, examples, projects
from storage.repositories import feedback as annotation_repo


@dataclass(frozen=True)
class ProjectSummary:
    name: str
    labeled: int
    total: int
    class_counts: list[tuple[str, int]]
    # the digest's figures App Home shows (engine.digest.home_digest): the model's accuracy,
    # the forecast, agreement, open reviews
    figures: Digest
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


def project_summary(ws: Workspace, name: str) -> ProjectSummary:
    """One project as App Home shows it: `labelbot status`'s counts (examples, agreed labels
    per active class, rare classes) and the digest's figures (:func:`digest.home_digest`),
    from one read of its annotations."""
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        labels = projects.list_labels(session=session, project_id=project.id, active_only=False)
        total = examples.count_examples(session=session, project_id=project.id)
        rows = annotation_repo.list_annotations(session=session, project_id=project.id)
        audited = assignments.audit_labeled_ids(session=session, project_id=project.id)
        agreed = annotation_repo.agreed_labels(rows)  # status's "labeled" (current_labels)
        unlearned = held_out(ws, session=session, agreed=agreed, audited=audited)
    minimum = int(project.settings.get("rare_minimum", MIN_EXAMPLES))
    # as status counts them: labels per class, too rare by the labels a model learns from
    rare = rare_summary(labels, Counter(agreed.values()), minimum, learned_from(agreed, unlearned))
    return ProjectSummary(
        name=name,
        labeled=len(agreed),
        total=total,
        class_counts=list(rare["counts"].items()),
        figures=digest.home_digest(ws, name, labeled=len(agreed), rows=rows),
        too_rare=rare["too_rare"],
        rare_minimum=minimum,
    )


def projects_labeled_by(ws: Workspace, *, annotator: str) -> list[str]:
    """The projects ``annotator`` has given labels in, oldest project first: one count, no
    project's figures (the nudge job asks only this)."""
    with session_scope(ws.db, read_only=True) as session:
        listed = projects.list_projects(session=session)
        given = annotation_repo.annotations_per_project(session=session, annotator=annotator)
    return [p.name for p in listed if given.get(p.id or 0)]


def user_progress(
    ws: Workspace,
    *,
    annotator: str,
    now: datetime | None = None,
    max_projects: int = 20,
    summaries: dict[str, ProjectSummary | None] | None = None,
) -> UserProgress:
    """The annotator's label counts across projects and each project's summary: at most
    ``max_projects`` of them, those the annotator labels first (then by age), with how many
    more there are. A project deleted meanwhile is left out.

    ``summaries``: the projects' summaries a caller keeps for several annotators (the App Home
    refresh after a new model): each project is summarized once, the first time it is shown
    (None: deleted)."""
    now = now or utcnow()
    with session_scope(ws.db, read_only=True) as session:
        midnight = rhythm.day_start_of(session=session, user=annotator, now=now)
        listed = projects.list_projects(session=session)
        given = annotation_repo.annotations_per_project(session=session, annotator=annotator)
        today = annotation_repo.annotations_per_project(
            session=session, annotator=annotator, since=midnight
        )
    names = [p.name for p in listed]
    labeled_in = [p.name for p in listed if given.get(p.id or 0)]
    mine = set(labeled_in)
    shown = (labeled_in + [n for n in names if n not in mine])[:max_projects]
    known = {} if summaries is None else summaries
    for name in shown:
        if name not in known:
            try:
                known[name] = project_summary(ws, name)
            except NotFoundError:  # deleted since it was listed: not shown, nor counted
                known[name] = None
    found = [s for name in shown if (s := known[name]) is not None]
    return UserProgress(
        annotator,
        sum(today.values()),
        sum(given.values()),
        found,
        more_projects=len(names) - len(shown),
        labeled_in=labeled_in,
    )


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
