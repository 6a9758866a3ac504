"""A model trained on fewer labels than the one before it (labels undone, a split's examples
waiting to be relabeled): the chart's lines and band run in label order, and the forecast's
"more labels" count from the labels trained on today, not from the most ever trained on.

Model runs are stored directly with known metrics, so the figures are exact."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest

from engine import digest, projects
from engine.digest import CurvePoint, by_label_count
from engine.forecast import _round, fit_learning_curve
from storage.db import session_scope
from storage.repositories import models
from storage.repositories import projects as project_repo

LABELS = ["a", "b", "c"]
# version order: 60 labels undone after v5, v6 trains on 36
COUNTS = [18, 36, 54, 72, 90, 36]
ACC = [0.60, 0.70, 0.76, 0.80, 0.83, 0.72]


def _run(ws: Any, n: int, acc: float) -> None:
    """Store a finished, active model run of ``n`` training labels with an audit estimate."""
    audit = {"accuracy": acc, "low": acc - 0.1, "high": acc + 0.05, "n": 20, "confidence": 0.9,
             "macro_f1": acc, "macro_f1_low": acc - 0.1, "macro_f1_high": acc + 0.05,
             "per_class": {}}  # fmt: skip
    metrics = {"accuracy": acc - 0.05, "macro_f1": acc, "n_labels": n, "folds": 5,
               "per_class": {}, "audit": audit}  # fmt: skip
    with session_scope(ws.db) as session:
        pid = int(project_repo.get_project(session=session, name="p").id or 0)
        run = models.start_model_run(session=session, project_id=pid, n_labels=n, classes=LABELS)
        models.finish_model_run(session=session, run_id=int(run.id or 0), status="ready",
                                metrics=metrics, kind="linear")  # fmt: skip
        models.activate_model_run(session=session, project_id=pid, run_id=int(run.id or 0))


@pytest.fixture
def undone(ws):  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="p", labels=LABELS)
    for n, acc in zip(COUNTS, ACC, strict=True):
        _run(ws, n, acc)
    return digest.build_digest(ws, "p")


def test_the_curve_is_drawn_in_label_order_one_point_per_count(undone) -> None:  # type: ignore[no-untyped-def]
    """Drawn in version order the line ran 18 → 90 and back to 36, and the band folded."""
    assert [p.labels for p in undone.curve] == COUNTS  # the data: every model, version order
    fig = digest.chart_figure(undone)
    try:
        lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
        audit = lines["accuracy on the audit set (unbiased)"]
        assert list(audit.get_xdata()) == [18, 36, 54, 72, 90]
        # at 36 labels the latest model's point (v6), not v2's
        assert list(audit.get_ydata()) == pytest.approx([0.60, 0.72, 0.76, 0.80, 0.83])
        cv = [ln for name, ln in lines.items() if name.startswith("cross-validated")][0]
        assert list(cv.get_xdata()) == [18, 36, 54, 72, 90]
        band = [c for c in fig.axes[0].collections if c.get_label() == "90% interval (audit)"]
        xs = band[0].get_paths()[0].vertices[:, 0]
        upper = xs[1 : len(xs) // 2]  # fill_between: the lower edge out, the upper edge back
        assert np.all(np.diff(upper) >= 0)
    finally:
        plt.close(fig)


def test_by_label_count_keeps_the_latest_model_at_a_count() -> None:
    points = [CurvePoint(n, a, None, None, "cv") for n, a in zip(COUNTS, ACC, strict=True)]
    assert [(p.labels, p.accuracy) for p in by_label_count(points)] == [
        (18, 0.60), (36, 0.72), (54, 0.76), (72, 0.80), (90, 0.83)]  # fmt: skip


def test_more_labels_count_from_the_latest_model(undone) -> None:  # type: ignore[no-untyped-def]
    """The forecast counted from 90 labels (the most ever trained on): "250 more" read 340."""
    fc = undone.forecast
    assert fc.ok and fc.current_labels == 36
    assert fc.milestones()[0][0] == 36 + 250
    need = fc.labels_to_reach(0.85)
    assert need is not None and need > 90
    assert f"About {_round(need - 36)} more training labels to reach 85%" in fc.describe(0.85)


def test_fit_learning_curve_counts_from_the_current_labels() -> None:
    fc = fit_learning_curve(COUNTS, ACC, current=36)
    assert fc.current_labels == 36
    assert fit_learning_curve(COUNTS, ACC).current_labels == 90  # as before without it
