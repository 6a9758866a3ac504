"""Taxonomy-change proposals: one open row per key, decided rows kept as history."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.db import rowcount
from storage.errors import NotFoundError
from storage.models import Assignment, Example, Flag, TaxonomyProposal, utcnow

OPEN = "open"
DECIDED = ("approved", "rejected", "applied")  # an admin's answer: held back until evidence grows
STATUSES = (OPEN, *DECIDED, "superseded")


def key_text(key: Sequence[str]) -> str:
    """A proposal key as stored (JSON), e.g. ``'["merge", "A", "B"]'``."""
    return json.dumps(list(key), ensure_ascii=False)


def save_open_proposal(
    *,
    session: Session,
    project_id: int,
    kind: str,
    labels: Sequence[str],
    key: str,
    score: float,
    evidence: dict[str, Any],
    evidence_strength: float,
    message: str,
    now: datetime | None = None,
) -> tuple[TaxonomyProposal, bool]:
    """The open proposal with ``key`` with this evidence: the same row when one is open (it
    keeps its id and its Slack message), else a new one. Returns (row, created)."""
    fields: dict[str, Any] = {
        "kind": kind,
        "labels": list(labels),
        "score": score,
        "evidence": evidence,
        "evidence_strength": evidence_strength,
        "message": message,
    }
    row = _open_with_key(session, project_id, key)
    created = False
    if row is None:
        row = TaxonomyProposal(project_id=project_id, key=key, **fields)
        try:
            # a savepoint: a concurrent refresh that inserted the key first is not an error
            with session.begin_nested():
                session.add(row)
            return row, True
        except IntegrityError:
            row = _open_with_key(session, project_id, key)
            if row is None:
                raise
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = now or utcnow()
    session.add(row)
    return row, created


def _open_with_key(session: Session, project_id: int, key: str) -> TaxonomyProposal | None:
    return session.exec(
        select(TaxonomyProposal).where(
            TaxonomyProposal.project_id == project_id,
            TaxonomyProposal.key == key,
            TaxonomyProposal.status == OPEN,
        )
    ).first()


def get_proposal(*, session: Session, proposal_id: int) -> TaxonomyProposal:
    row = session.get(TaxonomyProposal, proposal_id)
    if row is None:
        raise NotFoundError(f"no proposal with id {proposal_id}")
    return row


def list_proposals(
    *, session: Session, project_id: int, status: str | Sequence[str] | None = OPEN
) -> list[TaxonomyProposal]:
    """The project's proposals in ``status`` (one or several; None: all), strongest first."""
    query = select(TaxonomyProposal).where(TaxonomyProposal.project_id == project_id)
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        query = query.where(col(TaxonomyProposal.status).in_(wanted))
    order = (col(TaxonomyProposal.score).desc(), col(TaxonomyProposal.id))
    return list(session.exec(query.order_by(*order)).all())


def count_open(*, session: Session, project_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(TaxonomyProposal)
            .where(TaxonomyProposal.project_id == project_id, TaxonomyProposal.status == OPEN)
        ).one()
    )


def decided_strengths(*, session: Session, project_id: int) -> dict[str, float]:
    """Key -> the largest evidence strength any decided proposal with that key had."""
    rows = session.exec(
        select(TaxonomyProposal.key, func.max(TaxonomyProposal.evidence_strength))
        .where(
            TaxonomyProposal.project_id == project_id,
            col(TaxonomyProposal.status).in_(DECIDED),
        )
        .group_by(TaxonomyProposal.key)
    ).all()
    return {str(key): float(strength) for key, strength in rows}


def follow_renames(*, session: Session, project_id: int, renamed: Mapping[str, str]) -> int:
    """Decided proposals naming a renamed label (``renamed``: old name -> new name) name it by
    its new name, in ``key`` and ``labels``, so the decision still holds the proposal back (the
    detectors key proposals by label name). A merge's names are sorted again, as the detector
    sorts them. An "add" is keyed by words, not labels, and is left alone; so is ``message``,
    the text the admin decided on. Returns the proposals changed."""
    if not renamed:
        return 0
    rows = session.exec(
        select(TaxonomyProposal).where(
            TaxonomyProposal.project_id == project_id,
            col(TaxonomyProposal.status).in_(DECIDED),
            TaxonomyProposal.kind != "add",
        )
    ).all()
    changed = 0
    for row in rows:
        kind, *names = json.loads(row.key)
        new_names = [renamed.get(n, n) for n in names]
        labels = [renamed.get(n, n) for n in row.labels]
        if new_names == names and labels == list(row.labels):
            continue
        if kind == "merge":  # keyed with its names sorted ("merge", first, second)
            new_names, labels = sorted(new_names), sorted(labels)
        row.key = key_text([kind, *new_names])
        row.labels = labels
        row.updated_at = utcnow()
        session.add(row)
        changed += 1
    session.flush()
    return changed


def change_status(
    *,
    session: Session,
    proposal_id: int,
    status: str,
    from_status: str = OPEN,
    actor: str | None = None,
    reason: str | None = None,
    label_event_id: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Move a proposal from ``from_status`` to ``status`` in one conditional UPDATE.

    False when it was not in ``from_status`` any more: of two admins clicking at once, exactly
    one wins.
    """
    values: dict[str, Any] = {"status": status, "updated_at": now or utcnow()}
    if status == OPEN:  # back to undecided (an approval whose change failed)
        values["decided_by"] = values["decided_at"] = None
    elif actor is not None:
        values["decided_by"] = actor
        values["decided_at"] = values["updated_at"]
    if reason is not None:
        values["reason"] = reason
    if label_event_id is not None:
        values["label_event_id"] = label_event_id
    result = session.execute(
        update(TaxonomyProposal)
        .where(col(TaxonomyProposal.id) == proposal_id, col(TaxonomyProposal.status) == from_status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    changed = rowcount(result) == 1
    if changed:
        row = session.get(TaxonomyProposal, proposal_id)
        if row is not None:
            session.refresh(row)
    return changed


def supersede(*, session: Session, proposal_ids: Sequence[int], now: datetime | None = None) -> int:
    """Open proposals a refresh no longer finds: kept, marked ``superseded``."""
    if not proposal_ids:
        return 0
    result = session.execute(
        update(TaxonomyProposal)
        .where(
            col(TaxonomyProposal.id).in_(list(proposal_ids)),
            col(TaxonomyProposal.status) == OPEN,
        )
        .values(status="superseded", updated_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


def supersede_outdated(*, session: Session, project_id: int, active: Collection[str]) -> int:
    """Open proposals a taxonomy change made moot, marked ``superseded`` at once (not at the
    next refresh): one that names a label no longer active (merged, split, renamed, retired),
    or one that adds a label that exists now."""
    moot = [
        int(p.id)
        for p in session.exec(
            select(TaxonomyProposal).where(
                TaxonomyProposal.project_id == project_id, TaxonomyProposal.status == OPEN
            )
        )
        if p.id is not None
        and outdated(kind=p.kind, labels=p.labels, evidence=p.evidence, active=active)
    ]
    return supersede(session=session, proposal_ids=moot)


def merge_target(*, kind: str, evidence: Mapping[str, Any] | None) -> str | None:
    """The label a rare label's proposal suggests merging it into (None: it suggests
    gathering more examples, or is no rare label's)."""
    ev = evidence or {}
    nearest = ev.get("nearest_label")
    if kind == "rare" and ev.get("suggestion") == "merge" and nearest:
        return str(nearest)
    return None


def outdated(
    *,
    kind: str,
    labels: Sequence[str],
    evidence: Mapping[str, Any] | None,
    active: Collection[str],
) -> bool:
    """Whether a taxonomy change made a proposal moot, given the ``active`` label names: an
    "add" once a label it adds exists; any other once a label it names, or the label a rare
    one would be merged into, is no longer active (merged, split, renamed, retired)."""
    if kind == "add":
        return any(lb in active for lb in labels)
    into = merge_target(kind=kind, evidence=evidence)
    return not all(lb in active for lb in [*labels, *([into] if into else [])])


def set_proposal_message(
    *,
    session: Session,
    proposal_id: int,
    channel: str,
    message_ts: str,
    message_hash: str | None = None,
) -> TaxonomyProposal:
    """Remember where the bot posted the proposal (to update that message later) and a digest
    of what the message shows."""
    row = get_proposal(session=session, proposal_id=proposal_id)
    row.channel = channel
    row.message_ts = message_ts
    row.message_hash = message_hash
    session.add(row)
    return row


def set_message_hash(*, session: Session, proposal_id: int, message_hash: str) -> None:
    """The proposal's channel message now shows what ``message_hash`` digests."""
    session.execute(
        update(TaxonomyProposal)
        .where(col(TaxonomyProposal.id) == proposal_id)
        .values(message_hash=message_hash)
        .execution_options(synchronize_session=False)
    )


def posted_to_sync(*, session: Session, project_id: int, final_hash: str) -> list[TaxonomyProposal]:
    """Posted proposals whose message may be out of date: the open ones (a refresh may have
    changed their evidence) and the superseded ones whose message does not say so yet
    (``message_hash`` is not ``final_hash``). Decided ones are updated when decided."""
    superseded_unsaid = (col(TaxonomyProposal.status) == "superseded") & (
        func.coalesce(TaxonomyProposal.message_hash, "") != final_hash
    )
    return list(
        session.exec(
            select(TaxonomyProposal)
            .where(
                TaxonomyProposal.project_id == project_id,
                col(TaxonomyProposal.message_ts).isnot(None),
                (col(TaxonomyProposal.status) == OPEN) | superseded_unsaid,
            )
            .order_by(col(TaxonomyProposal.id))
        ).all()
    )


def set_aside_example_ids(*, session: Session, project_id: int) -> list[int]:
    """Examples an expert skipped, flagged (an open flag), or discussed in a thread without
    labeling them since, in id order: the ones the experts found no label for."""
    from storage.repositories.feedback import open_discussions

    skipped = select(Assignment.example_id).where(
        Assignment.project_id == project_id, Assignment.status == "skipped"
    )
    flagged = (
        select(Flag.example_id)
        .join(Example, col(Example.id) == Flag.example_id)
        .where(Example.project_id == project_id, col(Flag.resolved_at).is_(None))
    )
    ids: set[int] = set()
    for query in (skipped, flagged, open_discussions(project_id)):
        ids |= {int(i) for i in session.exec(query).all()}
    return sorted(ids)


def reject_undone(*, session: Session, label_event_id: int, undo_event_id: int) -> list[int]:
    """An applied proposal whose change was undone counts as rejected from then on (held back
    until its evidence grows); its reason says which undo. Returns the proposals changed."""
    rows = session.exec(
        select(TaxonomyProposal).where(
            TaxonomyProposal.label_event_id == label_event_id,
            col(TaxonomyProposal.status) == "applied",
        )
    ).all()
    for row in rows:
        row.status = "rejected"
        row.reason = f"{row.reason}; undone by #{undo_event_id}".lstrip("; ")
        row.updated_at = utcnow()
        session.add(row)
    session.flush()
    return [int(r.id or 0) for r in rows]
