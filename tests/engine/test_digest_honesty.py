"""The digest says which numbers are which: the forecast fits one kind of point, the chart tells
the kinds apart (and its edge cases read sensibly), per-class scores say they are
cross-validated, and "weakest" names only classes that are weak.

Model runs are stored directly with known metrics, so the figures are exact."""

from __future__ import annotations

from typing import Any

import pytest

from engine import digest, projects, taxonomy
from engine.digest import CurvePoint
from engine.forecast import fit_learning_curve
from storage.db import session_scope
from storage.repositories import models
from storage.repositories import projects as project_repo

LABELS = ["a", "b", "c"]


def _audit(acc: float, low: float, high: float, n: int) -> dict[str, Any]:
    return {"accuracy": acc, "low": low, "high": high, "n": n, "confidence": 0.9,
            "macro_f1": acc, "macro_f1_low": low, "macro_f1_high": high,
            "per_class": {}}  # fmt: skip


def _per_class(f1: dict[str, float]) -> dict[str, dict[str, float]]:
    return {lb: {"precision": v, "recall": v, "f1": v, "support": 10} for lb, v in f1.items()}


def _run(ws, name: str, n: int, cv: float, audit: dict[str, Any] | None = None,  # type: ignore[no-untyped-def]
         f1: dict[str, float] | None = None) -> None:  # fmt: skip
    """Store a finished, active model run of ``n`` training labels with these metrics."""
    scores = _per_class(f1 or {"a": 0.5, "b": 0.7, "c": 0.9})
    metrics: dict[str, Any] = {"accuracy": cv, "macro_f1": cv, "n_labels": n, "folds": 5,
                               "per_class": scores}  # fmt: skip
    if audit is not None:
        metrics["audit"] = audit
    with session_scope(ws.db) as session:
        pid = int(project_repo.get_project(session=session, name=name).id or 0)
        run = models.start_model_run(session=session, project_id=pid, n_labels=n, classes=LABELS)
        models.finish_model_run(session=session, run_id=int(run.id or 0), status="ready",
                                metrics=metrics, kind="linear")  # fmt: skip
        models.activate_model_run(session=session, project_id=pid, run_id=int(run.id or 0))


@pytest.fixture
def project(ws):  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="p", labels=LABELS)
    return ws


# The audit's mixed.py: seed labels (v1, cross-validated only), then audit points from v2 on.
CV = [(80, 0.912), (103, 0.894), (125, 0.889), (148, 0.838), (170, 0.806)]
# (Its audit points rested on 2-10 audit labels; the forecast reads a point once it rests on 20,
# engine.forecast.MIN_AUDIT_LABELS: here each is 100% on 20-40, with Wilson's 90% lower ends.)
AUDIT = [None, (1.0, 0.881, 1.0, 20), (1.0, 0.902, 1.0, 25), (1.0, 0.917, 1.0, 30),
         (1.0, 0.937, 1.0, 40)]  # fmt: skip


def test_the_forecast_is_fit_to_one_kind_of_point(project) -> None:  # type: ignore[no-untyped-def]
    """With fewer than 4 audit points the forecast used to fit CV and audit points together (a
    curve from 0.91 cross-validated up to 100% on the audit set: steep, optimistic); now it
    fits the CV points alone (falling here: no forecast), then the audit points alone once
    there are 4."""
    ws = project
    for (n, cv), audit in zip(CV[:4], AUDIT[:4], strict=True):
        _run(ws, "p", n, cv, _audit(*audit) if audit else None)
    d = digest.build_digest(ws, "p")
    assert [p.source for p in d.curve] == ["cv", "audit", "audit", "audit"]
    assert d.forecast_basis == "cv" and [p.accuracy for p in d.cv_curve] == [a for _, a in CV[:4]]
    mixed = fit_learning_curve([p.labels for p in d.curve], [p.accuracy for p in d.curve])
    assert mixed.ok  # what the digest used to say
    cv_only = fit_learning_curve(
        [n for n, _ in CV[:4]], [a for _, a in CV[:4]],
        points="cross-validated points", unit="training labels",
    )  # fmt: skip
    assert d.forecast.message == cv_only.message and not d.forecast.ok  # CV falls here

    n, cv = CV[4]
    _run(ws, "p", n, cv, _audit(*AUDIT[4]))  # the 4th audit point
    d = digest.build_digest(ws, "p")
    audit = [p for p in d.curve if p.source == "audit"]
    alone = fit_learning_curve([p.labels for p in audit], [p.accuracy for p in audit],
                               low=[p.low for p in audit], high=[p.high for p in audit],
                               measured_on=[p.measured_on or 0 for p in audit])  # fmt: skip
    assert d.forecast_basis == "audit" and d.forecast.current_labels == 170
    assert (d.forecast.a, d.forecast.b, d.forecast.c) == (alone.a, alone.b, alone.c)
    assert "audit-set points" in d.forecast_line() and "training labels" in d.forecast_line()
    # the range never promises more than the latest interval's floor (finding 5, end to end)
    lo, _ = d.forecast.predict_range(420) or (1.0, 1.0)
    assert lo <= 0.937 + 1e-9


def test_audit_points_on_a_handful_of_labels_are_not_the_forecasts_basis(project) -> None:  # type: ignore[no-untyped-def]
    """The first models' audit points rest on 2-10 audit labels, 100% by luck as often as not:
    four of them made the basis, and their fall to a later 96% read as "not rising" (an audit's
    simulation). The cross-validated points stay the basis, and the digest says why."""
    ws = project
    small = [None, (1.0, 0.425, 1.0, 2), (1.0, 0.649, 1.0, 5), (1.0, 0.721, 1.0, 7),
             (1.0, 0.787, 1.0, 10)]  # fmt: skip
    for (n, cv), audit in zip(CV, small, strict=True):
        _run(ws, "p", n, cv, _audit(*audit) if audit else None)
    d = digest.build_digest(ws, "p")
    assert [p.source for p in d.curve].count("audit") == 4 and d.forecast_basis == "cv"
    assert d.forecast.message.endswith(
        "Audit-set points count once a model is scored on 20 audit labels: 0 so far, 4 needed."
    )


def test_a_forecast_from_cross_validated_points_says_so(project) -> None:  # type: ignore[no-untyped-def]
    ws = project
    for n, cv in ((40, 0.6), (80, 0.7), (120, 0.75), (160, 0.78)):
        _run(ws, "p", n, cv)
    d = digest.build_digest(ws, "p")
    assert d.forecast_basis == "cv" and d.forecast.ok
    assert "cross-validated points" in d.forecast_line() and d.forecast.predict_range(400) is None


def test_models_before_a_taxonomy_change_stay_out_of_the_fit(project) -> None:  # type: ignore[no-untyped-def]
    """Accuracy before a taxonomy change measured other classes: those points are marked,
    drawn faded behind a line, and the forecast reads only the models since."""
    ws = project
    _run(ws, "p", 40, 0.6, _audit(0.5, 0.3, 0.7, 8))
    _run(ws, "p", 60, 0.6, _audit(0.55, 0.35, 0.72, 10))
    taxonomy.add_labels(ws, project="p", names=["d"], actor="ana", rescore=False)
    for n, acc in ((80, 0.7), (100, 0.78), (120, 0.82), (140, 0.84)):
        _run(ws, "p", n, acc - 0.1, _audit(acc, acc - 0.1, acc + 0.08, n // 4))
    d = digest.build_digest(ws, "p")
    assert [p.before_change for p in d.curve] == [True, True, False, False, False, False]
    assert d.taxonomy_change_at == 70
    since = [p for p in d.curve if not p.before_change]
    alone = fit_learning_curve([p.labels for p in since], [p.accuracy for p in since],
                               low=[p.low for p in since], high=[p.high for p in since],
                               measured_on=[p.measured_on or 0 for p in since])  # fmt: skip
    assert d.forecast_basis == "audit" and (d.forecast.a, d.forecast.b) == (alone.a, alone.b)
    fig = digest.chart_figure(d)
    try:
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert any(t.startswith("taxonomy changed") for t in legend)
        faded = [ln for ln in fig.axes[0].get_lines() if ln.get_alpha() == 0.35]
        assert faded and all(max(ln.get_xdata()) <= 60 for ln in faded)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def _legend(ax) -> list[str]:  # type: ignore[no-untyped-def]
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def test_the_chart_tells_audit_from_cross_validated_points(project) -> None:  # type: ignore[no-untyped-def]
    ws = project
    for (n, cv), audit in zip(CV, AUDIT, strict=True):
        _run(ws, "p", n, cv, _audit(*audit) if audit else None)
    fig = digest.chart_figure(digest.build_digest(ws, "p"))
    try:
        left, right = fig.axes
        legend = _legend(left)
        assert "accuracy on the audit set (unbiased)" in legend
        assert "cross-validated on the queue's picks (reads low)" in legend
        assert any(t.startswith("forecast from audit points") for t in legend)
        markers = {ln.get_label(): ln.get_marker() for ln in left.get_lines()}
        assert markers["accuracy on the audit set (unbiased)"] == "o"
        assert markers["cross-validated on the queue's picks (reads low)"] == "s"
        assert "training labels" in left.get_xlabel() and "audit" in left.get_xlabel()
        assert "cross-validated" in right.get_title()
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_a_chart_of_one_point(project) -> None:  # type: ignore[no-untyped-def]
    """The x-axis starts at 0 with room past the point (it spanned 39-43), and the interval is
    drawn as an error bar, not listed in the legend as a band of no width."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    ws = project
    _run(ws, "p", 41, 0.707, _audit(0.667, 0.26, 0.92, 3))
    fig = digest.chart_figure(digest.build_digest(ws, "p"))
    try:
        left = fig.axes[0]
        lo, hi = left.get_xlim()
        assert lo == 0 and hi >= 41 * 1.2
        assert "90% interval (audit)" in _legend(left) and left.containers  # an error bar
        assert not [c for c in left.collections if isinstance(c, PolyCollection)]  # no band
    finally:
        plt.close(fig)


def test_a_chart_of_no_point(project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No fractional axis (it ran 0-1), and the per-class panel says why it is empty."""
    import matplotlib.pyplot as plt

    none = digest.build_digest(project, "p")
    fig = digest.chart_figure(none)
    try:
        left, right = fig.axes
        assert len(left.get_xticks()) == 0 and len(left.get_yticks()) == 0
        assert [t.get_text() for t in left.texts] == ["no model yet"]
        assert [t.get_text() for t in right.texts] == ["no per-class scores: no model yet"]
    finally:
        plt.close(fig)
    assert digest.render_chart(none, tmp_path / "none.png").read_bytes()[:4] == b"\x89PNG"


def test_weakest_says_cross_validated_and_only_names_weak_classes(project) -> None:  # type: ignore[no-untyped-def]
    ws = project
    _run(ws, "p", 100, 0.95, _audit(1.0, 0.8, 1.0, 12), f1={"a": 1.0, "b": 0.97, "c": 0.96})
    d = digest.build_digest(ws, "p")
    assert d.weakest == [] and not any("eakest" in line for line in d.summary())
    _run(ws, "p", 120, 0.8, _audit(0.9, 0.8, 0.95, 14), f1={"a": 0.64, "b": 0.97, "c": 0.85})
    d = digest.build_digest(ws, "p")
    assert d.per_class_source == "cv" and d.weakest == [("a", 0.64, 10), ("c", 0.85, 10)]
    (line,) = [line for line in d.summary() if line.startswith("Weakest")]
    assert "cross-validated F1" in line and "reads low" in line and "a (F1 0.64, n=10)" in line
    assert "under the 90% target" in d.weakest_title()


def test_a_weak_f1_never_reads_as_the_target_it_is_under(project) -> None:  # type: ignore[no-untyped-def]
    """0.8989 was written "F1 0.90" in a list "under the 90% target"."""
    ws = project
    _run(ws, "p", 120, 0.8, _audit(0.9, 0.8, 0.95, 14), f1={"a": 0.64, "b": 0.8989, "c": 0.97})
    d = digest.build_digest(ws, "p")
    (line,) = [line for line in d.summary() if line.startswith("Weakest")]
    assert "a (F1 0.64, n=10)" in line and "b (F1 0.898, n=10)" in line, line
    assert d.f1_figure(0.8999) == "0.899" and d.f1_figure(0.894) == "0.89"


def test_the_taxonomy_line_comes_before_a_model_since_trained_on_fewer_labels(project) -> None:  # type: ignore[no-untyped-def]
    """A split sends its examples back to the queue: the next model trains on fewer labels
    than the last one before. Midway between the two, the line stood right of that model, as
    if it came before the change."""
    ws = project
    _run(ws, "p", 200, 0.8, _audit(0.8, 0.7, 0.9, 10))
    _run(ws, "p", 260, 0.8, _audit(0.85, 0.75, 0.9, 12))
    taxonomy.add_labels(ws, project="p", names=["d"], actor="ana", rescore=False)
    _run(ws, "p", 228, 0.82, _audit(0.9, 0.8, 0.95, 10))
    d = digest.build_digest(ws, "p")
    assert d.taxonomy_change_at is not None and 200 < d.taxonomy_change_at < 228


def test_the_stop_signal_in_the_digest_asks_for_enough_audit_labels(project) -> None:  # type: ignore[no-untyped-def]
    """The audit's tiny.py: 100% on 2 audit labels, a flat curve and agreeing models."""
    ws = project
    for n in (4, 6, 8, 10):
        _run(ws, "p", n, 1.0, _audit(1.0, 0.425, 1.0, 2))
    with session_scope(ws.db) as session:  # successive models agree perfectly
        pid = int(project_repo.get_project(session=session, name="p").id or 0)
        for run in models.list_model_runs(session=session, project_id=pid):
            run.metrics = {**run.metrics, "agreement_previous": 1.0}
            session.add(run)
    d = digest.build_digest(ws, "p")
    assert d.forecast.ok and not d.stop.stop and "too wide" in d.stop.reason


def test_a_curve_point_is_current_unless_marked() -> None:
    assert CurvePoint(10, 0.5, None, None, "cv").before_change is False
