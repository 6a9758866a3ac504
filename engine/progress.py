"""One expert's progress and every project's, as the App Home tab shows them."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine import digest, rhythm
from engine.digest import Digest
from engine.projects import held_out, learned_from, rare_summary
from engine.rare import MIN_EXAMPLES
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import NotFoundError
from storage.models import utcnow
from storage.repositories import assignments, examples, models, projects
from storage.repositories import feedback as annotation_repo
from storage.repositories import taxonomy as taxonomy_repo


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
    # when these figures were worked out (App Home says "as of"): see :func:`home_summary`
    as_of: datetime | None = None


# App Home's project figures are worked out at most once a minute per project and process
# (:func:`home_summary`): they read every annotation of the project, and a visit is made per
# user per open of the tab
SUMMARY_MAX_AGE = 60.0  # seconds
_clock: Callable[[], float] = time.monotonic  # the memo's clock (tests move it)
# the order in which this process's visits began working figures out: a slower visit's older
# figures never replace newer ones kept meanwhile (:func:`_keep`)
_starts = itertools.count()


@dataclass(frozen=True)
class _Kept:
    summary: ProjectSummary
    at: float  # _clock() when worked out
    mark: tuple[Any, ...]  # _mark() then
    seen: dict[str, int]  # each viewer's live labels in the project when last shown
    started: int = -1  # next(_starts) when these figures began being worked out
    # the project's highest annotation id read before them: a viewer's live label above it
    # (a relabel after an undo keeps their count) may be missing from them
    upto: int = 0


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
        as_of=utcnow(),
    )


def _mark(ws: Workspace, name: str) -> tuple[Any, ...]:
    """What changes App Home's figures at once, read cheaply (none of it grows with the
    project's examples or labels): the project (another of the same name), its settings (its
    rare_minimum, a pinned model), its classes (a taxonomy change) and its active model."""
    return _mark_and_newer(ws, name)[0]


def _mark_and_newer(
    ws: Workspace, name: str, *, viewer: str | None = None, upto: int | None = None
) -> tuple[tuple[Any, ...], int]:
    """:func:`_mark`, and ``viewer``'s live labels in the project with an id above ``upto``
    (0 without them): labels the figures read up to that id may lack (a relabel after an undo
    keeps the viewer's count). One small read: the viewer's newest labels only."""
    newer = 0
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        labels = projects.list_labels(session=session, project_id=project.id, active_only=False)
        run = models.get_active_model_run(session=session, project_id=project.id)
        if viewer is not None and upto is not None:
            newer = annotation_repo.count_annotations(
                session=session, project_id=project.id, annotator=viewer, after_id=upto
            )
    mark = (
        project.id,
        json.dumps(project.settings, sort_keys=True, default=str),
        tuple((lb.id, lb.name, lb.active) for lb in labels),
        run.id if run is not None else None,
    )
    return mark, newer


def _work_out(ws: Workspace, name: str) -> tuple[ProjectSummary, int, int]:
    """:func:`project_summary` of ``name``, with when it began (``next(_starts)``) and the
    project's highest annotation id read before it (:attr:`_Kept.upto`)."""
    started = next(_starts)
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=name)
        assert found.id is not None
        upto = taxonomy_repo.last_annotation_id(session=session, project_id=found.id)
    return project_summary(ws, name), started, upto


def _keep(
    ws: Workspace,
    name: str,
    worked_out: tuple[ProjectSummary, int, int],
    at: float,
    mark: tuple[Any, ...],
) -> _Kept:
    """Keep the figures of ``name`` (:func:`_work_out`) for the next visits, unless figures
    begun later were kept meanwhile (a slower visit on another thread): then those stay, and
    are returned. The viewers' labels seen with the ones replaced stay: they were begun earlier,
    so what those counted these count too; one a viewer gave since their last visit counts
    (worked out at once at their next visit: their own labels are always counted)."""
    summary, started, upto = worked_out
    before = ws.notes.get(("home_summary", name))
    if isinstance(before, _Kept) and before.started > started:
        return before
    seen = dict(before.seen) if isinstance(before, _Kept) else {}
    kept = _Kept(summary, at, mark, seen, started=started, upto=upto)
    ws.notes[("home_summary", name)] = kept
    return kept


def home_summary(
    ws: Workspace, name: str, *, viewer: str | None = None, mine: int = 0
) -> ProjectSummary:
    """:func:`project_summary` as App Home shows it at each visit: worked out again only when
    the one this process keeps (``ws.notes``) is older than ``SUMMARY_MAX_AGE`` seconds, or
    when ``viewer``'s own live labels in the project (``mine``, read fresh at each visit) are
    not what they were when it was last shown to them, or they have a live label newer than
    the figures (a relabel: undo, then another class, keeps their count), or when a cheap mark
    (:func:`_mark`: its settings, classes, active model) moved: their own click counts at once,
    a new model or a taxonomy change too, other experts' labels within a minute (the tab says
    "as of" when). A visit between changes reads none of the project's examples or
    annotations: only the viewer's labels newer than the figures."""
    kept = ws.notes.get(("home_summary", name))
    upto = kept.upto if isinstance(kept, _Kept) and mine > 0 else None
    now, (mark, newer) = _clock(), _mark_and_newer(ws, name, viewer=viewer, upto=upto)
    if (
        not isinstance(kept, _Kept)
        or now - kept.at >= SUMMARY_MAX_AGE
        or kept.mark != mark
        or (viewer is not None and (kept.seen.get(viewer, 0) != mine or newer > 0))
    ):
        kept = _keep(ws, name, _work_out(ws, name), now, mark)
    if viewer is not None:
        kept.seen[viewer] = mine
    return kept.summary


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
    refresh after a new model): each project is summarized afresh once, the first time it is
    shown (None: deleted), and kept for the next visits. Without it, a visit shows the figures
    :func:`home_summary` keeps (at most a minute old; the annotator's own labels always
    counted); the annotator's own counts (today, in all) are read fresh at every visit."""
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
    ids = {p.name: p.id or 0 for p in listed}
    for name in shown:
        if name not in known:
            try:
                if summaries is None:
                    own = given.get(ids[name], 0)
                    known[name] = home_summary(ws, name, viewer=annotator, mine=own)
                else:  # worked out afresh (a new model), and kept for the next visits
                    at, mark = _clock(), _mark(ws, name)
                    known[name] = _keep(ws, name, _work_out(ws, name), at, mark).summary
            except NotFoundError:  # deleted since it was listed: not shown, nor counted
                known[name] = None
        kept = ws.notes.get(("home_summary", name))
        if isinstance(kept, _Kept) and kept.summary is known[name]:
            kept.seen[annotator] = given.get(ids[name], 0)  # what this viewer was shown
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
