"""Audit points on a handful of audit labels do not steer the forecast, and the labels still
needed are not quoted when the evidence cannot say.

Each model is scored on the audit labels of its day, so the first audit points rest on 2, 4, 6
audit labels and often read 100% by luck; later ones, on more labels, read lower and rise. Read as
a curve, the lucky start looked like accuracy falling ("not rising"), and the power law fit
through it put 97% some 612,500 labels away ("range 0 to out of reach")."""

from __future__ import annotations

import re

from engine.audit import wilson_interval
from engine.digest import CurvePoint, _forecast
from engine.forecast import fit_learning_curve


def _audit(labels: int, correct: int, n: int) -> CurvePoint:
    low, high = wilson_interval(correct, n)
    return CurvePoint(labels, correct / n, low, high, "audit", measured_on=n)


def _cv(labels: int, acc: float) -> CurvePoint:
    return CurvePoint(labels, acc, None, None, "cv")


# a model scored on 2, 4, ... 16 audit labels (every one right), then on 20 to 34 (rising)
LUCKY = [_audit(10 * n, n, n) for n in range(2, 18, 2)]
RISING = [_audit(10 * n, k, n) for n, k in ((20, 17), (22, 19), (24, 21), (26, 23), (28, 25),
                                             (30, 27), (32, 29), (34, 31))]  # fmt: skip
# cross-validated on the queue's picks: reads low and falls as the picks get harder
CV = [_cv(p.labels, 0.9 - 0.01 * i) for i, p in enumerate(LUCKY + RISING)]


def test_lucky_early_audit_points_do_not_read_as_falling() -> None:
    """The tiny-n 100%s (fewer than 20 audit labels) are left out; the rising points on enough
    audit labels are the curve."""
    fc, basis = _forecast(LUCKY + RISING, CV, RISING[-1].labels)
    assert basis == "audit" and fc.ok, fc.message
    assert "not rising" not in fc.message and f"fit to {len(RISING)} audit-set points" in fc.message
    assert fc.predict(1000) > RISING[0].accuracy  # a rising curve


def test_a_fall_within_the_audit_noise_is_no_fall() -> None:
    """100% on 20 and 22 audit labels, then 23 of 24 and 24 of 26: as likely from one model at
    95% as from a falling one; the points' own n says so (without it: "not rising")."""
    points = [_audit(200, 20, 20), _audit(220, 22, 22), _audit(240, 23, 24), _audit(260, 24, 26)]
    args = ([p.labels for p in points], [p.accuracy for p in points])
    assert "not rising" in fit_learning_curve(*args).message  # what the training labels say
    fc = fit_learning_curve(*args, measured_on=[p.measured_on or 0 for p in points])
    assert fc.ok, fc.message
    # a fall far beyond the noise is still one
    steep = fit_learning_curve([200, 300, 400, 500], [1.0, 0.9, 0.8, 0.7],
                               measured_on=[100, 150, 200, 250])  # fmt: skip
    assert not steep.ok and "not rising" in steep.message


def test_the_forecast_waits_for_enough_audit_labels() -> None:
    """Fewer than 4 points on enough audit labels: cross-validated points, and the digest says
    why the audit points on the chart are not read."""
    fc, basis = _forecast(LUCKY + RISING[:3], CV[:11], RISING[2].labels)
    assert basis == "cv" and "cross-validated points" in fc.message
    assert "scored on 20 audit labels: 3 so far, 4 needed." in fc.message
    # no audit points at all: nothing to explain
    plain, _ = _forecast(CV[:11], CV[:11], 240)
    assert "Audit-set points count" not in plain.message


def test_a_range_from_none_to_out_of_reach_gives_no_figure() -> None:
    """A fit that reaches 97% somewhere between now and never: no "About 612,500 more"."""
    n = [200, 240, 280, 320, 360, 400]
    acc = [0.95, 0.955, 0.958, 0.96, 0.962, 0.963]
    half = 0.04
    low, high = [a - half for a in acc], [min(a + half, 1.0) for a in acc]
    fc = fit_learning_curve(n, acc, low=low, high=high)
    bounds = fc.labels_to_reach_range(0.97)
    assert fc.ok and bounds is not None and bounds[0] <= 400 and bounds[1] is None
    said = fc.describe(0.97)
    assert "Too early to forecast the labels needed to reach 97%" in said
    assert "none to out of reach" in said and "About" not in said
    assert not re.search(r"\d more", said)


def test_no_figure_far_beyond_the_labels_so_far() -> None:
    """A curve that creeps up reaches 91.5% only at ~43,000 labels from 1,000: no figure."""
    n = [100, 150, 200, 300, 400, 500, 700, 1000]
    fc = fit_learning_curve(n, [0.92 - 3.0 * x**-0.6 for x in n])
    need = fc.labels_to_reach(0.915)
    assert need is not None and need > 10 * 1000
    said = fc.describe(0.915)
    assert "Too early" in said and "past 10× today's 1,000 labels" in said
    assert "About" not in said
    assert "About" in fc.describe(0.90)  # ~4,200 labels: within reach of the points
