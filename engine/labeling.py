"""The labeling loop, shared by the terminal (`labelbot label`) and the Slack bot.

``next_task`` hands an expert the most useful free example (assignments make sure two experts never
hold the same one); ``submit_label`` stores the answer exactly once per idempotency key.

Two things are mixed into the flow (issue 6). **Second opinions**: a share of examples
(``multi_label_share``, 10%; every audit example with ``multi_label_audit``) is chosen when its
first label arrives, and goes on to different experts until ``multi_label_k`` (2) have labeled it;
their labels measure agreement (engine.consensus). **Reviews**: with ``reviews=True``, every
``review_share``-th (10%) delivery to an expert is a mislabel review of someone else's label, when
one is waiting (engine.reviews): a task with ``kind="review"``, answered with
``reviews.submit_review``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from engine import rhythm, taxonomy
from engine.agreement import DEFAULT_LABELERS, DEFAULT_SHARE, chosen_for_multiple_labeling
from engine.audit import DEFAULT_AUDIT_SHARE, audit_slots
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import (
    InvalidInputError,
    LabeledByOther,
    NotFoundError,
    SkippedBefore,
    StaleActionError,
)
from storage.models import Annotation, Assignment, Example, Label, Project, Review, utcnow
from storage.repositories import (
    assignments,
    batches,
    examples,
    feedback,
    flags,
    models,
    projects,
    reviews,
    slack,
)
from storage.repositories import proposals as proposals_repo
from storage.repositories import taxonomy as taxonomy_repo

BatchCount = batches.BatchCount  # what is left of a batch after one answer, and its tally

# storage's (sqlmodel) Session, passed through untouched: only storage imports sqlmodel.
Session = Any

UNDO_WINDOW = timedelta(minutes=5)
DEFAULT_REVIEW_SHARE = 0.1  # share of each expert's deliveries that are mislabel reviews


@dataclass(frozen=True)
class LabelChoice:
    name: str
    description: str
    id: int | None = None  # what a button or menu option carries back (names can be long)


@dataclass(frozen=True)
class AskReason:
    """Why the queue asks about an example, when the labeler is told: ``kind`` "cold_start"
    (representative examples before the first model), "rare" (to find more examples of
    ``label``, which has few) or "no_examples" (it may be ``label``, which has none yet)."""

    kind: str
    label: str | None = None


SHOWN_REASONS = ("cold_start", "rare", "no_examples")  # the strategy's own picks need no note
RUNNER_UP_MIN = 0.1  # the model's second guess is shown from this probability up


@dataclass(frozen=True)
class Task:
    """One example to label, with what a labeling UI shows around it."""

    project: str
    example_id: int
    assignment_id: int
    text: str
    labels: list[LabelChoice]
    suggestion: tuple[str, float] | None  # the active model's guess, when there is one
    done_today: int
    queue_left: int
    # "label", or "review": someone else's label (``given``, by ``given_by``) that the model
    # doubts; ``suggestion`` is then the model's alternative. Answer with reviews.submit_review.
    kind: str = "label"
    review_id: int | None = None
    given: str | None = None
    given_by: str | None = None
    delivered: bool = False  # its assignment already has a message (the task is on screen)
    shown_in: tuple[str, str] | None = None  # that message: (channel, ts)
    # why a labeled example is back: its labels that a split or retire left uncounted
    earlier: tuple[taxonomy.EarlierLabel, ...] = ()
    reason: AskReason | None = None  # why the queue asks about it (label tasks)
    runner_up: tuple[str, float] | None = None  # the model's second guess, when close enough
    # the expert it is out with (its assignment's): a redraw of its message takes their turn
    annotator: str = ""


@dataclass(frozen=True)
class LabelResult:
    annotation_id: int
    example_id: int
    label: str
    created: bool  # False when the same key was already stored (a retry or a double click)
    undo_until: datetime
    counts_as: str | None = None  # the label it counts as (a merged label's target)
    # read in the same transaction, for what a click does next (0 extra round trips):
    model_guess: str | None = None  # the active model's label for the example
    others_labeled: bool = False  # someone else holds a label on it that still counts
    # where the assignment this label answered was shown (channel, ts): another live copy when
    # the click came from elsewhere (a re-post), whose buttons must go too
    shown_in: tuple[str, str] | None = None


def next_task(
    ws: Workspace,
    *,
    project: str,
    annotator: str,
    now: datetime | None = None,
    reviews: bool = False,
    rng: random.Random | None = None,
) -> Task | None:
    """Claim the next example for ``annotator`` (or return the one they hold); None if none left.

    With ``reviews`` (for UIs that can show a review), a mislabel review held or due by the
    project's ``review_share`` comes instead, as a task of ``kind="review"``. ``rng`` draws the
    audit picks (a seeded one repeats them, as the demo's ``--seed``); live labeling leaves it
    out.
    """
    now = now or utcnow()
    ttl = timedelta(minutes=ws.settings.assignment_ttl_minutes)
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        # one delivery to this expert at a time: two at once hand out one task, not two
        assignments.hold_annotator(session=session, project_id=found.id, annotator=annotator)
        if reviews:
            # a split or retire in flight finishes first: a review it makes moot is not shown
            feedback.lock_for_vote(session=session, project_id=found.id)
            review = _review_turn(session, found, annotator, ttl=ttl, now=now)
            if review is not None:
                return review_task(session, found, *review, annotator=annotator, now=now)
        share = float(found.settings.get("audit_share", DEFAULT_AUDIT_SHARE))
        # the project's labeling deliveries so far, as numbered (an index lookup)
        delivered = assignments.labeling_deliveries(session=session, project_id=found.id)
        audit = bool(audit_slots(n_delivered=delivered, n=1, share=share)[0])
        claimed = assignments.claim_next_example(
            session=session,
            project_id=found.id,
            annotator=annotator,
            ttl=ttl,
            now=now,
            audit=audit,
            rng=rng,
        )
        if claimed is None:
            return None
        example, assignment = claimed
        return _shown_task(ws, session, found, example, assignment, annotator, now)


def waiting_for(ws: Workspace, *, project: str, annotator: str, now: datetime | None = None) -> int:
    """How many examples of ``project`` the queue would hand ``annotator`` now (unlabeled ones,
    second opinions and relabels wanted of them; not flagged, skipped by them, or out with
    another expert): one count, read only."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return assignments.count_waiting_for(
            session=session, project_id=found.id, annotator=annotator, now=now
        )


@dataclass(frozen=True)
class Settled:
    """A labeling message on an expert's screen whose example no longer waits for them."""

    annotator: str
    channel: str
    ts: str


def let_go_of_settled(ws: Workspace, *, project: str, now: datetime | None = None) -> list[Settled]:
    """Release the examples out with experts that a taxonomy change settled (an undone split or
    retire made their old label count again); where each one's message is, so the bot can
    replace it rather than leave buttons that answer "already labeled"."""
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        released = assignments.release_settled(session=session, project_id=found.id, now=now)
        return [Settled(a.annotator, str(a.channel), str(a.message_ts)) for a in released]


def tasks_on_screen(
    ws: Workspace, *, project: str, now: datetime | None = None
) -> list[tuple[Task, str, str]]:
    """(task, channel, message ts) for every labeling task out with an expert whose message is
    on screen, as it should read now (today's labels, the model's current guess): after a
    taxonomy change the bot redraws them, so no one clicks a label that is gone."""
    now = now or utcnow()
    out = []
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        shown = [
            (held, examples.get_example(session=session, example_id=held.example_id))
            for held in assignments.delivered_open_assignments(
                session=session, project_id=found.id, now=now
            )
        ]
        # the guesses of the messages that show one, read (and after a merge, scored live)
        # at once: one model call for the redraw, not one per message
        guessed = [(h, e) for h, e in shown if not _blind(session, e, h)]
        predicted = models.get_predictions_for(
            session=session, example_ids=[int(e.id or 0) for _, e in guessed]
        )
        rows = [p for p in predicted.values() if p.probs]
        from engine.predicting import named_all_as_rescored

        texts = {int(e.id or 0): e.text for _, e in guessed}
        tops = named_all_as_rescored(ws, session, rows, leading=2, texts=texts)
        known: dict[int, tuple[Any, list[tuple[str, float]]]] = {
            int(e.id or 0): (predicted.get(int(e.id or 0)), []) for _, e in guessed
        }
        known.update({int(p.example_id): (p, top) for p, top in zip(rows, tops, strict=True)})
        for held, example in shown:
            task = _shown_task(ws, session, found, example, held, held.annotator, now, known)
            out.append((task, str(held.channel), str(held.message_ts)))
    return out


def still_on_screen(ws: Workspace, *, assignment_id: int, channel: str, ts: str) -> bool:
    """Whether assignment ``assignment_id`` is still open, unexpired and shown in the message
    (``channel``, ``ts``): not answered, skipped, released or moved since it was read."""
    with session_scope(ws.db, read_only=True) as session:
        return assignments.shown_open(
            session=session, assignment_id=assignment_id, channel=channel, ts=ts
        )


def held_task(ws: Workspace, *, assignment_id: int, now: datetime | None = None) -> Task:
    """The task of assignment ``assignment_id`` as a fresh delivery shows it (the model's guess
    and runner-up, why it is asked, the labels a split or retire left behind; blind for an
    audit pick or a second opinion): for an example offered again after an Undo, or a message
    drawn again with today's labels. NotFoundError for an unknown assignment."""
    now = now or utcnow()
    with session_scope(ws.db, read_only=True) as session:
        assignment = session.get(Assignment, assignment_id)
        if assignment is None:
            raise NotFoundError(f"assignment {assignment_id} not found")
        found = projects.get_project_by_id(session=session, project_id=assignment.project_id)
        example = examples.get_example(session=session, example_id=assignment.example_id)
        return _shown_task(ws, session, found, example, assignment, assignment.annotator, now)


def latest_task(
    ws: Workspace, *, example_id: int, annotator: str, now: datetime | None = None
) -> Task | None:
    """:func:`held_task` of ``annotator``'s latest assignment of the example; None when it was
    never theirs."""
    with session_scope(ws.db, read_only=True) as session:
        mine = latest_assignment(session, example_id=example_id, annotator=annotator)
        mine_id = None if mine is None else mine.id
    return None if mine_id is None else held_task(ws, assignment_id=mine_id, now=now)


def latest_assignment(session: Session, *, example_id: int, annotator: str) -> Assignment | None:
    """``annotator``'s latest assignment of the example, whatever its status (None: it was
    never theirs)."""
    example = examples.get_example(session=session, example_id=example_id)
    return assignments.get_assignment(
        session=session, project_id=example.project_id, example_id=example_id,
        annotator=annotator,
    )  # fmt: skip


def _shown_task(
    ws: Workspace,
    session: Session,
    project: Project,
    example: Example,
    assignment: Assignment,
    annotator: str,
    now: datetime,
    known: Mapping[int, tuple[Any, list[tuple[str, float]]]] | None = None,
) -> Task:
    """The task as a labeling message shows it: with the active model's guess (and runner-up)
    and why the queue asks -- except where the label must be blind: an audit pick (it measures
    the model, so a label anchored on the model's guess would flatter it) and a second opinion
    (agreement between experts who both saw the guess would read high). ``known``: example id
    -> its stored prediction and guess and runner-up in today's labels, read for a listing at
    once."""
    if _blind(session, example, assignment):
        return _task(session, project, example, assignment, None, annotator, now)
    if known is not None and int(example.id or 0) in known:
        prediction, top = known[int(example.id or 0)]
    else:
        prediction = models.get_prediction(session=session, example_id=int(example.id or 0))
        top = _named_today(ws, session, prediction, leading=2)  # the guess and its runner-up
    suggestion = None
    if prediction is not None and prediction.label is not None and top:
        suggestion = top[0]
    task = _task(session, project, example, assignment, suggestion, annotator, now)
    return replace(task, **_why_asked(session, task, prediction, top))


def _blind(session: Session, example: Example, assignment: Assignment) -> bool:
    """Whether the task's label must be blind (:func:`_shown_task`): an audit pick or a second
    opinion."""
    return (
        assignment.purpose == "audit"
        or bool(example.audit)
        or assignments.multi_label_request(session=session, example_id=int(example.id or 0))
        is not None
    )


def _named_today(
    ws: Workspace, session: Session, prediction: Any, *, leading: int = 1
) -> list[tuple[str, float]]:
    """A stored prediction's top classes, highest first, in today's labels (a rename or merge
    since it was written, before the queue's re-score), as export and predict read them: a
    merged label beyond the row's stored classes (its first ``leading`` not told by them) is
    scored live, as the re-score will (engine.predicting.named_as_rescored)."""
    if prediction is None or not prediction.probs:
        return []
    from engine.predicting import named_as_rescored

    return named_as_rescored(ws, session, prediction, leading=leading)


def _model_guess(ws: Workspace, session: Session, *, example_id: int) -> str | None:
    """The active model's guess for the example as its labeling message shows it
    (:func:`_named_today`: in today's labels, a taxonomy change before the queue's re-score),
    None without one: what a label given is compared with to count as agreeing."""
    prediction = models.get_prediction(session=session, example_id=example_id)
    if prediction is None or prediction.label is None:
        return None
    top = _named_today(ws, session, prediction)
    return top[0][0] if top else prediction.label


def _why_asked(
    session: Session, task: Task, prediction: Any, top: list[tuple[str, float]]
) -> dict[str, Any]:
    """The Task fields that say why the queue asks: the stored reason (unless the example is
    back for a new label, which says why itself; and only while it names an active label) and
    the model's runner-up guess."""
    out: dict[str, Any] = {}
    if prediction is None:
        return out
    active = {lb.name for lb in task.labels}
    reason = prediction.reason or {}
    kind, label = reason.get("kind"), reason.get("label")
    if label is not None and reason.get("label_id") is not None:
        label = _reason_label(session, prediction.project_id, reason["label_id"])
    if kind in SHOWN_REASONS and not task.earlier and (label is None or label in active):
        out["reason"] = AskReason(str(kind), label)
    if len(top) > 1 and float(top[1][1]) >= RUNNER_UP_MIN and str(top[1][0]) in active:
        out["runner_up"] = (str(top[1][0]), float(top[1][1]))
    return out


def _reason_label(session: Session, project_id: int, label_id: Any) -> str:
    """The name today of the label a stored reason was for (its id: the name is the scoring's,
    and a rename since -- two labels swapping names -- moves it to another label); "" (not
    shown) once it is no label of its own: merged, split or retired, where the note ("it may be
    X, which has no example yet") would not hold for the label it now counts as."""
    try:
        found = session.get(Label, int(label_id))
    except (TypeError, ValueError):
        return ""
    if found is None or found.project_id != project_id or not found.active:
        return ""
    return str(found.name)


def _review_turn(
    session: Session, project: Project, annotator: str, *, ttl: timedelta, now: datetime
) -> tuple[Review, Assignment] | None:
    """The review ``annotator`` holds, or a new one when this delivery is a review turn."""
    assert project.id is not None
    held = reviews.held_review(session=session, project_id=project.id, reviewer=annotator, now=now)
    if held is not None:
        return held
    if assignments.get_open_assignment(
        session=session, project_id=project.id, annotator=annotator, now=now
    ):
        return None  # they hold an example to label: that one first
    share = float(project.settings.get("review_share", DEFAULT_REVIEW_SHARE))
    # slots counted per expert, so each one reviews about `share` of what they are sent
    # (every delivery to them so far, as numbered: an index lookup)
    mine = assignments.deliveries_to(session=session, project_id=project.id, annotator=annotator)
    if not audit_slots(n_delivered=mine, n=1, share=share)[0]:
        return None
    return reviews.claim_next_review(
        session=session, project_id=project.id, reviewer=annotator, ttl=ttl, now=now
    )


def review_task(
    session: Session,
    project: Project,
    review: Review,
    assignment: Assignment,
    *,
    annotator: str,
    now: datetime,
) -> Task:
    """The task a reviewer sees: the example, the label under review and the model's view,
    named as they count now (a label merged since, as its merge target)."""
    assert project.id is not None
    example = examples.get_example(session=session, example_id=review.example_id)
    counted = taxonomy_repo.label_targets(session=session, project_id=project.id)
    given, suggested = counted[review.given_label_id], counted[review.suggested_label_id]
    assert given is not None and suggested is not None  # else moot: never delivered
    task = _task(
        session,
        project,
        example,
        assignment,
        (suggested, float(review.confidence)),
        annotator,
        now,
    )
    return replace(task, kind="review", review_id=review.id, given=given, given_by=review.annotator)


def _task(
    session: Session,
    project: Project,
    example: Example,
    assignment: Assignment,
    suggestion: tuple[str, float] | None,
    annotator: str,
    now: datetime,
) -> Task:
    assert project.id is not None and example.id is not None and assignment.id is not None
    labels = projects.list_labels(session=session, project_id=project.id)
    midnight = rhythm.day_start_of(session=session, user=annotator, now=now)  # theirs
    done_today = feedback.count_annotations(
        session=session, project_id=project.id, annotator=annotator, since=midnight
    )
    queue_left = assignments.count_free_examples(session=session, project_id=project.id)
    return Task(
        project=project.name,
        example_id=example.id,
        assignment_id=assignment.id,
        text=example.text,
        labels=[LabelChoice(lb.name, lb.description, lb.id) for lb in labels],
        suggestion=suggestion,
        done_today=done_today,
        queue_left=queue_left,
        delivered=bool(assignment.channel and assignment.message_ts),
        shown_in=(
            (assignment.channel, assignment.message_ts)
            if assignment.channel and assignment.message_ts
            else None
        ),
        earlier=tuple(taxonomy.earlier_labels(session=session, example_id=example.id)),
        annotator=assignment.annotator,
    )


def multi_label_settings(settings: dict[str, Any]) -> tuple[float, int, bool]:
    """(share, k, audit too) of a project's second-opinion settings, with their defaults."""
    return (
        float(settings.get("multi_label_share", DEFAULT_SHARE)),
        int(settings.get("multi_label_k", DEFAULT_LABELERS)),
        bool(settings.get("multi_label_audit", False)),
    )


def submit_label(
    ws: Workspace,
    *,
    project: str,
    example_id: int,
    label: str | int,
    annotator: str,
    source: str,
    key: str,
    now: datetime | None = None,
) -> LabelResult:
    """Store ``annotator``'s label for the example, exactly once per ``key``. ``label``: the
    label's id as shown (a button, a menu option, a terminal's key: it stays the label the
    expert saw, whatever it is called by the time of the click), or a name.

    A label since renamed (a button showing the old name) is stored under its new name; one
    since merged (or retired with a mapping) is stored as clicked and counts as the merge target.
    Raises StaleActionError when the label was split or retired without a mapping, the expert
    has a vote on the example that counts (given from another message), or someone
    else already labeled the example (unless it waits for more experts' labels: a second
    opinion); InvalidInputError for a label the project never had.
    """
    now = now or utcnow()
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        example = examples.get_example(session=session, example_id=example_id)
        if example.project_id != found.id:
            raise InvalidInputError(f"example {example_id} is not in project {project!r}")
        # a split or retire in flight finishes first (this click then sees it), or waits for it
        feedback.lock_for_vote(session=session, project_id=found.id)
        # two clicks at once (one expert's two live copies of the example, or two experts'): the
        # second reads the first's vote, and is refused or counted as a second opinion
        feedback.lock_votes(session=session, example_id=example_id)
        chosen = taxonomy_repo.get_clicked_label(session=session, project_id=found.id, name=label)
        assert chosen.id is not None
        existing, created = feedback.add_annotation(
            session=session,
            example_id=example_id,
            label_id=chosen.id,
            annotator=annotator,
            source=source,
            key=key,
            created_at=now,
        )
        counts_as: str | None = chosen.name
        if not chosen.active:
            # A stale button: a merged label (or one retired with a mapping) is stored as clicked
            # and counts as its target; a split or unmapped retired label stores nothing (a
            # retry of a click stored before the change is answered as before).
            target = session.get(Label, chosen.mapped_to_id) if chosen.mapped_to_id else None
            counts_as = target.name if target is not None else None
            if target is None and created:
                raise StaleActionError(
                    taxonomy.stale_label_note(
                        session=session,
                        label=chosen,
                        clicked=label if isinstance(label, str) else None,
                    )
                )
        guess, others_labeled = None, False
        shown_in: tuple[str, str] | None = None
        if created:
            rows = feedback.example_annotations(session=session, example_id=example_id)
            mine = [
                a
                for a in rows
                if a.annotator == annotator and a.id != existing.id and a.current is not None
            ]
            if mine:  # from another message (a vote of a split label no longer counts: relabel)
                raise StaleActionError(
                    f"you already labeled this example *{mine[0].label}* from another message"
                )
            others = [a for a in rows if a.annotator != annotator and a.current is not None]
            # back for a relabel (its agreed label was split), an outvoted vote left: open
            waiting = feedback.agreed_label([a for a in rows if a.id != existing.id]) is None
            if others and not waiting and not _wants_another_opinion(session, example_id, others):
                first = others[0]
                raise LabeledByOther(
                    f"this example was already labeled *{first.label}* by {first.annotator}",
                    label=first.label,
                    annotator=first.annotator,
                )
            if not others:  # the first label: does this example want more experts?
                _maybe_request_more(session, found, example)
            held = assignments.get_assignment(
                session=session, project_id=found.id, example_id=example_id, annotator=annotator
            )
            if held is not None and held.id is not None and held.status == "open":
                # closed on condition: a Skip of the same delivery committing first wins
                if assignments.close_assignment(
                    session=session, assignment_id=held.id, status="done"
                ):
                    if held.channel and held.message_ts:
                        shown_in = (held.channel, held.message_ts)
                else:
                    held = assignments.get_assignment(
                        session=session, project_id=found.id, example_id=example_id,
                        annotator=annotator,
                    )  # fmt: skip
            if held is not None and held.status == "skipped":
                raise SkippedBefore("you skipped this example: it went back to the pool")
            guess = _model_guess(ws, session, example_id=example_id)
            others_labeled = bool(others)
        assert existing.id is not None
        return LabelResult(
            annotation_id=existing.id,
            example_id=example_id,
            label=chosen.name,
            created=created,
            undo_until=existing.created_at + UNDO_WINDOW,
            counts_as=counts_as,
            model_guess=guess,
            others_labeled=others_labeled,
            shown_in=shown_in,
        )


@dataclass(frozen=True)
class ChangedLabel:
    """A stored label that a taxonomy change retired since it was given (split, merged,
    retired), and where its example stands now: what a click on an old copy of the message it
    was given on is told."""

    note: str  # where the label went: "the label 'card_arrival' was split into late, lost"
    counts_as: str | None  # the active label the vote counts as (merged, mapped); None: nothing
    into: tuple[str, ...]  # the parts of the split that stopped it (its own, or its merge
    # target's), as called now; () when no split did
    waits: bool  # its example waits to be labeled again (the change sent it back to the queue)
    holder: str | None  # who holds the waiting example now; None while it is in the queue
    agreed: str | None  # the example's agreed label now, when it waits for nothing


def label_changed_since(ws: Workspace, *, annotation_id: int) -> ChangedLabel | None:
    """What a taxonomy change made of the label of ``annotation_id`` since it was given; None
    while that label is active. One read: a repeated click asks it before it is answered."""
    with session_scope(ws.db, read_only=True) as session:
        annotation = session.get(Annotation, annotation_id)
        label = None if annotation is None else session.get(Label, annotation.label_id)
        if annotation is None or label is None or label.active:
            return None
        target = session.get(Label, label.mapped_to_id) if label.mapped_to_id else None
        note = taxonomy.stale_label_note(session=session, label=label, advice=False)
        # the split that stopped it: its own, or that of a label it was merged into since
        # (as its example's message reads it: taxonomy.earlier_labels), as called today
        into = taxonomy_repo.parts_now(session=session, label=label) or []
        # the same reading the queue makes: no agreed label is an example sent back to be
        # labeled again (feedback.agreed_label); one that counts is settled, whoever settled it
        rows = feedback.example_annotations(session=session, example_id=annotation.example_id)
        agreed = feedback.agreed_label(rows)
        holder = None
        if agreed is None:
            holder = slack.open_holder(session=session, example_id=annotation.example_id)
        return ChangedLabel(
            note=note,
            counts_as=None if target is None else target.name,
            into=tuple(into),
            waits=agreed is None,
            holder=holder,
            agreed=agreed,
        )


def _wants_another_opinion(
    session: Session, example_id: int, others: list[feedback.AnnotationRow]
) -> bool:
    request = assignments.multi_label_request(session=session, example_id=example_id)
    if request is None:
        return False
    experts = {a.annotator for a in others if a.source not in assignments.NOT_BLIND}
    return len(experts) < request.k


def _maybe_request_more(session: Session, project: Project, example: Example) -> None:
    share, k, audit_too = multi_label_settings(project.settings)
    assert project.id is not None and example.id is not None
    if k < 2:
        return
    reason = None
    if audit_too and example.audit:
        reason = "audit"
    elif chosen_for_multiple_labeling(project.id, example.id, share=share):
        reason = "sample"
    if reason is not None:
        assignments.request_more_labels(
            session=session, project_id=project.id, example_id=example.id, k=k, reason=reason
        )


def skip(ws: Workspace, *, project: str, example_id: int, annotator: str) -> bool:
    """Pass on an example: it goes back to the pool for others, never to this expert again.
    From a message whose hold lapsed too, while the example is out with nobody and still waits
    for their label (a late label there is taken as well); StaleActionError once it went on.

    False when it was skipped already: the same Skip delivered twice (a double click, one
    delivery answered by two replicas) is done once, and the repeat has nothing more to do.
    """
    return _close(ws, project=project, example_id=example_id, annotator=annotator, status="skipped")


def release(ws: Workspace, *, project: str, example_id: int, annotator: str) -> bool:
    """Give an example back to the pool unanswered (the expert stopped labeling); False when
    it was released already (see ``skip``)."""
    return _close(
        ws, project=project, example_id=example_id, annotator=annotator, status="released"
    )


def _close(ws: Workspace, *, project: str, example_id: int, annotator: str, status: str) -> bool:
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        held = assignments.get_assignment(
            session=session, project_id=found.id, example_id=example_id, annotator=annotator
        )
        if held is not None and held.id is not None:
            if assignments.close_assignment(session=session, assignment_id=held.id, status=status):
                return True
            # Closed meanwhile (or before): read again, as stored now. Closed the same way,
            # it is this action again, racing or repeated; otherwise it was answered or lapsed.
            held = assignments.get_assignment(
                session=session, project_id=found.id, example_id=example_id, annotator=annotator
            )
            if held is not None and held.status == status:
                return False
        if status == "skipped" and held is not None and held.status == "expired":
            # Skip on a message whose hold lapsed, the example out with nobody: a Skip all the
            # same ("it never comes back to you"), as a late label there is a label
            if assignments.skip_lapsed(
                session=session, project_id=found.id, example_id=example_id, annotator=annotator
            ):
                # a skip the proposals' remembered counts cannot see (no new row, none closed)
                proposals_repo.forget_watermark(session=session, project_id=found.id)
                return True
            held = assignments.get_assignment(
                session=session, project_id=found.id, example_id=example_id, annotator=annotator
            )
            if held is not None and held.status == status:
                return False
        raise StaleActionError("this example is no longer assigned to you")


NOT_SENT_TO_YOU = (
    "this message is another expert's: only the expert it was sent to can use its buttons"
)


class NotSentToYou(StaleActionError):
    """A click on a message that was not sent to the clicker (:data:`NOT_SENT_TO_YOU`): a copied
    or made-up one, naming another expert's DM or a channel message. Nothing may be written
    over that message, nor anything else done for the click."""

    def __init__(self) -> None:
        super().__init__(NOT_SENT_TO_YOU)


def check_clicked_by_owner(ws: Workspace, *, example_id: int, annotator: str, channel: str) -> None:
    """Refuse (:class:`NotSentToYou`) a label or Skip click on ``example_id``'s message in
    ``channel`` when the example was never sent to ``annotator``, or was sent to them in
    another conversation (:func:`sent_elsewhere`). Unlike
    :func:`check_sent_to`, a delivery whose conversation is not recorded yet passes: those
    clicks store what they answer and a click may land before the post's channel is saved."""
    with session_scope(ws.db, read_only=True) as session:
        if sent_elsewhere(session, example_id=example_id, annotator=annotator, channel=channel):
            raise NotSentToYou()


def sent_elsewhere(session: Session, *, example_id: int, annotator: str, channel: str) -> bool:
    """Whether a click by ``annotator`` on ``example_id``'s message in ``channel`` is on a
    message that was not sent to them: they were never assigned the example, or their latest
    assignment of it was delivered in another conversation. A delivery whose conversation is
    not recorded yet counts as theirs: a click can land before the post's channel is saved,
    and a post whose recording failed still went to them."""
    mine = latest_assignment(session, example_id=example_id, annotator=annotator)
    return mine is None or (mine.channel is not None and mine.channel != channel)


def check_sent_to(ws: Workspace, *, example_id: int, annotator: str, channel: str | None) -> None:
    """Refuse (:class:`NotSentToYou`) a click on ``example_id``'s message in ``channel`` (None:
    no message named) unless the example was sent to ``annotator`` there: their latest
    assignment of it (a labeling message or a review) was delivered in that conversation,
    their DM. The clicker's own assignment is looked up as Skip looks it up
    (``_close``): a click copied or made up by someone else names the owner's DM, where a
    Discuss would write its note and a flag "Flagged by …" over the owner's message."""
    with session_scope(ws.db, read_only=True) as session:
        held = latest_assignment(session, example_id=example_id, annotator=annotator)
        if channel is None or held is None or held.channel != channel:
            raise NotSentToYou()


def undo(
    ws: Workspace, *, annotation_id: int, annotator: str, now: datetime | None = None
) -> int | None:
    """Retract a label within the undo window; returns the example id (back in the pool).

    None when the same undo, delivered twice at once, retracted it a moment ago: only one of
    the two offers the example again. (An undo of a label undone before raises.)
    """
    with session_scope(ws.db) as session:
        undone = _retract(session, annotation_id=annotation_id, annotator=annotator, now=now)
        return None if undone is None else undone.id


@dataclass(frozen=True)
class Relabel:
    """An undone label whose example is offered to its expert again: ``assignment_id`` holds
    it for them meanwhile; None when it is out with another expert (a second opinion)."""

    example_id: int
    assignment_id: int | None


def undo_to_relabel(
    ws: Workspace, *, annotation_id: int, annotator: str, now: datetime | None = None
) -> Relabel | None:
    """``undo``, and hold the example for the expert who undid it, in the same transaction: it
    is offered to them again (Slack's Undo posts it anew), and back in the pool it could be sent
    to someone else meanwhile, whose label would then refuse theirs. None as for ``undo``."""
    now = now or utcnow()
    with session_scope(ws.db) as session:
        undone = _retract(session, annotation_id=annotation_id, annotator=annotator, now=now)
        if undone is None:
            return None
        assert undone.id is not None
        held = assignments.hold_again(
            session=session,
            project_id=undone.project_id,
            example_id=undone.id,
            annotator=annotator,
            ttl=timedelta(minutes=ws.settings.assignment_ttl_minutes),
            now=now,
        )
        return Relabel(undone.id, None if held is None else held.id)


class UndoClosed(StaleActionError):
    """An undo refused for good, however soon it is tried again: its window passed, or the
    example was settled over the votes since (an adjudication, or a reviewer's change that
    carried the vote)."""


def _retract(
    session: Session, *, annotation_id: int, annotator: str, now: datetime | None
) -> Example | None:
    """Retract the annotation (see ``undo``); its example, or None when it was retracted by a
    racing twin of this undo a moment ago."""
    now = now or utcnow()
    annotation = session.get(Annotation, annotation_id)
    if annotation is None:
        raise StaleActionError("that label no longer exists")
    # The example's votes take turns with an adjudication and a reviewer's change (as with
    # another vote): each holds this lock from before it reads the votes until it commits, so an
    # Undo racing one waits for it and reads its verdict (then refused below), or is read by it.
    # In the order they take them (the project row, then the votes): no deadlock between them.
    live = annotation.retracted_at is None
    example = examples.get_example(session=session, example_id=annotation.example_id)
    feedback.lock_for_vote(session=session, project_id=example.project_id)
    feedback.lock_votes(session=session, example_id=annotation.example_id)
    annotation = session.get(Annotation, annotation_id, populate_existing=True)
    if annotation is None:
        raise StaleActionError("that label no longer exists")
    if annotation.retracted_at is not None and live and annotation.annotator == annotator:
        return None  # by its twin, which held the lock: it offers the example again
    if annotation.retracted_at is not None:
        raise StaleActionError("that label was already undone")
    if now > annotation.created_at + UNDO_WINDOW:
        minutes = int(UNDO_WINDOW.total_seconds() // 60)
        raise UndoClosed(f"undo is only possible for {minutes} minutes after labeling")
    refused = _settled_since(session, annotation)
    if refused is not None:
        raise UndoClosed(refused)
    if not feedback.retract_annotation(
        session=session, annotation_id=annotation_id, annotator=annotator
    ):
        return None
    return examples.get_example(session=session, example_id=annotation.example_id)


def _settled_since(session: Session, annotation: Annotation) -> str | None:
    """Why the Undo of ``annotation`` is refused for good, or None: the example was settled
    over it since it was given (an adjudication, or a reviewer's change that carried the vote)."""
    if annotation.source == feedback.ADJUDICATION:
        return None
    from engine import consensus  # it imports this module

    annotation_id = int(annotation.id or 0)
    rows = feedback.example_annotations(session=session, example_id=annotation.example_id)
    # Only a verdict given since this label (a later id: stored after it, the example's votes
    # taking turns) refuses its Undo: a label given after the example was settled (a third
    # expert the queue still asked) was no part of what the verdict decided.
    settled = [
        r for r in rows
        if r.source == feedback.ADJUDICATION and r.id > annotation_id and r.current is not None
    ]  # fmt: skip
    if settled:  # the admin decided over the votes: taking one back changes nothing
        return (
            f"this example was settled as {settled[-1].label!r} since your label: your label "
            "stays part of its record"
        )
    # a reviewer's change that carried the vote settled the disagreement as an adjudication
    # does (its thread drawn settled): taking a vote back would reopen it, or leave the experts
    # agreeing and the verdict undone. One that did not carry it settled nothing.
    review = consensus.settling_review(rows)
    if review is not None and review.id > annotation_id:
        return (
            f"this example was settled as {review.current!r} in a mislabel review since your "
            "label: your label stays part of its record"
        )
    return None


def undo_refused_for_good(ws: Workspace, *, annotation_id: int) -> bool:
    """Whether the Undo of annotation ``annotation_id`` is refused whatever its window says:
    the example was settled over it since (read only; a message drawn again leaves its Undo
    out then, as :func:`undo` would refuse it)."""
    with session_scope(ws.db, read_only=True) as session:
        annotation = session.get(Annotation, annotation_id)
        return annotation is not None and _settled_since(session, annotation) is not None


@dataclass(frozen=True)
class Flagged:
    """A flag stored (``created``), or found open already: the same expert's flag of the same
    example for the same reason, submitted again (a form sent twice, one submission answered by
    two replicas), which stores nothing more."""

    flag_id: int
    created: bool
    # other experts' deliveries of the example the flag let go of (it left everyone's queue):
    # their messages, if on screen, lose their buttons
    taken_from: tuple[Settled, ...] = ()


def flag(ws: Workspace, *, project: str, example_id: int, annotator: str, reason: str) -> Flagged:
    """Set an example aside with a reason; it leaves the queue until the flag is resolved."""
    if not reason.strip():
        raise InvalidInputError("a flag needs a reason")
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        # the expert's requests take turns (as deliveries do): a repeat finds the first's flag
        assignments.hold_annotator(session=session, project_id=found.id, annotator=annotator)
        stored = next(
            (
                f
                for f in flags.open_flags_of(session=session, example_id=example_id)
                if f.annotator == annotator and f.reason == reason.strip()
            ),
            None,
        )
        created = stored or flags.add_flag(
            session=session, example_id=example_id, annotator=annotator, reason=reason
        )
        # out of everyone's queue: the flagger's delivery and any other expert's (theirs lapsed
        # and went on, say) are let go of
        released = assignments.release_example(session=session, example_id=example_id)
        # and out of the review queue: a reviewer's delivery of a review of it too
        released += reviews.release_reviews_of(session=session, example_id=example_id)
        taken_from = tuple(
            Settled(a.annotator, str(a.channel), str(a.message_ts))
            for a in released
            if a.annotator != annotator and a.channel and a.message_ts
        )
        assert created.id is not None
        return Flagged(created.id, created=stored is None, taken_from=taken_from)


def comment(
    ws: Workspace, *, example_id: int, author: str, text: str, external_key: str | None = None
) -> bool:
    """Store a comment on an example (once per external key); True if it was new."""
    with session_scope(ws.db) as session:
        examples.get_example(session=session, example_id=example_id)
        _, created = feedback.add_comment(
            session=session,
            example_id=example_id,
            author=author,
            text=text,
            external_key=external_key,
        )
        return created


def start_batch(ws: Workspace, *, project: str, user: str, size: int) -> None:
    """Start ``user``'s batch of ``size`` answers ("Label 5 now"); a running one restarts."""
    if size < 1:
        raise InvalidInputError(f"a batch needs at least one example, not {size}")
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        batches.start_batch(session=session, project_id=found.id, user_id=user, size=size)


def end_batch(ws: Workspace, *, project: str, user: str) -> None:
    """Drop ``user``'s running batch, if any: a plain `/label` goes on until the queue is empty."""
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        batches.end_batch(session=session, project_id=found.id, user_id=user)


def give_back_batch_answer(ws: Workspace, *, project: str, user: str, annotation_id: int) -> bool:
    """The answer ``annotation_id`` undone: its place in ``user``'s running batch is open again
    and it leaves the batch's tally, whether it agreed with the model's view (today's: one
    trained within the undo window may differ from the one it was given under) or not; the
    relabel counts in its stead. Nothing once the batch ended: its summary stands, and the
    relabel counts nothing; nothing either for an answer given before the batch started (the
    previous batch's, undone within its window): it is none of this batch's. True when a place
    was given back."""
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        annotation = session.get(Annotation, annotation_id)
        if annotation is None:
            return False
        return batches.give_back(
            session=session,
            project_id=found.id,
            user_id=user,
            agreed=_agreed_with_model(ws, session, annotation_id=annotation_id),
            given_at=annotation.created_at,
        )


def _agreed_with_model(ws: Workspace, session: Session, *, annotation_id: int) -> bool | None:
    """Whether the annotation's label (what it counts as: a merged label, its target) is the
    model's guess for its example; None without a guess."""
    annotation = session.get(Annotation, annotation_id)
    if annotation is None:
        return None
    guess = _model_guess(ws, session, example_id=annotation.example_id)
    if guess is None:
        return None
    label = session.get(Label, annotation.label_id)
    if label is not None and not label.active and label.mapped_to_id is not None:
        label = session.get(Label, label.mapped_to_id)
    return label is not None and label.name == guess


def count_batch_answer(
    ws: Workspace, *, project: str, user: str, agreed: bool | None = None
) -> BatchCount | None:
    """Count one of ``user``'s answers (``agreed``: with the model's view, None without one)
    in their running batch: what is left and the tally; ``counted`` False when their batch
    ended before it (its summary sent), None when they have none."""
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return batches.count_answer(
            session=session, project_id=found.id, user_id=user, agreed=agreed
        )
