"""Digests: where a project stands, for the team's channel (and `labelbot digest`).

Labels since the last digest and by whom, the model's estimated accuracy with its interval and its
change, the weakest classes, the learning-curve forecast and the stop signal, open flags and
discussions — plus a chart. The engine builds the figures; the bot turns them into Block Kit.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import textwrap
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine import proposing, rhythm, taxonomy
from engine.charts import chart_names, fit_fonts
from engine.consensus import AgreementReport, agreement_report
from engine.evaluation import (
    QUEUE_BIAS,
    PerClassF1,
    in_use,
    names_today,
    per_class_f1,
    queue_chose_labels,
    waiting_note,
)
from engine.forecast import (
    MIN_AUDIT_LABELS,
    MIN_POINTS,
    Forecast,
    StopAdvice,
    counted,
    fit_learning_curve,
    stop_signal,
)
from engine.reviews import review_counts
from engine.text import shorten_middle
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import ModelRun, Project, as_utc, utcnow
from storage.repositories import feedback, flags, models, projects, proposals
from storage.repositories import taxonomy as tax_repo

log = logging.getLogger(__name__)
# storage's (sqlmodel) Session, passed through untouched: only storage imports sqlmodel.
Session = Any

WEAKEST = 5  # classes listed as weakest (only those under the project's target)
TOP_PROPOSALS = 3  # taxonomy proposals quoted (the rest are counted)
DEFAULT_TARGET = 0.9  # accuracy a project aims for unless it sets `target_accuracy`
# what the curve's and the forecast's label counts are: a model's training labels
LABELS_AXIS = "training labels (audit labels held out)"
PREVIOUS = "the previous model"  # what an accuracy change is measured from, as a rule


@dataclass(frozen=True)
class CurvePoint:
    labels: int  # the model's training labels (audit labels are held out of training)
    accuracy: float
    low: float | None
    high: float | None
    source: str  # "audit" (unbiased) or "cv" (cross-validated on labels the strategy chose)
    # trained before the latest taxonomy change: it measured other classes (not in the forecast)
    before_change: bool = False
    measured_on: int | None = None  # audit labels the estimate rests on ("audit" points)


# where the last digest sent stopped counting labels (its generated_at): the next one starts there
COUNTED_UNTIL = "digest_counted_until"
# a digest on its way to the channel (:class:`Posting`): noted before it is posted, cleared when
# it is marked sent. One still there was cut short in between (SIGKILL, a lost host): whether it
# was posted is in the channel's history, not here
POSTING = "digest_posting"


@dataclass(frozen=True)
class Posting:
    """A digest post tried and not yet marked sent: the channel, the delivery key its message
    carries in its metadata (found again by it in the channel's history), when it was first
    tried (Unix seconds) and up to when the digest counted labels."""

    channel: str
    key: str
    first_try: float
    counted_until: datetime | None = None

    def as_setting(self) -> dict[str, Any]:
        until = self.counted_until.isoformat() if self.counted_until is not None else None
        return {"channel": self.channel, "key": self.key, "first_try": self.first_try,
                "counted_until": until}  # fmt: skip

    @classmethod
    def from_setting(cls, value: object) -> Posting | None:
        """The posting a project's :data:`POSTING` setting notes; None for none (or one this
        code cannot read: it is posted again, as before postings were noted)."""
        if not isinstance(value, dict):
            return None
        channel, key, first = value.get("channel"), value.get("key"), value.get("first_try")
        if not (isinstance(channel, str) and isinstance(key, str)):
            return None
        if not isinstance(first, int | float) or isinstance(first, bool):
            return None
        until = value.get("counted_until")
        try:
            counted = datetime.fromisoformat(until) if isinstance(until, str) else None
        except ValueError:
            counted = None
        return cls(channel, key, float(first), counted)


def note_posting(ws: Workspace, name: str, posting: Posting) -> None:
    """Note that ``posting`` is about to be posted (committed before the post): a process killed
    after the post and before :func:`mark_sent` leaves it, and the next try looks for the
    message in the channel before posting the digest again."""
    with session_scope(ws.db) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        projects.update_project_settings(
            session=session, project_id=project.id, **{POSTING: posting.as_setting()}
        )


def unfinished_posting(ws: Workspace, name: str) -> Posting | None:
    """The digest post of ``name`` tried and never marked sent, if any (:func:`note_posting`)."""
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        return Posting.from_setting(project.settings.get(POSTING))


@dataclass
class Digest:
    project: str
    channel: str | None
    since: datetime | None
    labels_since: int
    by_annotator: list[tuple[str, int]]
    total_labels: int
    model_version: int | None
    accuracy: CurvePoint | None
    accuracy_change: float | None
    weakest: list[tuple[str, float, int]]  # (label, F1, support), only classes under target
    per_class_f1: dict[str, float]
    curve: list[CurvePoint]  # each model's headline point: audit when measured, else CV
    forecast: Forecast
    target: float
    stop: StopAdvice
    open_flags: int
    open_discussions: int
    generated_at: datetime = field(default_factory=utcnow)
    # taxonomy changes the model proposes, waiting for an admin: the confirmed ones, as the
    # channel gets them (engine.proposing.confirmed); one a single refresh found waits
    open_proposals: int = 0
    top_proposals: list[str] = field(default_factory=list)  # the strongest ones' messages
    top_proposal_ids: list[int] = field(default_factory=list)  # and their ids
    agreement: AgreementReport | None = None  # expert agreement on multi-labeled examples
    open_reviews: int = 0  # likely mislabels waiting for a second expert
    per_class_source: str = "cv"  # "audit" or "cv": what per_class_f1 and weakest are
    cv_curve: list[CurvePoint] = field(default_factory=list)  # every model's CV accuracy
    forecast_basis: str = ""  # the one kind of point the forecast is fit to: "audit" or "cv"
    # label count between the last model before the latest taxonomy change and the first after
    taxonomy_change_at: float | None = None
    # whether the queue chose most of the active model's training labels
    # (evaluation.queue_chose_labels, `labelbot status --json`'s "biased"): only then is a
    # cross-validated figure said to read low; imported labels were chosen by no queue
    queue_chosen: bool = True
    # the active model was trained before the latest taxonomy change: its accuracy and F1
    # measured the classes as they were (as `labelbot status` says, `before_taxonomy_change`)
    model_before_change: bool = False
    model_pinned: bool = False  # the active version is pinned: newer ones are kept, not used
    # examples with an agreed label (`labelbot status`'s "labeled"); total_labels counts votes
    # (adjudications left out, as in labels_since)
    labeled_examples: int = 0
    # the model ``accuracy_change`` is measured from: "the previous model", or "v4" when the
    # audit comparison is with the model active when this one was trained, not the one before
    change_from: str = PREVIOUS
    # "2 more audit labels were waiting to be relabeled when this model was trained, …: not
    # measured" (evaluation.waiting_note): the active model's audit score left them out (their
    # label was split or retired); "" if none
    audit_waiting: str = ""
    # the labelers of ``by_annotator`` who ran `/label leaderboard off`: counted, never named
    unnamed: frozenset[str] = frozenset()

    def named_labelers(self) -> list[tuple[str, int]]:
        """``by_annotator`` without those off the leaderboard."""
        return [(who, n) for who, n in self.by_annotator if who not in self.unnamed]

    def unnamed_labels(self) -> int:
        """The new labels of those off the leaderboard, counted together."""
        return sum(n for who, n in self.by_annotator if who in self.unnamed)

    def _cv(self, what: str) -> str:
        """``what`` (a cross-validated score), with the queue's caveat when it applies."""
        return f"{what} ({QUEUE_BIAS})" if self.queue_chosen else what

    def weakest_title(self) -> str:
        """What the weakest list ranks, and by which score."""
        if self.per_class_source == "audit":
            how = "F1 on the audit set"
        else:
            how = self._cv("cross-validated F1")
        return f"Weakest classes, under the {self.target:.0%} target by {how}"

    def f1_figure(self, f1: float) -> str:
        """A weak class's F1 as the weakest list writes it: two decimals, or three cut short
        where two would round up to the target it is listed as under ("0.899", not "0.90"
        under a 90% target)."""
        shown = f"{f1:.2f}"
        if float(shown) < self.target:
            return shown
        return f"{math.floor(f1 * 1000) / 1000:.3f}"

    def agreement_line(self) -> str:
        """The experts' agreement ("agreement: Cohen's kappa 0.80 over 12 examples …") once
        second opinions exist, or an import disagrees with someone; "" before."""
        said = self.agreement
        if said is None or not (said.examples or said.waiting or said.disagreements):
            return ""
        return said.describe()

    def reviews_line(self) -> str:
        """How many likely mislabels wait for a second expert; "" when none do."""
        if not self.open_reviews:
            return ""
        waits = "waits" if self.open_reviews == 1 else "wait"
        return f"{counted(self.open_reviews, 'likely mislabel')} {waits} for a second look"

    def chart_classes(self) -> list[tuple[str, float]]:
        """(class, F1) of the chart's per-class panel: the weakest ``BARS``, weakest first."""
        return sorted(self.per_class_f1.items(), key=lambda kv: kv[1])[:BARS]

    def chart_key(self) -> dict[str, str]:
        """The chart's stand-ins ("#1" → "請求書") for class names no font on this machine can
        draw (:func:`engine.charts.chart_names`): the message carrying the chart names them.
        Called before the digest is posted, and the chart is optional: a failure to read the
        fonts (a broken font cache) is logged and gives no key, never stops the digest."""
        if all(name.isascii() for name, _ in self.chart_classes()):
            return {}  # matplotlib's own fonts draw ASCII: no font is read
        try:
            return chart_names([name for name, _ in self.chart_classes()])[1]
        except Exception:  # the chart would fail alike, and is logged and left out there too
            log.warning("cannot tell which class names the chart can draw", exc_info=True)
            return {}

    def per_class_title(self) -> str:
        """The chart's per-class panel title."""
        if self.per_class_source == "audit":
            return "per-class F1 on the audit set"
        return "per-class F1, cross-validated" + (" (reads low)" if self.queue_chosen else "")

    def no_per_class(self) -> str:
        """Why there are no per-class scores."""
        if self.model_version is None:
            return "no per-class scores: no model yet"
        return f"no per-class scores: model v{self.model_version} has too few labels per class"

    @property
    def charted(self) -> bool:
        """Whether the chart has something to show: a model, or a learning curve (before the
        first model it is two empty boxes saying so)."""
        return self.model_version is not None or bool(self.curve)

    def no_accuracy(self) -> str:
        """What to say when there is no accuracy to show: no model, or one with too few labels
        to measure (one per class cannot be cross-validated)."""
        if self.model_version is None:
            return "no model yet"
        return f"model v{self.model_version}: accuracy not measurable yet (too few labels)"

    def accuracy_detail(self) -> str:
        """What follows the accuracy figure, in plain words: its interval (when measured on the
        audit set), how it was measured, and its change since the previous model ("+2.0
        points"); "" with no accuracy to show."""
        acc = self.accuracy
        if acc is None:
            return ""
        interval = f"(90% interval {acc.low:.1%}–{acc.high:.1%}) " if acc.low is not None else ""
        on = f" of {acc.measured_on} labels" if acc.measured_on else ""
        how = f"on the audit set{on}" if acc.source == "audit" else self._cv("cross-validated")
        change = (
            f", {points_change(self.accuracy_change)} since {self.change_from}"
            if self.accuracy_change is not None
            else ""
        )
        waiting = f"; {self.audit_waiting}" if self.audit_waiting else ""
        return f"{interval}{how}{change}{waiting}{self.model_notes()}"

    def model_notes(self) -> str:
        """What the active model's figures belong to, when it is not simply the latest: a
        pinned version, one trained before the latest taxonomy change ("" otherwise)."""
        notes = []
        if self.model_pinned:
            notes.append(f"v{self.model_version} is pinned")
        if self.model_before_change:
            notes.append("trained before the latest taxonomy change: it measured the labels as "
                         "they were then")  # fmt: skip
        return "".join(f"; {n}" for n in notes)

    def forecast_line(self) -> str:
        """The forecast toward the target; a latest model that measures the target is there."""
        measured = self.accuracy.accuracy if self.accuracy is not None else None
        return self.forecast.describe(self.target, measured)

    def summary(self) -> list[str]:
        """The digest as plain lines (the terminal view; Slack gets blocks built from the same)."""
        # new labels are votes (a second opinion is one); "labeled" is examples, as in status
        lines = [f"{self.project}: {counted(self.labels_since, 'new label')}" + (
            f" since {self.since:%Y-%m-%d %H:%M} UTC" if self.since else "")
            + f" ({counted(self.labeled_examples, 'example')} labeled in all)"]  # fmt: skip
        named = ", ".join(f"{who} ({n:,})" for who, n in self.named_labelers())
        hidden = self.unnamed_labels()  # as the channel's digest: counted, never named
        if named:
            others = f", {hidden:,} by others off the leaderboard" if hidden else ""
            lines.append(f"by {named}{others}")
        elif hidden:
            lines.append(f"{hidden:,} by people off the leaderboard")
        if self.accuracy is None:
            lines.append(self.no_accuracy())
        else:
            lines.append(
                f"model v{self.model_version}: accuracy {self.accuracy.accuracy:.1%} "
                + self.accuracy_detail()
            )
        if self.weakest:
            lines.append(
                f"{self.weakest_title()}: "
                + ", ".join(f"{lb} (F1 {self.f1_figure(f1)}, n={n})" for lb, f1, n in self.weakest)
            )
        lines.append(self.forecast_line())
        lines.append(self.stop.reason)
        lines.append(
            f"{counted(self.open_flags, 'open flag')}, "
            f"{counted(self.open_discussions, 'open discussion')}"
        )
        if self.open_proposals:
            lines.append(f"{counted(self.open_proposals, 'open taxonomy proposal')}:")
            # with their ids, for `labelbot proposals approve|reject NAME ID` (the channel's
            # digest lists them as `#id` lines too, with no buttons: the buttons are on each
            # proposal's own card)
            ids = self.top_proposal_ids
            with_ids = len(ids) == len(self.top_proposals)
            lines += [
                f"  - #{ids[i]} {m}" if with_ids else f"  - {m}"
                for i, m in enumerate(self.top_proposals)
            ]
            lines.append(
                f"  (`labelbot proposals {self.project}` lists them all; "
                f"`labelbot proposals approve|reject {self.project} ID` decides one)"
            )
        lines += [line for line in (self.agreement_line(), self.reviews_line()) if line]
        key = self.chart_key()
        if key:  # the chart's bars for names no font here draws are "#1", "#2"
            lines.append("chart key: " + " · ".join(f"{i} {name}" for i, name in key.items()))
        return lines


def _point(run: ModelRun, before_change: bool = False) -> CurvePoint | None:
    """A run's headline point: its audit estimate when measured, else cross-validated."""
    audit = run.metrics.get("audit") or {}
    if audit.get("n"):
        return CurvePoint(run.n_labels, float(audit["accuracy"]), float(audit["low"]),
                          float(audit["high"]), "audit", before_change,
                          measured_on=int(audit["n"]))  # fmt: skip
    return _cv_point(run, before_change)


def _accuracy_change(
    active: ModelRun | None,
    current: CurvePoint | None,
    runs: list[ModelRun],
    before: dict[int | None, bool],
) -> tuple[float | None, str]:
    """The active model's accuracy change (and from which model), only where the two scores
    measure the same thing; None otherwise.

    On the audit set: against the score the previously active model got on this model's own
    audit labels when it was trained (``audit_active``, engine.training); the earlier model's
    stored score was on the audit labels of its day, fewer or others, and the difference of two
    samples was no change in the model. Cross-validated: against the latest earlier model's
    cross-validated score, unless the taxonomy changed between them (other classes)."""
    if active is None or current is None:
        return None, PREVIOUS
    earlier = [r for r in runs if r.version < active.version]
    if current.source == "audit":
        same = active.metrics.get("audit_active") or {}
        if same.get("accuracy") is None:
            return None, PREVIOUS
        version = active.metrics.get("audit_active_version")
        prior = earlier[-1].version if earlier else None
        named = PREVIOUS if version is None or version == prior else f"v{version}"
        return current.accuracy - float(same["accuracy"]), named
    for run in reversed(earlier):
        point = _point(run)
        if point is not None and point.source == current.source:
            if not _same_classes(run, active) or before.get(run.id) != before.get(active.id):
                return None, PREVIOUS  # trained on other classes: no change to speak of
            return current.accuracy - point.accuracy, PREVIOUS
    return None, PREVIOUS


def _same_classes(a: ModelRun, b: ModelRun) -> bool:
    """Whether two runs were trained on the same labels (names, and ids where both have them)."""
    ids = a.label_ids is None or b.label_ids is None or list(a.label_ids) == list(b.label_ids)
    return list(a.classes) == list(b.classes) and ids


def _cv_point(run: ModelRun, before_change: bool = False) -> CurvePoint | None:
    if run.metrics.get("accuracy") is None:
        return None
    return CurvePoint(run.n_labels, float(run.metrics["accuracy"]), None, None, "cv", before_change)


def _forecast(
    curve: list[CurvePoint], cv_curve: list[CurvePoint], current: int | None = None
) -> tuple[Forecast, str]:
    """The forecast fit to one kind of point, and which: the audit points when there are
    :data:`MIN_POINTS` since the latest taxonomy change that each rest on
    :data:`MIN_AUDIT_LABELS` audit labels, else the cross-validated ones (CV on the queue's
    picks reads low, and more so early: mixed with audit points it makes the curve look steeper
    than it is). An audit point is scored on the audit labels of its model's day: the first
    rest on a handful, and a few lucky 100%s read as a falling curve. Points from before a
    taxonomy change measured other classes. ``current``: the training labels the labels still
    needed count from (the latest model's)."""
    audit = [
        p
        for p in curve
        if p.source == "audit" and not p.before_change and (p.measured_on or 0) >= MIN_AUDIT_LABELS
    ]
    if len(audit) >= MIN_POINTS:
        basis, kind, points = audit, "audit", "audit-set points"
    else:
        basis, kind = [p for p in cv_curve if not p.before_change], "cv"
        points = "cross-validated points"
    bounded = kind == "audit"
    fc = fit_learning_curve(
        [p.labels for p in basis],
        [p.accuracy for p in basis],
        low=[p.low or 0.0 for p in basis] if bounded else None,
        high=[p.high or 0.0 for p in basis] if bounded else None,
        points=points,
        unit="training labels",
        current=current,
        measured_on=[p.measured_on or 0 for p in basis] if bounded else None,
    )
    scored = [p for p in curve if p.source == "audit" and not p.before_change]
    if kind == "cv" and len(scored) > len(audit):
        # the chart shows audit points the forecast does not read: say why
        fc = dataclasses.replace(fc, message=(
            f"{fc.message} Audit-set points count once a model is scored on {MIN_AUDIT_LABELS} "
            f"audit labels: {len(audit)} so far, {MIN_POINTS} needed."))  # fmt: skip
    earlier = sum(p.before_change for p in cv_curve)
    if not fc.ok and earlier:
        # the models before the change are left out: say so, or "0 models" reads as a bug
        fc = dataclasses.replace(fc, message=(
            f"{fc.message} Not counted: {counted(earlier, 'model')} from before the latest "
            "taxonomy change, which measured other labels."))  # fmt: skip
    return fc, kind


def build_digest(
    ws: Workspace, name: str, *, now: datetime | None = None, labeled: int | None = None
) -> Digest:
    """Gather everything a digest shows for project ``name``. ``labeled``: the examples with
    an agreed label, when the caller has it from ``project_status`` already: it is worked out
    here otherwise, from the annotations read once for every figure."""
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        # The labels since the last digest's cut-off (else the time it was sent: digests sent
        # before the cut-off was kept) up to this digest's, ``generated_at``: a label stored
        # while a digest is built and sent is counted in the next one, not in both
        last = project.settings.get(COUNTED_UNTIL) or project.settings.get("last_digest_at")
        since = datetime.fromisoformat(last) if isinstance(last, str) else None
        moment = now or utcnow()
        # the project's live annotations, read once: the labels given (new and in all), the
        # agreed labels and the experts' agreement all come from them
        rows = feedback.list_annotations(session=session, project_id=project.id)
        counts, total = _labels_given(rows, since=since, until=moment)
        runs, active = _runs(session, project.id)
        open_flags = flags.count_open_flags(session=session, project_id=project.id)
        discussions = feedback.count_open_discussions(session=session, project_id=project.id)
        proposed = [
            p
            for p in proposals.list_proposals(session=session, project_id=project.id)
            if proposing.confirmed(p, moment)
        ]
        active_labels = tax_repo.active_names(session=session, project_id=project.id)
        if labeled is None:
            labeled = len(feedback.agreed_labels(rows))
    model = _model_figures(project, runs, active)
    per_class = PerClassF1("", {}, {})
    if active is not None:
        scores = per_class_f1(active.metrics)
        classes = active.metrics.get("labels") or list(scores.f1)  # the model's class names
        per_class = _today(scores, names_today(ws, name, classes=classes, as_of=active.created_at))
    per_class = in_use(per_class, set(active_labels))
    return Digest(
        project=name,
        channel=project.channel_id,
        since=since,
        labels_since=sum(counts.values()),
        by_annotator=sorted(counts.items(), key=lambda kv: -kv[1]),
        total_labels=total,
        weakest=_weakest(per_class, model["target"]),
        per_class_f1=per_class.f1,
        open_flags=open_flags,
        open_discussions=discussions,
        generated_at=moment,
        open_proposals=len(proposed),
        top_proposals=[p.message for p in proposed[:TOP_PROPOSALS]],
        top_proposal_ids=[p.id for p in proposed[:TOP_PROPOSALS] if p.id is not None],
        agreement=agreement_report(ws, name, rows=rows),
        open_reviews=review_counts(ws, project=name)["open"],
        per_class_source=per_class.source or "cv",
        queue_chosen=active is None or queue_chose_labels(ws, name, active.metrics),
        labeled_examples=labeled,
        unnamed=frozenset(counts.keys() & rhythm.leaderboard_opt_outs(ws)),
        **model,
    )


def _labels_given(
    rows: list[feedback.AnnotationRow], *, since: datetime | None, until: datetime
) -> tuple[dict[str, int], int]:
    """Of the live annotations ``rows``: the labels given at or after ``since`` (all time when
    None) and before ``until`` per annotator, and those given before ``until`` in all
    (``feedback.annotators_since``: adjudications are decisions, not labels given)."""
    counts: dict[str, int] = {}
    total = 0
    start = as_utc(since) if since is not None else None
    end = as_utc(until)
    for row in rows:
        at = as_utc(row.created_at)
        if row.source == feedback.ADJUDICATION or at >= end:
            continue
        total += 1
        if start is None or at >= start:
            counts[row.annotator] = counts.get(row.annotator, 0) + 1
    return counts, total


def home_digest(
    ws: Workspace,
    name: str,
    *,
    labeled: int,
    rows: list[feedback.AnnotationRow] | None = None,
    now: datetime | None = None,
) -> Digest:
    """The figures of :func:`build_digest` that App Home shows, worked out the same way (the
    active model's accuracy with its interval and change, the forecast, the queue's caveat, the
    model notes, expert agreement, open reviews), without what only the channel's digest says:
    labels since the last digest (0, nobody), per-class F1 and the weakest classes (none),
    flags, discussions and proposals (0). ``labeled``: the examples with an agreed label;
    ``rows``: the project's live annotations when the caller has read them (App Home reads them
    once for every figure), else they are read here."""
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        runs, active = _runs(session, project.id)
        if rows is None:
            rows = feedback.list_annotations(session=session, project_id=project.id)
    return Digest(
        project=name,
        channel=project.channel_id,
        since=None,
        labels_since=0,
        by_annotator=[],
        total_labels=sum(1 for r in rows if r.source != feedback.ADJUDICATION),
        weakest=[],
        per_class_f1={},
        open_flags=0,
        open_discussions=0,
        generated_at=now or utcnow(),
        agreement=agreement_report(ws, name, rows=rows),
        open_reviews=review_counts(ws, project=name)["open"],
        queue_chosen=active is None or queue_chose_labels(ws, name, active.metrics, rows=rows),
        labeled_examples=labeled,
        **_model_figures(project, runs, active),
    )


def _runs(session: Session, project_id: int) -> tuple[list[ModelRun], ModelRun | None]:
    """The project's ready runs, oldest first, and its active one."""
    runs = [
        r for r in models.list_model_runs(session=session, project_id=project_id)
        if r.status == "ready"
    ]  # fmt: skip
    return runs, models.get_active_model_run(session=session, project_id=project_id)


def _model_figures(
    project: Project, runs: list[ModelRun], active: ModelRun | None
) -> dict[str, Any]:
    """The :class:`Digest` fields on the models (the digest's and App Home's alike): the active
    model's accuracy and change, the learning curves, the forecast and the stop signal, and
    what the figures belong to (pinned, trained before the latest taxonomy change)."""
    changed = taxonomy.changed_at(project)
    before = {r.id: taxonomy.trained_before(r, changed) for r in runs}
    curve = [p for r in runs if (p := _point(r, before[r.id])) is not None]
    cv_curve = [p for r in runs if (p := _cv_point(r, before[r.id])) is not None]
    # the labels still needed count from the labels trained on today: the latest model's,
    # fewer than an earlier model's after labels were undone (not the most ever trained on)
    forecast, basis = _forecast(curve, cv_curve, runs[-1].n_labels if runs else None)
    current = _point(active) if active is not None else None
    agreements = [
        float(r.metrics["agreement_previous"]) for r in runs if "agreement_previous" in r.metrics
    ]
    evidence = None
    if current is not None and current.low is not None and current.high is not None:
        evidence = (current.low, current.high)
    stop = stop_signal(
        forecast, agreements, current.accuracy if current else 0.0, interval=evidence
    )
    change, change_from = _accuracy_change(active, current, runs, before)
    return {
        "model_version": active.version if active else None,
        "accuracy": current,
        "accuracy_change": change,
        "change_from": change_from,
        "curve": curve,
        "forecast": forecast,
        "target": float(project.settings.get("target_accuracy", DEFAULT_TARGET)),
        "stop": stop,
        "cv_curve": cv_curve,
        "forecast_basis": basis,
        "taxonomy_change_at": _change_position(curve),
        "model_before_change": active is not None and taxonomy.trained_before(active, changed),
        "model_pinned": active is not None
        and project.settings.get("pinned_version") == active.version,
        "audit_waiting": waiting_note(active.metrics) if active is not None else "",
    }


def points_change(change: float) -> str:
    """An accuracy change in percentage points ("+2.5 points"; a percent would read relative)."""
    return f"{change * 100:+.1f} points".replace("-", "\u2212")


def _today(scores: PerClassF1, names: dict[str, str]) -> PerClassF1:
    """The scores under each class's label's name today (evaluation.names_today): a label
    renamed since keeps its score, and one whose old name another label took since does not
    lend it that label's; a class whose label is gone is left out."""
    return dataclasses.replace(
        scores,
        f1={names[lb]: f1 for lb, f1 in scores.f1.items() if lb in names},
        support={names[lb]: n for lb, n in scores.support.items() if lb in names},
    )


def _weakest(scores: PerClassF1, target: float) -> list[tuple[str, float, int]]:
    """The lowest-scoring classes, only those under the project's target: when every class
    reaches it, none is called weak (the lowest of a good lot is not a problem to fix)."""
    under = sorted(((lb, f1) for lb, f1 in scores.f1.items() if f1 < target), key=lambda t: t[1])
    return [(lb, f1, scores.support.get(lb, 0)) for lb, f1 in under[:WEAKEST]]


def _change_position(curve: list[CurvePoint]) -> float | None:
    """Where the latest taxonomy change falls on the label axis: between the last model
    before it and the first after (just past the last point when none came after). A split
    or retire sends its examples back to the queue, so the models since often train on fewer
    labels than the last one before: no line parts the two then, and it is drawn just before
    the first model since, where today's curve starts (midway it put that model before it)."""
    before = [p.labels for p in curve if p.before_change]
    if not before:
        return None
    after = [p.labels for p in curve if not p.before_change]
    if after and min(after) > max(before):
        return (max(before) + min(after)) / 2
    if after:
        return min(after) - max(1.0, 0.02 * min(after))
    return max(before) + max(1.0, 0.02 * max(before))


def render_chart(digest: Digest, path: Path) -> Path:
    """PNG: the learning curve (audit and cross-validated points told apart, the audit interval,
    the forecast with its range) beside per-class F1. A folder that does not exist is refused
    as an export refuses it, never made (:func:`engine.charts.save_png`)."""
    from engine.charts import save_png

    fig = chart_figure(digest)  # sets the Agg backend before pyplot loads
    import matplotlib.pyplot as plt

    try:
        return save_png(fig, path)
    finally:
        plt.close(fig)


def chart_figure(digest: Digest) -> Any:
    """The chart as a matplotlib figure (the caller saves and closes it)."""
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 6), dpi=100,
                                      gridspec_kw={"width_ratios": [3, 2]})  # fmt: skip
    if digest.curve or digest.cv_curve:
        _draw_curve(left, digest)
        left.xaxis.set_major_locator(MaxNLocator(integer=True))  # label counts are whole
        # as the digest's text and the target line's name write accuracy: "90%", not "0.9"
        left.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        left.set_xlabel(LABELS_AXIS)
        left.set_ylabel("accuracy")
        left.grid(True, alpha=0.3)
    else:  # no axes to read: no model, or one too young to measure
        left.text(0.5, 0.5, digest.no_accuracy(), ha="center", va="center", wrap=True,
                  transform=left.transAxes)  # fmt: skip
        left.set_xticks([])
        left.set_yticks([])
    # names as typed: matplotlib reads "$…$" as mathtext, and a label named "fee_$5_to_$10"
    # raised (no digest was posted) or "price $5-$10" was drawn in italics without its "$"
    left.set_title(_wrapped(f"{digest.project}: learning curve", CURVE_TITLE_WIDTH),
                   parse_math=False)  # fmt: skip
    items = digest.chart_classes()
    if items:
        # one row per class at its own position: names given as categories put every name
        # cut alike ("Customer complaint about del") on one row, its bars drawn over each other
        rows = range(len(items))
        bars = right.barh(rows, [f1 for _, f1 in items], color="tab:orange")
        # a name no font here draws would be a row of boxes: "#1", named in the message
        shown, _ = chart_names([lb for lb, _ in items])
        right.set_yticks(rows, tick_names(shown), parse_math=False)
        right.invert_yaxis()  # the weakest on top, as the digest lists them
        right.set_xlim(0, 1)
        right.tick_params(axis="y", labelsize=CHART_SMALL_PT)
        right.set_xlabel("F1")
        _bar_values(right, bars, digest, [f1 for _, f1 in items])
        right.set_title(_panel_title(digest), parse_math=False)
    else:
        right.text(0.5, 0.5, digest.no_per_class(), ha="center", va="center", wrap=True,
                   transform=right.transAxes)  # fmt: skip
        right.set_xticks([])
        right.set_yticks([])
        right.set_title("per-class F1")
    fit_fonts(fig)  # before the layout measures the texts: each with the fonts that draw it
    legend = left.get_legend()
    foot = 0.0  # the legend's share of the figure's height, kept free of the panels
    if legend is not None:
        height = legend.get_window_extent().height  # measured with the figure's renderer
        foot = (height + 8) / fig.bbox.height
    fig.tight_layout(rect=(0, foot, 1, 1))
    return fig


def _panel_title(digest: Digest) -> str:
    """The per-class panel's title: what the scores are on its first line, its caveats on the
    second ("per-class F1, cross-validated" / "(reads low; weakest 15 of 77)"): wrapped at a
    width it broke as "…(reads" / "low) (weakest 15)"."""
    head, _, note = digest.per_class_title().partition(" (")
    notes = [note.removesuffix(")")] if note else []
    if len(digest.per_class_f1) > BARS:
        notes.append(f"weakest {BARS} of {len(digest.per_class_f1)}")
    title = _wrapped(head, PANEL_TITLE_WIDTH)
    return f"{title}\n({'; '.join(notes)})" if notes else title


def _bar_values(ax: Any, bars: Any, digest: Digest, values: list[float]) -> None:
    """Each bar's F1 beside its end, inside a bar that reaches the right edge: a class at 0 had
    no bar at all (it read as missing), and bars of 0.96 and 1.0 looked the same. Under the
    target it is written as the weakest list writes it (0.8989 is 0.898, not the 0.90 aimed at)."""
    for bar, value in zip(bars, values, strict=True):
        shown = digest.f1_figure(value) if value < digest.target else f"{value:.2f}"
        inside = value > 0.85  # past it the figure would run off the panel
        ax.text(value - 0.01 if inside else value + 0.01, bar.get_y() + bar.get_height() / 2,
                shown, va="center", ha="right" if inside else "left",
                fontsize=CHART_SMALL_PT)  # fmt: skip


# Classes on the per-class panel (the weakest), and the smallest text on the chart: Slack's
# preview shows the 1200 x 600 PNG about 720 px wide, where 25 bars' names and values at 7 points
# were 5-6 px tall, unreadable until opened; 15 at 9 points read at the preview's size.
BARS = 15
CHART_SMALL_PT = 9.0
TICK_NAME_MAX = 28  # characters of a class name beside its bar (at CHART_SMALL_PT)
# characters per line of the panels' titles (at matplotlib's 12 points) that fit their width
CURVE_TITLE_WIDTH, PANEL_TITLE_WIDTH = 60, 36


def _wrapped(title: str, width: int) -> str:
    """``title`` on lines of at most ``width`` characters (a long project name breaks too)."""
    return "\n".join(textwrap.wrap(title, width, break_long_words=True)) or title


def tick_names(names: list[str], limit: int = TICK_NAME_MAX) -> list[str]:
    """The names beside the per-class bars: at most ``limit`` characters, cut in the middle,
    and all different, so no two classes read alike (a cut that still clashes gets " (2)")."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        shown, n = shorten_middle(name, limit), 1
        while shown in seen:
            n += 1
            suffix = f" ({n})"
            shown = shorten_middle(name, limit - len(suffix)) + suffix
        seen.add(shown)
        out.append(shown)
    return out


def by_label_count(points: list[CurvePoint]) -> list[CurvePoint]:
    """A curve's points as its line joins them: in label-count order, one per count, the latest
    model's (``points`` come in version order). A model can train on fewer labels than the one
    before it (labels undone, a split's examples waiting to be relabeled): drawn in version
    order the line ran back and the interval band folded over itself."""
    latest = {p.labels: p for p in points}
    return [latest[n] for n in sorted(latest)]


def _draw_curve(ax: Any, digest: Digest) -> None:
    """Audit points (filled circles, with their 90% intervals) and cross-validated points
    (hollow squares), each kind its own line; models from before the latest taxonomy change
    faded behind a marked line; the forecast, fit to one kind, with its range."""
    audit = [p for p in digest.curve if p.source == "audit"]
    cv_name = (
        "cross-validated on the queue's picks (reads low)"
        if digest.queue_chosen
        else "cross-validated on the training labels"
    )
    series = (
        (audit, "o", "tab:blue", "full", "accuracy on the audit set (unbiased)"),
        (digest.cv_curve, "s", "tab:grey", "none", cv_name),
    )  # fmt: skip
    for points, marker, color, fill, name in series:
        for old, style in ((True, {"alpha": 0.35}), (False, {"label": name})):
            part = by_label_count([p for p in points if p.before_change is old])
            if part:
                ax.plot([p.labels for p in part], [p.accuracy for p in part], marker=marker,
                        color=color, fillstyle=fill, linestyle="-" if fill == "full" else "--",
                        **style)  # fmt: skip
    # one band over both sides of a taxonomy change, as before; by label count, as the lines
    bounded = by_label_count([p for p in audit if p.low is not None and p.high is not None])
    if len({p.labels for p in bounded}) >= 2:  # a band needs width
        ax.fill_between([p.labels for p in bounded], [p.low or 0.0 for p in bounded],
                        [p.high or 0.0 for p in bounded], color="tab:blue", alpha=0.15,
                        label="90% interval (audit)")  # fmt: skip
    elif bounded:  # one label count: the interval as an error bar
        p = bounded[-1]
        below = max(p.accuracy - (p.low or 0.0), 0.0)  # an end can pass the point by rounding
        above = max((p.high or 0.0) - p.accuracy, 0.0)
        ax.errorbar([p.labels], [p.accuracy], yerr=[[below], [above]], fmt="none",
                    ecolor="tab:blue", capsize=4, label="90% interval (audit)")  # fmt: skip
    if digest.taxonomy_change_at is not None:
        ax.axvline(digest.taxonomy_change_at, color="tab:red", linestyle=":",
                   label="taxonomy changed (faded: before, not in the forecast)")  # fmt: skip
    xs = [p.labels for p in digest.curve + digest.cv_curve]
    last = max(xs)
    right_end = last * 1.25 + 10  # room around the points, a lone one included
    fc = digest.forecast
    if fc.ok:
        future = [last + i * max(last, 100) / 20 for i in range(41)]
        right_end = future[-1]
        kind = "audit" if digest.forecast_basis == "audit" else "cross-validated"
        ax.plot(future, [fc.predict(n) for n in future], linestyle="--", color="tab:green",
                label=f"forecast from {kind} points ({fc.outlook})")  # fmt: skip
        ranges = [fc.predict_range(n) for n in future]
        if all(r is not None for r in ranges):
            ax.fill_between(future, [r[0] for r in ranges if r is not None],
                            [r[1] for r in ranges if r is not None], alpha=0.12,
                            color="tab:green", label="forecast range")  # fmt: skip
    ax.set_xlim(0, right_end)
    ax.axhline(digest.target, color="grey", linestyle=":", label=f"target {digest.target:.0%}")
    # under the plot, at the figure's foot, not on it: at the lower right it hid a lone model's
    # interval, and the points of a curve far under the target (which sets the axis's top);
    # chart_figure leaves it room (out of the layout: as part of the axes it squeezed them)
    legend = ax.legend(loc="lower left", bbox_to_anchor=(0.01, 0.01), ncol=2,
                       fontsize=CHART_SMALL_PT,
                       bbox_transform=ax.figure.transFigure, frameon=False)  # fmt: skip
    legend.set_in_layout(False)


def mark_sent(
    ws: Workspace, name: str, *, now: datetime | None = None, counted_until: datetime | None = None
) -> None:
    """Remember when the last digest went out (``now``: the schedule's next one is due after
    it) and up to when it counted labels (``counted_until``: the digest's ``generated_at``;
    the next one counts from there). Without ``counted_until`` the labels are taken as counted
    up to ``now``. The post noted by :func:`note_posting` is finished with."""
    sent = now or utcnow()
    with session_scope(ws.db) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        projects.update_project_settings(
            session=session,
            project_id=project.id,
            last_digest_at=sent.isoformat(),
            **{COUNTED_UNTIL: (counted_until or sent).isoformat(), POSTING: None},
        )
