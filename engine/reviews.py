"""The model reviews the humans: likely mislabels, queued for a second expert's verdict.

After each retrain (``engine.jobs.review_cycle``, or ``scan_project`` on demand), confident
learning (engine.mislabels) scores every agreed label with out-of-fold heads and flags those the
model confidently disagrees with. Each becomes a review of the annotation behind the label, open
until an expert other than its author answers:

* **keep**: the label stands; nothing is added to the annotations (the reviewer saw the label and
  the model's view, so their agreement is not an independent vote and is not counted as one).
* **change** (to the suggestion or any other label): the reviewer's label is stored as a new
  annotation with source ``review``. It is one more vote in ``feedback.current_labels`` (majority,
  ties to the latest vote), so on a singly labeled example the agreed label follows the reviewer;
  where several experts gave the old label the majority stands, and the example is listed by
  ``consensus.disagreements`` for the team to adjudicate.

Only the expert a review was delivered to (``next_review``: a Slack DM, `labelbot review`) may
answer it, while no one else has been sent it since; not its author, and not an admin either: an
admin overrules a label with ``consensus`` adjudication, not through someone else's review.

The reviewed annotation is never changed: it stays in history, and the review records the outcome.
A question a person decided (kept, changed, or settled over by an adjudication) is never asked
again by a later scan, nor one open asked twice: a question is the example's label and the
suggestion as they count today (storage.repositories.reviews.add_review), whichever of its votes
is doubted (another expert's vote for the same label) and whatever a merge renamed. One a change
withdrew is reopened, once its question stands again. An open review that asks nothing any more
(storage.repositories.reviews.moot_reason: its label changed or undone, or its label or the
suggestion split or retired, or both merged into one) is dismissed: by the scan,
by the taxonomy change that made it so (engine.taxonomy), and by delivery, which passes over it.
So is an open review the latest scan no longer doubts (an earlier model's, its label since
agreed with): withdrawn by the scan, and reopened by one that doubts it again.
One still on a reviewer's screen is said to be withdrawn there, once (:func:`let_go_of_withdrawn`,
after a change in Slack at once, after one from the CLI at the scheduler's round), and a verdict
on it is answered as withdrawn (``status`` "dismissed", with the ``reason``), changing nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from engine.forecast import counted
from engine.labeling import Task, review_task
from engine.mislabels import detect_mislabels
from engine.taxonomy import stale_label_note
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import InvalidInputError, StaleActionError
from storage.models import Assignment, Label, Project, Review, utcnow
from storage.repositories import assignments, examples, feedback, flags, models, projects, reviews
from storage.repositories import taxonomy as taxonomy_repo

# storage's (sqlmodel) Session, passed through untouched: only storage imports sqlmodel.
Session = Any

DECISIONS = ("keep", "change")
MIN_LABELS = 20  # fewer labels make 5-fold heads too weak to doubt anyone
# A review asks an expert's time: only for a suggestion the model gives at least even odds.
# With few labels per class, confident learning's per-class bars sit low and a weak head's
# ordinary errors clear them (a 17% suggestion among 77 labels); bench/mislabel_detection.py
# measures what this keeps.
MIN_REVIEW_CONFIDENCE = 0.5


@dataclass(frozen=True)
class ScanReport:
    project: str
    model_version: int | None
    labels: int  # agreed labels scored
    suspects: int  # flagged by confident learning
    opened: int  # new reviews (the rest were queued or decided before)
    dismissed: int  # open reviews whose label changed meanwhile, or this scan no longer doubts
    waiting: str | None = None  # why no label could be doubted yet (too few), else None


@dataclass(frozen=True)
class ReviewResult:
    review_id: int
    example_id: int
    status: str  # kept | changed
    label: str  # the label the reviewer settled on
    agreed: str | None  # the example's agreed label now
    annotation_id: int | None  # the reviewer's annotation (a change), else None
    created: bool  # False when the same key was already stored
    reason: str | None = None  # why a review withdrawn meanwhile (status dismissed) asks nothing
    # the example's label came through an audit pick: it scores models, no model trains on it
    audit: bool = False


def scan_project(
    ws: Workspace, name: str, *, seed: int = 0, now: datetime | None = None
) -> ScanReport:
    """Flag the agreed labels the model confidently doubts; open a review for each new one."""
    from engine.training import load_pool  # numpy-heavy, and it embeds the pool

    # the model whose labels this scan reads: the one active before the pool is loaded (a model
    # promoted meanwhile may have trained on labels loaded too late to be scanned here); and the
    # newest vote there is then: those given after it may be loaded too late to be read here
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=name)
        assert found.id is not None
        active = models.get_active_model_run(session=session, project_id=found.id)
        scanned_version = active.version if active is not None else None
        # (only noted before the first model: the worker's scans after a retrain need it not)
        read_upto = (
            max(
                (r.id for r in feedback.list_annotations(session=session, project_id=found.id)),
                default=0,
            )
            if scanned_version is None
            else 0
        )
    pool = load_pool(ws, name)
    lab = np.flatnonzero(pool.y >= 0)  # audit labels too: a wrong one misjudges every model
    suspects = []
    waiting = None
    if len(lab) < MIN_LABELS or len(np.unique(pool.y[lab])) < 2:
        kinds = len(np.unique(pool.y[lab]))
        waiting = (
            f"the scan needs {MIN_LABELS} agreed labels, of 2 labels or more, to doubt any "
            f"(there are {len(lab)}, of {kinds} label{'s' if kinds != 1 else ''})"
        )
    else:
        try:
            suspects = detect_mislabels(
                pool.X[lab], pool.y[lab], n_classes=len(pool.classes), seed=seed
            )
            suspects = [s for s in suspects if s.confidence >= MIN_REVIEW_CONFIDENCE]
        except InvalidInputError as exc:  # e.g. too few labels per class for the folds
            suspects, waiting = [], f"nothing to doubt yet: {exc}"
    opened = 0
    with session_scope(ws.db) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        run = models.get_active_model_run(session=session, project_id=project.id)
        label_ids = {
            lb.name: int(lb.id or 0)
            for lb in projects.list_labels(session=session, project_id=project.id)
        }
        counted_as = taxonomy_repo.label_targets(session=session, project_id=project.id)
        votes: dict[int, list[feedback.AnnotationRow]] = defaultdict(list)
        for row in feedback.list_annotations(session=session, project_id=project.id):
            votes[row.example_id].append(row)
        # in example-id order: add_review locks each example until this transaction ends, and
        # two scans at once that met two suspects in opposite orders would deadlock
        for suspect in sorted(suspects, key=lambda s: int(pool.example_ids[lab[s.index]])):
            example_id = int(pool.example_ids[lab[suspect.index]])
            given = pool.classes[suspect.given]
            # the latest live annotation behind the agreed label is the one under review
            behind = [r for r in votes[example_id] if r.current == given]
            if not behind or _settled(votes[example_id]):
                continue
            annotation = behind[-1]
            created = reviews.add_review(
                session=session,
                project_id=project.id,
                example_id=example_id,
                annotation_id=annotation.id,
                annotator=annotation.annotator,
                given_label_id=label_ids[given],
                suggested_label_id=label_ids[pool.classes[suspect.suggested]],
                confidence=suspect.confidence,
                margin=suspect.margin,
                model_version=scanned_version,
                counted=counted_as,
                now=now,
            )
            opened += created is not None
        # not those a reviewer decided meanwhile
        dismissed = len(reviews.dismiss_moot(session=session, project_id=project.id, now=now))
        if waiting is None:
            # the open reviews this scan no longer doubts (an earlier model's, labels added
            # since): withdrawn, not left asking of a label the model now agrees with; not
            # those a scan of a newer model opened meanwhile (of labels this one never read)
            doubted = {
                (int(pool.example_ids[lab[s.index]]), pool.classes[s.suggested]) for s in suspects
            }
            dismissed += len(
                reviews.withdraw_undoubted(
                    session=session,
                    project_id=project.id,
                    doubted=doubted,
                    version=scanned_version if scanned_version is not None else 0,
                    now=now,
                )
            )
        # a scan on demand counts as the scheduler's: `labelbot review` would otherwise say
        # "not scanned since vN" right after a `--scan` that opened no review, or, before the
        # first model, "never scanned" (a scan then reads version 0: none)
        # (a scan that doubted nothing for want of labels is none before the first model); a
        # scan before the first model notes the newest vote there was when it read the labels:
        # labels agreed by votes after it were never scanned (nothing_to_review), and the
        # worker scans only after a retrain
        if scanned_version is not None and (
            _reviewed_version(project) < scanned_version
            or "reviewed_version" not in project.settings
        ):
            projects.update_project_settings(
                session=session, project_id=project.id, reviewed_version=scanned_version
            )
        elif scanned_version is None and waiting is None:
            projects.update_project_settings(
                session=session, project_id=project.id, reviewed_version=0,
                reviewed_annotation=read_upto,
            )  # fmt: skip
    return ScanReport(
        project=name,
        model_version=run.version if run is not None else None,
        labels=len(lab),
        suspects=len(suspects),
        opened=opened,
        dismissed=dismissed,
        waiting=waiting,
    )


def _unscanned(session: Session, project_id: int, settings: dict[str, Any]) -> int:
    """How many of the project's agreed labels (as status counts them: its "labeled") the last
    scan before the first model did not read: those agreed (or agreed otherwise) by votes newer
    than the newest one there was when it read them (``reviewed_annotation``). A label given
    again after a split, or imported while the scan ran, is one. Settings from before the mark
    was kept hold how many labels the scan counted (``reviewed_labels``)."""
    rows = feedback.list_annotations(session=session, project_id=project_id)
    agreed = feedback.agreed_labels(rows)
    if "reviewed_annotation" not in settings:
        return len(agreed) - _as_int(settings.get("reviewed_labels"))
    upto = _as_int(settings.get("reviewed_annotation"))
    read = feedback.agreed_labels([r for r in rows if r.id <= upto])
    return sum(1 for example_id, label in agreed.items() if read.get(example_id) != label)


def _as_int(value: Any) -> int:
    """A setting's whole number; 0 when absent or stored badly."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _reviewed_version(project: Project) -> int:
    """The model version the project's last mislabel scan read (0: none yet, a scan before the
    first model, or stored badly)."""
    return _as_int(project.settings.get("reviewed_version", 0))


def _settled(rows: list[feedback.AnnotationRow]) -> bool:
    """An admin settled the example (`labelbot adjudicate`, a disagreement thread): its label
    stands over any vote, so a reviewer's "change" would change nothing. Not reviewed (the
    adjudication dismissed any review open then)."""
    return any(r.source == feedback.ADJUDICATION for r in rows)


def next_review(
    ws: Workspace, *, project: str, annotator: str, now: datetime | None = None
) -> Task | None:
    """Deliver the most doubtful review ``annotator`` may answer (whatever ``review_share``
    says: for "review now" buttons and `labelbot review`); None when there is none."""
    now = now or utcnow()
    ttl = timedelta(minutes=ws.settings.assignment_ttl_minutes)
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        # a split or retire in flight finishes first: a review it makes moot is not shown
        feedback.lock_for_vote(session=session, project_id=found.id)
        claimed = reviews.claim_next_review(
            session=session, project_id=found.id, reviewer=annotator, ttl=ttl, now=now
        )
        if claimed is None:
            return None
        return review_task(session, found, *claimed, annotator=annotator, now=now)


def submit_review(
    ws: Workspace,
    *,
    project: str,
    review_id: int,
    annotator: str,
    decision: str,
    label: str | int | None = None,
    key: str,
    now: datetime | None = None,
) -> ReviewResult:
    """Store ``annotator``'s verdict on a review exactly once per ``key`` (see the module doc).

    ``decision`` is "keep" or "change" (to ``label``, by default the model's suggestion; a
    change to the label it has is a keep). Raises InvalidInputError for one's own label or an
    unknown decision; StaleActionError when someone else decided it first, or when the review
    is not out with ``annotator`` (sent to someone else since their hold expired, or never
    delivered to them).

    The same verdict delivered twice at once (a double click, one delivery answered by two
    replicas) is recorded once: the review is decided by a conditional update, and the one
    that comes second is answered as a repeat (``created=False``).
    """
    if decision not in DECISIONS:
        raise InvalidInputError(f"decision must be one of {', '.join(DECISIONS)}; not {decision!r}")
    now = now or utcnow()
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        # a split or retire in flight finishes first (labels are then read as changed)
        feedback.lock_for_vote(session=session, project_id=found.id)
        review = reviews.get_review(session=session, review_id=review_id)
        if review.project_id != found.id:
            raise InvalidInputError(f"review {review_id} is not in project {project!r}")
        # a reviewer's change is a vote: it and an expert's vote on the example take turns
        # (the review is read again once it is this one's turn: the other may have decided it)
        feedback.lock_votes(session=session, example_id=review.example_id)
        review = reviews.get_review(session=session, review_id=review_id, fresh=True)
        repeated = reviews.review_by_key(session=session, key=key)
        if repeated is not None and repeated.id == review.id:
            return _result(session, review, created=False)
        # The verdict of the expert it was delivered to (a button only they see; a forged one
        # needs the signing secret): not of anyone who knows or guesses a review id.
        held = session.get(Assignment, review.assignment_id) if review.assignment_id else None
        mine = held is not None and held.annotator == annotator
        if review.status == "dismissed" and mine:
            return _withdrawn(session, review, now=now)  # while it was on their screen
        if review.status != "open":
            raise _decided(review)
        if annotator == review.annotator:
            raise InvalidInputError("a label is reviewed by another expert, not by its author")
        if held is None or not mine:
            raise StaleActionError(
                f"review {review_id} is not yours to answer: it went to another expert since "
                "(or never to you)"
            )
        if flags.open_flags_of(session=session, example_id=review.example_id):
            # a flag took the example out of everyone's queue (its delivery let go of): the
            # review waits, open, until the flag is resolved
            raise StaleActionError(
                f"example {review.example_id} was flagged since this review was sent: it left "
                "the queue until someone resolves the flag, and nothing was stored"
            )
        if reviews.moot_reason(session=session, review=review) is not None:
            # turned moot on their screen (a delivery from before the change that made it so)
            reviews.dismiss_review(session=session, review=review, now=now)
            return _withdrawn(session, review, now=now)
        given = _counts_as(session, review.given_label_id)
        status, outcome, annotation_id = "kept", given, None
        if decision == "change":
            picked = label if label is not None else review.suggested_label_id
            clicked = taxonomy_repo.get_clicked_label(
                session=session, project_id=found.id, name=picked
            )
            chosen = _counts_as(session, int(clicked.id or 0))
            if chosen.id != given.id:
                stored, _ = feedback.add_annotation(
                    session=session,
                    example_id=review.example_id,
                    label_id=int(chosen.id or 0),
                    annotator=annotator,
                    source="review",
                    key=f"review:{review_id}:{key}",
                    created_at=now,
                )
                status, outcome, annotation_id = "changed", chosen, stored.id
        decided = reviews.decide_review(
            session=session,
            review_id=review_id,
            status=status,
            reviewer=annotator,
            outcome_label_id=outcome.id,
            outcome_annotation_id=annotation_id,
            key=key,
            now=now,
        )
        if decided is None:  # decided since it was read (decide_review refreshed ``review``)
            if review.decision_key == key:  # by this same verdict, delivered twice at once
                return _result(session, review, created=False)
            raise _decided(review)  # by someone else: this transaction rolls back, vote too
        if held.status == "open":
            assignments.close_assignment(
                session=session, assignment_id=int(held.id or 0), status="done", now=now
            )
        return _result(session, review, created=True)


def review_example(ws: Workspace, *, review_id: int) -> int:
    """The example review ``review_id`` is about (a button's copy of it is not to be trusted)."""
    with session_scope(ws.db, read_only=True) as session:
        return reviews.get_review(session=session, review_id=review_id).example_id


def reviews_on_screen(
    ws: Workspace, *, project: str, review_id: int | None = None, now: datetime | None = None
) -> list[tuple[Task, str, str]]:
    """(task, channel, message ts) for every open review on a reviewer's screen (only
    ``review_id``'s when given), as it should read now: today's labels in its menu, the labels
    under review named as they count now. After a taxonomy change the bot redraws them, as it
    does labeling messages (engine.labeling.tasks_on_screen). One the change made moot is left
    out: the change dismissed it, and :func:`let_go_of_withdrawn` lists it to say so."""
    now = now or utcnow()
    out = []
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        for review, held in reviews.delivered_open_reviews(
            session=session, project_id=found.id, now=now
        ):
            if review_id is not None and review.id != review_id:
                continue
            if reviews.moot_reason(session=session, review=review) is not None:
                continue
            task = review_task(session, found, review, held, annotator=held.annotator, now=now)
            out.append((task, str(held.channel), str(held.message_ts)))
    return out


@dataclass(frozen=True)
class Withdrawn:
    """A review dismissed while on its reviewer's screen: where its message is, and why."""

    reviewer: str
    channel: str
    ts: str
    example_id: int
    text: str
    reason: str


def let_go_of_withdrawn(
    ws: Workspace, *, project: str, now: datetime | None = None
) -> list[Withdrawn]:
    """The reviews of ``project`` dismissed while their message was on a reviewer's screen (a
    taxonomy change made them moot, an adjudication settled the example), each let go of and
    noted as told, once across processes: so the bot says so on the message, which loses its
    buttons, and sends the reviewer's next task, as for an example a change settled
    (engine.labeling.let_go_of_settled). One already answered by a click is not listed."""
    now = now or utcnow()
    # looked for first in a read-only session: the scheduler asks every round of every project,
    # and a write transaction (SQLite's BEGIN IMMEDIATE) would queue behind a long import's lock
    # for nothing
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        if not reviews.withdrawn_on_screen(session=session, project_id=found.id, now=now):
            return []
    out = []
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        for review, held in reviews.withdrawn_on_screen(
            session=session, project_id=found.id, now=now
        ):
            if not reviews.mark_withdrawn_told(session=session, review_id=int(review.id or 0)):
                continue  # told by another process, or a click, meanwhile
            if held.status == "open":
                assignments.close_assignment(
                    session=session, assignment_id=int(held.id or 0), status="released", now=now
                )
            example = examples.get_example(session=session, example_id=review.example_id)
            out.append(
                Withdrawn(
                    reviewer=held.annotator,
                    channel=str(held.channel),
                    ts=str(held.message_ts),
                    example_id=review.example_id,
                    text=example.text,
                    reason=_why_moot(session, review),
                )
            )
    return out


def _withdrawn(session: Session, review: Review, *, now: datetime) -> ReviewResult:
    """The answer to a verdict on a review dismissed while it was out with its reviewer: why it
    asks nothing now; its delivery let go of (once: a repeat finds it so), and the reviewer
    noted as told (a redraw after a change does not tell them again)."""
    reviews.mark_withdrawn_told(session=session, review_id=int(review.id or 0))
    if review.assignment_id is not None:
        assignments.close_assignment(
            session=session, assignment_id=review.assignment_id, status="released", now=now
        )
    return replace(_result(session, review, created=True), reason=_why_moot(session, review))


def _why_moot(session: Session, review: Review) -> str:
    """In words: why a dismissed review asks nothing any more. A label is named as the
    reviewer's card names it, as it counts today (merged: the label it went into); one split
    or retired, or two merged into one, by the names the review was opened with."""
    if review.reviewer is not None:  # an adjudication dismissed it
        return "the example's label was settled since"
    given, suggested = (
        session.get(Label, label_id)
        for label_id in (review.given_label_id, review.suggested_label_id)
    )
    assert given is not None and suggested is not None
    counted_as = taxonomy_repo.label_targets(session=session, project_id=review.project_id)
    given_now = counted_as.get(review.given_label_id) or given.name
    suggested_now = counted_as.get(review.suggested_label_id) or suggested.name
    why = reviews.moot_reason(session=session, review=review, counted=counted_as)
    if why == reviews.UNDONE:
        return f"the label {given_now!r} under review was taken back"
    if why == reviews.GIVEN_GONE:
        return f"the label {given.name!r} was split or retired since"
    if why == reviews.SUGGESTION_GONE:
        return f"the suggested label {suggested.name!r} was split or retired since"
    if why == reviews.SAME_LABEL:
        return f"{given.name!r} and {suggested.name!r} count as one label since"
    if why is not None:
        return "the example's label changed since"
    # its question stands: a mislabel scan withdrew it, or a change since undone
    scan = reviews.withdrawal_reason(review)
    if scan == reviews.UNDOUBTED:
        return f"the latest mislabel scan no longer doubts the label {given_now!r}"
    if scan == reviews.RESUGGESTED:
        return (
            f"the latest mislabel scan still doubts the label {given_now!r}, but suggests "
            f"another label than {suggested_now!r}"
        )
    return "a change withdrew it meanwhile (since undone)"


def _decided(review: Review) -> StaleActionError:
    by = f" by {review.reviewer}" if review.reviewer else ""
    return StaleActionError(f"review {review.id} was already decided ({review.status}{by})")


def _counts_as(session: Session, label_id: int) -> Label:
    """The active label ``label_id`` counts as (itself, or where it was merged / retired to)."""
    label: Label | None = session.get(Label, label_id)
    assert label is not None
    if label.active:
        return label
    target: Label | None = session.get(Label, label.mapped_to_id) if label.mapped_to_id else None
    if target is None:  # where it went and what to pick, as a labeling click is told
        raise StaleActionError(stale_label_note(session=session, label=label))
    return target


def _result(session: Session, review: Review, *, created: bool) -> ReviewResult:
    outcome = session.get(Label, review.outcome_label_id) if review.outcome_label_id else None
    rows = feedback.example_annotations(session=session, example_id=review.example_id)
    return ReviewResult(
        review_id=int(review.id or 0),
        example_id=review.example_id,
        status=review.status,
        label=outcome.name if outcome is not None else "",
        agreed=feedback.agreed_label(rows),
        annotation_id=review.outcome_annotation_id,
        created=created,
        audit=review.status == "changed"  # what a change's answer says (a keep's does not)
        and reviews.is_audit_example(
            session=session, project_id=review.project_id, example_id=review.example_id
        ),
    )


@dataclass(frozen=True)
class LabelNames:
    """A label on a review, named as the live Slack card names it and as it was called."""

    now: str | None  # the active label it counts as today (merged: the label it went into);
    # None when it was split or retired since
    then: str  # its name when the review was opened (the outcome's: when it was decided)


@dataclass(frozen=True)
class ReviewRow:
    """A review as listed (`labelbot review NAME --list`)."""

    id: int
    example_id: int
    text: str
    given: str
    given_by: str
    suggested: str
    confidence: float
    status: str
    reviewer: str | None
    outcome: str | None
    # the three labels above through the taxonomy's history since (renames, merges): what the
    # table shows, and the JSON's ``given_now`` etc.
    given_names: LabelNames | None = None
    suggested_names: LabelNames | None = None
    outcome_names: LabelNames | None = None
    # the id the example was imported with (`labelbot adjudicate` takes it, or #example_id)
    external_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The review as `labelbot review NAME --list --json` prints it: its fields as they
        always were, each label as it counts today (``given_now``: the table's name, null
        when split or retired since or when there is no outcome), and the example's imported
        id (``external_id``, null when it came without one)."""
        shown = {key: getattr(self, key) for key in JSON_FIELDS}
        for key in ("given", "suggested", "outcome"):
            names: LabelNames | None = getattr(self, f"{key}_names")
            shown[f"{key}_now"] = names.now if names is not None else None
        shown["external_id"] = self.external_id
        return shown


# the fields `review --list --json` has always printed (``given`` etc.: each label's own name
# today, the retired one's for a label merged since); ``given_now`` etc. follow them
JSON_FIELDS = ("id", "example_id", "text", "given", "given_by", "suggested", "confidence",
               "status", "reviewer", "outcome")  # fmt: skip
REVIEW_STATUSES = ("open", "kept", "changed", "dismissed")


def list_reviews(ws: Workspace, *, project: str, status: str | None = None) -> list[ReviewRow]:
    """The project's reviews (``status`` None: all of them), each label also named as it
    counts today and as it was called then (:class:`LabelNames`), as annotations are read:
    a rename changes the name, a merge counts the label as the one it went into."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        labels = projects.list_labels(session=session, project_id=found.id, active_only=False)
        names = {int(lb.id or 0): lb.name for lb in labels}
        counted = taxonomy_repo.label_targets(session=session, project_id=found.id)
        events = taxonomy_repo.list_events(session=session, project_id=found.id)

        def named(label_id: int | None, at: datetime | None) -> LabelNames | None:
            """``label_id`` named today and at ``at`` (back through the renames since)."""
            if label_id is None:
                return None
            then = names if at is None else models.names_at(labels, events, at)
            return LabelNames(now=counted.get(label_id), then=then.get(label_id, names[label_id]))

        rows = []
        for r in reviews.list_reviews(session=session, project_id=found.id, status=status):
            example = examples.get_example(session=session, example_id=r.example_id)
            rows.append(  # the names the review was opened with, and its outcome's when decided
                ReviewRow(
                    id=int(r.id or 0),
                    example_id=r.example_id,
                    text=example.text,
                    external_id=example.external_id,
                    given=names[r.given_label_id],
                    given_by=r.annotator,
                    suggested=names[r.suggested_label_id],
                    confidence=r.confidence,
                    status=r.status,
                    reviewer=r.reviewer,
                    outcome=names.get(r.outcome_label_id or -1),
                    given_names=named(r.given_label_id, r.created_at),
                    suggested_names=named(r.suggested_label_id, r.created_at),
                    outcome_names=named(r.outcome_label_id, r.decided_at),
                )
            )
        return rows


def nothing_to_review(
    ws: Workspace, *, project: str, annotator: str, scanned_now: bool = False
) -> str:
    """Why ``next_review`` has nothing for ``annotator``, in words: open reviews none of which
    is theirs to answer, no scan since the active model (or no model yet), every review
    answered, or a scan that doubted no label. `labelbot review`'s empty state: "nothing to
    review" alone read the same before any scan as after one. ``scanned_now``: the caller has
    just scanned and said what the scan found ("" when nothing more is to be said)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        counts = reviews.count_reviews(session=session, project_id=found.id)
        run = models.get_active_model_run(session=session, project_id=found.id)
        settings = dict(found.settings or {})
        opened_by = [
            r.model_version or 0 for r in reviews.list_reviews(session=session, project_id=found.id)
        ]
        unscanned = _unscanned(session, found.id, settings) if run is None else 0
    if counts["open"]:
        return (
            f"{counted(counts['open'], 'open review')}, none of them {annotator}'s to answer "
            "(a label is reviewed by an expert other than its author who did not label or skip "
            "the example; one out with another expert stays theirs until answered or its hold "
            "lapses)"
        )
    try:  # the scheduler's last scan; a `--scan`'s shows in the model version of its reviews
        scanned = max([int(settings.get("reviewed_version", 0)), *opened_by])
    except (TypeError, ValueError):
        scanned = max([0, *opened_by])
    try:
        off = float(settings.get("review_share", 1.0)) <= 0
    except (TypeError, ValueError):
        off = False
    worker = (
        "the worker does not scan this project: review_share is 0"
        if off
        else "the worker scans them after each retrain"
    )
    scan_now = f"`labelbot review {project} --scan` scans them now"
    if scanned_now:
        scanned = max(scanned, run.version if run is not None else 0)
    elif run is None and not opened_by and "reviewed_version" not in settings:
        return f"no model yet, and the labels were never scanned ({worker}); {scan_now}"
    elif run is None and unscanned > 0:
        return (
            f"no model yet, and {counted(unscanned, 'agreed label')} came since the last scan "
            f"({worker}); {scan_now}"
        )
    if run is not None and scanned < run.version:
        return f"the labels were not scanned since model v{run.version} ({worker}); {scan_now}"
    decided = sum(counts[s] for s in ("kept", "changed", "dismissed"))
    if decided:
        parts = ", ".join(f"{counts[s]} {s}" for s in ("kept", "changed", "dismissed") if counts[s])
        return f"every review is answered or withdrawn ({parts})"
    if scanned_now:
        return ""
    since = f" of model v{run.version}" if run is not None else ""
    return f"the scan{since} doubted none of the labels"


def review_counts(ws: Workspace, *, project: str) -> dict[str, int]:
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return reviews.count_reviews(session=session, project_id=found.id)
