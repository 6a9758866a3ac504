"""Proposals from the model, stored and decided: the service the scheduler, CLI and bot call.

:func:`refresh_proposals` runs the detectors (:mod:`engine.proposals`) on a project's labeled
examples, its experts' disagreements and the examples they set aside (skipped, flagged, or
discussed without labeling them), and stores what they find: the same key keeps its row (and
its Slack message) with fresh evidence, open
proposals no longer found become ``superseded`` (found again within ``REOPEN_WITHIN``, the same
row opens again), and a decided proposal (rejected, approved or
applied) is held back until its evidence has grown (``engine.proposals.filter_rejected``; a
rename carries the decision over to the label's new name).

:func:`approve` applies the change through :mod:`engine.taxonomy` (so it is a recorded event
like any other; the proposal becomes ``applied`` in the change's own transaction);
:func:`reject` records the answer. Only admins decide: the caller says whether
the actor is one (``actor_is_admin``), because a project without its own admins falls back to
the Slack workspace's admins, whom only the bot can see (:func:`may_decide` combines the two).
The CLI acts as the local operator and passes True.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import taxonomy
from engine.rare import MIN_EXAMPLES
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import (
    ConflictError,
    InvalidInputError,
    LabelbotError,
    NotFoundError,
    StaleActionError,
)
from storage.models import ID_MAX, NEW_LABEL_REQUEST, TaxonomyProposal, as_utc, utcnow
from storage.repositories import assignments, examples, feedback, flags, models, projects
from storage.repositories import proposals as repo
from storage.repositories import taxonomy as taxonomy_repo

if TYPE_CHECKING:  # the detectors load scikit-learn: imported when a refresh runs
    from engine.proposals import Proposal

MODEL_RUN_SETTING = "proposals_model_run_id"  # the active model run of the last refresh
REFRESHED_AT_SETTING = "proposals_refreshed_at"
# What the last refresh read (repo.refresh_watermark): the newest ready model run and the counts
# of labels, flags, skips and discussion threads, compared at every poll to tell whether a
# refresh is due.
SEEN_SETTING = "proposals_seen"
REFRESH_GROWTH = 0.1  # a count that grew by this share since the last refresh makes one due...
REFRESH_MIN_GROWTH = 5  # ...and by at least this many (an add needs a group of set-aside examples)
REFRESH_INTERVAL = timedelta(days=1)  # after this long, any change at all makes one due
# A proposal found again this soon after a refresh superseded it is the same one, open again
# (its message shows its buttons again), not a new post: near a detector's threshold one comes
# and goes as the first labels arrive (bench/soak.py saw one merge posted twice within seconds).
REOPEN_WITHIN = timedelta(hours=1)
# The bot posts a proposal once a second refresh finds it, or once it has stood this long with
# no refresh since (a quiet project): a 10-label project labeled by oracle, 25 labels between
# refreshes, got 7 proposals in 40 refreshes, none found by two in a row, and every one was
# posted; bench/soak.py's runs posted 6-11 in 5 minutes, 1-2 with this wait (bench/README.md).
STATUSES = repo.STATUSES  # a proposal's: open, approved, rejected, applied, superseded
CONFIRM_REFRESHES = 2
CONFIRM_AFTER = timedelta(hours=1)
LABEL_NAME_MAX = 200  # storage's limit on a label's name (storage.models.Label.name)
POOL_SAMPLE = 50_000  # unlabeled examples the detectors see: ~300 per label for 150 labels


class NotAdminError(InvalidInputError):
    """Someone who is not one of the project's admins tried to decide a proposal."""


class RenamedSinceError(ConflictError):
    """A name given to approve a proposal is what one of its labels was called when the admin
    read it (a form opened before the rename): approving under it would make a new label."""

    def __init__(self, proposal_id: int, old: str, new: str) -> None:
        self.old, self.new = old, new
        super().__init__(
            f"label {old!r} of proposal {proposal_id} is now called {new!r} (renamed since): "
            f"to keep that label, give {new!r}"
        )


@dataclass(frozen=True)
class Decision:
    """What approving or rejecting did: the proposal as stored now, and one line saying so."""

    proposal: TaxonomyProposal
    summary: str
    change: taxonomy.TaxonomyChange | None = None  # None: rejected, or nothing to apply
    # an approved add: its set-aside examples now at the front of the queue, and those whose
    # open flags it resolved
    queued: int = 0
    unflagged: int = 0


def key_text(key: Sequence[str]) -> str:
    """A proposal key as stored (JSON), e.g. ``'["merge", "A", "B"]'``."""
    return repo.key_text(key)


def may_decide(ws: Workspace, *, project: str, user_id: str, workspace_admin: bool) -> bool:
    """Whether a Slack user may approve or reject: a project admin, or, when the project names
    no admins, a Slack workspace admin (``workspace_admin``, which only the bot can look up)."""
    named = taxonomy.admins(ws, project=project)
    return user_id in named if named else workspace_admin


# --- refreshing ----------------------------------------------------------------------------------


def refresh_proposals(ws: Workspace, project: str, *, seed: int = 0) -> list[TaxonomyProposal]:
    """Run every detector on ``project`` now and store the result; returns the open proposals."""
    from engine import training
    from engine.proposals import LabeledData, propose_all

    with session_scope(ws.db, read_only=True) as session:  # read once, for the pool too
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        text_rows = examples.example_texts(session=session, project_id=found.id)
        notes = feedback.list_annotations(session=session, project_id=found.id)
    pool = training.load_pool(ws, project, annotations=notes, texts=text_rows)
    texts = {i: text for i, text, _ in text_rows}
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        aside = repo.set_aside_example_ids(session=session, project_id=found.id)
        decided = repo.decided_strengths(session=session, project_id=found.id)
        adds = repo.add_groups(session=session, project_id=found.id)
        active = models.get_active_model_run(session=session, project_id=found.id)
        # read before the detectors run: what comes in while they do makes the next one due
        seen = repo.refresh_watermark(session=session, project_id=found.id, exact=True)
        changes = taxonomy.event_ids(session, found)
    # audit labels too: no model is evaluated here (the rare check counts only the labels a
    # model learns from, as status does: ``learned`` below)
    labeled = np.flatnonzero(pool.y >= 0)
    row_of = {int(i): r for r, i in enumerate(pool.example_ids.tolist())}
    index = {name: i for i, name in enumerate(pool.classes)}
    proposals = []
    if len(np.unique(pool.y[labeled])) >= 2:
        ids = pool.example_ids[labeled]
        unlabeled = np.flatnonzero(pool.y < 0)  # the split check's view of the whole data set
        if len(unlabeled) > POOL_SAMPLE:  # bounds the time and memory on very large data sets
            rng = np.random.default_rng(seed)
            unlabeled = np.sort(rng.choice(unlabeled, size=POOL_SAMPLE, replace=False))
        data = LabeledData(
            embeddings=pool.X[labeled],
            labels=pool.y[labeled],
            label_names=pool.classes,
            texts=[texts[int(i)] for i in ids],
            example_ids=ids,
            pool_embeddings=pool.X[unlabeled],
            pool_texts=[texts[int(i)] for i in pool.example_ids[unlabeled]],
            pool_ids=pool.example_ids[unlabeled],
        )
        rows = [row_of[i] for i in aside if i in row_of and pool.y[row_of[i]] < 0]
        proposals = propose_all(
            data,
            disagreements=_disagreements(notes, index),
            skipped_embeddings=pool.X[rows] if rows else None,
            skipped_texts=[texts[int(pool.example_ids[r])] for r in rows],
            skipped_ids=[int(pool.example_ids[r]) for r in rows],
            rejected=_rejected(decided, adds),
            seed=seed,
            rare_minimum=int(found.settings.get("rare_minimum", MIN_EXAMPLES)),
            learned=~(pool.audit | pool.audit_twins)[labeled],
        )
        proposals = [_with_message_names(p) for p in _keep_add_keys(proposals, adds)]
    now = utcnow()
    with session_scope(ws.db) as session:
        # The detectors ran for seconds on what was read above, outside any transaction. Under
        # the taxonomy's lock (taxonomy changes and decisions take it too) read again what may
        # have changed meanwhile: a proposal decided since, or naming a label merged, split,
        # renamed or retired since, or one that absorbed another label's examples since (a
        # merge's target), is not saved (an open row for it is superseded below).
        taxonomy_repo.lock_taxonomy(session=session, project_id=found.id)
        decided_now = repo.decided_strengths(session=session, project_id=found.id)
        active_now = {lb.name for lb in projects.list_labels(session=session, project_id=found.id)}
        claimed = repo.claimed_example_ids(session=session, project_id=found.id)
        reshaped = taxonomy.reshaped_since(session, found, changes)
        proposals = [
            p
            for p in proposals
            if _still_current(p, decided, decided_now, active_now, claimed)
            and not repo.about_any(
                kind=p.kind, labels=p.labels, evidence=p.evidence, names=reshaped
            )
        ]
        before = repo.list_proposals(session=session, project_id=found.id)
        kept: set[int] = set()
        for p in proposals:
            row, _ = repo.save_open_proposal(
                session=session,
                project_id=found.id,
                kind=p.kind,
                labels=p.labels,
                key=key_text(p.key),
                score=float(p.score),
                evidence=_plain(p.evidence),
                evidence_strength=float(p.evidence_strength),
                message=p.message,
                now=now,
                reopen_since=now - REOPEN_WITHIN,
            )
            kept.add(int(row.id or 0))
        # the detectors name new labels by their words, not knowing retired names (nor labels
        # added since they read): suggested under a taken name, an Approve could never succeed
        repo.free_suggested_names(session=session, project_id=found.id)
        repo.supersede(
            session=session, proposal_ids=[int(r.id or 0) for r in before if r.id not in kept]
        )
        projects.update_project_settings(
            session=session,
            project_id=found.id,
            **{
                MODEL_RUN_SETTING: active.id if active is not None else None,
                REFRESHED_AT_SETTING: now.isoformat(),
                SEEN_SETTING: seen,
            },
        )
        return repo.list_proposals(session=session, project_id=found.id)


AddGroup = tuple[str, str, list[int], float]  # repo.add_groups: status, key, ids, strength


def _rejected(decided: dict[str, float], adds: Sequence[AddGroup]) -> dict[tuple[str, ...], float]:
    """What ``propose_all`` holds back: every decided key's strength, and each decided add's
    group under a key of all its examples (an add decided while adds were keyed by their words
    is held back by its examples too). The stored key of a large add is a sample of its
    examples, from which ``additions.same_group`` could only estimate how many a new group
    shares; all of them are known here, so it counts them."""
    from engine.proposals.additions import key_ids

    out = {tuple(json.loads(k)): v for k, v in decided.items()}
    for status, stored, ids, strength in adds:
        if status in repo.DECIDED and ids:
            sample = tuple(json.loads(stored))
            if key_ids(sample) is not None and sample in out:
                # read below from the whole group: a new add with this very key has these
                # examples and is held back by them
                strength = max(out.pop(sample), strength)
            whole = ("add", *(f"#{i}" for i in sorted({int(i) for i in ids})))
            out[whole] = max(out.get(whole, strength), strength)
    return out


def _with_message_names(p: Proposal) -> Proposal:
    """``p`` with where its message names labels (``base.MESSAGE_NAMES``), which the add and
    rare detectors record: for a merge ("Merge A and B? ...") and a split ("Split A? ...
    maybe 'A_1' and 'A_2'."), read from the places their detectors put them. None found (a
    wording changed): as it was, and a rename rewrites the names wherever they stand whole."""
    import dataclasses

    from engine.proposals.base import MESSAGE_NAMES, quoted, spelled

    if MESSAGE_NAMES in p.evidence or p.kind not in ("merge", "split"):
        return p
    names = list(p.key[1:])
    if p.kind == "merge" and len(names) == 2:
        text, named = spelled("Merge ", (names[0],), " and ", (names[1],), "? ")
    elif p.kind == "split" and len(names) == 1:
        text, named = spelled("Split ", (names[0],), "? ")
        clusters = [c for c in p.evidence.get("clusters") or () if isinstance(c, dict)]
        suggested = [str(c.get("suggested_name")) for c in clusters[:2]]
        if len(suggested) == 2:
            tail, more = spelled("maybe ", *quoted(suggested[0]), " and ",
                                 *quoted(suggested[1]), ".")  # fmt: skip
            start = p.message.rfind(tail)
            if start > len(text):
                named += [[start + at, *rest] for at, *rest in more]
    else:
        return p
    if not p.message.startswith(text):
        return p
    return dataclasses.replace(p, evidence={**p.evidence, MESSAGE_NAMES: named})


def _keep_add_keys(found: list[Proposal], adds: Sequence[AddGroup]) -> list[Proposal]:
    """Each add found that is the group of an open (or superseded) add, under that add's key:
    its key is a sample of its examples, which one more example may change; the same group
    keeps its row, its id and its Slack message (one row per group)."""
    import dataclasses

    earlier = [(key, set(ids)) for status, key, ids, _ in adds
               if status in (repo.OPEN, "superseded") and ids]  # fmt: skip
    taken: set[str] = set()
    out = []
    for p in found:
        if p.kind == "add":
            ids = {int(i) for i in p.evidence.get("ids") or ()}
            for key, group in earlier:
                shared = len(ids & group)
                if key not in taken and shared and shared >= 0.5 * min(len(ids), len(group)):
                    taken.add(key)
                    p = dataclasses.replace(p, key=tuple(json.loads(key)))
                    break
        out.append(p)
    return out


def _still_current(
    p: Proposal,
    decided_then: dict[str, float],
    decided_now: dict[str, float],
    active: set[str],
    claimed: set[int],
) -> bool:
    """Whether a proposal the detectors found may still be saved as open: its key was not decided
    while they ran (an admin's answer wins over a refresh that read before it: a decision since
    raises the key's strength, see ``filter_rejected``), every label it names is still active,
    and the label an "add" suggests has not been created meanwhile, nor another label from its
    examples (``claimed``: an approved add's)."""
    key = key_text(p.key)
    if key in decided_now and decided_now[key] != decided_then.get(key):
        return False
    return not repo.outdated(
        kind=p.kind, labels=p.labels, evidence=p.evidence, active=active, claimed=claimed
    )


def too_few_labels(ws: Workspace, project: str) -> str:
    """Why a refresh could find nothing yet, "" when it could: the detectors read labeled
    examples of 2 labels or more (as :func:`refresh_proposals` checks)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        active = set(taxonomy_repo.active_names(session=session, project_id=found.id))
        labeled = feedback.current_labels(
            session=session, project_id=found.id, active_labels=active
        )
    kinds = len(set(labeled.values()))
    if kinds >= 2:
        return ""
    return (
        f"the detectors look at labeled examples of 2 labels or more (there are "
        f"{len(labeled)}, of {kinds} label{'' if kinds == 1 else 's'})"
    )


def refresh_due(ws: Workspace, project: str, *, now: datetime | None = None) -> bool:
    """Whether the project's proposals should be computed again. Once it has a ready model
    (before that, there is little to look at), when any of:

    - the active model is not the one of the last refresh;
    - a model run finished since (the detectors train their own probes, so a run held back by
      a pin or by the audit set is news too);
    - the labels, flags, skips or discussion threads grew by ``REFRESH_GROWTH`` (and
      ``REFRESH_MIN_GROWTH``) since;
    - ``REFRESH_INTERVAL`` passed and anything above, or the taxonomy, changed at all.

    The scheduler asks at every poll: the counts are remembered while nothing that could grow
    them moved (``repo.refresh_watermark``)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        active = models.get_active_model_run(session=session, project_id=found.id)
        seen_now = repo.refresh_watermark(session=session, project_id=found.id)
    if active is None and not seen_now["run"]:
        return False
    settings = found.settings
    if active is not None and settings.get(MODEL_RUN_SETTING) != active.id:
        return True
    seen = settings.get(SEEN_SETTING) or {}  # none: refreshed before counts were kept
    if seen_now["run"] != seen.get("run"):
        return True
    counts = ("labels", "flags", "skips", "discussions")
    # discussions were not counted before: a refresh that did not count them read them all
    grown = [seen_now[k] - int(seen.get(k, 0 if k != "discussions" else seen_now[k]))
             for k in counts]  # fmt: skip
    if any(
        g >= max(REFRESH_MIN_GROWTH, REFRESH_GROWTH * int(seen.get(k, 0)))
        for g, k in zip(grown, counts, strict=True)
    ):
        return True
    last = settings.get(REFRESHED_AT_SETTING)
    if not isinstance(last, str):
        return True
    refreshed = datetime.fromisoformat(last)
    if (now or utcnow()) - refreshed < REFRESH_INTERVAL:
        return False
    changed = taxonomy.changed_at(found)
    return any(grown) or (changed is not None and changed > refreshed)


def last_refreshed(ws: Workspace, project: str) -> datetime | None:
    with session_scope(ws.db, read_only=True) as session:
        value = projects.get_project(session=session, name=project).settings.get(
            REFRESHED_AT_SETTING
        )
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _disagreements(
    notes: Sequence[feedback.AnnotationRow], index: dict[str, int]
) -> list[tuple[int, int, int]]:
    """(example id, label id, other label id) for each pair of experts who labeled one example
    differently (each expert's latest live label, mapped to the current taxonomy)."""
    latest: dict[int, dict[str, int]] = defaultdict(dict)
    for row in notes:  # oldest first: a later label of the same expert replaces the earlier
        if row.current is not None and row.current in index:
            latest[row.example_id][row.annotator] = index[row.current]
    out = []
    for example_id, by_expert in latest.items():
        chosen = sorted(by_expert.values())
        for i, a in enumerate(chosen):
            out += [(example_id, a, b) for b in chosen[i + 1 :] if a != b]
    return out


def _plain(value: Any) -> Any:
    """JSON-safe copy of detector evidence (numpy scalars and arrays become Python values)."""

    def default(obj: Any) -> Any:
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        raise TypeError(f"cannot store {type(obj).__name__} as evidence")

    return json.loads(json.dumps(value, default=default))


# --- reading -------------------------------------------------------------------------------------


def list_proposals(
    ws: Workspace, project: str, *, status: str | Sequence[str] | None = "open"
) -> list[TaxonomyProposal]:
    """The project's proposals in ``status`` (None: all), strongest first."""
    if isinstance(status, str) and status not in repo.STATUSES:
        raise InvalidInputError(f"unknown status {status!r}: use {', '.join(repo.STATUSES)}")
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return repo.list_proposals(session=session, project_id=found.id, status=status)


def get_proposal(
    ws: Workspace, proposal_id: int, *, project: str | None = None
) -> TaxonomyProposal:
    """One proposal by id (NotFoundError also when it belongs to another project, and first
    of all when ``project`` does not exist: it is that, not an unknown proposal)."""
    with session_scope(ws.db, read_only=True) as session:
        found = None if project is None else projects.get_project(session=session, name=project)
        try:
            if not 0 < proposal_id <= ID_MAX:  # no row's: the database would refuse the query
                raise NotFoundError(f"no proposal with id {proposal_id}")
            row = repo.get_proposal(session=session, proposal_id=proposal_id)
        except NotFoundError:
            if found is None:
                raise
            row = None
        if found is not None and (row is None or row.project_id != found.id):
            raise NotFoundError(f"no proposal {proposal_id} in project {project!r}")
    assert row is not None
    return row


def unposted(ws: Workspace, project: str, *, now: datetime | None = None) -> list[TaxonomyProposal]:
    """Open proposals the bot has not posted yet (no message recorded) and may post now
    (:func:`confirmed`)."""
    now = now or utcnow()
    return [p for p in list_proposals(ws, project) if p.message_ts is None and confirmed(p, now)]


def confirmed(proposal: TaxonomyProposal, now: datetime) -> bool:
    """Whether ``proposal`` is firm enough to show the channel: posted already, found by a
    second refresh (``CONFIRM_REFRESHES``), or standing for ``CONFIRM_AFTER`` with no refresh
    since to say otherwise (a quiet project). One found by a single refresh waits: near a
    detector's threshold proposals come and go as labels arrive, and the next refresh, after
    the next retrain, supersedes most of them (bench/README.md, Soak)."""
    return (
        proposal.message_ts is not None
        or proposal.times_found >= CONFIRM_REFRESHES
        or as_utc(proposal.created_at) <= now - CONFIRM_AFTER
    )


def record_message(
    ws: Workspace,
    proposal_id: int,
    *,
    channel: str,
    message_ts: str,
    message_hash: str | None = None,
) -> None:
    """Remember where the bot posted a proposal (to update that message when it is decided or
    refreshed) and a digest of what the message shows."""
    with session_scope(ws.db) as session:
        repo.set_proposal_message(session=session, proposal_id=proposal_id, channel=channel,
                                  message_ts=message_ts, message_hash=message_hash)  # fmt: skip


SUPERSEDED_HASH = repo.FINAL_MARKERS["superseded"]  # the message says it was superseded
final_marker = repo.final_marker
UNDONE_MARKER = repo.UNDONE_MARKER


def posted_to_sync(ws: Workspace, project: str) -> list[TaxonomyProposal]:
    """Posted proposals whose channel message may need an update: open ones (fresh evidence),
    and the others whose message does not show their status yet (superseded, decided in the
    CLI or another process, undone)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return repo.posted_to_sync(session=session, project_id=found.id)


def record_message_hash(ws: Workspace, proposal_id: int, message_hash: str) -> None:
    with session_scope(ws.db) as session:
        repo.set_message_hash(session=session, proposal_id=proposal_id, message_hash=message_hash)


# --- deciding ------------------------------------------------------------------------------------


def approve(
    ws: Workspace,
    project: str,
    proposal_id: int,
    *,
    actor: str,
    actor_is_admin: bool,
    names: Sequence[str] | None = None,
    reason: str = "",
    rescore: bool = True,
) -> Decision:
    """Apply an open proposal's change (``names`` overrides the suggested label names).

    merge: into the label with more examples (or ``names[0]``); split: into the clusters'
    suggested names; add: the suggested name; rare: merge into the nearest label when that is
    the suggestion, else "gather more", which changes nothing (the proposal is ``approved``).

    A change and the proposal's move from open to ``applied`` (with the change's event id)
    commit in one transaction, under the taxonomy's lock: a failed change, or a process killed
    while applying it, leaves the proposal open (its Slack buttons still work), never decided
    without its change. The queue is re-scored after that commit (``rescore``): a crash there
    leaves the change and the proposal applied, and the next re-score catches up.
    """
    _require_admin(actor_is_admin, actor, "approve")
    row = open_proposal(ws, project, proposal_id)
    plan = _plan(ws, project, row, names=names, actor=actor, reason=reason, rescore=rescore)
    if plan is None:
        label = row.labels[0] if row.labels else "it"
        summary = f"nothing to change now: gather more examples of {label}"
        _claim(ws, row, status="approved", actor=actor, reason=reason.strip() or summary)
        return Decision(get_proposal(ws, proposal_id), summary)
    kind, apply = plan
    taken_up: dict[str, int] = {}

    def mark_applied(session: Any, details: dict[str, Any], event_id: int) -> None:
        # in the change's transaction: of two admins approving at once, the first applies it
        # and the second's change fails or, should it apply, is rolled back here
        won = repo.change_status(
            session=session, proposal_id=proposal_id, status="applied", actor=actor,
            reason=reason.strip() or taxonomy.summarize(kind, details), label_event_id=event_id,
        )  # fmt: skip
        if not won:
            now = repo.get_proposal(session=session, proposal_id=proposal_id)
            raise StaleActionError(_decided_note(now))
        if kind == "add":
            taken_up.update(_take_up_set_aside(session, row, actor=actor))

    try:
        with taxonomy.committing_with(mark_applied):
            change = apply()
    except LabelbotError:
        now = get_proposal(ws, proposal_id)
        if now.status != "open":  # decided (or superseded) meanwhile: that is why it failed
            raise StaleActionError(decided_note(ws, now)) from None
        raise
    return Decision(get_proposal(ws, proposal_id), change.summary, change, **taken_up)


def reject(
    ws: Workspace,
    project: str,
    proposal_id: int,
    *,
    actor: str,
    actor_is_admin: bool,
    reason: str = "",
) -> Decision:
    """Reject an open proposal: it is not proposed again until its evidence grows."""
    _require_admin(actor_is_admin, actor, "reject")
    row = open_proposal(ws, project, proposal_id)
    _claim(ws, row, status="rejected", actor=actor, reason=reason.strip())
    return Decision(get_proposal(ws, proposal_id), f"rejected: {row.message}")


def _take_up_set_aside(session: Any, row: TaxonomyProposal, *, actor: str) -> dict[str, int]:
    """An approved "add": the examples experts set aside that made the group (``evidence.ids``)
    have a label to go to now. Their open flags are resolved (they left everyone's queue until
    then), the unlabeled ones go to the front of the queue, through the same door as a split's
    relabels (``assignments._maybe_back``: a request for one expert's label), and other open
    adds holding any of them are superseded: one group, one new label. In the approval's
    transaction. A skip stays: the expert who skipped is not asked again. Returns how many
    examples were queued and how many had their flags resolved (:class:`Decision`'s)."""
    ids = [int(i) for i in row.evidence.get("ids") or ()]
    # what the approval resolves and asks is recorded with the proposal (``taken_up``): undone,
    # the flags open again and the requests go (``repo.reject_undone``), and the examples are
    # set aside as before, the rejected add's evidence
    flag_ids = repo.open_flag_ids(session=session, project_id=row.project_id, example_ids=ids)
    unflagged = flags.resolve_open_flags(
        session=session, project_id=row.project_id, example_ids=ids, resolved_by=actor
    )
    requested = []
    for example_id in ids:
        if not assignments.has_label(
            session=session, project_id=row.project_id, example_id=example_id
        ) and assignments.request_more_labels(
            session=session, project_id=row.project_id, example_id=example_id, k=1,
            reason=NEW_LABEL_REQUEST,
        ):  # fmt: skip
            requested.append(example_id)
    repo.record_taken_up(session=session, proposal_id=int(row.id or 0), flag_ids=flag_ids,
                         requested=requested)  # fmt: skip
    repo.supersede_claimed(session=session, project_id=row.project_id, example_ids=ids,
                           reason=f"proposal {row.id} took up its examples")  # fmt: skip
    return {"queued": len(requested), "unflagged": len(unflagged)}


def _require_admin(actor_is_admin: bool, actor: str, verb: str) -> None:
    if not actor.strip():
        raise InvalidInputError(f"to {verb} a proposal, say who does (an actor)")
    if not actor_is_admin:
        raise NotAdminError(f"only the project's admins may {verb} proposals ({actor} is not one)")


def open_proposal(ws: Workspace, project: str, proposal_id: int) -> TaxonomyProposal:
    """An open proposal of ``project`` (StaleActionError, saying who decided it, once decided)."""
    row = get_proposal(ws, proposal_id, project=project)
    if row.status != "open":
        raise StaleActionError(decided_note(ws, row))
    return row


def _claim(ws: Workspace, row: TaxonomyProposal, *, status: str, actor: str, reason: str) -> None:
    """Open → ``status`` in one conditional write: of two admins clicking at once, one wins
    (a rejection, or an approval that changes nothing; see :func:`approve` for the others).

    Under the taxonomy's lock, like a refresh's save: a decision lands before or after it,
    never between its re-read of the decided keys and its write (which would re-open the key)."""
    assert row.id is not None
    with session_scope(ws.db) as session:
        taxonomy_repo.lock_taxonomy(session=session, project_id=row.project_id)
        won = repo.change_status(
            session=session, proposal_id=row.id, status=status, actor=actor, reason=reason
        )
    if not won:
        raise StaleActionError(decided_note(ws, get_proposal(ws, row.id)))


def _decided_note(row: TaxonomyProposal, name: Callable[[str], str] = str) -> str:
    who = f" by {name(row.decided_by)}" if row.decided_by else ""
    return f"proposal {row.id} was already {row.status}{who}"


def decided_note(
    ws: Workspace,
    row: TaxonomyProposal,
    *,
    name: Callable[[str], str] = str,
    label: Callable[[str], str] = str,
) -> str:
    """Why ``row`` can be decided no more, and by whom (``name`` shows a person: the bot makes
    a mention of a Slack id; ``label`` a label's name). An approved change undone since is
    stored as rejected, with the approver as the decider: the note says who approved it and
    who undid it; a superseded one says why it went, as its Slack card does."""
    if row.status not in ("superseded", "rejected") or (
        row.status == "rejected" and row.label_event_id is None
    ):
        return _decided_note(row, name)
    return f"proposal {row.id} was already {status_notes(ws, [row], name=name, label=label)[0]}"


def status_notes(
    ws: Workspace,
    rows: Sequence[TaxonomyProposal],
    *,
    name: Callable[[str], str] = str,
    label: Callable[[str], str] = str,
) -> list[str]:
    """Each proposal's state in words, as its Slack card tells it: "open", "applied by ana",
    "rejected by bo: not now", "approved by ana, and its change undone by bo" (an approved
    change undone since is stored as rejected), "superseded: age_limit is no longer a label (a
    taxonomy change since)" or "superseded: the latest model no longer finds it". ``rows``
    are of one project; ``name`` shows a person, ``label`` a label's name."""
    if not rows:
        return []
    project_id = rows[0].project_id
    with session_scope(ws.db, read_only=True) as session:
        events = taxonomy_repo.list_events(session=session, project_id=project_id)
        active = taxonomy_repo.active_names(session=session, project_id=project_id)
    undone_by: dict[int, str] = {}
    for e in events:  # the first undo of each change (oldest first)
        if e.kind == "undo":
            undone_by.setdefault(int(e.details.get("event_id") or 0), e.actor)
    notes = []
    for row in rows:
        who = f" by {name(row.decided_by)}" if row.decided_by else ""
        if row.status == "open":
            notes.append("open")
        elif row.status == "superseded":
            moot = superseded_why(row, active, label=label)
            notes.append(
                f"superseded: {moot} (a taxonomy change since)"
                if moot
                else "superseded: the latest model no longer finds it"
            )
        elif row.status == "rejected" and row.label_event_id is not None:
            undo = undone_by.get(row.label_event_id)
            undone = f" by {name(undo)}" if undo else ""
            notes.append(f"approved{who}, and its change undone{undone}")
        else:
            why = f": {row.reason}" if row.status == "rejected" and row.reason else ""
            notes.append(f"{row.status}{who}{why}")
    return notes


def superseded_why(
    row: TaxonomyProposal, active: Sequence[str], *, label: Callable[[str], str] = str
) -> str:
    """Why a superseded proposal went, when a taxonomy change is what made it moot: a label it
    names is no longer one (merged, split, retired), the label an add suggests exists now
    (storage's look-alike rule), the label it is about took in other examples (a merge's
    target), or an approved add took up its examples. "" when the model no longer finds it.

    The change stored its reason when it superseded the proposal (``row.reason``), which holds
    after the change is undone; a row superseded before reasons were stored is read from
    ``active``, the project's active label names. ``label`` shows label names (a stored reason
    is plain words and names: shown through it whole)."""
    why = row.reason or repo.moot_reason(
        kind=row.kind, labels=row.labels, evidence=row.evidence, active=set(active)
    )
    return label(why) if why else ""


def default_names(row: TaxonomyProposal) -> list[str]:
    """The label names approving ``row`` uses unless the admin gives others: merge (and a rare
    label's merge) the one label they become, split the new labels, add the labels to add;
    [] for "gather more", which changes nothing."""
    ev = row.evidence
    if row.kind == "merge":
        counts = ev.get("counts") or {}
        # into the larger label (the first on a tie): fewer examples change their name
        return [max(row.labels, key=lambda n: int(counts.get(n, 0)))]
    if row.kind == "split":
        names = [str(c["suggested_name"]) for c in ev.get("clusters", [])]
        return _distinct([_fitting(n) for n in names], _fitting(row.labels[0]))
    if row.kind == "add":
        return [_fitting(n) for n in row.labels]
    into = repo.merge_target(kind=row.kind, evidence=ev)
    return [into] if into is not None else []


def _fitting(name: str) -> str:
    """A suggested label name a label may have: one made from a long label's own name (a split's
    "<label>_1", a taken one's "<name>_2") can pass storage's limit on names, and Approve would
    be refused. Cut in its middle, where long names are most alike: the ends keep two apart."""
    from engine.text import shorten_middle

    return shorten_middle(name, LABEL_NAME_MAX)


def merge_target(row: TaxonomyProposal) -> str | None:
    """The label a rare label's proposal suggests merging it into (None: none)."""
    return repo.merge_target(kind=row.kind, evidence=row.evidence)


def names_allowed(row: TaxonomyProposal) -> tuple[int, int | None]:
    """(fewest, most) label names an admin may give when approving ``row`` (None: no limit).
    A split may go into more labels than the two groups the engine found."""
    if row.kind == "split":
        return 2, None
    if row.kind == "add":
        return 1, None
    return (1, 1) if default_names(row) else (0, 0)


def _plan(
    ws: Workspace,
    project: str,
    row: TaxonomyProposal,
    *,
    names: Sequence[str] | None,
    actor: str,
    reason: str,
    rescore: bool,
) -> tuple[str, Callable[[], taxonomy.TaxonomyChange]] | None:
    """The kind of change the proposal makes and a function applying it (None: nothing to
    apply), checked up front."""
    chosen = [projects.label_key(n) for n in names or () if n.strip()]
    if chosen:
        fewest, most = names_allowed(row)
        if len(chosen) < fewest or (most is not None and len(chosen) > most):
            raise InvalidInputError(_names_wanted(row, fewest, most, len(chosen)))
        _refuse_former_names(ws, row, chosen)
    parts = chosen or default_names(row)
    why = f"proposal {row.id}" + (f": {reason.strip()}" if reason.strip() else "")
    common: dict[str, Any] = {"project": project, "actor": actor, "reason": why, "rescore": rescore}
    if row.kind == "merge":
        return "merge", lambda: taxonomy.merge_labels(
            ws, labels=list(row.labels), into=parts[0], **common
        )
    if row.kind == "split":
        return "split", lambda: taxonomy.split_label(ws, label=row.labels[0], into=parts, **common)
    if row.kind == "add":
        return "add", lambda: taxonomy.add_labels(ws, names=parts, **common)
    if row.kind == "rare":
        if not parts:
            return None
        merged = [str(row.evidence["nearest_label"]), row.labels[0]]
        return "merge", lambda: taxonomy.merge_labels(ws, labels=merged, into=parts[0], **common)
    raise InvalidInputError(f"proposal {row.id} has an unknown kind {row.kind!r}")


def _refuse_former_names(ws: Workspace, row: TaxonomyProposal, chosen: Sequence[str]) -> None:
    """RenamedSinceError when a name the admin gave is a former name of a label the proposal
    names: a form opened before that label was renamed still shows it, and submitted unchanged
    it would merge into (or split off) a new label of that name instead of the renamed one.
    An "add" names no existing label."""
    if row.kind == "add":
        return
    into = repo.merge_target(kind=row.kind, evidence=row.evidence)
    ours = {*row.labels, *([into] if into is not None else [])}
    with session_scope(ws.db, read_only=True) as session:
        for name in chosen:
            if name in ours:
                continue
            label = taxonomy_repo.find_by_former_name(
                session=session, project_id=row.project_id, name=name
            )
            if label is not None and label.active and label.name in ours:
                raise RenamedSinceError(int(row.id or 0), name, label.name)


def _names_wanted(row: TaxonomyProposal, fewest: int, most: int | None, given: int) -> str:
    if most == 0:
        return f"proposal {row.id} changes no label, so it takes no names (got {given})"
    if most is None:
        what = "new labels" if row.kind == "split" else "label(s) to add"
        return f"proposal {row.id} ({row.kind}) takes {fewest} or more {what}; got {given}"
    return f"proposal {row.id} ({row.kind}) takes one name for the merged label; got {given}"


def _distinct(names: Sequence[str], base: str) -> list[str]:
    """Suggested names made distinct (two clusters can share their most distinctive words)."""
    out: list[str] = []
    for i, name in enumerate(names):
        out.append(name if name and name not in out else _fitting(f"{base}_{i + 1}"))
    return out
