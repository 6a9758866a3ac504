"""Learning-curve forecasts recover a known curve, and say so plainly when they cannot."""

from __future__ import annotations

import numpy as np
import pytest

from engine.forecast import fit_learning_curve, prediction_agreement, stop_signal

N = np.array([100, 150, 200, 300, 400, 500, 700, 1000])


def curve(n: np.ndarray, a: float = 0.92, b: float = 3.0, c: float = 0.6) -> np.ndarray:
    out: np.ndarray = a - b * n.astype(float) ** -c
    return out


def test_recovers_a_synthetic_power_law() -> None:
    rng = np.random.default_rng(0)
    fc = fit_learning_curve(N.tolist(), (curve(N) + rng.normal(0, 0.002, N.size)).tolist())
    assert fc.ok and abs(fc.plateau - 0.92) < 0.01
    assert fc.predict(2000) == pytest.approx(float(curve(np.array([2000]))[0]), abs=0.01)
    steps = fc.milestones()
    assert [n for n, _ in steps] == [1250, 1500, 2000, 3000]
    assert all(a1 < a2 for (_, a1), (_, a2) in zip(steps, steps[1:], strict=False))
    assert "plateau ≈ 9" in fc.message and "2,000 labels ≈" in fc.message


def test_a_flat_curve_is_at_its_plateau() -> None:
    fc = fit_learning_curve([100, 200, 300, 400, 500], [0.9, 0.9, 0.9, 0.9, 0.9])
    assert fc.ok and fc.plateau == pytest.approx(0.9, abs=0.005)


def test_labels_to_reach() -> None:
    fc = fit_learning_curve(N.tolist(), curve(N).tolist())
    need = fc.labels_to_reach(0.90)
    exact = (3.0 / 0.02) ** (1 / 0.6)  # solve 0.92 - 3 n^-0.6 = 0.90
    assert need is not None and abs(need - exact) / exact < 0.1
    assert fc.labels_to_reach(0.5) == 1000  # already there
    assert "more labels to reach 90%" in fc.describe(0.90)


def test_target_beyond_the_plateau_is_not_reachable() -> None:
    fc = fit_learning_curve(N.tolist(), curve(N).tolist())
    assert fc.labels_to_reach(0.95) is None
    assert "out of reach: plateau ≈ 92%" in fc.describe(0.95)


@pytest.mark.parametrize(
    ("labels", "acc"),
    [([100, 200, 300], [0.5, 0.6, 0.65]), ([100, 100, 200, 200], [0.5, 0.52, 0.6, 0.61]), ([], [])],
)
def test_too_few_points_say_so(labels: list[int], acc: list[float]) -> None:
    fc = fit_learning_curve(labels, acc)
    assert not fc.ok and fc.message.startswith("Too few points")
    assert np.isnan(fc.predict(1000)) and fc.labels_to_reach(0.6) is None
    assert fc.describe(0.9) == fc.message


def test_falling_accuracy_gives_no_forecast() -> None:
    fc = fit_learning_curve([100, 200, 300, 400], [0.8, 0.7, 0.6, 0.5])
    assert not fc.ok and "not rising" in fc.message


def test_kappa_agreement() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 10, 5000)
    assert prediction_agreement(a, a) == pytest.approx(1.0)
    assert abs(prediction_agreement(a, rng.integers(0, 10, 5000))) < 0.03
    assert prediction_agreement(np.zeros(5, int), np.zeros(5, int)) == 1.0


def test_stop_signal_needs_both_plateau_and_stability() -> None:
    fc = fit_learning_curve(N.tolist(), curve(N).tolist())
    stable, moving = [0.97, 0.995, 0.996, 0.998], [0.995, 0.95, 0.996]
    near, far = 0.91, 0.80
    sure = (0.88, 0.94)  # a 6-point 90% interval: enough evidence to stop on
    advice = stop_signal(fc, stable, near, interval=sure)
    assert advice.stop and "consider stopping or revising the taxonomy" in advice.reason.lower()
    assert not stop_signal(fc, moving, near, interval=sure).stop
    assert not stop_signal(fc, stable, far, interval=sure).stop
    # too few models to judge stability
    assert not stop_signal(fc, stable[-2:], near, interval=sure).stop
    assert not stop_signal(fit_learning_curve([1, 2], [0.1, 0.2]), stable, near, interval=sure).stop


def test_the_range_comes_from_the_points_intervals() -> None:
    """Refit to all the intervals' lower ends and to all their upper ends: a range around the
    forecast, as wide as the intervals are (wider intervals, a wider range), shown in the text;
    none without intervals."""
    acc = curve(N)
    narrow = fit_learning_curve(N.tolist(), acc.tolist(), low=(acc - 0.02).tolist(),
                                high=(acc + 0.02).tolist())  # fmt: skip
    wide = fit_learning_curve(N.tolist(), acc.tolist(), low=(acc - 0.06).tolist(),
                              high=(acc + 0.06).tolist())  # fmt: skip
    point = fit_learning_curve(N.tolist(), acc.tolist())
    assert point.predict_range(2000) is None and "–" not in point.message
    at = float(curve(np.array([2000]))[0])
    for fc, half in ((narrow, 0.02), (wide, 0.06)):
        assert fc.predict(2000) == pytest.approx(point.predict(2000), abs=1e-9)
        r = fc.predict_range(2000)
        assert r is not None and r[0] < at < r[1]
        # a shift of every point by d moves the refit curve by about d
        assert r[0] == pytest.approx(at - half, abs=0.01)
        assert r[1] == pytest.approx(at + half, abs=0.01)
    lo, hi = narrow.predict_range(2000) or (0, 0)
    assert f"2,000 labels ≈ {point.predict(2000):.0%} ({round(100 * lo)}–{round(100 * hi)}%)" in (
        narrow.message
    )
    # an interval with a missing end (a cross-validated point) gives no range
    holes = fit_learning_curve(N.tolist(), acc.tolist(), low=[float("nan")] * N.size,
                               high=(acc + 0.02).tolist())  # fmt: skip
    assert holes.ok and holes.predict_range(2000) is None


def test_labels_needed_come_with_their_range() -> None:
    """The curve refit to the high ends reaches the target sooner, the low-end one later or
    never; the sentence gives both."""
    acc = curve(N)  # plateau 0.92; 0.90 at ~1,700 labels
    fc = fit_learning_curve(N.tolist(), acc.tolist(), low=(acc - 0.01).tolist(),
                            high=(acc + 0.01).tolist())  # fmt: skip
    need = fc.labels_to_reach(0.90)
    bounds = fc.labels_to_reach_range(0.90)
    assert need is not None and bounds is not None and bounds[1] is not None
    assert bounds[0] < need < bounds[1]
    assert f"(range {_r(bounds[0] - 1000)} to {_r(bounds[1] - 1000)})." in fc.describe(0.90)
    wide = fit_learning_curve(N.tolist(), acc.tolist(), low=(acc - 0.05).tolist(),
                              high=(acc + 0.05).tolist())  # fmt: skip
    far = wide.labels_to_reach_range(0.90)
    assert far is not None and far[1] is None  # the low-end plateau (~0.87) is below 90%
    # from "already there" to "out of reach": no figure between means anything
    said = wide.describe(0.90)
    assert "Too early to forecast the labels needed to reach 90%" in said and "About" not in said
    assert fit_learning_curve(N.tolist(), acc.tolist()).labels_to_reach_range(0.9) is None


def _r(n: int) -> str:
    from engine.forecast import _round

    return _round(n)


def test_a_model_that_measures_the_target_is_there_whatever_the_curve() -> None:
    """A noisy curve can fit a plateau just under the target while the latest model is above it:
    that model is at the target, not "out of reach" (nor "10 more labels" away)."""
    under = fit_learning_curve([100, 200, 300, 400], [0.90, 0.91, 0.89, 0.902])
    assert "out of reach" in under.describe(0.9)  # the curve alone
    said = under.describe(0.9, measured=0.902)
    assert "out of reach" not in said and "already measures 90%" in said
    rising = fit_learning_curve([24, 40, 64, 96, 128, 160, 200],
                                [0.792, 0.8, 0.797, 0.875, 0.875, 0.863, 0.925])  # fmt: skip
    assert "more labels to reach" not in rising.describe(0.9, measured=0.925)
    assert "more labels to reach" in rising.describe(0.95, measured=0.925)


def test_the_range_of_labels_needed_holds_the_estimate() -> None:
    """The curves refit to the interval ends may cross the middle one far out (a flatter
    high-end fit); the range spans all three, so it holds the point estimate."""
    fc = fit_learning_curve(
        [9, 18, 27, 33, 42, 51, 51], [0, 0, 0, 0.25, 0.2, 0.5, 0.3333],
        low=[0, 0, 0, 0.0579, 0.046, 0.2213, 0.1173],
        high=[0.7301, 0.575, 0.4742, 0.6438, 0.5647, 0.7787, 0.653],
    )  # fmt: skip
    need, bounds = fc.labels_to_reach(0.9), fc.labels_to_reach_range(0.9)
    assert need is not None and bounds is not None
    assert bounds[0] <= need and (bounds[1] is None or need <= bounds[1])


def test_no_gap_to_a_plateau_the_curve_has_not_shown() -> None:
    """A fit pinned at 100% says "no plateau in sight": the stop signal quotes no plateau."""
    rising = fit_learning_curve([30, 60, 90, 120, 150, 180, 210, 240],
                                [0.77, 0.80, 0.83, 0.85, 0.87, 0.89, 0.90, 0.92])  # fmt: skip
    assert "no plateau in sight" in rising.message
    advice = stop_signal(rising, [0.9, 0.95, 0.97], 0.92, interval=(0.89, 0.95))
    assert not advice.stop and "plateau" not in advice.reason
    flat = fit_learning_curve([20, 40, 60, 80], [1.0, 1.0, 1.0, 1.0])
    done = stop_signal(flat, [1.0, 1.0, 1.0], 1.0, interval=(0.95, 1.0))
    assert done.stop and "plateau" not in done.reason


# The audit's repro (`mixed.py`): a model at 100% on 2, 5, 7 and 10 audit labels (Wilson's 90%
# lower ends 43%, 65%, 72%, 79%) at 103-170 training labels.
MIXED_N = [103, 125, 148, 170]
MIXED_LOW = [0.4250, 0.6489, 0.7212, 0.7871]


def test_a_shrinking_audit_interval_is_not_read_as_learning() -> None:
    """The audit set grows with the labels, so its intervals narrow while accuracy stands
    still; refit to the lower ends, that narrowing read as learning: "420 labels ≈ 100%
    (96–100%)" from evidence that supports 79% today. The range keeps the latest interval."""
    fc = fit_learning_curve(MIXED_N, [1.0] * 4, low=MIXED_LOW, high=[1.0] * 4)
    assert fc.ok
    for n in (170, 420, 670, 1170, 5000):
        r = fc.predict_range(n)
        assert r is not None and r[0] <= MIXED_LOW[-1] + 1e-9, (n, r)
    assert "(96–100%)" not in fc.message and "420 labels ≈ 100% (79–100%)" in fc.message
    # nor does the labels-needed range promise more than the evidence: 90% may be out of reach
    bounds = fc.labels_to_reach_range(0.9)
    assert bounds is not None and bounds[1] is None


def test_the_range_is_never_narrower_than_the_latest_interval() -> None:
    """However the refits to the interval ends bend, the range at any future label count
    holds at least the latest point's half-widths below and above the forecast."""
    acc = curve(N)
    half = np.linspace(0.15, 0.04, N.size)  # intervals narrowing as the audit set grows
    fc = fit_learning_curve(N.tolist(), acc.tolist(), low=(acc - half).tolist(),
                            high=(acc + half).tolist())  # fmt: skip
    for n in (1000, 1500, 3000, 10_000):
        lo, hi = fc.predict_range(n) or (1.0, 0.0)
        mid = fc.predict(n)
        assert lo <= mid - half[-1] + 1e-9 and hi >= min(mid + half[-1], 1.0) - 1e-9, n


def test_no_stop_on_too_little_evidence() -> None:
    """The audit's `tiny.py`: 100% on 2 audit labels (90% interval 42.5%–100%) with a flat
    curve and agreeing models is no reason to stop; the same on enough audit labels is."""
    flat = fit_learning_curve([20, 40, 60, 80], [1.0, 1.0, 1.0, 1.0])
    agree = [1.0, 1.0, 1.0]
    tiny = stop_signal(flat, agree, 1.0, interval=(0.425, 1.0))
    assert not tiny.stop and "too wide" in tiny.reason and "42%–100%" in tiny.reason
    assert stop_signal(flat, agree, 1.0, interval=(0.91, 1.0)).stop  # 28 audit labels at 100%
    # a cross-validated figure has no interval (and reads low): never a reason to stop
    unmeasured = stop_signal(flat, agree, 1.0, interval=None)
    assert not unmeasured.stop and "audit set" in unmeasured.reason
    fc = fit_learning_curve(N.tolist(), curve(N).tolist())
    stable = [0.995, 0.996, 0.998]
    assert not stop_signal(fc, stable, 0.91, interval=(0.83, 0.95)).stop
    assert stop_signal(fc, stable, 0.91, interval=(0.87, 0.95)).stop


def test_too_few_points_says_so_in_plain_numbers() -> None:
    one = fit_learning_curve([100], [0.8])
    assert not one.ok and "(1 model at 1 label count;" in one.message
