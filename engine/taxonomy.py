"""Changing a project's taxonomy mid-project without losing work.

Every change is one transaction that records a ``LabelEvent`` (who, when, what, why); nothing is
deleted. Annotations keep the label the expert clicked and count, through the mapping the change
leaves behind (``labels.mapped_to_id``), as the current taxonomy says:

- **rename** keeps the label's id, so nothing needs mapping (a click on a button that still
  shows the old name is stored under the renamed label);
- **merge** (A + B → C, C new or one of them): A's and B's annotations count as C at once;
- **split** (A → A1, A2): A's examples count as unlabeled and go to the front of the queue, to be
  labeled again into A1 or A2; A's annotations stay as history;
- **retire** A: its examples go back to the queue, or with ``map_to`` count as that label;
- **add** and **describe** change nothing already labeled.

A change that alters the classes marks the active model stale (the project setting
``taxonomy_changed_at``, which ``engine.jobs.retrain_decision`` compares with the last run) and
re-scores the queue at once (``rescore=False`` leaves that to the caller, e.g. after a Slack ack).
Who may change it: the project's admins (:func:`is_admin`); the engine does not check, the edges
do (the CLI acts as the local operator).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import ConflictError, InvalidInputError
from storage.models import Label, Project
from storage.repositories import examples, projects
from storage.repositories import taxonomy as repo

TAXONOMY_CHANGED_AT = "taxonomy_changed_at"  # project setting: ISO time of the last change
# storage's (sqlmodel) Session, passed through untouched: only storage imports sqlmodel.
Session = Any


@dataclass(frozen=True)
class TaxonomyChange:
    """What a change did: its event, the active labels after it, the examples it touched."""

    event_id: int
    kind: str
    summary: str
    labels: list[str]
    requeued: int  # examples that now wait to be labeled again
    mapped: int  # examples whose annotations now count as another label
    details: dict[str, Any]  # as recorded in the event


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    created_at: datetime
    kind: str
    actor: str
    reason: str
    summary: str
    details: dict[str, Any]


def admins(ws: Workspace, *, project: str) -> list[str]:
    """The project's admins (Slack user ids, ``project set --admins``); may be empty."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
    return [str(a) for a in found.settings.get("admins") or []]


def is_admin(ws: Workspace, *, project: str, user_id: str) -> bool:
    """Whether ``user_id`` may change the taxonomy. False when no admins are set: the bot then
    falls back to the Slack workspace's admins, which only it can see."""
    return user_id in admins(ws, project=project)


# --- the operations ------------------------------------------------------------------------------


def add_labels(
    ws: Workspace,
    *,
    project: str,
    names: Sequence[str],
    actor: str,
    reason: str = "",
    descriptions: Sequence[str] | None = None,
    rescore: bool = True,
) -> TaxonomyChange:
    """Add labels (a name already used, even by a retired label, is a conflict)."""

    def apply(session: Session, found: Project) -> dict[str, Any]:
        assert found.id is not None
        added = projects.add_labels(
            session=session, project_id=found.id, names=list(names), descriptions=descriptions
        )
        return {"labels": [_ref(lb) for lb in added]}

    return _change(
        ws, project, kind="add", actor=actor, reason=reason, apply=apply, rescore=rescore
    )


def rename_label(
    ws: Workspace,
    *,
    project: str,
    label: str,
    new_name: str,
    actor: str,
    reason: str = "",
    rescore: bool = True,
) -> TaxonomyChange:
    """Rename a label; its id stays, so every annotation keeps counting for it."""

    def apply(session: Session, found: Project) -> dict[str, Any]:
        current = _active_label(session, found, label)
        clean = " ".join(new_name.split())
        if clean == current.name:
            raise InvalidInputError(f"label {label!r} is already called that")
        _name_free(session, found, clean, doing=f"rename {label!r} to {clean!r}")
        repo.rename_label(session=session, label=current, new_name=clean)
        return {"label_id": current.id, "old": label, "new": current.name}

    return _change(
        ws, project, kind="rename", actor=actor, reason=reason, apply=apply, rescore=rescore
    )


def describe_label(
    ws: Workspace, *, project: str, label: str, description: str, actor: str, reason: str = ""
) -> TaxonomyChange:
    """Set a label's guidelines (shown to labelers on demand); the model is not affected."""

    def apply(session: Session, found: Project) -> dict[str, Any]:
        current = _active_label(session, found, label)
        old = current.description
        repo.describe_label(session=session, label=current, description=description)
        return {"label_id": current.id, "name": current.name, "old": old, "new": description}

    return _change(
        ws,
        project,
        kind="describe",
        actor=actor,
        reason=reason,
        apply=apply,
        retrain=False,
        rescore=False,
    )


def merge_labels(
    ws: Workspace,
    *,
    project: str,
    labels: Sequence[str],
    into: str | None = None,
    actor: str,
    reason: str = "",
    description: str | None = None,
    rescore: bool = True,
) -> TaxonomyChange:
    """Merge ``labels`` into ``into`` (default: the first of them; a new name creates the label).

    The merged labels are retired and their annotations count as ``into`` from now on.
    """

    def apply(session: Session, found: Project) -> dict[str, Any]:
        assert found.id is not None
        if len(labels) < 2:
            raise InvalidInputError("a merge needs at least two labels: `merge NAME A B`")
        repeated = sorted({n for n in labels if list(labels).count(n) > 1})
        if repeated:
            raise InvalidInputError(f"cannot merge label {repeated[0]!r} with itself")
        sources = [_active_label(session, found, n) for n in labels]
        target_name = " ".join((into or labels[0]).split())
        target = next((lb for lb in sources if lb.name == target_name), None)
        created = False
        if target is None:
            existing = _find(session, found, target_name)
            if existing is not None and not existing.active:
                raise ConflictError(
                    f"cannot merge into {target_name!r}: a retired label has that name; "
                    "choose another name"
                )
            if existing is None:
                existing = projects.add_labels(
                    session=session,
                    project_id=found.id,
                    names=[target_name],
                    descriptions=[description] if description is not None else None,
                )[0]
                created = True
            target = existing
        elif description is not None:
            repo.describe_label(session=session, label=target, description=description)
        assert target.id is not None
        moved = [lb for lb in sources if lb.id != target.id]
        moved_ids = [int(lb.id or 0) for lb in moved]
        for lb in moved:
            moved_ids += repo.labels_mapped_to(session=session, label_id=int(lb.id or 0))
        mapped = repo.count_label_examples(session=session, label_ids=moved_ids)
        for lb in moved:
            repo.map_label(session=session, label=lb, to_label_id=target.id)
        return {
            "from": [_ref(lb) for lb in moved],
            "into": _ref(target),
            "created": created,
            "mapped": mapped,
        }

    return _change(
        ws, project, kind="merge", actor=actor, reason=reason, apply=apply, rescore=rescore
    )


def split_label(
    ws: Workspace,
    *,
    project: str,
    label: str,
    into: Sequence[str],
    actor: str,
    reason: str = "",
    rescore: bool = True,
) -> TaxonomyChange:
    """Split ``label`` into new labels; its examples go back to the queue to be labeled again."""

    def apply(session: Session, found: Project) -> dict[str, Any]:
        assert found.id is not None
        old = _active_label(session, found, label)
        names = [" ".join(n.split()) for n in into if n.strip()]
        if len(names) < 2:
            raise InvalidInputError("a split needs at least two new labels: `--into A1,A2`")
        for name in names:
            _name_free(session, found, name, doing=f"split {label!r} into {name!r}")
        added = projects.add_labels(session=session, project_id=found.id, names=names)
        repo.map_label(session=session, label=old, to_label_id=None)
        return {"label": _ref(old), "into": [_ref(lb) for lb in added]}

    return _change(
        ws, project, kind="split", actor=actor, reason=reason, apply=apply, rescore=rescore
    )


def retire_label(
    ws: Workspace,
    *,
    project: str,
    label: str,
    map_to: str | None = None,
    actor: str,
    reason: str = "",
    rescore: bool = True,
) -> TaxonomyChange:
    """Retire ``label``: its examples count as ``map_to``, or go back to the queue without it."""

    def apply(session: Session, found: Project) -> dict[str, Any]:
        assert found.id is not None
        old = _active_label(session, found, label)
        target = None
        if map_to is not None:
            if map_to == label:
                raise InvalidInputError(f"cannot retire {label!r} and map it to itself")
            target = _active_label(session, found, map_to)
        if len(projects.list_labels(session=session, project_id=found.id)) < 2:
            raise InvalidInputError(f"cannot retire {label!r}: it is the project's last label")
        mapped = 0
        if target is not None:
            ids = [
                int(old.id or 0),
                *repo.labels_mapped_to(session=session, label_id=int(old.id or 0)),
            ]
            mapped = repo.count_label_examples(session=session, label_ids=ids)
        repo.map_label(session=session, label=old, to_label_id=target.id if target else None)
        return {
            "label": _ref(old),
            "map_to": _ref(target) if target is not None else None,
            "mapped": mapped,
        }

    return _change(
        ws, project, kind="retire", actor=actor, reason=reason, apply=apply, rescore=rescore
    )


def label_history(ws: Workspace, *, project: str) -> list[HistoryEntry]:
    """The taxonomy's change log, oldest first."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        events = repo.list_events(session=session, project_id=found.id)
    return [
        HistoryEntry(
            id=int(e.id or 0),
            created_at=e.created_at,
            kind=e.kind,
            actor=e.actor,
            reason=e.reason,
            summary=summarize(e.kind, e.details),
            details=e.details,
        )
        for e in events
    ]


def refresh_queue(ws: Workspace, project: str) -> int:
    """Re-score the queue after a change (the active model's classes no longer match, so the
    queue falls back to a cold start until the next model); 0 when there are no examples."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        if examples.count_examples(session=session, project_id=found.id) == 0:
            return 0
    from engine import training  # numpy and the classifier: only when there is work

    return training.rescore_project(ws, project)


@dataclass(frozen=True)
class EarlierLabel:
    """A label an example was given before it came back to the queue: the label was split
    (``into`` names its parts as they are now) or retired without a mapping (``into`` None)."""

    label: str
    annotators: tuple[str, ...]
    into: tuple[str, ...] | None


def earlier_labels(*, session: Session, example_id: int) -> list[EarlierLabel]:
    """Why an example waits to be labeled again: its labels that no longer count, with who gave
    them, oldest first (empty when it was never labeled, or every label of it still counts)."""
    by_label: dict[int, tuple[Label, list[str]]] = {}
    for annotation, label in repo.stale_annotations(session=session, example_id=example_id):
        who = by_label.setdefault(int(label.id or 0), (label, []))[1]
        if annotation.annotator not in who:
            who.append(annotation.annotator)
    out = []
    for label, who in by_label.values():
        into = repo.split_into(session=session, label=label)
        out.append(EarlierLabel(label.name, tuple(who), tuple(into) if into is not None else None))
    return out


def stale_label_note(*, session: Session, label: Label) -> str:
    """Why a click on the retired ``label`` cannot be stored, and what to pick instead."""
    into = repo.split_into(session=session, label=label)
    if into:
        return f"the label {label.name!r} was split into {', '.join(into)}: pick one of those"
    names = ", ".join(repo.active_names(session=session, project_id=label.project_id))
    return f"the label {label.name!r} was retired; pick another ({names})"


def summarize(kind: str, details: dict[str, Any]) -> str:
    """One line for the history table."""
    if kind == "add":
        return "added " + ", ".join(ref["name"] for ref in details["labels"])
    if kind == "rename":
        return f"renamed {details['old']} to {details['new']}"
    if kind == "describe":
        return f"described {details['name']}: {details['new']!r}"
    if kind == "merge":
        sources = ", ".join(ref["name"] for ref in details["from"])
        new = " (new)" if details.get("created") else ""
        return (
            f"merged {sources} into {details['into']['name']}{new}; "
            f"{details.get('mapped', 0)} examples mapped"
        )
    if kind == "split":
        names = ", ".join(ref["name"] for ref in details["into"])
        return (
            f"split {details['label']['name']} into {names}; "
            f"{details.get('requeued', 0)} examples back in the queue"
        )
    if kind == "retire":
        if details.get("map_to"):
            return (
                f"retired {details['label']['name']}; its {details.get('mapped', 0)} examples "
                f"count as {details['map_to']['name']}"
            )
        return (
            f"retired {details['label']['name']}; "
            f"{details.get('requeued', 0)} examples back in the queue"
        )
    return kind


# --- shared machinery ----------------------------------------------------------------------------


def _change(
    ws: Workspace,
    project: str,
    *,
    kind: str,
    actor: str,
    reason: str,
    apply: Callable[[Session, Project], dict[str, Any]],
    retrain: bool = True,
    rescore: bool = True,
) -> TaxonomyChange:
    """Run one change in one transaction: apply it, count the examples it sent back to the
    queue, record the event and (unless only guidelines changed) mark the model stale."""
    if not actor.strip():
        raise InvalidInputError("a taxonomy change needs an actor (who made it)")
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        before = set(repo.examples_to_relabel(session=session, project_id=found.id))
        details = apply(session, found)
        after = set(repo.examples_to_relabel(session=session, project_id=found.id))
        details["requeued"] = len(after - before)
        event = repo.record_event(
            session=session,
            project_id=found.id,
            kind=kind,
            actor=actor.strip(),
            reason=reason.strip(),
            details=details,
        )
        if retrain:
            projects.update_project_settings(
                session=session,
                project_id=found.id,
                **{TAXONOMY_CHANGED_AT: event.created_at.isoformat()},
            )
        labels = repo.active_names(session=session, project_id=found.id)
    if rescore and retrain:
        refresh_queue(ws, project)
    return TaxonomyChange(
        event_id=int(event.id or 0),
        kind=kind,
        summary=summarize(kind, details),
        labels=labels,
        requeued=int(details["requeued"]),
        mapped=int(details.get("mapped", 0)),
        details=details,
    )


def _ref(label: Label) -> dict[str, Any]:
    return {"id": label.id, "name": label.name}


def _find(session: Session, project: Project, name: str) -> Label | None:
    assert project.id is not None
    for lb in projects.list_labels(session=session, project_id=project.id, active_only=False):
        if lb.name == name:
            return lb
    return None


def _active_label(session: Session, project: Project, name: str) -> Label:
    """The active label called ``name``; unknown or retired names name the valid ones."""
    assert project.id is not None
    label = projects.get_label(session=session, project_id=project.id, name=name)
    if not label.active:
        names = ", ".join(repo.active_names(session=session, project_id=project.id))
        raise InvalidInputError(f"label {name!r} was retired (labels: {names})")
    return label


def _name_free(session: Session, project: Project, name: str, *, doing: str) -> None:
    existing = _find(session, project, name)
    if existing is None:
        return
    state = "a label" if existing.active else "a retired label"
    hint = (
        "; a split creates new labels (to move examples into an existing one, merge or retire "
        "with --map-to)"
        if doing.startswith("split")
        else ""
    )
    raise ConflictError(f"cannot {doing}: {state} already has that name{hint}")


def changed_at(project: Project) -> datetime | None:
    """When the project's taxonomy last changed in a way the model must follow (None: never)."""
    value = project.settings.get(TAXONOMY_CHANGED_AT)
    return datetime.fromisoformat(value) if isinstance(value, str) else None
