"""The taxonomy's change history and the label mapping it implies.

A retired label (merged, split or retired) stays in ``labels`` with ``active = False``; its
``mapped_to_id`` says which active label its annotations count as now, or None when its examples
must be labeled again. The mapping is kept resolved: when a target is retired in turn, every
label mapped to it is re-pointed (or unmapped) in the same transaction, so one join answers
"what does this annotation count as?" and SQL never walks a chain. The steps themselves are
in ``label_events``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.errors import InvalidInputError, LabelGone, StaleActionError
from storage.models import Annotation, Example, Label, LabelEvent, Project, Review, utcnow
from storage.repositories.projects import _clean_label, get_label, label_key, list_labels


def lock_taxonomy(*, session: Session, project_id: int) -> None:
    """Serialize taxonomy changes of one project: on PostgreSQL the project's row is locked
    until the transaction ends, so two changes (two undos of the same event, say) cannot both
    read the history before either writes. SQLite's write transactions are serial already."""
    session.exec(select(Project.id).where(Project.id == project_id).with_for_update()).all()


def record_event(
    *,
    session: Session,
    project_id: int,
    kind: str,
    actor: str,
    reason: str = "",
    details: dict[str, Any],
) -> LabelEvent:
    event = LabelEvent(
        project_id=project_id,
        kind=kind,
        actor=actor,
        reason=reason,
        details=details,
        created_at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def list_events(*, session: Session, project_id: int) -> list[LabelEvent]:
    """The project's taxonomy changes, oldest first: in the order they were made, by id (ids
    are handed out in order, and changes of a project are serialized by :func:`lock_taxonomy`),
    never by ``created_at``, the clock of the replica that made each, which may run ahead of or
    behind another's: an undo of "the latest change" must take back the one made last."""
    return list(
        session.exec(
            select(LabelEvent)
            .where(LabelEvent.project_id == project_id)
            .order_by(col(LabelEvent.id))
        ).all()
    )


def newest_event_id(*, session: Session, project_id: int) -> int:
    """The id of the project's latest taxonomy change (0 when it has none)."""
    newest = session.exec(
        select(func.coalesce(func.max(LabelEvent.id), 0)).where(LabelEvent.project_id == project_id)
    ).one()
    return int(newest or 0)


def rename_label(*, session: Session, label: Label, new_name: str) -> Label:
    """Rename in place: the id (and so every annotation) stays."""
    label.name = _clean_label(new_name)
    session.add(label)
    session.flush()
    return label


def describe_label(*, session: Session, label: Label, description: str) -> Label:
    label.description = description.strip()
    session.add(label)
    session.flush()
    return label


def map_label(*, session: Session, label: Label, to_label_id: int | None) -> Label:
    """Retire ``label``: its annotations (and those of labels mapped to it) count as
    ``to_label_id`` from now on, or as unlabeled when it is None."""
    if to_label_id is not None:
        target = session.get(Label, to_label_id)
        if target is None or not target.active or target.project_id != label.project_id:
            raise InvalidInputError(f"label {to_label_id} is not an active label of the project")
    session.execute(
        update(Label)
        .where(col(Label.mapped_to_id) == label.id)
        .values(mapped_to_id=to_label_id)
        .execution_options(synchronize_session="fetch")
    )
    label.active = False
    label.mapped_to_id = to_label_id
    session.add(label)
    session.flush()
    return label


def label_by_id(*, session: Session, project_id: int, label_id: int) -> Label:
    """A label of the project by id, retired or not (InvalidInputError if there is none)."""
    label = session.get(Label, label_id)
    if label is None or label.project_id != project_id:
        raise InvalidInputError(f"label {label_id} is not a label of the project")
    return label


def reactivate_label(*, session: Session, label: Label, followers: list[int]) -> Label:
    """Undo a retirement: ``label`` is active again, and the labels that counted as it before
    (``followers``, re-pointed by :func:`map_label` then) count as it once more."""
    label.active = True
    label.mapped_to_id = None
    session.add(label)
    session.flush()
    if followers:
        session.execute(
            update(Label)
            .where(col(Label.id).in_(followers), col(Label.project_id) == label.project_id)
            .values(mapped_to_id=label.id)
            .execution_options(synchronize_session="fetch")
        )
    session.flush()
    return label


def label_uses(*, session: Session, label_id: int) -> int:
    """How many rows refer to a label: annotations (retracted ones too), reviews, and labels
    that count as it. 0: nothing depends on it."""
    annotations = session.exec(
        select(func.count()).select_from(Annotation).where(Annotation.label_id == label_id)
    ).one()
    reviews = session.exec(
        select(func.count())
        .select_from(Review)
        .where(
            or_(
                col(Review.given_label_id) == label_id,
                col(Review.suggested_label_id) == label_id,
                col(Review.outcome_label_id) == label_id,
            )
        )
    ).one()
    followers = session.exec(
        select(func.count()).select_from(Label).where(Label.mapped_to_id == label_id)
    ).one()
    return int(annotations) + int(reviews) + int(followers)


def delete_unused_label(*, session: Session, label: Label) -> None:
    """Remove a label nothing refers to (one an undone change created): its name is free again.
    The event that created it keeps its id and name in the history."""
    if label_uses(session=session, label_id=int(label.id or 0)):
        raise InvalidInputError(f"label {label.name!r} is in use and cannot be removed")
    session.execute(delete(Label).where(col(Label.id) == label.id))
    session.flush()


def counting_label_ids(project_id: int | None = None) -> Any:
    """A subquery of the labels whose annotations count now (active, or mapped to one), for
    ``Annotation.label_id.in_(...)``: an annotation of any other label waits for a relabel."""
    query = select(Label.id).where(
        or_(col(Label.active).is_(True), col(Label.mapped_to_id).isnot(None))
    )
    if project_id is not None:
        query = query.where(Label.project_id == project_id)
    return query


def label_targets(*, session: Session, project_id: int) -> dict[int, str | None]:
    """Every label id of the project → the name of the active label it counts as (or None)."""
    target = aliased(Label)
    rows = session.exec(
        select(Label.id, Label.name, Label.active, target.name)
        .outerjoin(target, col(target.id) == Label.mapped_to_id)
        .where(Label.project_id == project_id)
    ).all()
    return {int(i or 0): (name if active else to) for i, name, active, to in rows}


def examples_to_relabel(*, session: Session, project_id: int) -> list[int]:
    """Examples waiting to be labeled again: their agreed label (``feedback.agreed_label``,
    decided from every live vote before the taxonomy maps it) was split or retired without a
    mapping. Most have no vote that counts at all; the few with one (outvoted, or overruled by
    an adjudication) are :func:`relabel_despite_votes`."""
    only_stale = without_counting_vote(session=session, project_id=project_id)
    return sorted(only_stale | set(relabel_despite_votes(session=session, project_id=project_id)))


def counting_ids(*, session: Session, project_id: int) -> set[int]:
    """The ids of :func:`counting_label_ids` (a few hundred labels at most)."""
    return {int(i) for i in session.exec(counting_label_ids(project_id)).all() if i is not None}


def without_counting_vote(
    *,
    session: Session,
    project_id: int,
    counting: Collection[int] | None = None,
    among: Collection[int] | None = None,
) -> set[int]:
    """Examples with a live vote and none of a label that counts (``counting``: those label
    ids, as they were before a change; None: :func:`counting_label_ids` now). ``among``: only
    examples with a live vote of one of these labels (those whose counting changed: no other
    example's answer can change), instead of every example of the project."""
    labels: Any = counting_label_ids(project_id) if counting is None else list(counting)
    live = exists().where(
        col(Annotation.example_id) == Example.id, col(Annotation.retracted_at).is_(None)
    )
    counted = exists().where(
        col(Annotation.example_id) == Example.id,
        col(Annotation.retracted_at).is_(None),
        col(Annotation.label_id).in_(labels),
    )
    query = select(Example.id).where(Example.project_id == project_id, live, ~counted)
    if among is not None:
        if not among:
            return set()
        voted = select(Annotation.example_id).where(
            col(Annotation.retracted_at).is_(None), col(Annotation.label_id).in_(list(among))
        )
        query = query.where(col(Example.id).in_(voted))
    return {int(i) for i in session.exec(query).all() if i is not None}


def relabel_despite_votes(*, session: Session, project_id: int) -> list[int]:
    """Examples waiting to be labeled again although a vote of theirs still counts: the label
    of their majority (or their adjudication) was split or retired without a mapping, and the
    votes left, outvoted or overruled, do not decide. Only examples with votes of both kinds
    are read (after a split, the few labeled by several experts, not all its examples), so it
    is cheap enough to ask for every example handed out."""
    from storage.repositories import feedback

    # the labels whose votes count for nothing now (the complement of counting_label_ids): none
    # in a project that never split or retired a label unmapped, which then reads nothing more
    stale = session.exec(
        select(Label.id).where(
            Label.project_id == project_id,
            col(Label.active).is_(False),
            col(Label.mapped_to_id).is_(None),
        )
    ).all()
    if not stale:
        return []
    stale_votes = select(Annotation.example_id).where(
        col(Annotation.retracted_at).is_(None), col(Annotation.label_id).in_(stale)
    )
    mixed = (
        select(Annotation.example_id)
        .where(
            col(Annotation.retracted_at).is_(None),
            col(Annotation.example_id).in_(stale_votes),
            col(Annotation.label_id).in_(counting_label_ids(project_id)),
        )
        .distinct()
    )
    by_example: dict[int, list[feedback.AnnotationRow]] = {}
    for row in feedback.annotations_of_examples(session=session, example_ids=mixed):
        by_example.setdefault(row.example_id, []).append(row)
    return sorted(i for i, rows in by_example.items() if feedback.agreed_label(rows) is None)


# an event's details key: the highest annotation id of the project when a split or a retire
# was made (votes and taxonomy changes of a project take turns: feedback.lock_for_vote), so a
# vote with a higher id was given after it, whatever the clocks of the replicas that stored them
LAST_ANNOTATION_ID = "last_annotation_id"


def last_annotation_id(*, session: Session, project_id: int) -> int:
    """The highest id of an annotation (retracted ones too) on the project's examples; 0: none."""
    found = session.exec(
        select(func.max(Annotation.id))
        .join(Example, col(Example.id) == Annotation.example_id)
        .where(Example.project_id == project_id)
    ).one()
    return int(found or 0)


@dataclass(frozen=True)
class StaleMark:
    """When a label stopped counting: the time of the change (``at``, by the clock of the
    replica that made it) and the highest annotation id then (``after_id``; None for a change
    recorded before that was kept): a vote with a higher id was given after the change."""

    at: datetime
    after_id: int | None


def stale_since(*, session: Session, project_id: int) -> dict[int, StaleMark]:
    """Label id -> when it stopped counting, for the labels whose annotations count for nothing
    now: the split or unmapped retire (not undone) that retired it, or the label it counted
    as then (a label merged into one split later is one of the split's followers)."""
    events = list_events(session=session, project_id=project_id)
    undone = {int(e.details.get("event_id", 0)) for e in events if e.kind == "undo"}
    since: dict[int, StaleMark] = {}
    for event in events:  # oldest first: the latest change that stopped a label wins
        unmapped_retire = event.kind == "retire" and event.details.get("map_to") is None
        if event.id in undone or not (event.kind == "split" or unmapped_retire):
            continue
        after = event.details.get(LAST_ANNOTATION_ID)
        mark = StaleMark(event.created_at, int(after) if after is not None else None)
        ref = event.details.get("label") or {}
        followers = event.details.get("followers") or {}
        for label_id in [ref.get("id"), *(i for ids in followers.values() for i in ids)]:
            if label_id is not None:
                since[int(label_id)] = mark
    return since


def count_label_examples(*, session: Session, label_ids: list[int]) -> int:
    """Examples whose agreed label (feedback.agreed_label, the count `labelbot status` shows) is
    one of ``label_ids``, or what they count as now: an example with only an outvoted vote for
    one of them is another label's example."""
    from storage.repositories import feedback

    first = session.get(Label, label_ids[0]) if label_ids else None
    if first is None:
        return 0
    targets = label_targets(session=session, project_id=first.project_id)
    names = {targets.get(i) for i in label_ids} - {None}
    voted = select(Annotation.example_id).where(
        col(Annotation.label_id).in_(label_ids), col(Annotation.retracted_at).is_(None)
    )
    by_example: dict[int, list[feedback.AnnotationRow]] = {}
    for row in feedback.annotations_of_examples(session=session, example_ids=voted):
        by_example.setdefault(row.example_id, []).append(row)
    return sum(1 for rows in by_example.values() if feedback.agreed_label(rows) in names)


def labels_mapped_to(*, session: Session, label_id: int) -> list[int]:
    """Ids of the retired labels whose annotations count as ``label_id``."""
    return [
        int(i)
        for i in session.exec(
            select(Label.id).where(Label.mapped_to_id == label_id).order_by(col(Label.id))
        ).all()
        if i is not None
    ]


def find_by_former_name(*, session: Session, project_id: int, name: str) -> Label | None:
    """The label once called ``name`` (renamed since), from the rename events; latest first.
    Names compare as stored (label_key): a rename typed with a trailing space or a decomposed
    accent recorded the name so in the events written before that was normalised."""
    key = label_key(name)
    for event in reversed(list_events(session=session, project_id=project_id)):
        if event.kind == "rename" and label_key(str(event.details.get("old", ""))) == key:
            return session.get(Label, int(event.details["label_id"]))
    return None


GONE = "that label no longer exists; the message now shows today's labels"
# what a change did to create a label, for the one that an undo of it removed
_CREATED_BY = {"add": "added it", "merge": "made it by a merge", "split": "made it by a split"}


def _created(event: LabelEvent) -> list[dict[str, Any]]:
    """The labels ``event`` created ({"id", "name"} as it recorded them)."""
    d = event.details
    if event.kind == "add":
        return list(d.get("labels", []))
    if event.kind == "merge" and d.get("created"):
        return [d["into"]]
    if event.kind == "split":
        return list(d.get("into", []))
    return []


def _gone_reason(*, session: Session, project_id: int, label_id: int) -> str:
    """Why a label picked by id is gone: the label, named as the change that created it
    recorded it (the row is deleted and an undo goes newest first, so that is its name when
    removed), and the undo that removed it; GONE for an id the history does not know."""
    events = list_events(session=session, project_id=project_id)
    by_id = {e.id: e for e in events}
    for undo in reversed(events):
        undone = by_id.get(int(undo.details.get("event_id", 0))) if undo.kind == "undo" else None
        if undone is None:
            continue
        for ref in _created(undone):
            if int(ref.get("id") or 0) == label_id:
                return (
                    f"the label {ref['name']!r} no longer exists: it was removed when change "
                    f"#{undone.id}, which {_CREATED_BY[undone.kind]}, was undone (#{undo.id}); "
                    "the message now shows today's labels"
                )
    return GONE


def get_clicked_label(*, session: Session, project_id: int, name: str | int) -> Label:
    """The label a click names: by its id (a button, a menu option, a terminal's key: whatever
    it has been called since), else by its name or a name it had before a rename (a button
    sent before the rename still carries the old one). A label an undo removed:
    StaleActionError naming it and the undo (the message is redrawn); unknown:
    InvalidInputError."""
    if isinstance(name, int):
        found = session.get(Label, name)
        if found is None or found.project_id != project_id:
            # ids come from what labelbot showed: removed since
            raise LabelGone(_gone_reason(session=session, project_id=project_id, label_id=name))
        return found
    try:
        return get_label(session=session, project_id=project_id, name=name)
    except InvalidInputError:
        renamed = find_by_former_name(session=session, project_id=project_id, name=name)
        if renamed is not None:
            return renamed
        if any(e.kind == "undo" and name in e.details.get("removed", [])
               for e in list_events(session=session, project_id=project_id)):  # fmt: skip
            names = ", ".join(active_names(session=session, project_id=project_id))
            raise StaleActionError(
                f"the label {name!r} was removed when a taxonomy change was undone; pick "
                f"another ({names})"
            ) from None
        raise


def split_into(*, session: Session, label: Label) -> list[str] | None:
    """The labels a split label's examples may take now: its split's parts as they are called
    now (a part renamed since by its new name, a part merged away since by its target's, a
    part split in turn by its own parts, and so on down to today's labels; a part retired
    unmapped left out); None if it was not split: a split that was undone does not count (as
    in :func:`stale_since`), and a label that counts now (active, or mapped) is not split."""
    if label.active or label.mapped_to_id is not None:
        return None
    live = _live_events(session=session, project_id=label.project_id)
    split = next((e for e in reversed(live) if e.kind == "split"
                  and int(e.details["label"]["id"]) == label.id), None)  # fmt: skip
    return None if split is None else _leaves_of(session, live, split)


def parts_now(*, session: Session, label: Label) -> list[str] | None:
    """The labels the examples of a label that counts for nothing now may take: the parts (as
    in :func:`split_into`) of the split that made it stop counting, its own or that of a label
    it counted as then (merged or mapped into it: one of the split's followers); None when a
    retire without a mapping did, when none of the split's parts is left (each retired since:
    it reads as retired), or the label counts now."""
    if label.active or label.mapped_to_id is not None:
        return None
    live = _live_events(session=session, project_id=label.project_id)
    event = _stopped_by(live, int(label.id or 0))
    if event is None or event.kind != "split":
        return None
    return _leaves_of(session, live, event) or None


def _live_events(*, session: Session, project_id: int) -> list[LabelEvent]:
    """The project's changes that stand (neither undone nor an undo), oldest first."""
    events = list_events(session=session, project_id=project_id)
    undone = {int(e.details.get("event_id", 0)) for e in events if e.kind == "undo"}
    return [e for e in events if e.id not in undone and e.kind != "undo"]


def _stopped_by(live: list[LabelEvent], label_id: int) -> LabelEvent | None:
    """The latest of ``live`` that made ``label_id`` stop counting (as :func:`stale_since`
    reads them): a split or unmapped retire of it, or of a label it counted as then."""
    for event in reversed(live):
        unmapped_retire = event.kind == "retire" and event.details.get("map_to") is None
        if not (event.kind == "split" or unmapped_retire):
            continue
        d = event.details
        followers = d.get("followers") or {}
        if int((d.get("label") or {}).get("id") or 0) == label_id or any(
            int(i) == label_id for ids in followers.values() for i in ids
        ):
            return event
    return None


def _leaves_of(session: Session, live: list[LabelEvent], split: LabelEvent) -> list[str]:
    """The names of the labels the parts of ``split`` stand for now, each once: an active part
    its own, a mapped one its target's, one that stopped counting by a split since (split
    in turn, or merged into a label split since) that split's parts', and so on; one retired
    unmapped (or removed by an undo) none."""
    out: list[str] = []
    seen: set[int] = set()

    def walk(label_id: int) -> None:
        if label_id in seen:
            return
        seen.add(label_id)
        part = session.get(Label, label_id)
        if part is not None and not part.active and part.mapped_to_id is not None:
            part = session.get(Label, part.mapped_to_id)  # kept resolved: an active label
        if part is None:
            return
        if part.active:
            if part.name not in out:
                out.append(part.name)
            return
        event = _stopped_by(live, int(part.id or 0))
        if event is not None and event.kind == "split":
            for ref in event.details["into"]:
                walk(int(ref["id"]))

    for ref in split.details["into"]:
        walk(int(ref["id"]))
    return out


def rejoined_splits(*, session: Session, project_id: int) -> list[tuple[Label, int, list[Label]]]:
    """Split labels whose parts all count as one active label now (merged back together, or
    into a label with others; or retired, mapped, into another part): (the split label, the
    id of that label, the labels that counted as the split label before its split and count
    as nothing since). Its examples, sent back to be labeled into the parts, are that label's
    again. A part retired unmapped keeps the split open: its share of the examples is unknown."""
    events = list_events(session=session, project_id=project_id)
    undone = {int(e.details.get("event_id", 0)) for e in events if e.kind == "undo"}
    latest: dict[int, LabelEvent] = {}  # split label id -> its live split, the latest
    for event in events:
        if event.kind == "split" and event.id not in undone:
            latest[int(event.details["label"]["id"])] = event
    found: list[tuple[Label, int, list[Label]]] = []
    for label_id, event in latest.items():
        label = session.get(Label, label_id)
        if label is None or label.active or label.mapped_to_id is not None:
            continue  # undone since, or counting as a label already
        counts: set[int | None] = set()
        for ref in event.details["into"]:
            part = session.get(Label, int(ref["id"]))
            # mappings are kept one hop deep (map_label re-points a retired label's followers)
            counts.add(None if part is None else part.id if part.active else part.mapped_to_id)
        if len(counts) == 1 and None not in counts:
            before = (event.details.get("followers") or {}).get(str(label_id), [])
            followers = [f for i in before if (f := session.get(Label, int(i))) is not None
                         and not f.active and f.mapped_to_id is None]  # fmt: skip
            found.append((label, int(next(iter(counts)) or 0), followers))
    return found


def stale_annotations(*, session: Session, example_id: int) -> list[tuple[Annotation, Label]]:
    """Why the example is back in the queue to be labeled again: its live annotations that no
    longer count (their labels were split, or retired without a mapping), oldest first, when it
    waits for a relabel; [] when its agreed label still counts. One query unless the example
    has votes of both kinds: it runs for every example handed out."""
    rows = session.exec(
        select(Annotation, Label)
        .join(Label, col(Label.id) == Annotation.label_id)
        .where(Annotation.example_id == example_id, col(Annotation.retracted_at).is_(None))
        .order_by(col(Annotation.id))  # as given (feedback._annotation_rows), not by clocks
    ).all()
    stale = [(a, label) for a, label in rows if not label.active and label.mapped_to_id is None]
    if not stale or len(stale) == len(rows):
        return stale
    # votes of both kinds: the agreed label decides (an outvoted split vote is no reason)
    from storage.repositories import feedback

    agreed = feedback.agreed_label(
        feedback.example_annotations(session=session, example_id=example_id)
    )
    return stale if agreed is None else []


def active_names(*, session: Session, project_id: int) -> list[str]:
    return [lb.name for lb in list_labels(session=session, project_id=project_id)]
