"""How good is the model? Cross-validated metrics on the labeled set, and held-out evaluation.

Training-set predictions flatter a model (a linear head on 384-d embeddings can memorise noise), so
every number reported for a project comes from folds the model did not see.

Cross-validation runs on the labels the query strategy chose: the hard, ambiguous cases, so it
usually reads low (Kottke et al. 2017; 0.78 against 0.97 on a test set in one audited project).
That caveat is said only where the queue did choose most of them (:func:`queue_chose_labels`):
labels imported with the examples were picked by whoever made the file, not by the queue.
Where a run has an audit estimate (engine/audit.py: uniformly drawn labels, held out of training)
that is the headline; :func:`model_estimates` and :func:`per_class_f1` say which is which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from engine.classifier import (
    Model,
    PoolGraph,
    build_pool_graph,
    stratified_folds,
    train_model,
    twin_groups,
)
from engine.taxonomy import TAXONOMY_AS_OF
from storage.db import session_scope
from storage.errors import InvalidInputError
from storage.repositories import assignments, feedback, projects
from storage.repositories import models as model_repo

if TYPE_CHECKING:
    from engine.workspace import Workspace

__all__ = [
    "AUDIT_TWINS",
    "AUDIT_WAITING",
    "CV_CAVEAT",
    "QUEUE_BIAS",
    "WAITING_TO_RELABEL",
    "Metrics",
    "PerClassF1",
    "accuracy_figure",
    "cross_validate",
    "cv_estimable",
    "cv_metrics",
    "cv_summary",
    "evaluate",
    "explain_status",
    "in_use",
    "labels_gone",
    "metrics_from_predictions",
    "model_estimates",
    "names_today",
    "per_class_f1",
    "queue_chose_labels",
    "twin_groups",
    "twins_of",
    "waiting_note",
]

# A class's only example is never in a training fold, so it is always missed: with one label per
# class every held-out example's class is unknown to its fold's model, and the accuracy is 0
# whatever the labels are. Cross-validation says something once two classes have two labels each.
MIN_PER_CLASS = 2
TOO_FEW_TO_ESTIMATE = (
    f"not enough labels to estimate (need {MIN_PER_CLASS} per class, in 2 classes or more)"
)
# what is wrong with cross-validated numbers here, said wherever one is shown
QUEUE_BIAS = "the queue chose those labels, hard cases first, so it usually reads low"
CV_CAVEAT = f"cross-validated: {QUEUE_BIAS}"
# the source (and default annotator) of an annotation stored by `labelbot import`
# (engine.projects.import_file): its example was chosen by whoever made the file, not
# delivered by the queue. The one spelling of it: the writer and every reader import this.
IMPORTED = "import"
# Per-class F1 comes from the audit set once every class has this many audit labels there; with
# fewer (10% of labels spread over dozens of classes) one unlucky example reads as F1 0. Below it
# every class is cross-validated: one kind of score for all, so classes rank against each other.
MIN_AUDIT_SUPPORT = 5


@dataclass(frozen=True)
class Metrics:
    """Accuracy, macro-F1, per-class scores and the confusion matrix (rows true, cols predicted)."""

    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    labels: list[str]
    n_labels: int
    folds: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": self.per_class,
            "confusion": self.confusion,
            "labels": self.labels,
            "n_labels": self.n_labels,
            "folds": self.folds,
        }


def metrics_from_predictions(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    n_classes: int,
    class_names: Sequence[str] | None = None,
    folds: int = 0,
) -> Metrics:
    """Metrics over the classes that occur in ``y_true`` (macro-F1 ignores classes never seen)."""
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    if len(names) != n_classes:
        raise InvalidInputError(f"{len(names)} class names for {n_classes} classes")
    present = np.unique(y_true)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=present, zero_division=0)
    per_class = {
        names[c]: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, c in enumerate(present)
    }
    cm = confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))
    return Metrics(
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        per_class=per_class,
        confusion=cm.tolist(),
        labels=names,
        n_labels=int(len(y_true)),
        folds=folds,
    )


def twins_of(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Which rows of ``X`` outside ``mask`` have the very vector of a row in it: the held-out
    set's twins (an audit example's), which a model scored on that set must not train on."""
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros(len(mask), dtype=bool)
    if not mask.any() or mask.all():
        return out
    X = np.ascontiguousarray(X)
    held = {X[i].tobytes() for i in np.flatnonzero(mask)}
    for i in np.flatnonzero(~mask):
        out[i] = X[i].tobytes() in held
    return out


def cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    class_names: Sequence[str] | None = None,
    pool: np.ndarray | None = None,
    kind: str = "linear",
    folds: int = 5,
    seed: int = 0,
    graph: PoolGraph | None = None,
    labeled_idx: np.ndarray | None = None,
) -> Metrics:
    """K-fold metrics on the labeled set; each example is predicted by a model that never saw it.

    Folds are stratified where a class has enough examples; a class with fewer than ``folds``
    examples is spread over as many folds as it has (a singleton is tested once, trained never).
    Examples with the very same embedding (:func:`twin_groups`) share a fold. For the blend, the
    held-out fold's labels are hidden from the spreading.
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    splits = stratified_folds(y, folds=folds, seed=seed, X=X)
    if not splits:
        raise InvalidInputError(f"need at least 2 labeled examples to cross-validate; got {len(y)}")
    if kind != "linear" and pool is not None:
        graph = graph if graph is not None else build_pool_graph(pool)
        if labeled_idx is None:
            labeled_idx = graph.locate(X)
    pred = np.empty(len(y), dtype=np.int64)
    for train, test in splits:
        model = train_model(
            X[train],
            y[train],
            n_classes=n_classes,
            pool=pool,
            kind=kind,
            seed=seed,
            graph=graph,
            labeled_idx=None if labeled_idx is None else labeled_idx[train],
            calibrate=False,  # argmax does not depend on the temperatures: skip fitting them
        )
        pred[test] = model.predict_proba(X[test]).argmax(axis=1)
    return metrics_from_predictions(
        y, pred, n_classes=n_classes, class_names=class_names, folds=len(splits)
    )


def cv_estimable(y: np.ndarray) -> bool:
    """Whether cross-validated metrics of labels ``y`` mean anything (see MIN_PER_CLASS)."""
    counts = np.bincount(np.asarray(y, dtype=np.int64))
    return int((counts >= MIN_PER_CLASS).sum()) >= 2


def cv_metrics(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    class_names: Sequence[str],
    **options: Any,
) -> dict[str, Any]:
    """:func:`cross_validate`'s metrics as a model run stores them; with too few labels, only the
    counts and ``cv_skipped`` (no "accuracy" or "macro_f1": readers show "-", not 0)."""
    if not cv_estimable(y):
        return {
            "n_labels": int(len(y)),
            "folds": 0,
            "labels": list(class_names),
            "cv_skipped": TOO_FEW_TO_ESTIMATE,
        }
    metrics = cross_validate(X, y, n_classes=n_classes, class_names=class_names, **options)
    return metrics.to_dict()


def accuracy_figure(accuracy: float, *, source: str, n: int | None = None) -> str:
    """A model's accuracy as `labelbot status`, `labelbot project list` and `labelbot models`
    all write it (one function, so they never differ): an audit estimate as a percentage
    ("75.0%", and "75.0% (n=4)" with the ``n`` audit labels it rests on), a cross-validated one
    (``source`` "cv") as a fraction ("0.847")."""
    if source == "audit":
        return f"{float(accuracy):.1%}" + ("" if n is None else f" (n={n})")
    return f"{float(accuracy):.3f}"


def cv_summary(metrics: Mapping[str, Any]) -> str:
    """One phrase for a stored run's cross-validated scores, honest when there are none."""
    if metrics.get("accuracy") is None:
        return f"accuracy: {metrics.get('cv_skipped') or TOO_FEW_TO_ESTIMATE}"
    return (
        f"cross-validated accuracy {accuracy_figure(metrics['accuracy'], source='cv')}, "
        f"macro-F1 {float(metrics.get('macro_f1') or 0.0):.3f}"
    )


def evaluate(
    model: Model,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
) -> Metrics:
    """Metrics of ``model`` on held-out data."""
    pred = model.predict_proba(np.asarray(X_test, np.float32)).argmax(axis=1)
    return metrics_from_predictions(
        np.asarray(y_test, np.int64), pred, n_classes=model.n_classes, class_names=class_names
    )


@dataclass(frozen=True)
class PerClassF1:
    """Per-class F1 of one kind for every class: ``source`` "audit" or "cv" ("" when none)."""

    source: str
    f1: dict[str, float]
    support: dict[str, int]  # labels of the class the score rests on (audit or training labels)

    def describe(self, *, queue_chosen: bool = True) -> str:
        """What the scores are, for a heading or a note; the cross-validation caveat only when
        the queue chose most training labels (:func:`queue_chose_labels`)."""
        if self.source == "audit":
            return "per-class F1 on the audit set (uniformly drawn labels, held out of training)"
        if not queue_chosen:
            return "per-class F1, cross-validated on the training labels"
        return f"per-class F1, {CV_CAVEAT}"


def per_class_f1(metrics: Mapping[str, Any]) -> PerClassF1:
    """A stored run's per-class F1: on the audit set when every class has
    :data:`MIN_AUDIT_SUPPORT` audit labels, else cross-validated (never a mix of the two)."""
    cv: Mapping[str, Any] = metrics.get("per_class") or {}
    audit: Mapping[str, Any] = (metrics.get("audit") or {}).get("per_class") or {}
    scored = {lb: v for lb, v in cv.items() if int(v.get("support", 0))}
    if scored and all(
        int((audit.get(lb) or {}).get("support", 0)) >= MIN_AUDIT_SUPPORT for lb in scored
    ):
        table, source = audit, "audit"
    else:
        table, source = scored, "cv" if scored else ""
    return PerClassF1(
        source=source,
        f1={lb: float(v["f1"]) for lb, v in table.items()},
        support={lb: int(v.get("support", 0)) for lb, v in table.items()},
    )


def in_use(scores: PerClassF1, labels: set[str]) -> PerClassF1:
    """The scores of ``labels``, the labels in use today: a label merged or retired since the
    model was trained is no class to work on (its examples count under their new label).
    Status and the digest list the same classes."""
    return replace(
        scores,
        f1={lb: f1 for lb, f1 in scores.f1.items() if lb in labels},
        support={lb: n for lb, n in scores.support.items() if lb in labels},
    )


# A model's metric: audit labels left out of its audit scores because their label was split or
# retired since they were given (they wait to be relabeled): the audit set scored is not the
# whole uniform draw, and what it reads is said with the score (:func:`waiting_note`).
AUDIT_WAITING = "audit_waiting"
# A model's metric: labels held out of its training with the audit labels, their texts being an
# audit example's to the model (the same embedding: other letter case, accents, invisible
# characters; :func:`twins_of`)
AUDIT_TWINS = "audit_twins"


# How :func:`waiting_note` ends, for a view that has only the note to tell an estimate with
# audit labels waiting from one with none given at all
WAITING_TO_RELABEL = (
    "to be relabeled when this model was trained, their label split or retired: not measured"
)


def waiting_note(metrics: Mapping[str, Any]) -> str:
    """The note "2 more audit labels were waiting to be relabeled when this model was trained,
    …: not measured" ("more" beside the audit labels scored; without it when every one waited);
    "" if none did. Past tense: the count is the run's, and they may be relabeled since (the next
    model measures them)."""
    n = int(metrics.get(AUDIT_WAITING) or 0)
    if not n:
        return ""
    wait = "audit labels were waiting" if n != 1 else "audit label was waiting"
    more = "more " if int((metrics.get("audit") or {}).get("n") or 0) else ""
    return f"{n} {more}{wait} {WAITING_TO_RELABEL}"


def model_estimates(
    metrics: Mapping[str, Any],
    *,
    version: int,
    trained_on: int,
    labeled: int,
    queue_chosen: bool = True,
    gone: LabelsGone | None = None,
    changed_since: bool = True,
) -> dict[str, Any]:
    """Which estimate a stored run's numbers are, as JSON-able data with a sentence each:
    ``headline`` (the audit estimate with its interval when there is one, else the
    cross-validated one, marked so; None when neither), ``cross_validated`` (None when too few
    labels) and ``labels``: why the project's ``labeled`` count differs from the ``trained_on``
    labels of model v``version`` (audit labels are held out of training, with their twins:
    ``AUDIT_TWINS``; later labels; and of the examples it counted, those whose label was
    undone since and those that wait for a relabel since a taxonomy change: ``gone``, read
    from the votes by :func:`labels_gone`; without it a shortfall is put down to the taxonomy).

    ``queue_chosen``: whether the queue chose most training labels (:func:`queue_chose_labels`);
    only then is the cross-validated figure marked as reading low (``biased``).
    ``changed_since``: whether the taxonomy changed after the model was trained; without
    ``gone``, a shortfall is put down to a split or retire only then, else to labels undone."""
    audit: Mapping[str, Any] = metrics.get("audit") or {}
    n_audit = int(audit.get("n") or 0)
    cv = None
    if metrics.get("accuracy") is not None:
        cv = {
            "accuracy": float(metrics["accuracy"]),
            "macro_f1": float(metrics.get("macro_f1") or 0.0),
            "labels": int(metrics.get("n_labels", trained_on)),
            "folds": int(metrics.get("folds", 0)),
            "biased": queue_chosen,
            "description": (
                f"{cv_summary(metrics)} on its {int(metrics.get('n_labels', trained_on))} "
                f"training labels" + (f" ({QUEUE_BIAS})" if queue_chosen else "")
            ),
        }
    headline: dict[str, Any] | None = None
    waiting = waiting_note(metrics)
    if n_audit and audit.get("accuracy") is not None:
        pct = round(100 * float(audit.get("confidence", 0.9)))
        headline = {
            "source": "audit",
            "accuracy": float(audit["accuracy"]),
            "low": float(audit["low"]),
            "high": float(audit["high"]),
            "confidence": float(audit.get("confidence", 0.9)),
            "n": n_audit,
            "macro_f1": audit.get("macro_f1"),
            "macro_f1_low": audit.get("macro_f1_low"),
            "macro_f1_high": audit.get("macro_f1_high"),
            "biased": False,
            "description": (
                f"accuracy {accuracy_figure(audit['accuracy'], source='audit')} ({pct}% interval "
                f"{float(audit['low']):.1%}–{float(audit['high']):.1%}) on {n_audit} audit "
                f"label{'s' if n_audit != 1 else ''} (drawn at random, never trained on"
                # some of the draw left out: no longer the whole uniform sample
                + (f"; {waiting})" if waiting else ": unbiased)")
            ),
        }
    elif cv is not None:
        headline = {"source": "cv", "accuracy": cv["accuracy"], "low": None, "high": None,
                    "n": cv["labels"], "macro_f1": cv["macro_f1"], "biased": cv["biased"],
                    "description": f"{cv['description']} (no audit labels yet)"}  # fmt: skip
    if headline is not None and waiting:
        headline["waiting"] = int(metrics[AUDIT_WAITING])
        if headline["source"] == "cv":  # every audit label waits: there are some
            headline["description"] = f"{cv['description'] if cv else ''} ({waiting})"
    twins = int(metrics.get(AUDIT_TWINS) or 0)
    since = labeled - trained_on - n_audit - twins  # arrived since, less those gone since
    undone = relabel = 0
    if gone is not None:
        undone, relabel = gone.undone, gone.relabel
        since += undone + relabel
    parts = [f"{labeled} labeled: model v{version} trained on {trained_on}"]
    if n_audit:
        are = "audit labels are" if n_audit != 1 else "audit label is"
        parts.append(f"{n_audit} {are} held out of training to measure it")
    if twins:
        parts.append(
            f"{twins} more {'are' if twins != 1 else 'is'} held out with them (an audit "
            "text to the model: in other letter case, accents or invisible characters)"
        )
    if since > 0:
        parts.append(f"{since} arrived after it was trained")
    if undone:
        were = "label it counted was" if undone == 1 else "labels it counted were"
        parts.append(f"{undone} {were} undone since")
    # fewer labeled than it counted, and not for an undo: their label no longer counts
    if relabel or (gone is None and since < 0 and changed_since):
        parts.append(
            "some examples it counted now wait for a relabel, a label split or retired since"
        )
    elif gone is None and since < 0:  # no change since it was trained: labels taken back
        parts.append("some labels it counted were undone since")
    counts = {"labeled": labeled, "trained_on": trained_on, "audit": n_audit}
    if twins:
        counts["audit_twins"] = twins
    if gone is not None:
        counts |= {"undone": undone, "relabel": relabel}
    return {
        "headline": headline,
        "cross_validated": cv,
        "labels": {**counts, "since": max(since, 0), "description": "; ".join(parts)},
    }


@dataclass(frozen=True)
class LabelsGone:
    """Of the examples a model counted (trained on, or held out as audit labels and their
    twins), how many have no agreed label now: ``undone`` (their label was taken back since:
    Undo), and ``relabel`` (they wait for a relabel, their label split or retired since)."""

    undone: int
    relabel: int


def labels_gone(
    metrics: Mapping[str, Any],
    rows: Sequence[feedback.AnnotationRow],
    *,
    counted: int,
    trained_at: datetime,
) -> LabelsGone | None:
    """:class:`LabelsGone` of a run (its ``metrics``, trained at ``trained_at``, which counted
    ``counted`` labeled examples) from the project's live annotations ``rows`` (oldest first).
    None for a run that did not note the last annotation it read.

    The examples it counted are rebuilt from the votes it read (``annotations_read_through``),
    a vote for a label split or retired after it was trained counting as it did then: those
    without an agreed label now wait for a relabel. The ones it counted that are not rebuilt
    had every vote it read taken back since: undone (a retracted vote is not among ``rows``)."""
    through = metrics.get("annotations_read_through")
    if through is None:
        return None
    through = int(through)
    stamp = metrics.get(TAXONOMY_AS_OF)
    as_of = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None

    def stale_then(r: feedback.AnnotationRow) -> bool:  # its label stopped counting before
        if r.stale_since is None:
            return False  # the change is being made now
        if r.stale_after is not None and r.stale_after != through:
            return r.stale_after < through  # a vote given after the change was read, or not
        return r.stale_since == as_of or r.stale_since <= trained_at

    then: dict[int, list[feedback.AnnotationRow]] = {}
    for r in rows:
        if r.id > through:
            continue
        if r.current is None and not stale_then(r):
            r = replace(r, current=r.label, stale_since=None, stale_after=None)
        then.setdefault(r.example_id, []).append(r)
    had = {e for e, votes in then.items() if feedback.agreed_label(votes) is not None}
    now = feedback.agreed_labels(rows)
    return LabelsGone(undone=max(counted - len(had), 0), relabel=len(had - set(now)))


def explain_status(info: dict[str, Any], *, ws: Workspace | None = None) -> dict[str, Any]:
    """``engine.projects.project_status``'s ``info`` with its model's numbers explained:
    ``model["estimate"]`` (:func:`model_estimates`) and ``model["per_class_f1"]`` (one kind of
    score for every class, :func:`per_class_f1`, with what it is). Returns ``info``.

    With ``ws`` (the project's workspace) the database is read for two things the stored
    metrics cannot say: whether the queue chose most training labels (the cross-validation
    caveat is said only then; without ``ws`` it always is), and what each class the model knew
    is called today, so that a label renamed since keeps its score under its new name."""
    model = info.get("model")
    if model:
        metrics = model.get("metrics") or {}
        queue_chosen, names, gone = True, {}, None
        audit = metrics.get("audit") or {}
        counted = int(model["labels"]) + int(audit.get("n") or 0)
        counted += int(metrics.get(AUDIT_TWINS) or 0)
        if ws is not None:
            project = str(info["project"])
            rows = _live_annotations(ws, project)
            queue_chosen = queue_chose_labels(ws, project, metrics, rows=rows)
            trained_at = datetime.fromisoformat(str(model["trained_at"]))
            names = names_today(ws, project, classes=metrics.get("labels") or [], as_of=trained_at)
            gone = labels_gone(metrics, rows, counted=counted, trained_at=trained_at)
        model["estimate"] = model_estimates(
            metrics, version=int(model["version"]), trained_on=int(model["labels"]),
            labeled=int(info.get("labeled", 0)), queue_chosen=queue_chosen, gone=gone,
            changed_since=bool(model.get("before_taxonomy_change", True)),
        )  # fmt: skip
        scores = per_class_f1(metrics)
        table: dict[str, dict[str, Any]] = {}
        for lb, f1 in scores.f1.items():
            table.setdefault(names.get(lb, lb), {"f1": f1, "support": scores.support.get(lb, 0)})
        if "labels" in info:  # only the labels in use today, as the digest lists them
            today = in_use(
                replace(scores, f1={lb: s["f1"] for lb, s in table.items()}),
                {str(lb["name"]) for lb in info["labels"] if lb["active"]},
            )
            table = {lb: table[lb] for lb in today.f1}
        model["per_class_f1"] = {
            "source": scores.source or None,
            "description": (scores.describe(queue_chosen=queue_chosen) if scores.source else None),
            "scores": table,
        }
    return info


def _live_annotations(ws: Workspace, project: str) -> list[feedback.AnnotationRow]:
    """The project's live annotations, oldest first (feedback.list_annotations)."""
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        return feedback.list_annotations(session=session, project_id=found.id)


def queue_chose_labels(
    ws: Workspace,
    project: str,
    metrics: Mapping[str, Any],
    *,
    rows: list[feedback.AnnotationRow] | None = None,
) -> bool:
    """Whether the queue chose most of a run's training labels: more than half of the examples
    it trained on were first labeled through a delivery (Slack, `labelbot label`, a review; not
    an import). Only then does its cross-validated accuracy read low for being measured on
    the queue's hard picks. The run's labels are those up to the annotation it read last
    (``annotations_read_through``), audit labels left out as training leaves them out; with
    none to count, True (the caveat stays). ``rows``: the project's live annotations, when the
    caller has read them already."""
    through = metrics.get("annotations_read_through")
    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        if rows is None:
            rows = feedback.list_annotations(session=session, project_id=found.id)
        audit = assignments.audit_labeled_ids(session=session, project_id=found.id)
    first: dict[int, str] = {}  # example -> the source of its first live label the run read
    for row in rows:  # oldest first
        if row.current is None or row.example_id in audit:
            continue  # a vote that no longer counts, or an audit label: neither trained it
        if through is not None and row.id > int(through):
            continue
        first.setdefault(row.example_id, row.source)
    if not first:
        return True
    delivered = sum(1 for source in first.values() if source != IMPORTED)
    return 2 * delivered > len(first)


def names_today(
    ws: Workspace, project: str, *, classes: Sequence[str], as_of: datetime
) -> dict[str, str]:
    """The label each of a model's ``classes`` (its names when it was trained, at ``as_of``)
    is, by the name it has today: a rename changes the name, never the label. The label is the
    one that had the name at ``as_of`` (from the rename history), not the one that has it
    today: two labels may have swapped names since. A class whose label is gone is left out;
    one merged since is its own label still (retired), not the label it went into, whose score
    is its own."""

    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        labels = model_repo.class_labels(
            session=session, project_id=found.id, classes=classes, as_of=as_of
        )
        return {name: lb.name for name, lb in zip(classes, labels, strict=True) if lb is not None}


def run_summary(
    metrics: Mapping[str, Any],
    *,
    version: int,
    kind: str,
    n_labels: int,
    queue_chosen: bool = True,
) -> str:
    """One line on a run just trained: its honest accuracy (the audit estimate when there is
    one, else cross-validated, marked as reading low when the queue chose its labels:
    ``queue_chosen``, :func:`queue_chose_labels`) and whether it answers now or was held
    back."""
    estimate = model_estimates(metrics, version=version, trained_on=n_labels, labeled=n_labels,
                               queue_chosen=queue_chosen)  # fmt: skip
    head = estimate["headline"]
    said = head["description"] if head else cv_summary(metrics)
    promotion: Mapping[str, Any] = metrics.get("promotion") or {}
    if promotion.get("promoted", True):
        answers = "it answers now"
    else:
        answers = f"held back, not answering: {promotion.get('reason') or 'see labelbot models'}"
    return f"model v{version} ({kind}) on {n_labels} training labels: {said}; {answers}"
