"""How much the experts agree, where they do not, and how the team settles it.

Agreement is measured on **blind** labels only: the examples sent to several experts who each
saw the example without anyone's label (the multi-labeled share: examples with a multi-label
request, engine.labeling), and on those only the experts' own labels. A reviewer's change saw the
label and the model's view, an adjudication settles a disagreement, and an imported label is a
file's, not an expert's: none is an independent opinion, so none is counted (they still count as
labels, see below). Two labels that happen to meet on an example nobody asked twice (a label
given in the queue, then another from a re-imported file or a late click) are not a measurement
either: the second was not asked blind.

A **disagreement** is an example whose experts' latest labels differ: blind labels, plus a
reviewer's change that did not carry the vote (one that did settled it, like an adjudication).
``adjudicate`` settles it with an annotation of
source ``adjudication``: not one more vote but the decision (``feedback.current_labels`` takes
the latest adjudication over any majority), kept in history beside the votes it overruled.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.agreement import measure_agreement
from engine.forecast import counted
from engine.labeling import multi_label_settings
from engine.taxonomy import stale_label_note
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import InvalidInputError, StaleActionError
from storage.models import Label, utcnow
from storage.repositories import assignments, examples, feedback, models, projects, reviews
from storage.repositories import taxonomy as taxonomy_repo
from storage.repositories.feedback import ADJUDICATION, AnnotationRow


@dataclass(frozen=True)
class AgreementReport:
    """Agreement over the examples at least two experts labeled blind (see the module doc)."""

    examples: int
    experts: int
    observed: float | None  # share of agreeing expert pairs
    kappa: float | None  # Cohen's kappa, when exactly two experts labeled
    alpha: float | None  # Krippendorff's alpha (nominal), any number of experts
    per_label: list[dict[str, Any]]
    waiting: int  # examples still waiting for more experts' labels
    share: float  # multi_label_share
    k: int  # multi_label_k
    disagreements: int  # unsettled ones

    @property
    def measure(self) -> str:
        return "kappa" if self.experts == 2 else "alpha"

    @property
    def value(self) -> float | None:
        return self.kappa if self.experts == 2 else self.alpha

    def describe(self) -> str:
        settle = (
            f"; {counted(self.disagreements, 'disagreement')} to settle"
            if self.disagreements
            else ""
        )
        if self.examples == 0:  # an imported label may still disagree with an expert's
            return (
                f"agreement: not measured yet ({self.waiting} "
                f"{'example waits' if self.waiting == 1 else 'examples wait'} for a 2nd expert)"
                + settle
            )
        name = "Cohen's kappa" if self.measure == "kappa" else "Krippendorff's alpha"
        value = "undefined" if self.value is None else f"{self.value:.2f}"
        observed = "" if self.observed is None else f", {self.observed:.0%} of pairs agree"
        by_whom = "both experts" if self.experts == 2 else f"2 or more of {self.experts} experts"
        return (
            f"agreement: {name} {value} over {counted(self.examples, 'example')} labeled blind "
            f"by {by_whom}{observed}; {counted(self.disagreements, 'disagreement')} to settle"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "experts": self.experts,
            "observed": self.observed,
            "kappa": self.kappa,
            "alpha": self.alpha,
            "measure": self.measure,
            "value": self.value,
            "per_label": self.per_label,
            "waiting": self.waiting,
            "multi_label_share": self.share,
            "multi_label_k": self.k,
            "disagreements": self.disagreements,
        }


def agreement_report(
    ws: Workspace, project: str, *, rows: list[AnnotationRow] | None = None
) -> AgreementReport:
    """Cohen's kappa (two experts) or Krippendorff's alpha (more), overall and per label.
    ``rows``: the project's live annotations (feedback.list_annotations), when the caller has
    read them already (App Home reads them once for all its figures)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        if rows is None:
            rows = feedback.list_annotations(session=session, project_id=found.id)
        waiting = assignments.count_waiting_for_opinions(session=session, project_id=found.id)
        blind: dict[int, list[AnnotationRow]] = defaultdict(list)
        for row in rows:
            if row.current is not None and row.source not in assignments.NOT_BLIND:
                blind[row.example_id].append(row)
        # Only the examples asked of several experts (a request): elsewhere a second label
        # was not asked blind.
        requested = assignments.requested_examples(session=session, project_id=found.id)
        paired = {
            example_id: votes
            for example_id, votes in blind.items()
            if len({r.annotator for r in votes}) >= 2 and example_id in requested
        }
    share, k, _ = multi_label_settings(found.settings)
    triples = [
        (example_id, r.annotator, r.current) for example_id, votes in paired.items() for r in votes
    ]
    result = measure_agreement(triples)
    return AgreementReport(
        examples=result.items,
        experts=result.raters,
        observed=result.observed,
        kappa=result.kappa,
        alpha=result.alpha,
        per_label=[
            {
                "label": str(la.label),
                "n": la.n,
                "specific_agreement": la.specific_agreement,
                "kappa": la.kappa,
                "alpha": la.alpha,
            }
            for la in result.per_label
        ],
        waiting=waiting,
        share=share,
        k=k,
        disagreements=len(_disagreeing(rows, include_settled=False)),
    )


@dataclass(frozen=True)
class Vote:
    annotator: str
    label: str
    source: str
    at: datetime
    # the label clicked, under its name today (a rename follows; a label merged, split or
    # retired since keeps its own name): ``label`` is what that counts as now
    chosen: str | None = None
    annotation_id: int | None = None  # the stored annotation (an adjudication's: which one)


@dataclass(frozen=True)
class Disagreement:
    """An example whose experts chose different labels, for the team to settle."""

    example_id: int
    text: str
    votes: list[Vote]  # each expert's latest label, oldest first
    agreed: str | None  # what counts now (majority, or the adjudication)
    model: tuple[str, float] | None  # the active model's label and confidence
    adjudicated: Vote | None = None  # what settled it: an adjudication or a review that carried
    involved: list[str] = field(default_factory=list)  # everyone to mention
    external_id: str | None = None  # the id the example was imported with (its export `id`)

    def to_dict(self) -> dict[str, Any]:
        return {
            "example_id": self.example_id,
            "external_id": self.external_id,
            "text": self.text,
            "votes": [
                {"annotator": v.annotator, "label": v.label, "source": v.source} for v in self.votes
            ],
            "agreed": self.agreed,
            "model": None
            if self.model is None
            else {"label": self.model[0], "confidence": self.model[1]},
            "adjudicated": None
            if self.adjudicated is None
            else {"by": self.adjudicated.annotator, "label": self.adjudicated.label},
            "involved": self.involved,
        }


def _disagreeing(
    rows: list[AnnotationRow], *, include_settled: bool, settled_only: bool = False
) -> dict[int, tuple[list[AnnotationRow], AnnotationRow | None]]:
    """example id -> (the experts' latest votes, the latest adjudication) where they differ.
    ``settled_only``: the settled examples instead, whether or not their votes differ today
    (a merge since may have made them agree): what a settled thread's root shows."""
    by_example: dict[int, list[AnnotationRow]] = defaultdict(list)
    for row in rows:
        by_example[row.example_id].append(row)
    out: dict[int, tuple[list[AnnotationRow], AnnotationRow | None]] = {}
    for example_id, every in by_example.items():
        # A vote for a label split or retired since (current None) still disagrees with the
        # label the example counts as, until someone labels it again (feedback.deciding_votes):
        # the change did not answer the question ("A or B?" after A was split is "A1, A2 or
        # B?"). An example waiting to be labeled again has no label to disagree with: the
        # queue settles it, and only the votes that count can differ there.
        waiting = feedback.agreed_label(every) is None
        votes = [r for r in feedback.deciding_votes(every) if r.current is not None or not waiting]
        agreed = feedback.agreed_label(votes)
        # an adjudication, or a reviewer's change that carried the vote, settled the question
        deciding = [
            r
            for r in votes
            if r.source == ADJUDICATION
            or (r.source == "review" and r.current is not None and r.current == agreed)
        ]
        latest: dict[str, AnnotationRow] = {}
        for row in votes:
            if row in deciding:
                continue
            latest.pop(row.annotator, None)
            latest[row.annotator] = row
        if settled_only:
            if deciding:
                out[example_id] = (list(latest.values()), deciding[-1])
            continue
        if len({r.current for r in latest.values()}) < 2:
            continue
        if deciding and not include_settled:
            continue
        out[example_id] = (list(latest.values()), deciding[-1] if deciding else None)
    return out


def open_disagreements(rows: list[AnnotationRow]) -> set[int]:
    """The ids of the examples among ``rows`` (live annotations) whose experts' latest votes
    differ and that nothing settled: what :func:`disagreements` lists (an export's
    ``disputed``)."""
    return set(_disagreeing(rows, include_settled=False))


def settling_review(rows: list[AnnotationRow]) -> AnnotationRow | None:
    """The reviewer's change among ``rows`` (one example's live annotations, oldest first) that
    settles its experts' disagreement by carrying the vote, if one does (their votes differ,
    and the change decides them as an adjudication would): its thread is drawn settled, and
    engine.labeling refuses the voters' Undo as after an adjudication. None for a change that
    did not carry the vote, and for one deciding a single vote left (no disagreement)."""
    for _, decision in _disagreeing(rows, include_settled=True).values():
        if decision is not None and decision.source == "review":
            return decision
    return None


def disagreements(
    ws: Workspace, project: str, *, include_settled: bool = False, example_id: int | None = None
) -> list[Disagreement]:
    """Examples whose experts chose different labels (unsettled ones, or all), oldest first;
    only ``example_id``'s when given (what a click needs: one example's annotations, not the
    project's)."""
    return _described(ws, project, example_id=example_id, include_settled=include_settled)


def settlements(
    ws: Workspace, project: str, *, example_id: int | None = None
) -> dict[int, Disagreement]:
    """The project's settled disagreements by example id (only ``example_id``'s when given):
    each example an adjudication, or a reviewer's change that carried the vote, still decides,
    whether or not its experts' votes differ today. :func:`disagreements` lists only those
    whose votes differ: a merge of the two labels since makes the votes agree, and the example
    drops out of it, but it was settled all the same (its thread says by whom, and as what:
    ``adjudicated``, named as it counts today). A verdict for a label split or retired since
    no longer decides (the example waits to be labeled again): not listed."""
    found = _described(ws, project, example_id=example_id, settled_only=True)
    return {d.example_id: d for d in found}


@dataclass(frozen=True)
class Standing:
    """An example's disagreement as its annotations say it, without its text or the model's
    view (no read per example): what a dispute round compares with what it drew, describing
    (:func:`disagreements`, :func:`settlements`) only the examples it draws."""

    example_id: int
    votes: list[Vote]  # as in its Disagreement
    adjudicated: Vote | None  # what settled it, if anything does
    differ: bool  # its experts' votes differ today (listed by disagreements(include_settled))


def standings(
    ws: Workspace, project: str, *, names_of: Iterable[int] = ()
) -> tuple[dict[int, Standing], dict[int, set[str]]]:
    """The project's disagreements, settled or not, and its settlements whose votes agree
    today (:func:`settlements`), by example id, in one read of its annotations; and for each
    of ``names_of`` (example ids), every label name its live annotations show, as clicked and
    as they count (what a thread's root may show)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        rows = feedback.list_annotations(session=session, project_id=found.id)
    out = {
        example_id: Standing(example_id, [_vote(r) for r in votes],
                             _vote(decision) if decision is not None else None, True)
        for example_id, (votes, decision) in _disagreeing(rows, include_settled=True).items()
    }  # fmt: skip
    for example_id, (votes, decision) in _disagreeing(
        rows, include_settled=True, settled_only=True
    ).items():
        if example_id not in out:
            out[example_id] = Standing(example_id, [_vote(r) for r in votes],
                                       _vote(decision) if decision is not None else None,
                                       False)  # fmt: skip
    wanted = set(names_of)
    names: dict[int, set[str]] = {e: set() for e in wanted}
    for row in rows:
        if row.example_id in wanted:
            names[row.example_id].update(n for n in (row.label, row.current) if n is not None)
    return out, names


@dataclass(frozen=True)
class TaxonomyChanges:
    """What taxonomy changes (those a redraw of the project's threads covers) may have done to
    the experts' votes: :func:`taxonomy_changes`."""

    regroups: bool  # a merge, split or retire (or its undo): votes may now agree, or differ
    names: frozenset[str]  # every label name they mention (an undo's: the undone change's too)


def taxonomy_changes(ws: Workspace, project: str, *, after: int | None = None) -> TaxonomyChanges:
    """The project's taxonomy changes a redraw covers, in one read of its changes: with
    ``after`` None, the latest one (a redraw just after the change it made); with an id, every
    change made after that one (what a process's redraws have not covered yet: several CLI
    changes between two of its rounds, or made while it was down; 0 for a redraw that does not
    know which it covered last, which takes every change the project had).

    ``regroups``: whether one of them may have changed which labels count as one (a merge,
    split or retire may make experts' votes agree or differ; a rename, an added label or a
    description does not). ``names``: every name they mention, the labels they may have
    renamed, merged, split or retired; a settled thread is redrawn after a change only when it
    shows one of them, so a change does not rewrite every settled thread of the project's
    history (one chat.update each)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        events = taxonomy_repo.list_events(session=session, project_id=found.id)
    covered = events[-1:] if after is None else [e for e in events if int(e.id or 0) > after]
    by_id = {e.id: e for e in events}
    regroups = False
    mentioned: list[Any] = []
    for event in covered:
        kind = event.kind
        mentioned.append(event.details)
        if kind == "undo":
            undone = by_id.get(int(event.details.get("event_id", 0)))
            kind = "undo" if undone is None else undone.kind  # unknown: it may have regrouped
            if undone is not None:
                mentioned.append(undone.details)
        regroups = regroups or kind not in ("rename", "add", "describe")
    names: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, str):
            names.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(mentioned)
    return TaxonomyChanges(regroups, frozenset(names))


def last_change(ws: Workspace, project: str) -> int:
    """The id of the project's latest taxonomy change (0: none yet): what a redraw that covers
    the changes made until now passes as ``after`` to :func:`taxonomy_changes` next time."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return taxonomy_repo.newest_event_id(session=session, project_id=found.id)


def _described(
    ws: Workspace,
    project: str,
    *,
    example_id: int | None,
    include_settled: bool = False,
    settled_only: bool = False,
) -> list[Disagreement]:
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        if example_id is None:
            rows = feedback.list_annotations(session=session, project_id=found.id)
        elif examples.get_example(session=session, example_id=example_id).project_id != found.id:
            return []
        else:
            rows = feedback.example_annotations(session=session, example_id=example_id)
        by_example: dict[int, list[AnnotationRow]] = defaultdict(list)
        for row in rows:
            by_example[row.example_id].append(row)
        found_ = _disagreeing(rows, include_settled=include_settled, settled_only=settled_only)
        targets: dict[int, str | None] | None = None  # read once, for the first guess
        by_run: dict[int, dict[str, str]] = {}  # and each model's names, for rows without ids
        read = []
        for disputed, (votes, decision) in found_.items():  # by first vote: oldest first
            example = examples.get_example(session=session, example_id=disputed)
            prediction = models.get_prediction(session=session, example_id=disputed)
            if targets is None and prediction is not None and prediction.probs:
                targets = taxonomy_repo.label_targets(session=session, project_id=found.id)
            read.append((disputed, votes, decision, example, prediction))
        views = _model_views(ws, session, [p for *_, p in read], targets, by_run,
                             {d: e.text for d, _, _, e, _ in read})  # fmt: skip
        out = []
        for (disputed, votes, decision, example, _), view in zip(read, views, strict=True):
            everyone = by_example[disputed]
            out.append(
                Disagreement(
                    example_id=disputed,
                    text=example.text,
                    votes=[_vote(r) for r in votes],
                    agreed=feedback.agreed_label(everyone),
                    model=view,
                    adjudicated=_vote(decision) if decision is not None else None,
                    involved=sorted({r.annotator for r in everyone}),
                    external_id=example.external_id,
                )
            )
        return out


def _model_views(
    ws: Workspace,
    session: Any,
    predictions: list[Any],
    targets: dict[int, str | None] | None,
    by_run: dict[int, dict[str, str]],
    texts: dict[int, str],
) -> list[tuple[str, float] | None]:
    """Each row's active model guess and its confidence, in today's labels (a rename or merge
    since the row was written, before the queue's re-score), as export, predict and the
    labeling message read it (engine.predicting.named_all_as_rescored: a merged label beyond a
    row's stored classes is scored live, as the re-score will; the listing's such rows in one
    model call)."""
    from engine.predicting import named_all_as_rescored

    shown = [p for p in predictions if p is not None and p.label is not None and p.probs]
    tops = named_all_as_rescored(ws, session, shown, targets=targets, by_run=by_run, texts=texts)
    top_of = {id(p): top for p, top in zip(shown, tops, strict=True)}
    out: list[tuple[str, float] | None] = []
    for prediction in predictions:
        if prediction is None or prediction.label is None:
            out.append(None)
        elif top_of.get(id(prediction)):
            out.append(top_of[id(prediction)][0])
        else:
            out.append((prediction.label, float(prediction.confidence or 0.0)))
    return out


def _vote(row: AnnotationRow) -> Vote:
    return Vote(row.annotator, row.current or row.label, row.source, row.created_at, row.label,
                annotation_id=row.id)  # fmt: skip


@dataclass(frozen=True)
class Adjudication:
    example_id: int
    label: str
    actor: str
    previous: str | None  # the agreed label before
    annotation_id: int
    created: bool  # False when the same key was already stored


def adjudicate(
    ws: Workspace,
    *,
    project: str,
    example_id: int,
    label: str | int,
    actor: str,
    key: str | None = None,
    now: datetime | None = None,
) -> Adjudication:
    """Settle an example's label: stored as an ``adjudication`` annotation by ``actor`` that
    decides the agreed label (module doc); open reviews of the example are dismissed."""
    now = now or utcnow()
    with session_scope(ws.db) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        example = examples.get_example(session=session, example_id=example_id)
        if example.project_id != found.id:
            raise InvalidInputError(f"example {example_id} is not in project {project!r}")
        # as a label click does (engine.labeling.submit_label): a split or retire in flight
        # finishes first and this reads the label as changed (a Settle racing a split of its
        # label was stored under a label counting as nothing, and told "settled"), and a vote
        # on the example at the same moment takes its turn (``before`` is then the one replaced)
        feedback.lock_for_vote(session=session, project_id=found.id)
        feedback.lock_votes(session=session, example_id=example_id)
        chosen = taxonomy_repo.get_clicked_label(session=session, project_id=found.id, name=label)
        if not chosen.active:
            target = session.get(Label, chosen.mapped_to_id) if chosen.mapped_to_id else None
            if target is None:  # where its examples went, and what to pick instead
                raise StaleActionError(
                    stale_label_note(session=session, label=chosen,
                                     clicked=label if isinstance(label, str) else None)
                )  # fmt: skip
            chosen = target
        before = feedback.agreed_label(
            feedback.example_annotations(session=session, example_id=example_id)
        )
        stored, created = feedback.add_annotation(
            session=session,
            example_id=example_id,
            label_id=int(chosen.id or 0),
            annotator=actor,
            source=ADJUDICATION,
            key=key or f"adjudication:{example_id}:{uuid.uuid4().hex}",
            created_at=now,
        )
        for review in reviews.list_reviews(session=session, project_id=found.id, status="open"):
            if review.example_id == example_id:
                reviews.decide_review(
                    session=session,
                    review_id=int(review.id or 0),
                    status="dismissed",
                    reviewer=actor,
                    outcome_label_id=chosen.id,
                    now=now,
                )
        return Adjudication(
            example_id=example_id,
            label=chosen.name,
            actor=actor,
            previous=before,
            annotation_id=int(stored.id or 0),
            created=created,
        )
