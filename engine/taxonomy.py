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
- **add** and **describe** change nothing already labeled;
- **undo** reverts the latest change not undone yet (again and again, back through the
  history): merged, split and retired labels count again as they did, with what they absorbed
  before; labels the change created go away if nothing was labeled with them since, and a split's
  parts that were used count as the label they came from, so no label given since is lost. What
  an undo needs is kept in each change's event (``followers``: the labels that counted as a label
  it retired); a change recorded before that was kept is undone when its history shows no such
  labels, and refused otherwise.

A change that alters the classes marks the active model stale (the project setting
``taxonomy_changed_at``, which ``engine.jobs.retrain_decision`` compares with the last run) and
re-scores the queue at once (``rescore=False`` leaves that to the caller, e.g. after a Slack ack).
Until the next model, the active one answers in today's names (:func:`names_now`): a renamed
label under its new name, merged labels as their target.
Who may change it: the project's admins (:func:`is_admin`); the engine does not check, the edges
do (the CLI acts as the local operator).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.forecast import counted
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import ConflictError, InvalidInputError, LabelbotError, StaleActionError
from storage.models import Label, ModelRun, Project
from storage.repositories import examples, projects
from storage.repositories import models as model_repo
from storage.repositories import proposals as proposal_repo
from storage.repositories import reviews as review_repo
from storage.repositories import taxonomy as repo

log = logging.getLogger(__name__)
TAXONOMY_CHANGED_AT = "taxonomy_changed_at"  # project setting: ISO time of the last change
TAXONOMY_AS_OF = "taxonomy_as_of"  # a model's metric: that setting when its labels were read
# storage's (sqlmodel) Session, passed through untouched: only storage imports sqlmodel.
Session = Any


class NameTakenError(ConflictError):
    """A change would give a new label a name a label of the project has (active or retired),
    or one that looks like it. ``reason`` says so without advice on the command line's flags,
    for a surface that offers its own way to pick another name."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


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
    undone_by: int | None = None  # the id of the undo event that reverted this change


def admins(ws: Workspace, *, project: str) -> list[str]:
    """The project's admins (Slack user ids, ``project set --admins``); may be empty."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
    return [str(a) for a in found.settings.get("admins") or []]


def is_admin(ws: Workspace, *, project: str, user_id: str) -> bool:
    """Whether ``user_id`` may change the taxonomy. False when no admins are set: the bot then
    falls back to the Slack workspace's admins, which only it can see."""
    return user_id in admins(ws, project=project)


def label_names(*given: str) -> list[str]:
    """The label names in ``given`` (arguments, each a name or a comma-separated list), split
    on commas, the spaces around each name dropped. An empty one ("c,,d", "c,d,", "c, ,d") is
    refused: it is most often a name left out, which was dropped without a word. The CLI's
    lists (`--labels`, `labels add`, `split --into`) and the Slack forms' split here."""
    names = []
    for text in given:
        parts = [part.strip() for part in text.split(",")]
        if "" in parts:
            raise InvalidInputError(
                f"an empty label name in {text!r}: write the names with one comma between each, "
                "none at either end (A,B)"
            )
        names.extend(parts)
    return names


def new_label_name(name: str) -> str:
    """A new label's name as it will be stored (NFC, single spaces: storage's ``label_key``);
    InvalidInputError when it holds a comma or an invisible character (:func:`_invisible`).
    Lists of labels are comma-separated wherever people type them (`labelbot project create
    --labels`, `labels add A,B`, `--into A1,A2`, the Slack forms), so a name with a comma could
    never be named again. Every operation that names a label (project create, add, rename,
    merge into a new label, split) checks here."""
    if "," in name:
        raise InvalidInputError(
            f"a label name cannot contain a comma: {name!r} (lists of labels are comma-separated)"
        )
    hidden = [c for c in dict.fromkeys(projects.label_key(name)) if _invisible(c)]
    if hidden:
        which = ", ".join(
            f"U+{ord(c):04X} {unicodedata.name(c, 'control character')}" for c in hidden
        )
        raise InvalidInputError(
            f"a label name cannot contain invisible characters: {name!r} has {which} "
            "(it would look like another name)"
        )
    return projects.label_key(name)


def _invisible(char: str) -> bool:
    """A character that draws nothing and is no part of a word: a control character, a zero-width
    space, a soft hyphen, a byte order mark, a bidi mark or override (U+202E would show the
    rest of the name backwards). "NDA" with a zero-width space inside beside "NDA" would be
    two labels that read alike on every button, and could never be typed again. ZWJ and ZWNJ
    stay: emoji sequences (a family) and Persian or Hindi words need them; emoji tags too (the
    flag of England). Names are compared without them and variation selectors (storage's
    ``label_fold``): "AB" with a ZWNJ inside beside "AB" is refused as a look-alike."""
    if char in "\u200c\u200d" or 0xE0020 <= ord(char) <= 0xE007F:
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


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
        clean = [new_label_name(n) for n in names]
        taken = [
            projects.name_taken(name, existing)
            for name in clean
            if (existing := projects.look_alike(session=session, project_id=found.id, name=name))
        ]
        if taken:  # as projects.add_labels says it, typed for the edges
            raise NameTakenError("; ".join(taken))
        added = projects.add_labels(
            session=session, project_id=found.id, names=clean, descriptions=descriptions
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
        clean = new_label_name(new_name)
        if clean == current.name:
            raise InvalidInputError(f"label {label!r} is already called that")
        _name_free(session, found, clean, doing=f"rename {label!r} to {clean!r}", keep=current)
        old = current.name  # as stored, not as typed ("age_limit " pasted with its space)
        repo.rename_label(session=session, label=current, new_name=clean)
        return {"label_id": current.id, "old": old, "new": current.name}

    return _change(
        ws, project, kind="rename", actor=actor, reason=reason, apply=apply, rescore=rescore
    )


def describe_label(
    ws: Workspace,
    *,
    project: str,
    label: str,
    description: str,
    actor: str,
    reason: str = "",
    rescore: bool = True,
) -> TaxonomyChange:
    """Set a label's guidelines (shown to labelers on demand); the model is not affected. A
    label with no example yet is searched for by its name and guidelines (engine.rare; one
    with examples is searched from them): then the queue is re-scored at once
    (``details["searched"]``; ``rescore=False`` leaves it to the caller), so the new
    guidelines steer the next examples asked."""

    def apply(session: Session, found: Project) -> dict[str, Any]:
        current = _active_label(session, found, label)
        old = current.description
        repo.describe_label(session=session, label=current, description=description)
        count = _examples_of(session, [current])  # with those merged or mapped into it
        return {"label_id": current.id, "name": current.name, "old": old, "new": description,
                "searched": count == 0}  # fmt: skip

    change = _change(
        ws,
        project,
        kind="describe",
        actor=actor,
        reason=reason,
        apply=apply,
        retrain=False,
        rescore=False,
    )
    if rescore and change.details.get("searched"):
        refresh_queue(ws, project)
    return change


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

    The merged labels are retired and their annotations count as ``into`` from now on. An
    empty or blank ``into`` is refused, not read as the default: it is most often a name left
    out (`--into "$NAME"` with the variable unset), as an empty name in a list is.
    """
    if into is not None and not into.strip():
        raise InvalidInputError(
            f"the label to merge into is empty ({into!r}): name it, or leave it out to merge "
            "into the first label"
        )

    def apply(session: Session, found: Project) -> dict[str, Any]:
        assert found.id is not None
        if len(labels) < 2:
            raise InvalidInputError("a merge needs at least two labels: `merge NAME A B`")
        sources = [_active_label(session, found, n) for n in labels]
        # by id: "age_limit " or a decomposed "é" name the same label as its stored spelling
        ids = [lb.id for lb in sources]
        repeated = sorted({lb.name for lb in sources if ids.count(lb.id) > 1})
        if repeated:
            raise InvalidInputError(f"cannot merge label {repeated[0]!r} with itself")
        target_name = projects.label_key(labels[0] if into is None else into)
        target = next((lb for lb in sources if lb.name == target_name), None)
        created = False
        if target is None:
            existing = _find(session, found, target_name)
            if existing is not None and not existing.active:
                raise NameTakenError(
                    f"cannot merge into {target_name!r}: a retired label has that name; "
                    "choose another name"
                )
            if existing is None:
                _name_free(session, found, target_name, doing=f"merge into {target_name!r}")
                existing = projects.add_labels(
                    session=session,
                    project_id=found.id,
                    names=[new_label_name(target_name)],
                    descriptions=[description] if description is not None else None,
                )[0]
                created = True
            target = existing
        elif description is not None:
            repo.describe_label(session=session, label=target, description=description)
        assert target.id is not None
        moved = [lb for lb in sources if lb.id != target.id]
        followers = _followers(session, moved)
        mapped = _examples_of(session, moved, followers)
        for lb in moved:
            repo.map_label(session=session, label=lb, to_label_id=target.id)
        return {
            "from": [_ref(lb) for lb in moved],
            "into": _ref(target),
            "created": created,
            "mapped": mapped,
            "followers": followers,
            "rejoined": _rejoin(session, found),
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
        names = [new_label_name(n) for n in into if n.strip()]
        if len(names) < 2:
            raise InvalidInputError("a split needs at least two new labels: `--into A1,A2`")
        for name in names:
            _name_free(session, found, name, doing=f"split {label!r} into {name!r}")
        added = projects.add_labels(session=session, project_id=found.id, names=names)
        followers = _followers(session, [old])
        repo.map_label(session=session, label=old, to_label_id=None)
        return {"label": _ref(old), "into": [_ref(lb) for lb in added], "followers": followers,
                **_votes_so_far(session, found)}  # fmt: skip

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
            target = _active_label(session, found, map_to)
            if target.id == old.id:  # by id: another spelling of the same name is the same label
                raise InvalidInputError(f"cannot retire {old.name!r} and map it to itself")
        if len(projects.list_labels(session=session, project_id=found.id)) < 2:
            raise InvalidInputError(f"cannot retire {label!r}: it is the project's last label")
        mapped = 0
        followers = _followers(session, [old])
        if target is not None:
            mapped = _examples_of(session, [old], followers)
        repo.map_label(session=session, label=old, to_label_id=target.id if target else None)
        return {
            "label": _ref(old),
            "map_to": _ref(target) if target is not None else None,
            "mapped": mapped,
            "followers": followers,
            "rejoined": _rejoin(session, found) if target is not None else [],
            **(_votes_so_far(session, found) if target is None else {}),
        }

    return _change(
        ws, project, kind="retire", actor=actor, reason=reason, apply=apply, rescore=rescore
    )


def last_undoable(ws: Workspace, *, project: str) -> HistoryEntry | None:
    """The change :func:`undo_last` would undo now (None: nothing left to undo)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        event = _undo_target(repo.list_events(session=session, project_id=found.id))
    return None if event is None else _entry(event)


def undo_refusal(ws: Workspace, *, project: str) -> LabelbotError | None:
    """The error :func:`undo_last` would refuse to undo the latest change with now (None: it
    would go through, or nothing is left to undo). The undo is tried in a transaction rolled
    back."""
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        events = repo.list_events(session=session, project_id=found.id)
        event = _undo_target(events)
        if event is None:
            return None
        try:
            _UNDO[event.kind](session, found, event.details, events[: events.index(event)])
            session.flush()
        except LabelbotError as exc:
            return exc
        finally:
            session.rollback()
    return None


def undo_last(
    ws: Workspace,
    *,
    project: str,
    actor: str,
    reason: str = "",
    rescore: bool = True,
    event_id: int | None = None,
) -> TaxonomyChange:
    """Undo the latest change not undone yet, as a recorded change of its own ("undo"): the
    taxonomy and what every annotation counts as return to how they were before it, while the
    labels given since are kept (see the module docstring). ConflictError when that would lose
    labels given since (a label the change created was used) or the history lacks what is needed.
    ``event_id``: undo only if that change is the latest (StaleActionError once it was undone,
    ConflictError while a later change stands).
    """
    target = last_undoable(ws, project=project)
    if event_id is not None and (target is None or target.id != event_id):
        undone = {h.id: h.undone_by for h in label_history(ws, project=project)}
        if undone.get(event_id):
            raise StaleActionError(
                f"change #{event_id} was already undone (by #{undone[event_id]})"
            )
        if target is not None:
            raise ConflictError(
                f"change #{event_id} is not the latest: undo #{target.id} ({target.summary}) first"
            )
    if target is None:
        raise InvalidInputError(f"project {project!r} has no taxonomy change left to undo")

    def apply(session: Session, found: Project) -> dict[str, Any]:
        assert found.id is not None
        events = repo.list_events(session=session, project_id=found.id)
        event = _undo_target(events)
        if event is None or event.id != target.id:
            raise ConflictError(
                "the taxonomy changed meanwhile: see `labelbot labels history` and try again"
            )
        earlier = events[: events.index(event)]
        undone = _UNDO[event.kind](session, found, event.details, earlier)
        return {"event_id": event.id, "kind": event.kind,
                "summary": summarize(event.kind, event.details), **undone}  # fmt: skip

    def then(session: Session, details: dict[str, Any], undo_event_id: int) -> None:
        # a proposal whose change this undid: rejected, not proposed again unless evidence grows
        proposal_repo.reject_undone(
            session=session, label_event_id=int(details["event_id"]), undo_event_id=undo_event_id
        )

    return _change(ws, project, kind="undo", actor=actor, reason=reason, apply=apply,
                   retrain=target.kind != "describe", rescore=rescore, then=then)  # fmt: skip


def _undo_target(events: Sequence[Any]) -> Any:
    """The latest event that is not an undo and was not undone (events oldest first)."""
    undone = {int(e.details.get("event_id", 0)) for e in events if e.kind == "undo"}
    return next((e for e in reversed(events) if e.kind != "undo" and e.id not in undone), None)


def _label(session: Session, project: Project, ref: dict[str, Any]) -> Label:
    assert project.id is not None
    return repo.label_by_id(session=session, project_id=project.id, label_id=int(ref["id"]))


def _remove_created(session: Session, label: Label, doing: str) -> None:
    """Remove a label the undone change created; refused when something was labeled with it."""
    uses = repo.label_uses(session=session, label_id=int(label.id or 0))
    if uses:
        raise ConflictError(
            f"cannot undo {doing}: {label.name!r} has been used since ({uses} "
            f"{'use' if uses == 1 else 'uses'}: labels, reviews or mapped labels refer to it); "
            "retire or merge it instead"
        )
    repo.delete_unused_label(session=session, label=label)


def _restore(
    session: Session,
    project: Project,
    ref: dict[str, Any],
    details: dict[str, Any],
    earlier: Sequence[Any],
) -> Label:
    """A label the undone change retired, active again with the labels that counted as it."""
    label = _label(session, project, ref)
    followers = details.get("followers")
    if followers is not None:
        ids = [int(i) for i in followers.get(str(label.id), [])]
    elif any(_absorbed(e, int(label.id or 0)) for e in earlier):
        raise ConflictError(
            "cannot undo this change: it was recorded before labelbot kept which labels counted "
            f"as {label.name!r}, and some did"
        )
    else:
        ids = []  # nothing was ever merged or mapped into it: it had no followers
    repo.reactivate_label(session=session, label=label, followers=ids)
    return label


def _absorbed(event: Any, label_id: int) -> bool:
    """Whether ``event`` made other labels count as ``label_id`` (a merge into it, a retire
    mapped to it)."""
    d = event.details
    if event.kind == "merge":
        return int(d["into"]["id"]) == label_id
    return event.kind == "retire" and int((d.get("map_to") or {}).get("id", 0)) == label_id


Details = dict[str, Any]


def _undo_add(session: Session, project: Project, d: Details, _: Sequence[Any]) -> Details:
    labels = [_label(session, project, ref) for ref in d["labels"]]
    names = [lb.name for lb in labels]
    for label in labels:
        _remove_created(session, label, f"adding {label.name!r}")
    return {"removed": names}


def _undo_rename(session: Session, project: Project, d: Details, _: Sequence[Any]) -> Details:
    label = _label(session, project, {"id": d["label_id"]})
    _name_free(session, project, d["old"], doing=f"rename {label.name!r} back to {d['old']!r}",
               keep=label)  # fmt: skip
    repo.rename_label(session=session, label=label, new_name=d["old"])
    return {"label_id": label.id, "name": label.name}


def _undo_describe(session: Session, project: Project, d: Details, _: Sequence[Any]) -> Details:
    label = _label(session, project, {"id": d["label_id"]})
    repo.describe_label(session=session, label=label, description=d.get("old") or "")
    return {"label_id": label.id, "name": label.name}


def _undo_merge(session: Session, project: Project, d: Details, earlier: Sequence[Any]) -> Details:
    _unjoin(session, project, d)
    restored = [_restore(session, project, ref, d, earlier) for ref in d["from"]]
    removed = []
    if d.get("created"):
        into = _label(session, project, d["into"])
        _remove_created(session, into, f"the merge into {into.name!r}")
        removed.append(d["into"]["name"])
    return {"restored": [lb.name for lb in restored], "removed": removed}


def _undo_split(session: Session, project: Project, d: Details, earlier: Sequence[Any]) -> Details:
    label = _restore(session, project, d["label"], d, earlier)
    kept, removed = [], []
    for ref in d["into"]:
        part = _label(session, project, ref)
        if repo.label_uses(session=session, label_id=int(part.id or 0)):
            repo.map_label(session=session, label=part, to_label_id=label.id)  # its labels stay
            kept.append(part.name)
        else:
            repo.delete_unused_label(session=session, label=part)
            removed.append(ref["name"])
    return {"restored": [label.name], "kept_as": kept, "removed": removed}


def _undo_retire(session: Session, project: Project, d: Details, earlier: Sequence[Any]) -> Details:
    _unjoin(session, project, d)
    return {"restored": [_restore(session, project, d["label"], d, earlier).name]}


_UNDO: dict[str, Callable[[Session, Project, Details, Sequence[Any]], Details]] = {
    "add": _undo_add,
    "rename": _undo_rename,
    "describe": _undo_describe,
    "merge": _undo_merge,
    "split": _undo_split,
    "retire": _undo_retire,
}


def label_history(ws: Workspace, *, project: str) -> list[HistoryEntry]:
    """The taxonomy's change log, oldest first."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        events = repo.list_events(session=session, project_id=found.id)
    undone = {int(e.details.get("event_id", 0)): int(e.id or 0) for e in events if e.kind == "undo"}
    return [_entry(e, undone_by=undone.get(int(e.id or 0))) for e in events]


def _entry(event: Any, *, undone_by: int | None = None) -> HistoryEntry:
    return HistoryEntry(
        id=int(event.id or 0),
        created_at=event.created_at,
        kind=event.kind,
        actor=event.actor,
        reason=event.reason,
        summary=summarize(event.kind, event.details),
        details=event.details,
        undone_by=undone_by,
    )


def refresh_queue(ws: Workspace, project: str) -> int:
    """Re-score the queue after a change: with the active model while its classes still map to
    today's labels (renames, merges: ``training.class_map``), else a cold start until the next
    model; 0 when there are no examples."""
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
        # the split it went to: its own, or that of the label it was merged into
        into = repo.parts_now(session=session, label=label)
        out.append(EarlierLabel(label.name, tuple(who), tuple(into) if into is not None else None))
    return out


def names_now(
    ws: Workspace,
    *,
    project: str,
    names: Sequence[str],
    as_of: datetime,
    label_ids: Sequence[int] | None = None,
) -> list[str | None]:
    """What each label called ``names[i]`` at ``as_of`` (a model's classes when it was trained)
    counts as now: its name after renames, the label it was merged into, or None (split, or
    retired without a mapping). The label is the one with id ``label_ids[i]`` (the run's
    ``label_ids``), else the one that had the name at ``as_of``: never the label that has it
    today (two labels may have swapped names), nor one added since."""

    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return names_now_in(
            session=session, project_id=found.id, names=names, as_of=as_of, label_ids=label_ids
        )


def names_now_in(
    *,
    session: Session,
    project_id: int,
    names: Sequence[str],
    as_of: datetime,
    label_ids: Sequence[int] | None = None,
    targets: dict[int, str | None] | None = None,
) -> list[str | None]:
    """:func:`names_now` in ``session``; ``targets``: the project's label targets
    (``label_targets``) when the caller read them already."""
    labels = model_repo.class_labels(
        session=session, project_id=project_id, classes=names, as_of=as_of, label_ids=label_ids
    )
    if targets is None:
        targets = repo.label_targets(session=session, project_id=project_id)
    return [targets.get(int(lb.id or 0)) if lb is not None else None for lb in labels]


def stale_label_note(
    *, session: Session, label: Label, clicked: str | None = None, advice: bool = True
) -> str:
    """Why a click on the retired ``label`` cannot be stored, and what to pick instead
    (``advice=False``: only where it went, for a prediction that still names it, or a change
    that names it: there it may also count as an active label, "... was merged into fx").

    Names the label as the button showed it: ``clicked`` when given (a name it had before a
    rename: "'card_arrival' (renamed arrival)"), else its name with the names it had before.
    Follows the label through the changes since (merged into a label that was merged, retired
    or split in turn) to where its examples stand now: "... was merged into card_and_atm,
    which was split into cards, atms: pick one of those"."""
    events = repo.list_events(session=session, project_id=label.project_id)
    undone = {int(e.details.get("event_id", 0)) for e in events if e.kind == "undo"}
    live = [e for e in events if e.id not in undone]
    shown = projects.label_key(clicked) if clicked else label.name
    if shown != label.name:
        head = f"the label {shown!r} (renamed {label.name})"
    else:
        former = [projects.label_key(str(e.details.get("old", ""))) for e in live
                  if e.kind == "rename" and e.details.get("label_id") == label.id]  # fmt: skip
        former = list(dict.fromkeys(n for n in former if n and n != label.name))
        head = f"the label {label.name!r}" + (f" (formerly {', '.join(former)})" if former else "")
    steps: list[str] = []
    current, seen = label, {label.id}
    while True:
        step = _retired_by(live, current)
        into = None if step is None else step[1]
        if step is None or step[0] == "split":
            parts = repo.split_into(session=session, label=current) if step else None
            if parts:
                steps.append(f"was split into {', '.join(parts)}"
                             + (": pick one of those" if advice else ""))  # fmt: skip
                break
        if into is None or into in seen:
            # no change names it, yet a split stopped it: it counted as the split label then
            # (a part kept as its label by an undone split, say: one of the split's followers)
            parts = None if step is not None else repo.parts_now(session=session, label=current)
            if parts:
                steps.append(f"counted as a label since split into {', '.join(parts)}"
                             + (": pick one of those" if advice else ""))  # fmt: skip
                break
            steps.append(_retired_note(session, label, advice=advice))
            break
        try:
            target = repo.label_by_id(session=session, project_id=label.project_id, label_id=into)
        except InvalidInputError:  # removed by an undo since
            target = None
        if target is None:
            steps.append(_retired_note(session, label, advice=advice))
            break
        if step is not None and step[0] == "rejoin":
            # its split closed: its parts were brought back under one label (merged back
            # together, or one retired mapped to another), which its examples count as
            steps.append(f"was split, and its parts were brought back together as {target.name}")
        elif step is not None and step[0] == "merge":
            steps.append(f"was merged into {target.name}")
        else:
            steps.append(f"was retired, mapped to {target.name}")
        if target.active:  # where its examples count now (a change that names it is told so)
            break
        current = target
        seen.add(target.id)
    return head + " " + ", which ".join(steps)


def _retired_note(session: Session, label: Label, *, advice: bool) -> str:
    if not advice:
        return "was retired"
    names = ", ".join(repo.active_names(session=session, project_id=label.project_id))
    return f"was retired; pick another ({names})"


def model_gaps(
    ws: Workspace, *, project: str, run: ModelRun, untrained: Sequence[str] = ()
) -> list[str]:
    """What ``run`` (a project's model) cannot say in today's taxonomy, one line each: a class
    of it split or retired since (it still answers under that name: :func:`names_now`), the
    labels it had no labeled example of (``untrained``, as it answers under today's names: it
    never answers them; a retrain after a split has none of the new labels until experts label
    some of the examples sent back to the queue), a class whose label an undo removed since
    (it still answers that name), and the labels it has no class for, which it never answers:
    added since, or back since (an undone merge, split or retire brought them back). Empty
    when it speaks for every label today.

    Which labels are new to it is read from the label ids the run stored (its classes are
    every label active then; ids only grow): no label's time is compared with the run's, two
    clocks that may differ. A run recorded before the ids were kept is read by time."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        labels = model_repo.class_labels(
            session=session,
            project_id=found.id,
            classes=run.classes,
            as_of=run.created_at,
            label_ids=run.label_ids,
        )
        targets = repo.label_targets(session=session, project_id=found.id)
        ids = run.label_ids if run.label_ids and len(run.label_ids) == len(run.classes) else None
        notes, covered = [], set()
        for name, label in zip(run.classes, labels, strict=True):
            if label is None and ids is not None:  # its id is gone: removed by an undo
                notes.append(f"the label {name!r} was removed since model v{run.version} (the "
                             f"change that made it was undone), which still answers {name!r} "
                             "until the next model")  # fmt: skip
            now = None if label is None else targets.get(int(label.id or 0))
            if now is not None:
                covered.add(now)
            elif label is not None:
                covered.update(repo.split_into(session=session, label=label) or [])
                where = stale_label_note(session=session, label=label, clicked=name, advice=False)
                notes.append(f"{where} since model v{run.version}, which still answers {name!r} "
                             "for it until the next model")  # fmt: skip
        if untrained:
            them = "it" if len(untrained) == 1 else "them"
            notes.append(f"model v{run.version} had no labeled examples of "
                         f"{', '.join(untrained)}: it never answers {them} until a model is "
                         "trained with some")  # fmt: skip
        active = projects.list_labels(session=session, project_id=found.id)
        missing = [lb for lb in active if lb.name not in covered]
        if ids is not None:  # every label active at training is a class: ids above are newer
            top = max(ids, default=0)
            new = [lb.name for lb in missing if int(lb.id or 0) > top]
            back = [lb.name for lb in missing if int(lb.id or 0) <= top]
        else:
            new = [lb.name for lb in missing if lb.created_at > run.created_at]
            back = []
        if new:
            some = "a label" if len(new) == 1 else "labels"
            notes.append(f"model v{run.version} predates {some} {', '.join(new)}: it never "
                         "answers " + ("it" if len(new) == 1 else "them")
                         + " until the next model")  # fmt: skip
        if back:
            was, it = ("was", "it") if len(back) == 1 else ("were", "them")
            notes.append(f"model v{run.version} was trained while {', '.join(back)} {was} "
                         f"retired (back since a change was undone): it never answers {it} "
                         "until the next model")  # fmt: skip
        return notes


def _retired_by(events: Sequence[Any], label: Label) -> tuple[str, int | None] | None:
    """How the latest of ``events`` (not undone) that retired ``label`` did it: ("merge",
    target id), ("retire", the label it was mapped to, or None), ("split", None), or
    ("rejoin", the label it counts as) for a split label whose parts a later merge or mapped
    retire brought back together (:func:`_rejoin`); None when no event retired it."""
    for event in reversed(events):
        d = event.details
        if any(int(ref.get("id") or 0) == label.id for ref in d.get("rejoined") or []):
            ref = next(r for r in d["rejoined"] if int(r.get("id") or 0) == label.id)
            return "rejoin", int(ref["into"])
        if event.kind == "merge" and any(ref.get("id") == label.id for ref in d.get("from", [])):
            return "merge", int(d["into"]["id"])
        if event.kind in ("split", "retire") and (d.get("label") or {}).get("id") == label.id:
            mapped = d.get("map_to") if event.kind == "retire" else None
            return event.kind, int(mapped["id"]) if mapped else None
    return None


def _rejoined(details: dict[str, Any]) -> str:
    """ "; split label X's 12 examples count again", for the splits a change brought together."""
    return "".join(
        f"; split label {ref['name']}'s {_count_again(ref.get('examples', 0))}"
        for ref in details.get("rejoined") or []
    )


def _counts(n: int) -> str:
    """ "1 example counts", "3 examples count"."""
    return f"{counted(n, 'example')} count{'s' if n == 1 else ''}"


def _count_again(n: int) -> str:
    return f"{_counts(n)} again"


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
            f"{counted(details.get('mapped', 0), 'example')} mapped" + _rejoined(details)
        )
    if kind == "split":
        names = ", ".join(ref["name"] for ref in details["into"])
        return (
            f"split {details['label']['name']} into {names}; "
            f"{counted(details.get('requeued', 0), 'example')} back in the queue"
        )
    if kind == "retire":
        if details.get("map_to"):
            return (
                f"retired {details['label']['name']}; its "
                f"{_counts(details.get('mapped', 0))} as {details['map_to']['name']}"
                + _rejoined(details)
            )
        return (
            f"retired {details['label']['name']}; "
            f"{counted(details.get('requeued', 0), 'example')} back in the queue"
        )
    if kind == "undo":
        restored = details.get("restored_examples")
        again = f"; {_count_again(restored)}" if restored else ""
        # an undone merge or mapped retire that had closed a split reopens it: its examples
        # wait to be labeled again, counted as the split counted them
        requeued = details.get("requeued")
        back = f"; {counted(requeued, 'example')} back in the queue" if requeued else ""
        return f"undid #{details['event_id']} ({details['summary']}){again}{back}"
    return kind


def _rejoin(session: Session, project: Project) -> list[dict[str, Any]]:
    """Split labels whose parts this change brought back under one label count as it again
    (a split, then a merge of its parts: its examples need no relabel), and so do the labels
    that counted as them before the split. Repeated until none is left: a split label counting
    again can complete an earlier split of which it is a part. Recorded so that the change's
    undo splits them again."""
    assert project.id is not None
    rejoined: list[dict[str, Any]] = []
    while found := repo.rejoined_splits(session=session, project_id=project.id):
        waiting = set(repo.examples_to_relabel(session=session, project_id=project.id))
        for label, into, followers in found:
            repo.map_label(session=session, label=label, to_label_id=into)
            for follower in followers:
                repo.map_label(session=session, label=follower, to_label_id=into)
            # only those still waiting to be relabeled count again: the ones labeled into a
            # part since the split counted already (and still count as that part's label)
            left = set(repo.examples_to_relabel(session=session, project_id=project.id))
            examples, waiting = len(waiting - left), left
            rejoined.append({**_ref(label), "into": into, "examples": examples,
                             "followers": [int(f.id or 0) for f in followers]})  # fmt: skip
    return rejoined


def _unjoin(session: Session, project: Project, details: Details) -> None:
    """Undo :func:`_rejoin`: the split labels (and their followers) count as nothing again;
    their parts decide."""
    for ref in reversed(details.get("rejoined") or []):
        for follower in ref.get("followers") or []:
            label = _label(session, project, {"id": follower})
            repo.map_label(session=session, label=label, to_label_id=None)
        repo.map_label(session=session, label=_label(session, project, ref), to_label_id=None)


def _votes_so_far(session: Session, project: Project) -> dict[str, int]:
    """For a change that sends examples back to be labeled again: the highest annotation id so
    far, which a relabel given after it exceeds (storage's ``LAST_ANNOTATION_ID``)."""
    assert project.id is not None
    last = repo.last_annotation_id(session=session, project_id=project.id)
    return {repo.LAST_ANNOTATION_ID: last}


def _followers(session: Session, labels: Sequence[Label]) -> dict[str, list[int]]:
    """For each label a change retires: the labels that count as it now (a merge or a mapped
    retire folded them in), re-pointed by the change; kept in the event so it can be undone."""
    return {str(lb.id): repo.labels_mapped_to(session=session, label_id=int(lb.id or 0))
            for lb in labels}  # fmt: skip


def _examples_of(
    session: Session, labels: Sequence[Label], followers: dict[str, list[int]] | None = None
) -> int:
    """The examples that count as one of ``labels`` now (their agreed label, as `labelbot
    status` counts): annotated with it, or with a label merged or mapped into it (its
    :func:`_followers`, read unless given)."""
    if followers is None:
        followers = _followers(session, labels)
    ids = [i for lb in labels for i in (int(lb.id or 0), *followers[str(lb.id)])]
    return repo.count_label_examples(session=session, label_ids=ids)


# --- shared machinery ----------------------------------------------------------------------------

Then = Callable[[Session, dict[str, Any], int], None]  # (session, details, event id)
_COMMITTING_WITH: ContextVar[Then | None] = ContextVar("committing_with", default=None)


@contextmanager
def committing_with(then: Then) -> Iterator[None]:
    """Every change made in the block also runs ``then(session, details, event id)`` in its
    transaction, once its event exists: both commit, or (``then`` raising, the process dying)
    neither does. ``engine.proposing`` marks the proposal it applies this way, so a crash never
    leaves a proposal decided with its change missing. Per thread (a context variable)."""
    token = _COMMITTING_WITH.set(then)
    try:
        yield
    finally:
        _COMMITTING_WITH.reset(token)


def _despite(session: Session, project: Project) -> set[int]:
    """Storage's ``relabel_despite_votes``: it reads only examples with votes of both kinds."""
    assert project.id is not None
    return set(repo.relabel_despite_votes(session=session, project_id=project.id))


def _waiting(
    session: Session, project: Project, counting: set[int], despite: set[int]
) -> tuple[set[int], set[int]]:
    """(before, after) a change, as storage's ``examples_to_relabel`` reads them, of the
    examples that may differ: ``counting`` and ``despite`` were read before the change (the
    labels that counted, ``relabel_despite_votes``). An example with no counting vote waits
    for a relabel; whether it has one changes only for examples voted with a label that
    started or stopped counting, read alone before and after."""
    assert project.id is not None
    project_id = project.id
    now = repo.counting_ids(session=session, project_id=project_id)
    changed = counting ^ now

    def without(labels: set[int]) -> set[int]:
        return repo.without_counting_vote(
            session=session, project_id=project_id, counting=labels, among=changed
        )

    return despite | without(counting), _despite(session, project) | without(now)


# changes that leave every label's vote counting as before (same ids, same active and mapped
# state): they send no example back to the queue and restore none
KEEPS_WHAT_COUNTS = frozenset({"add", "rename", "describe"})


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
    then: Then | None = None,
) -> TaxonomyChange:
    """Run one change in one transaction: apply it, count the examples it sent back to the
    queue, record the event and (unless only guidelines changed) mark the model stale.
    ``then(session, details, event id)`` runs in the same transaction once the event exists."""
    if not actor.strip():
        raise InvalidInputError("a taxonomy change needs an actor (who made it)")
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        repo.lock_taxonomy(session=session, project_id=found.id)
        # Which examples wait for a relabel once read every example of the project (twice,
        # inside the write lock every click waits on: a rename took 2.3 s at 100k examples,
        # bench/click_scale.py). A rename, a description or a new label changes no label's
        # active or mapped state, so no vote starts or stops counting: nothing to read. Other
        # changes read the examples voted with a label whose counting changed (:func:`_waiting`).
        relabels = kind not in KEEPS_WHAT_COUNTS
        counting = repo.counting_ids(session=session, project_id=found.id) if relabels else set()
        despite = _despite(session, found) if relabels else set()
        names_before = _names_by_id(session, found)
        details = apply(session, found)
        # a review whose label (or suggestion) no longer counts, or now counts as the other,
        # asks nothing: dismissed with the change, so none goes out that no answer can settle
        review_repo.dismiss_moot(session=session, project_id=found.id)
        before, after = _waiting(session, found, counting, despite) if relabels else (set(), set())
        details["requeued"] = len(after - before)
        if before - after:  # an undo: examples whose labels count again
            details["restored_examples"] = len(before - after)
        event = repo.record_event(
            session=session,
            project_id=found.id,
            kind=kind,
            actor=actor.strip(),
            reason=reason.strip(),
            details=details,
        )
        # proposals name labels: they follow a rename (or an undone one), so an admin's answer
        # keeps holding a proposal back under the label's new name, and an open proposal stays
        # open (same id, same Slack message, redrawn by the next sync) instead of superseded
        renamed = {names_before[i]: name for i, name in _names_by_id(session, found).items()
                   if names_before.get(i, name) != name}  # fmt: skip
        proposal_repo.follow_renames(session=session, project_id=found.id, renamed=renamed)
        for hook in (then, _COMMITTING_WITH.get()):
            if hook is not None:
                hook(session, details, int(event.id or 0))
        if retrain:
            projects.update_project_settings(
                session=session,
                project_id=found.id,
                **{TAXONOMY_CHANGED_AT: event.created_at.isoformat()},
            )
        labels = repo.active_names(session=session, project_id=found.id)
        proposal_repo.supersede_outdated(
            session=session, project_id=found.id, active=labels,
            reshaped=_reshaped(session, found, kind, details),
        )  # fmt: skip
        # a label added or renamed onto a name a split or an add suggests: it suggests another
        proposal_repo.free_suggested_names(session=session, project_id=found.id)
    summary = summarize(kind, details)
    if rescore and retrain:
        try:
            refresh_queue(ws, project)
        except LabelbotError as exc:
            # the change has committed and stands: a failed re-score leaves the queue in its old
            # order (and the model is stale: the next retrain re-scores), it must not read as a
            # failed change, which a retry would then find already made
            log.warning(
                "re-scoring %s after change #%s (%s) failed: %s", project, event.id, kind, exc
            )
            details = {**details, "rescore_pending": str(exc)}
            summary += "; queue re-score pending"
    return TaxonomyChange(
        event_id=int(event.id or 0),
        kind=kind,
        summary=summary,
        labels=labels,
        requeued=int(details["requeued"]),
        mapped=int(details.get("mapped", 0)),
        details=details,
    )


def _reshaped(session: Session, project: Project, kind: str, details: Details) -> list[str]:
    """The active label whose examples a change changed without retiring it: a merge's target
    and a retired label's ``map_to`` (examples of other labels count as it now), or the one an
    undone merge or mapped retire gives them back from. An open proposal naming it was found
    on the examples it had before (a split of the label that absorbed another), so it is
    superseded with the change; the next refresh proposes it again if the evidence holds."""
    assert project.id is not None
    if kind == "undo":
        events = repo.list_events(session=session, project_id=project.id)
        undone = next((e for e in events if e.id == details.get("event_id")), None)
        if undone is None:
            return []
        kind, details = undone.kind, undone.details
    ref = details.get("into") if kind == "merge" else details.get("map_to")
    if kind not in ("merge", "retire") or not ref:
        return []
    label = session.get(Label, int(ref["id"]))  # gone: a merge's new label that an undo removed
    return [label.name] if label is not None and label.active else []


def reshaped_since(session: Session, project: Project, seen: Sequence[int]) -> set[str]:
    """The labels the project's changes other than ``seen`` (event ids read before) reshaped
    (:func:`_reshaped`): a refresh that read the examples before them drops what it found
    about these labels."""
    assert project.id is not None
    events = repo.list_events(session=session, project_id=project.id)
    known = set(seen)
    return {
        name
        for e in events
        if e.id not in known
        for name in _reshaped(session, project, e.kind, e.details)
    }


def event_ids(session: Session, project: Project) -> list[int]:
    """The ids of the project's taxonomy changes so far (for :func:`reshaped_since`)."""
    assert project.id is not None
    return [int(e.id or 0) for e in repo.list_events(session=session, project_id=project.id)]


def _names_by_id(session: Session, project: Project) -> dict[int, str]:
    assert project.id is not None
    labels = projects.list_labels(session=session, project_id=project.id, active_only=False)
    return {int(lb.id or 0): lb.name for lb in labels}


def _ref(label: Label) -> dict[str, Any]:
    return {"id": label.id, "name": label.name}


def _find(session: Session, project: Project, name: str) -> Label | None:
    assert project.id is not None
    key = projects.label_key(name)
    for lb in projects.list_labels(session=session, project_id=project.id, active_only=False):
        if lb.name == key:
            return lb
    return None


def _active_label(session: Session, project: Project, name: str) -> Label:
    """The active label called ``name``; unknown or retired names name the valid ones. A label
    no longer active is said to be where it went ("was merged into fx", "was split into a, b"),
    not just "retired": a merge and a split retire labels too, and the admin needs the name to
    give instead."""
    assert project.id is not None
    label = projects.get_label(session=session, project_id=project.id, name=name)
    if not label.active:
        names = ", ".join(repo.active_names(session=session, project_id=project.id))
        gone = stale_label_note(session=session, label=label, advice=False)
        raise InvalidInputError(f"{gone} (labels: {names})")
    return label


def _name_free(
    session: Session, project: Project, name: str, *, doing: str, keep: Label | None = None
) -> None:
    """Refuse ``name`` when a label of the project, active or retired, has it or a name that
    looks like it (case, width, a joiner or variation selector: storage's ``label_fold``);
    ``keep``, the label being renamed, may take another case of its own name."""
    assert project.id is not None
    existing = projects.look_alike(
        session=session, project_id=project.id, name=name,
        besides=None if keep is None else keep.id,
    )  # fmt: skip
    if existing is None:
        return
    hint = (
        "; a split creates new labels (to move examples into an existing one, merge or retire "
        "with --map-to)"
        if doing.startswith("split")
        else ""
    )
    reason = f"cannot {doing}: {projects.name_taken(projects.label_key(name), existing)}"
    raise NameTakenError(reason + hint, reason=reason)


def changed_at(project: Project) -> datetime | None:
    """When the project's taxonomy last changed in a way the model must follow (None: never)."""
    value = project.settings.get(TAXONOMY_CHANGED_AT)
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def trained_before(run: ModelRun, changed: datetime | None) -> bool:
    """Whether ``run`` was trained before the taxonomy change at ``changed`` (:func:`changed_at`):
    its accuracy and F1 measured the labels as they were then, and it is due a retrain.

    Decided by the change stamp the run's training read with its labels (``TAXONOMY_AS_OF``):
    a run that read the latest stamp knows the latest taxonomy, any other stamp is of an earlier
    change (or none). Stamps are compared for equality, never by order: each is the clock of the
    replica that made its change, and replicas' clocks differ (a change stamped by a clock
    running ahead, then one by a clock behind, read as "no change since"; and a run's own time,
    from the trainer's clock, read every model as older than a change stamped ahead, so it was
    retrained at every poll). Runs trained before the stamp was kept are compared by time (both
    aware: the run's is stored as UTC, the change's as its event's aware ISO time)."""
    if changed is None:
        return False
    if TAXONOMY_AS_OF in run.metrics:
        seen = run.metrics[TAXONOMY_AS_OF]
        return not isinstance(seen, str) or datetime.fromisoformat(seen) != changed
    return run.created_at < changed
