"""Digests: where a project stands, for the team's channel (and `labelbot digest`).

Labels since the last digest and by whom, the model's estimated accuracy with its interval and its
change, the weakest classes, the learning-curve forecast and the stop signal, open flags and
discussions — plus a chart. The engine builds the figures; the bot turns them into Block Kit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.consensus import AgreementReport, agreement_report
from engine.forecast import Forecast, StopAdvice, fit_learning_curve, stop_signal
from engine.reviews import review_counts
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import ModelRun, utcnow
from storage.repositories import feedback, flags, models, projects, proposals

WEAKEST = 5  # classes listed as weakest
TOP_PROPOSALS = 3  # taxonomy proposals quoted (the rest are counted)
DEFAULT_TARGET = 0.9  # accuracy a project aims for unless it sets `target_accuracy`


@dataclass(frozen=True)
class CurvePoint:
    labels: int
    accuracy: float
    low: float | None
    high: float | None
    source: str  # "audit" (unbiased) or "cv" (cross-validated on labels the strategy chose)


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
    weakest: list[tuple[str, float, int]]  # (label, F1, support)
    per_class_f1: dict[str, float]
    curve: list[CurvePoint]
    forecast: Forecast
    target: float
    stop: StopAdvice
    open_flags: int
    open_discussions: int
    generated_at: datetime = field(default_factory=utcnow)
    open_proposals: int = 0  # taxonomy changes the model proposes, waiting for an admin
    top_proposals: list[str] = field(default_factory=list)  # the strongest ones' messages
    agreement: AgreementReport | None = None  # expert agreement on multi-labeled examples
    open_reviews: int = 0  # likely mislabels waiting for a second expert

    def no_accuracy(self) -> str:
        """What to say when there is no accuracy to show: no model, or one with too few labels
        to measure (one per class cannot be cross-validated)."""
        if self.model_version is None:
            return "no model yet"
        return f"model v{self.model_version}: accuracy not measurable yet (too few labels)"

    def forecast_line(self) -> str:
        """The forecast toward the target; a latest model that measures the target is there."""
        measured = self.accuracy.accuracy if self.accuracy is not None else None
        return self.forecast.describe(self.target, measured)

    def summary(self) -> list[str]:
        """The digest as plain lines (the terminal view; Slack gets blocks built from the same)."""
        lines = [f"{self.project}: {self.labels_since} new labels" + (
            f" since {self.since:%Y-%m-%d %H:%M} UTC" if self.since else "")]  # fmt: skip
        if self.by_annotator:
            lines.append("by " + ", ".join(f"{who} ({n})" for who, n in self.by_annotator))
        if self.accuracy is None:
            lines.append(self.no_accuracy())
        else:
            acc = self.accuracy
            interval = (
                f" (90% interval {acc.low:.1%}–{acc.high:.1%})" if acc.low is not None else ""
            )
            change = (
                f", {self.accuracy_change:+.1%} since the previous model"
                if self.accuracy_change is not None
                else ""
            )
            how = "on the audit set" if acc.source == "audit" else "cross-validated (biased)"
            lines.append(
                f"model v{self.model_version}: accuracy {acc.accuracy:.1%}{interval} {how}{change}"
            )
        if self.weakest:
            lines.append(
                "weakest: " + ", ".join(f"{lb} (F1 {f1:.2f}, n={n})" for lb, f1, n in self.weakest)
            )
        lines.append(self.forecast_line())
        lines.append(self.stop.reason)
        lines.append(f"{self.open_flags} open flags, {self.open_discussions} open discussions")
        if self.open_proposals:
            lines.append(f"{self.open_proposals} open taxonomy proposals:")
            lines += [f"  - {m}" for m in self.top_proposals]
        if self.agreement is not None and (self.agreement.examples or self.agreement.waiting):
            lines.append(self.agreement.describe())
        if self.open_reviews:
            lines.append(f"{self.open_reviews} likely mislabels wait for a second look")
        return lines


def _point(run: ModelRun) -> CurvePoint | None:
    audit = run.metrics.get("audit") or {}
    if audit.get("n"):
        return CurvePoint(run.n_labels, float(audit["accuracy"]), float(audit["low"]),
                          float(audit["high"]), "audit")  # fmt: skip
    if "accuracy" in run.metrics:
        return CurvePoint(run.n_labels, float(run.metrics["accuracy"]), None, None, "cv")
    return None


def build_digest(ws: Workspace, name: str, *, now: datetime | None = None) -> Digest:
    """Gather everything a digest shows for project ``name``."""
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        last = project.settings.get("last_digest_at")
        since = datetime.fromisoformat(last) if isinstance(last, str) else None
        counts = feedback.annotators_since(session=session, project_id=project.id, since=since)
        total = feedback.count_annotations(session=session, project_id=project.id)
        runs = [
            r
            for r in models.list_model_runs(session=session, project_id=project.id)
            if r.status == "ready"
        ]
        active = models.get_active_model_run(session=session, project_id=project.id)
        open_flags = len(flags.list_flags(session=session, project_id=project.id))
        discussions = feedback.count_open_discussions(session=session, project_id=project.id)
        proposed = proposals.list_proposals(session=session, project_id=project.id)
    curve = [p for p in (_point(r) for r in runs) if p is not None]
    # forecast on unbiased points when the audit stream has produced them
    audit_curve = [p for p in curve if p.source == "audit"]
    basis = audit_curve if len(audit_curve) >= 4 else curve
    bounded = all(p.low is not None and p.high is not None for p in basis)
    forecast = fit_learning_curve(
        [p.labels for p in basis],
        [p.accuracy for p in basis],
        low=[p.low or 0.0 for p in basis] if bounded else None,
        high=[p.high or 0.0 for p in basis] if bounded else None,
    )
    current = _point(active) if active is not None else None
    agreements = [
        float(r.metrics["agreement_previous"]) for r in runs if "agreement_previous" in r.metrics
    ]
    stop = stop_signal(forecast, agreements, current.accuracy if current else 0.0)
    change = None
    if active is not None and current is not None:
        earlier = [p for r in runs if r.version < active.version and (p := _point(r))]
        same = [p for p in earlier if p.source == current.source]
        if same:
            change = current.accuracy - same[-1].accuracy
    per_class = _per_class_f1(active)
    supports = _supports(active)
    weakest = sorted(per_class.items(), key=lambda kv: kv[1])[:WEAKEST]
    return Digest(
        project=name,
        channel=project.channel_id,
        since=since,
        labels_since=sum(counts.values()),
        by_annotator=sorted(counts.items(), key=lambda kv: -kv[1]),
        total_labels=total,
        model_version=active.version if active else None,
        accuracy=current,
        accuracy_change=change,
        weakest=[(lb, f1, supports.get(lb, 0)) for lb, f1 in weakest],
        per_class_f1=per_class,
        curve=curve,
        forecast=forecast,
        target=float(project.settings.get("target_accuracy", DEFAULT_TARGET)),
        stop=stop,
        open_flags=open_flags,
        open_discussions=discussions,
        generated_at=now or utcnow(),
        open_proposals=len(proposed),
        top_proposals=[p.message for p in proposed[:TOP_PROPOSALS]],
        agreement=agreement_report(ws, name),
        open_reviews=review_counts(ws, project=name)["open"],
    )


# A class's audit F1 is used once this many audit labels have it; with fewer (10% of labels spread
# over dozens of classes) one unlucky example would read as F1 0, so the cross-validated F1 is used.
MIN_AUDIT_SUPPORT = 5


def _per_class_f1(run: ModelRun | None) -> dict[str, float]:
    if run is None:
        return {}
    audit: dict[str, Any] = (run.metrics.get("audit") or {}).get("per_class") or {}
    cv: dict[str, Any] = run.metrics.get("per_class") or {}
    scores: dict[str, float] = {}
    for label in set(cv) | set(audit):
        a, c = audit.get(label) or {}, cv.get(label) or {}
        if a.get("support", 0) >= MIN_AUDIT_SUPPORT:
            scores[label] = float(a["f1"])
        elif c.get("support", 0):
            scores[label] = float(c["f1"])
    return scores


def _supports(run: ModelRun | None) -> dict[str, int]:
    if run is None:
        return {}
    table: dict[str, Any] = run.metrics.get("per_class") or {}
    return {lb: int(v.get("support", 0)) for lb, v in table.items()}


def render_chart(digest: Digest, path: Path) -> Path:
    """PNG: the learning curve (with interval and forecast) beside per-class F1."""
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), dpi=100,
                                      gridspec_kw={"width_ratios": [3, 2]})  # fmt: skip
    if digest.curve:
        xs = [p.labels for p in digest.curve]
        left.plot(xs, [p.accuracy for p in digest.curve], marker="o", label="estimated accuracy")
        bounded = [p for p in digest.curve if p.low is not None and p.high is not None]
        if bounded:
            left.fill_between(
                [p.labels for p in bounded],
                [p.low or 0 for p in bounded],
                [p.high or 0 for p in bounded],
                alpha=0.2,
                label="90% interval",
            )
        if digest.forecast.ok:
            last = max(xs)
            future = [last + i * max(last, 100) / 20 for i in range(41)]
            plateau = (
                "no plateau in sight yet"
                if digest.forecast.plateau >= 0.995
                else f"plateau ≈ {digest.forecast.plateau:.0%}"
            )
            left.plot(
                future,
                [digest.forecast.predict(n) for n in future],
                linestyle="--",
                label=f"forecast ({plateau})",
            )
            ranges = [digest.forecast.predict_range(n) for n in future]
            if all(r is not None for r in ranges):
                left.fill_between(
                    future,
                    [r[0] for r in ranges if r is not None],
                    [r[1] for r in ranges if r is not None],
                    alpha=0.12,
                    color="tab:green",
                    label="forecast range (from the 90% intervals)",
                )
        left.axhline(
            digest.target, color="grey", linestyle=":", label=f"target {digest.target:.0%}"
        )
        left.legend(loc="lower right")
    else:
        left.text(0.5, 0.5, digest.no_accuracy(), ha="center", va="center", wrap=True,
                  transform=left.transAxes)  # fmt: skip
    left.set_xlabel("labels")
    left.set_ylabel("accuracy")
    left.set_title(f"{digest.project}: learning curve")
    left.grid(True, alpha=0.3)
    items = sorted(digest.per_class_f1.items(), key=lambda kv: kv[1])[:25]
    if items:
        right.barh([lb[:28] for lb, _ in items], [f1 for _, f1 in items], color="tab:orange")
        right.set_xlim(0, 1)
        right.tick_params(axis="y", labelsize=7)
    right.set_title(
        "per-class F1 (weakest 25)" if len(digest.per_class_f1) > 25 else "per-class F1"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def mark_sent(ws: Workspace, name: str, *, now: datetime | None = None) -> None:
    """Remember when the last digest went out (the next one counts labels from here)."""
    with session_scope(ws.db) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        projects.update_project_settings(
            session=session, project_id=project.id, last_digest_at=(now or utcnow()).isoformat()
        )
