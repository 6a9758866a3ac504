"""Taxonomy-change proposals: one open row per key, decided rows kept as history."""

from __future__ import annotations

import json
import re
import time
import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, event, exists, func, or_, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.db import rowcount
from storage.errors import NotFoundError
from storage.models import Assignment, Example, Flag, TaxonomyProposal, utcnow
from storage.repositories.projects import label_fold, list_labels

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
    reopen_since: datetime | None = None,
) -> tuple[TaxonomyProposal, bool]:
    """The open proposal with ``key`` with this evidence: the same row when one is open (it
    keeps its id and its Slack message), else the latest one with ``key`` superseded since
    ``reopen_since``, open again (its message shows it again, instead of a new post: a
    proposal near a detector's threshold comes and goes as labels arrive), else a new one.
    ``times_found`` counts the saves that found it. Returns (row, created)."""
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
    if row is None and reopen_since is not None:
        row = _superseded_with_key(session, project_id, key, since=reopen_since)
        if row is not None:
            row.status, row.reason = OPEN, ""  # open again: why it went no longer holds
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
    row.times_found += 1
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


def _superseded_with_key(
    session: Session, project_id: int, key: str, *, since: datetime
) -> TaxonomyProposal | None:
    """The latest proposal with ``key``, if it was superseded at ``since`` or later (a later
    one decided, or superseded before, is not reopened)."""
    same_key = (TaxonomyProposal.project_id == project_id, TaxonomyProposal.key == key)
    latest = select(func.max(TaxonomyProposal.id)).where(*same_key).scalar_subquery()
    return session.exec(
        select(TaxonomyProposal).where(
            *same_key,
            TaxonomyProposal.id == latest,
            TaxonomyProposal.status == "superseded",
            col(TaxonomyProposal.updated_at) >= since,
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


def add_groups(*, session: Session, project_id: int) -> list[tuple[str, str, list[int], float]]:
    """(status, key, example ids, evidence strength) of the project's "add" proposals, newest
    first: an add is the same group as one of these when it holds most of its examples."""
    rows = session.exec(
        select(
            TaxonomyProposal.status,
            TaxonomyProposal.key,
            TaxonomyProposal.evidence,
            TaxonomyProposal.evidence_strength,
        )
        .where(TaxonomyProposal.project_id == project_id, TaxonomyProposal.kind == "add")
        .order_by(col(TaxonomyProposal.id).desc())
    ).all()
    return [
        (
            str(status),
            str(key),
            [int(i) for i in (evidence or {}).get("ids") or ()],
            float(strength),
        )
        for status, key, evidence, strength in rows
    ]


def follow_renames(*, session: Session, project_id: int, renamed: Mapping[str, str]) -> int:
    """Proposals naming a renamed label (``renamed``: old name -> new name) name it by its new
    name, in ``key`` and ``labels`` (a merge's names sorted again, as the detector sorts them).
    A decided one so that the decision still holds the proposal back (the detectors key
    proposals by label name); its ``message``, the text the admin decided on, stays. An open
    one keeps its id and stays open, its evidence and message following too (a rename changes
    no evidence): its posted Slack message is redrawn by the next sync. An "add" is keyed by
    its examples, not labels: only an open one's nearest label follows. Returns the proposals
    changed."""
    if not renamed:
        return 0
    rows = session.exec(
        select(TaxonomyProposal)
        .where(
            TaxonomyProposal.project_id == project_id,
            col(TaxonomyProposal.status).in_((OPEN, *DECIDED)),
        )
        .order_by(col(TaxonomyProposal.id))
    ).all()
    open_keys = {row.key for row in rows if row.status == OPEN}
    changed = 0
    for row in rows:
        if row.status == OPEN:
            changed += _follow_renames_open(session, row, renamed, open_keys)
            continue
        if row.kind == "add":
            continue
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


def _follow_renames_open(
    session: Session, row: TaxonomyProposal, renamed: Mapping[str, str], open_keys: set[str]
) -> int:
    """One open proposal under the labels' new names (1), or as it was (0): nothing of it
    named a renamed label, or another open proposal holds the key it would take (it is then
    superseded as naming a label that is gone)."""
    ev = dict(row.evidence or {})
    mentioned = [*row.labels, *_names_in_evidence(ev)]
    if not any(n in renamed for n in mentioned):
        return 0
    labels, key = list(row.labels), row.key
    if row.kind != "add":
        kind, *names = json.loads(row.key)
        new_names = [renamed.get(n, n) for n in names]
        labels = [renamed.get(n, n) for n in row.labels]
        if kind == "merge":
            new_names, labels = sorted(new_names), sorted(labels)
        key = key_text([kind, *new_names])
        if key != row.key and key in open_keys:
            return 0
    row.labels = labels
    if key != row.key:
        open_keys.discard(row.key)
        open_keys.add(key)
        row.key = key
    new_ev = _renamed_evidence(ev, renamed, mentioned)
    # a split's suggested names made from the label's own ("A_1") follow it in the text too
    suggested: dict[str, str] = {}
    for old, new in zip(ev.get("clusters") or [], new_ev.get("clusters") or [], strict=False):
        if isinstance(old, dict) and old.get("suggested_name") != new.get("suggested_name"):
            suggested[str(old["suggested_name"])] = str(new["suggested_name"])
    marks = _message_names(row.message, ev)
    if marks is None:  # stored before detectors said where their messages name labels
        row.message = _renamed_text(row.message, {**renamed, **suggested}, [*mentioned, *suggested])
    else:
        row.message, new_ev[MESSAGE_NAMES] = _respelled(row.message, marks, renamed, suggested)
    row.evidence = new_ev
    row.updated_at = utcnow()
    session.add(row)
    return 1


def _names_in_evidence(ev: Mapping[str, Any]) -> list[str]:
    """Label names a proposal's evidence mentions: the label a rare label or an added one is
    nearest, the labels a merge counts (``counts``)."""
    nearest = [str(ev["nearest_label"])] if ev.get("nearest_label") else []
    return [*nearest, *(str(n) for n in ev.get("counts") or {})]


def _renamed_evidence(
    ev: dict[str, Any], renamed: Mapping[str, str], mentioned: Sequence[str]
) -> dict[str, Any]:
    """``ev`` with its label names renamed: the nearest label, the keys of a merge's
    per-label figures ("A" or "A->B"), and a split's suggested names made from the label's
    own ("A_1")."""
    out = dict(ev)
    if out.get("nearest_label") in renamed:
        out["nearest_label"] = renamed[str(out["nearest_label"])]

    def name_key(key: str) -> str:
        if key in renamed:
            return renamed[key]
        for a in mentioned:  # "A->B": both are labels the proposal names
            b = key[len(a) + 2 :]
            if key.startswith(f"{a}->") and b in mentioned:
                return f"{renamed.get(a, a)}->{renamed.get(b, b)}"
        return key

    for field in ("counts", "examples", "mean_probability_on_other", "confident_joint"):
        if isinstance(out.get(field), dict):
            out[field] = {name_key(str(k)): v for k, v in out[field].items()}
    if isinstance(out.get("clusters"), list):
        out["clusters"] = [_renamed_cluster(c, renamed, i) for i, c in enumerate(out["clusters"])]
    return out


def _renamed_cluster(cluster: Any, renamed: Mapping[str, str], index: int) -> Any:
    if not isinstance(cluster, dict):
        return cluster
    for old, new in renamed.items():
        if cluster.get("suggested_name") == f"{old}_{index + 1}":  # no words: named after it
            return {**cluster, "suggested_name": f"{new}_{index + 1}"}
    return cluster


# Where a message names labels, as the engine's detectors record it in the evidence
# (engine.proposals.base.MESSAGE_NAMES): ``[offset, name]`` for a label, ``[offset, name,
# "suggested"]`` for a suggested new label's name.
MESSAGE_NAMES = "message_names"
SUGGESTED = "suggested"


def _message_names(message: str, ev: Mapping[str, Any]) -> list[tuple[int, str, bool]] | None:
    """(offset, name, whether a suggested name) where ``message`` names labels, in order; None
    when the evidence does not say (stored before it did) or no longer matches the message."""
    marks = ev.get(MESSAGE_NAMES)
    if not isinstance(marks, list):
        return None
    out: list[tuple[int, str, bool]] = []
    end = 0
    for mark in marks:
        if not (isinstance(mark, list) and len(mark) in (2, 3)):
            return None
        at, name = mark[0], mark[1]
        if not (isinstance(at, int) and isinstance(name, str) and at >= end):
            return None
        if message[at : at + len(name)] != name:
            return None
        out.append((at, name, len(mark) == 3 and mark[2] == SUGGESTED))
        end = at + len(name)
    return out


def _respelled(
    message: str,
    marks: Sequence[tuple[int, str, bool]],
    renamed: Mapping[str, str],
    suggested: Mapping[str, str],
) -> tuple[str, list[list[Any]]]:
    """``message`` with the labels it names renamed (``renamed``) and the new labels it
    suggests named anew (``suggested``), at the places ``marks`` give only, and the marks
    after it."""
    parts, out, end = [], [], 0
    for at, name, is_suggested in marks:
        new = (suggested if is_suggested else renamed).get(name, name)
        parts.append(message[end:at])
        start = sum(len(p) for p in parts)
        out.append([start, new, SUGGESTED] if is_suggested else [start, new])
        parts.append(new)
        end = at + len(name)
    parts.append(message[end:])
    return "".join(parts), out


# The detectors' own words that read like a label's name: matched first, and kept as they are
# (a merge's "4 examples confidently look like the other label" names no label "other").
DETECTOR_PHRASES = ("like the other label",)


def _renamed_text(text: str, renamed: Mapping[str, str], mentioned: Sequence[str]) -> str:
    """``text`` with each renamed label's old name replaced by its new one, where it stands as
    a whole name. Every name the proposal mentions is matched, longest first, so a label named
    like the start of another ("card" and "card arrival") is not replaced inside it; the
    detectors' own phrases (:data:`DETECTOR_PHRASES`) are matched before any name."""
    names = sorted({*mentioned, *renamed}, key=len, reverse=True)
    phrases = "|".join(re.escape(p) for p in DETECTOR_PHRASES)
    pattern = re.compile(
        rf"({phrases})|(?<!\w)(" + "|".join(re.escape(n) for n in names) + r")(?!\w)"
    )
    return pattern.sub(lambda m: m.group(1) or renamed.get(m.group(2), m.group(2)), text)


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


def supersede(
    *,
    session: Session,
    proposal_ids: Sequence[int],
    now: datetime | None = None,
    reason: str = "",
) -> int:
    """Open proposals a refresh no longer finds (``reason`` ""), or a taxonomy change made moot
    (``reason``: why, in plain words, e.g. "age_limit is no longer a label"): kept, marked
    ``superseded``. The reason is kept for the listing and the Slack card: what the labels say
    later (an undo brings a label back) is not why it went."""
    if not proposal_ids:
        return 0
    result = session.execute(
        update(TaxonomyProposal)
        .where(
            col(TaxonomyProposal.id).in_(list(proposal_ids)),
            col(TaxonomyProposal.status) == OPEN,
        )
        .values(status="superseded", updated_at=now or utcnow(), reason=reason)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


def supersede_outdated(
    *,
    session: Session,
    project_id: int,
    active: Collection[str],
    reshaped: Collection[str] = (),
) -> int:
    """Open proposals a taxonomy change made moot, marked ``superseded`` at once (not at the
    next refresh): one that names a label no longer active (merged, split, renamed, retired),
    one that adds a label that exists now, and one that names a label in ``reshaped`` (a
    merge's target, a retired label's map_to: its examples are not those it was found on)."""
    moot: dict[str, list[int]] = {}  # why -> the proposals it made moot
    for p in session.exec(
        select(TaxonomyProposal).where(
            TaxonomyProposal.project_id == project_id, TaxonomyProposal.status == OPEN
        )
    ):
        why = moot_reason(
            kind=p.kind, labels=p.labels, evidence=p.evidence, active=active, reshaped=reshaped
        )
        if p.id is not None and why:
            moot.setdefault(why, []).append(int(p.id))
    return sum(
        supersede(session=session, proposal_ids=ids, reason=why) for why, ids in moot.items()
    )


def moot_reason(
    *,
    kind: str,
    labels: Sequence[str],
    evidence: Mapping[str, Any] | None,
    active: Collection[str],
    reshaped: Collection[str] = (),
) -> str:
    """Why the taxonomy (``active``, the label names, and ``reshaped``, see
    :func:`supersede_outdated`) makes a proposal moot, in plain words: "age_limit is no longer
    a label", "a label lost_card exists now", "exchange_rate's examples are not those it was
    found on"; "" when it does not."""
    if kind == "add":
        folded = {label_fold(n): n for n in active}
        made = [folded[key] for n in labels if (key := label_fold(n)) in folded]
        return f"a label {made[0]} exists now" if made else ""
    into = merge_target(kind=kind, evidence=evidence)
    named = [*labels, *([into] if into else [])]
    gone = [n for n in named if n not in active]
    if gone:
        return f"{', '.join(gone)} {'is' if len(gone) == 1 else 'are'} no longer a label"
    changed = [n for n in named if n in reshaped]
    return f"{changed[0]}'s examples are not those it was found on" if changed else ""


def free_suggested_names(*, session: Session, project_id: int) -> int:
    """Open proposals whose suggested new labels (a split's clusters, an add's label) have a
    name a label of the project has, active or retired, or one that looks like it (storage's
    ``label_fold``), suggest a free one instead ("arrival_late" becomes "arrival_late_2"): an
    Approve under a taken name could never succeed. In ``evidence``, ``labels`` (an add's) and
    the message; the key (a split's label, an add's words) stays. Run when proposals are saved
    and after every taxonomy change (a label added or renamed onto a suggestion). Two clusters
    suggesting one name get two. Returns the proposals changed."""
    taken = {
        label_fold(lb.name)
        for lb in list_labels(session=session, project_id=project_id, active_only=False)
    }
    rows = session.exec(
        select(TaxonomyProposal).where(
            TaxonomyProposal.project_id == project_id,
            TaxonomyProposal.status == OPEN,
            col(TaxonomyProposal.kind).in_(("split", "add")),
        )
    ).all()
    changed = 0
    for row in rows:
        ev = dict(row.evidence or {})
        if row.kind == "split":  # the label it splits is not a suggestion: only its clusters
            clusters = ev.get("clusters")
            found = clusters if isinstance(clusters, list) else []
            wanted = [str(c.get("suggested_name") or "") for c in found if isinstance(c, dict)]
        else:
            wanted = list(row.labels)
        used = set(taken)
        free = []
        for name in wanted:
            free.append(_free_name(name, used) if name else name)
            used.add(label_fold(free[-1]))
        if free == wanted:
            continue
        renamed = {old: new for old, new in zip(wanted, free, strict=True) if old != new}
        if row.kind == "split":
            names = iter(free)
            ev["clusters"] = [
                {**c, "suggested_name": next(names)} if isinstance(c, dict) else c
                for c in ev["clusters"]
            ]
            row.evidence = ev
        else:
            row.labels = free
        marks = _message_names(row.message, ev)
        if marks is not None:
            row.message, marks = _requoted(row.message, marks, renamed)
            row.message, ev[MESSAGE_NAMES] = _respelled(row.message, marks, {}, renamed)
            row.evidence = ev
        for old, new in renamed.items() if marks is None else ():  # quoted as Python does
            row.message = row.message.replace(repr(old), repr(new))
        session.add(row)
        changed += 1
    session.flush()
    return changed


def _requoted(
    message: str, marks: Sequence[tuple[int, str, bool]], renamed: Mapping[str, str]
) -> tuple[str, list[tuple[int, str, bool]]]:
    """``message`` with the renamed suggested names that ``marks`` do not mark renamed where
    Python's ``repr`` quoted them (a name with an apostrophe is quoted in double quotes, one
    with a ZWNJ escaped: the detectors mark neither), outside the marks; and the marks moved
    to where their names stand in it."""
    unmarked = [
        (repr(old), repr(new))
        for old, new in renamed.items()
        if not any(is_suggested and name == old for _, name, is_suggested in marks)
    ]
    spans = [(at, at + len(name)) for at, name, _ in marks]
    edits: list[tuple[int, str, str]] = []
    for old, new in unmarked:
        at = message.find(old)
        while at >= 0:
            if not any(a < at + len(old) and at < b for a, b in spans):
                edits.append((at, old, new))
                spans.append((at, at + len(old)))
            at = message.find(old, at + len(old))
    if not edits:
        return message, list(marks)
    edits.sort()
    parts, end = [], 0
    for at, old, new in edits:
        parts += [message[end:at], new]
        end = at + len(old)
    parts.append(message[end:])

    def moved(at: int) -> int:
        return at + sum(len(new) - len(old) for e, old, new in edits if e < at)

    return "".join(parts), [(moved(at), name, is_s) for at, name, is_s in marks]


def _free_name(name: str, taken: Collection[str]) -> str:
    """``name``, or ``name_2``, ``name_3``...: the first whose ``label_fold`` is not taken."""
    candidate, n = name, 1
    while label_fold(candidate) in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def about_any(
    *,
    kind: str,
    labels: Sequence[str],
    evidence: Mapping[str, Any] | None,
    names: Collection[str],
) -> bool:
    """Whether a proposal is about one of ``names``: a label it merges, splits or finds rare,
    or the label a rare one would be merged into. An "add" is about its set-aside examples,
    which no merge or retire changes."""
    if kind == "add" or not names:
        return False
    into = merge_target(kind=kind, evidence=evidence)
    return any(n in names for n in [*labels, *([into] if into else [])])


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
    claimed: Collection[int] = (),
) -> bool:
    """Whether a taxonomy change made a proposal moot, given the ``active`` label names: an
    "add" once a label it adds exists, or once one of its examples is in ``claimed`` (the
    examples of an approved "add": their group has its label now, under whatever name); any
    other once a label it names, or the label a rare one would be merged into, is no longer
    active (merged, split, renamed, retired)."""
    if kind == "add":  # a label that looks like its name ("Lost_Card" for "lost_card") exists
        ids = {int(i) for i in (evidence or {}).get("ids") or ()}
        existing = {label_fold(name) for name in active}
        return any(label_fold(lb) in existing for lb in labels) or not ids.isdisjoint(claimed)
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


# What a posted message shows once its proposal's status is final (``message_hash``): the sync
# redraws a message whose marker is not its proposal's (decided in the CLI or another process,
# superseded, or its change undone since).
FINAL_MARKERS = {
    "superseded": "superseded",
    "applied": "decided:applied",
    "approved": "decided:approved",
    "rejected": "decided:rejected",
}
UNDONE_MARKER = "decided:undone"  # rejected because its applied change was undone


def final_marker(row: TaxonomyProposal) -> str | None:
    """The marker of what ``row``'s message shows once it says its final status (None: open)."""
    if row.status == "rejected" and row.label_event_id is not None:
        return UNDONE_MARKER
    return FINAL_MARKERS.get(row.status)


def posted_to_sync(*, session: Session, project_id: int) -> list[TaxonomyProposal]:
    """Posted proposals whose message may be out of date: the open ones (a refresh may have
    changed their evidence), and the others whose message does not show their status yet
    (``message_hash`` is not their :func:`final_marker`): superseded, decided elsewhere than on
    the message (the CLI, another process), or applied and then undone."""
    status = col(TaxonomyProposal.status)
    marker = case(
        (and_(status == "rejected", col(TaxonomyProposal.label_event_id).isnot(None)),
         UNDONE_MARKER),
        *((status == s, m) for s, m in FINAL_MARKERS.items()),
        else_="",
    )  # fmt: skip
    unsaid = (status != OPEN) & (func.coalesce(TaxonomyProposal.message_hash, "") != marker)
    return list(
        session.exec(
            select(TaxonomyProposal)
            .where(
                TaxonomyProposal.project_id == project_id,
                col(TaxonomyProposal.message_ts).isnot(None),
                (status == OPEN) | unsaid,
            )
            .order_by(col(TaxonomyProposal.id))
        ).all()
    )


def set_aside_example_ids(*, session: Session, project_id: int) -> list[int]:
    """Examples an expert skipped, flagged (an open flag), or discussed in a thread without
    labeling them since, in id order: the ones the experts found no label for."""
    from storage.repositories.feedback import open_discussions
    from storage.repositories.taxonomy import counting_label_ids

    skipped = select(Assignment.example_id).where(
        Assignment.project_id == project_id, Assignment.status == "skipped"
    )
    flagged = (
        select(Flag.example_id)
        .join(Example, col(Example.id) == Flag.example_id)
        .where(Example.project_id == project_id, col(Flag.resolved_at).is_(None))
    )
    # the labels that count, read once: else each thread's lookup reads them (PostgreSQL)
    counting = [int(i) for i in session.exec(counting_label_ids(project_id)).all()]
    ids: set[int] = set()
    for query in (skipped, flagged, open_discussions(project_id, counting=counting)):
        ids |= {int(i) for i in session.exec(query).all()}
    return sorted(ids)


TAKEN_UP = "taken_up"  # evidence field: what an approved add resolved and asked (record_taken_up)


def open_flag_ids(*, session: Session, project_id: int, example_ids: Collection[int]) -> list[int]:
    """The ids of the open flags of the project's ``example_ids``."""
    if not example_ids:
        return []
    query = (
        select(Flag.id)
        .join(Example, col(Example.id) == Flag.example_id)
        .where(
            Example.project_id == project_id,
            col(Flag.example_id).in_(list(example_ids)),
            col(Flag.resolved_at).is_(None),
        )
    )
    return sorted(int(i) for i in session.exec(query).all() if i is not None)


def record_taken_up(
    *, session: Session, proposal_id: int, flag_ids: Sequence[int], requested: Sequence[int]
) -> None:
    """What approving an "add" did to its examples, kept in its evidence (``taken_up``): the
    flags it resolved and the examples it asked a label of (NEW_LABEL_REQUEST), so that an undo
    puts them back as they were (:func:`reject_undone`)."""
    row = get_proposal(session=session, proposal_id=proposal_id)
    taken = {"flags": [int(i) for i in flag_ids], "requested": [int(i) for i in requested]}
    row.evidence = {**(row.evidence or {}), TAKEN_UP: taken}  # a new dict: JSON change noticed
    session.add(row)


def reject_undone(*, session: Session, label_event_id: int, undo_event_id: int) -> list[int]:
    """An applied proposal whose change was undone counts as rejected from then on (held back
    until its evidence grows); its reason says which undo. An "add" gives its examples back as
    they were before it (:func:`record_taken_up`): the flags it resolved open again and its
    requests for a label go, so they are set aside again (the evidence that may grow) and
    leave the queue, with no label for them. Returns the proposals changed."""
    from storage.models import NEW_LABEL_REQUEST, MultiLabelRequest

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
        taken = (row.evidence or {}).get(TAKEN_UP) or {}
        for flag in session.exec(
            select(Flag).where(col(Flag.id).in_([int(i) for i in taken.get("flags") or ()]))
        ).all():
            flag.resolved_at, flag.resolved_by = None, None
            session.add(flag)
        requested = [int(i) for i in taken.get("requested") or ()]
        if requested:
            session.execute(
                delete(MultiLabelRequest).where(
                    col(MultiLabelRequest.example_id).in_(requested),
                    col(MultiLabelRequest.project_id) == row.project_id,
                    col(MultiLabelRequest.reason) == NEW_LABEL_REQUEST,
                )
            )
    session.flush()
    return [int(r.id or 0) for r in rows]


def claimed_example_ids(*, session: Session, project_id: int) -> set[int]:
    """The examples of the project's applied "add" proposals: their group has its label now, so
    another "add" holding one of them is moot (``outdated``'s ``claimed``). An undone add is
    rejected (:func:`reject_undone`) and claims nothing."""
    rows = session.exec(
        select(TaxonomyProposal.evidence).where(
            TaxonomyProposal.project_id == project_id,
            TaxonomyProposal.kind == "add",
            TaxonomyProposal.status == "applied",
        )
    ).all()
    return {int(i) for evidence in rows for i in (evidence or {}).get("ids") or ()}


def supersede_claimed(
    *,
    session: Session,
    project_id: int,
    example_ids: Collection[int],
    now: datetime | None = None,
    reason: str = "",
) -> list[int]:
    """Open "add" proposals holding one of ``example_ids`` (an approved add's examples: two
    groups of one set-aside intent must not become two labels), marked ``superseded`` at once,
    with ``reason`` (:func:`supersede`); returns their ids."""
    claimed = {int(i) for i in example_ids}
    if not claimed:
        return []
    rows = session.exec(
        select(TaxonomyProposal).where(
            TaxonomyProposal.project_id == project_id,
            TaxonomyProposal.status == OPEN,
            TaxonomyProposal.kind == "add",
        )
    ).all()
    moot = [
        int(p.id)
        for p in rows
        if p.id is not None
        and outdated(kind=p.kind, labels=p.labels, evidence=p.evidence, active=(), claimed=claimed)
    ]
    supersede(session=session, proposal_ids=moot, now=now, reason=reason)
    return moot


def refresh_watermark(*, session: Session, project_id: int, exact: bool = False) -> dict[str, int]:
    """What a refresh of the proposals reads (the scheduler asks at every poll): the newest
    ready model run's id (``run``; 0: none yet, held back or active), and how many annotations
    (``labels``), flags (``flags``), skips (``skips``) and discussion threads (``discussions``:
    an example discussed without a label is set aside too) the project has. Retracted
    annotations and resolved flags count too: nothing is deleted, so the counts only grow, and
    growth says new evidence came in.

    The counts read the whole project, so they are remembered (per database and project) with
    what moves when one of them could have grown, read by index in one cheap statement: the
    highest annotation, flag, thread and assignment ids of the database when they were counted
    (new rows only ever get higher ones) and the project's open assignments (a skip closes one;
    a late Skip of a lapsed delivery closes none, and has them forgotten:
    :func:`forget_watermark`). A check looks for rows of the project above those ids (each
    table's primary key from the id on, each row's example by its key: the rows written in the
    whole database since the last check, not the project's); while there is none and its open
    assignments are as many, the remembered counts are the counts, and the ids move on to the
    highest now (another project's work is no reason to count this one). A row committed after
    one with a higher id (two writes at once) is not seen that way: the counts are read afresh
    every ``_WATERMARK_RECOUNT_S`` seconds, and whenever ``exact`` (a refresh, which reads the
    whole project anyway). Several replicas share the database: each sees the others' writes in
    the ids."""
    from storage.models import Annotation, DiscussionThread, ModelRun

    run = (
        select(func.coalesce(func.max(ModelRun.id), 0))
        .where(ModelRun.project_id == project_id, ModelRun.status == "ready")
        .scalar_subquery()
    )

    def highest(table: Any) -> Any:
        return select(func.coalesce(func.max(table.id), 0)).scalar_subquery()

    def of_open(*columns: Any) -> Any:
        # literal: SQLite reads its partial index of the open assignments only for this term
        where = (Assignment.project_id == project_id, text("assignments.status = 'open'"))
        return select(*columns).select_from(Assignment).where(*where).correlate(None)

    # the project's open deliveries, counted between their first and last expiry (each read
    # from the partial index by project and expiry: one row). Bare, PostgreSQL's planner takes
    # the open deliveries of any project for the project's (a partial index's own rows) and
    # reads every open delivery of the database (uq_assignments_open_example) or every delivery
    # of the project (ix_assignments_project_id); a range of two unknown values is narrow to it,
    # so it reads the partial index by project and expiry, the project's open deliveries only
    expiry = col(Assignment.expires_at)
    first = of_open(func.min(expiry)).scalar_subquery()
    last = of_open(func.max(expiry)).scalar_subquery()
    open_now = of_open(func.count()).where(expiry >= first, expiry <= last).scalar_subquery()
    pool = session.get_bind().engine.pool
    memo = _watermarks.get(pool, {}).get(project_id)
    now = time.monotonic()
    if exact or (memo is not None and now - memo.counted_at >= _WATERMARK_RECOUNT_S):
        memo = None  # counted afresh whatever moved: the rows since its ids go unread
    # SQLAlchemy's select: SQLModel's is typed for at most four columns
    columns = [run, highest(Annotation), highest(Flag), highest(DiscussionThread)]
    columns += [highest(Assignment), open_now]
    if memo is not None:
        columns.append(_grown(project_id, memo.signal))
    newest, *signal = session.execute(sa_select(*columns)).one()
    grown = bool(signal.pop()) if memo is not None else True
    mark = tuple(int(v or 0) for v in signal)
    if memo is not None and not grown and mark[-1] == memo.signal[-1]:
        # nothing of the project since its ids: the ids move on, the counts stay (unless
        # forgotten meanwhile: forget_watermark)
        kept = _watermarks.setdefault(pool, {})
        if kept.get(project_id) is memo:
            kept[project_id] = _Watermark(mark, memo.counts, memo.counted_at)
        return {"run": int(newest or 0), **memo.counts}

    def count(table: Any, *where: Any, of_example: bool = True) -> Any:
        query = select(func.count()).select_from(table)
        if of_example:
            query = query.join(Example, col(Example.id) == table.example_id)
            where = (Example.project_id == project_id, *where)
        return query.where(*where).scalar_subquery()

    skips = count(
        Assignment,
        Assignment.project_id == project_id,
        Assignment.status == "skipped",
        of_example=False,
    )
    counts = (count(Annotation), count(Flag), skips, count(DiscussionThread))
    row = session.execute(sa_select(*counts)).one()
    names = ("labels", "flags", "skips", "discussions")
    counted = dict(zip(names, (int(v or 0) for v in row), strict=True))
    # read after the mark: they count at least what it shows (more only makes the next poll
    # count again)
    _watermarks.setdefault(pool, {})[project_id] = _Watermark(mark, counted, now)
    return {"run": int(newest or 0), **counted}


_WATERMARK_RECOUNT_S = 300.0


def _grown(project_id: int, signal: tuple[int, ...]) -> Any:
    """Whether the project has an annotation, flag, thread or assignment above the ids of
    ``signal`` (:func:`refresh_watermark`): each table read from the id on by its primary key,
    each row's example looked up by its key, so the rows read are those written in the whole
    database since the ids, however large the project."""
    from storage.models import Annotation, DiscussionThread

    def of_example(table: Any, since: int) -> Any:
        # the example's project by a scalar subquery, which the planners keep as such (a join
        # both walked from the project's examples, each with its rows above the id)
        project = (
            select(Example.project_id).where(col(Example.id) == table.example_id).scalar_subquery()
        )
        return exists().where(col(table.id) > since, project == project_id)

    annotations, flags, threads, assignments = signal[:4]
    return or_(
        of_example(Annotation, annotations),
        of_example(Flag, flags),
        of_example(DiscussionThread, threads),
        exists().where(col(Assignment.id) > assignments, col(Assignment.project_id) == project_id),
    )


def forget_watermark(*, session: Session, project_id: int) -> None:
    """Have :func:`refresh_watermark` count ``project_id`` afresh at its next call in this
    process, for a write its cheap signal does not show: a late Skip of a lapsed delivery
    (``skip_lapsed``: an expired assignment becomes skipped, with no new row and no open one
    closed). Forgotten now and again once ``session`` commits (a poll meanwhile would count
    without the write and remember that). Other processes count it within
    ``_WATERMARK_RECOUNT_S`` seconds."""
    pool = session.get_bind().engine.pool

    def forget(*_: Any) -> None:
        _watermarks.get(pool, {}).pop(project_id, None)

    forget()
    event.listen(session, "after_commit", forget, once=True)


@dataclass(frozen=True)
class _Watermark:
    """A project's counts for :func:`refresh_watermark` and the ids and open deliveries read
    when they were counted."""

    signal: tuple[int, ...]
    counts: dict[str, int]
    counted_at: float  # time.monotonic()


# per database (its connection pool, held weakly: a disposed workspace's goes with it) and project
_watermarks: weakref.WeakKeyDictionary[Any, dict[int, _Watermark]] = weakref.WeakKeyDictionary()
