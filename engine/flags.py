"""What experts set aside: flags (with a reason, out of everyone's queue until resolved) and
skips (out of one expert's queue for good).

Flagging hands the expert's example back as "released", and the queue passes over an example
only while it has an open flag: resolving its flags is what brings it back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from engine.discussions import FLAGGED, Thread, example_thread, project_threads
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import NotFoundError
from storage.models import as_utc, utcnow
from storage.repositories import assignments, examples, feedback, flags, projects

# How far back the scheduler's round looks for flags with no thread in the project channel (a
# flag from `labelbot label`, or one whose post failed): a flag raised in Slack gets its thread
# at once, and a database upgraded with older open flags does not flood the channel with them.
SURFACE_WITHIN = timedelta(days=2)


@dataclass(frozen=True)
class FlagView:
    """A flag as the CLI lists it: who set which example aside, why and when."""

    id: int
    example_id: int
    external_id: str | None
    text: str
    annotator: str
    reason: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "example_id": self.example_id,
            "external_id": self.external_id,
            "text": self.text,
            "annotator": self.annotator,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_by": self.resolved_by,
        }


@dataclass(frozen=True)
class Resolution:
    """What resolving an example's flags did: how many were open, and whether the example now
    waits in the queue again (False when it has a label already)."""

    example_id: int
    resolved: int
    requeued: bool


@dataclass(frozen=True)
class SetAside:
    """Why the queue has nothing for an expert: the project's examples, those still waiting
    for a label (flagged ones excluded), how many of those the expert skipped, and how many
    unlabeled examples a flag sets aside (each once: status's ``flagged_examples``)."""

    examples: int
    waiting: int
    skipped: int
    flagged: int


def list_flags(ws: Workspace, project: str, *, include_resolved: bool = False) -> list[FlagView]:
    """The project's open flags (with ``include_resolved``, every flag), oldest first."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        rows = flags.flagged_examples(
            session=session, project_id=found.id, open_only=not include_resolved
        )
    return [
        FlagView(
            id=int(f.id or 0),
            example_id=int(e.id or 0),
            external_id=e.external_id,
            text=e.text,
            annotator=f.annotator,
            reason=f.reason,
            created_at=f.created_at,
            resolved_at=f.resolved_at,
            resolved_by=f.resolved_by,
        )
        for f, e in rows
    ]


def resolve_flags(ws: Workspace, *, project: str, example_id: int, actor: str) -> Resolution:
    """Resolve every open flag of the example (several experts may have flagged it): it goes
    back to the queue unless it has a label. NotFoundError when it has no open flag."""
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        example = examples.find_example(session=session, example_id=example_id)
        if example is None or example.project_id != found.id:
            raise NotFoundError(f"no example #{example_id} in project {project!r}")
        open_ones = flags.open_flags_of(session=session, example_id=example_id)
        if not open_ones:
            raise NotFoundError(
                f"example #{example_id} of {project!r} has no open flag "
                f"(`labelbot flags {project} --all` lists resolved ones too)"
            )
        for flag in open_ones:
            assert flag.id is not None
            flags.resolve_flag(session=session, flag_id=flag.id, resolved_by=actor)
        labeled = assignments.has_label(session=session, project_id=found.id, example_id=example_id)
    return Resolution(example_id=example_id, resolved=len(open_ones), requeued=not labeled)


def set_aside(ws: Workspace, *, project: str, annotator: str) -> SetAside:
    """Counts that say why the queue has nothing for ``annotator`` (see :class:`SetAside`)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return SetAside(
            examples=examples.count_examples(session=session, project_id=found.id),
            waiting=assignments.count_free_examples(session=session, project_id=found.id),
            skipped=assignments.count_skipped(
                session=session, project_id=found.id, annotator=annotator
            ),
            # examples set aside, as status counts them: each once, and not the labeled ones
            flagged=len(
                flags.open_flagged_ids(session=session, project_id=found.id)
                - feedback.current_labels(session=session, project_id=found.id).keys()
            ),
        )


@dataclass(frozen=True)
class FlaggedExample:
    """An example and every flag raised on it, open and resolved, oldest first: what its thread
    in the project channel shows."""

    example_id: int
    project: str
    text: str
    flags: list[FlagView]
    labeled: bool  # it has a label (resolving its flags does not put it back in the queue)

    @property
    def open(self) -> list[FlagView]:
        return [f for f in self.flags if f.resolved_at is None]

    @property
    def state(self) -> object:
        """What its thread's root shows, to tell when it must be redrawn."""
        return _state(self.flags)


def _grouped(ws: Workspace, project: str) -> dict[int, list[FlagView]]:
    """The project's flags, open and resolved, by example, in the order of their first flag."""
    grouped: dict[int, list[FlagView]] = defaultdict(list)
    for view in list_flags(ws, project, include_resolved=True):
        grouped[view.example_id].append(view)
    return grouped


class FlagState(NamedTuple):
    """What a flagged example's thread shows (:attr:`FlaggedExample.state`), and when its flags
    last changed (a flag raised or resolved)."""

    state: object
    changed_at: datetime


def flag_states(ws: Workspace, project: str) -> dict[int, FlagState]:
    """Each flagged example's :class:`FlagState`, without reading its labels: what a round
    compares to tell which threads to redraw."""
    return {
        eid: FlagState(
            _state(rows),
            max(as_utc(t) for f in rows for t in (f.created_at, f.resolved_at) if t is not None),
        )
        for eid, rows in _grouped(ws, project).items()
    }


def _state(flags: list[FlagView]) -> object:
    return tuple((f.id, f.resolved_by) for f in flags)


def flagged_examples(
    ws: Workspace, project: str, *, example_ids: Collection[int] | None = None,
    open_only: bool = False,
) -> list[FlaggedExample]:  # fmt: skip
    """The project's flagged examples (those of ``example_ids``; with ``open_only``, those with
    an open flag), each with all its flags, in the order of their first flag."""
    grouped = {
        eid: rows
        for eid, rows in _grouped(ws, project).items()
        if (example_ids is None or eid in example_ids)
        and (not open_only or any(f.resolved_at is None for f in rows))
    }
    if not grouped:
        return []
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return [
            FlaggedExample(
                example_id=eid,
                project=project,
                text=rows[0].text,
                flags=rows,
                labeled=assignments.has_label(session=session, project_id=found.id, example_id=eid),
            )
            for eid, rows in grouped.items()
        ]


def flag_thread(ws: Workspace, *, example_id: int) -> Thread | None:
    """The project-channel thread opened on the example's flags, if any."""
    return example_thread(ws, example_id=example_id, kinds=(FLAGGED,))


def flag_threads(ws: Workspace, *, project: str) -> list[Thread]:
    """Every flag thread opened in ``project`` (its flags open or resolved), oldest first."""
    return project_threads(ws, project=project, kind=FLAGGED)


def to_surface(ws: Workspace, project: str) -> list[FlaggedExample]:
    """The project's examples with an open flag raised within ``SURFACE_WITHIN`` and no flag
    thread yet: those the scheduler's round opens a thread for (their labels are read only
    for those: the open flags are read first)."""
    threaded = {t.example_id for t in flag_threads(ws, project=project)}
    since = utcnow() - SURFACE_WITHIN
    due = {
        f.example_id
        for f in list_flags(ws, project)  # open ones
        if f.example_id not in threaded and as_utc(f.created_at) >= since
    }
    return flagged_examples(ws, project, example_ids=due, open_only=True) if due else []
