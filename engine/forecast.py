"""Will this project work? A learning-curve forecast and a stop signal.

The forecast fits an inverse power law ``acc(n) = a - b * n**-c`` to accuracy against label count
(Figueroa et al. 2012, "Predicting sample size required for classification performance"), weighting
later points more as they are measured on more labels. ``a`` is the plateau: what the model tends
to with unlimited labels of this kind. Fits never raise: a :class:`Forecast` says in ``message``
when there are too few points or the curve does not fit.

Audit points are not all alike. Each model is scored on the audit labels of its day (all those
collected so far), so the audit set grows with the labels and the first points rest on a handful:
100% on 2 audit labels has a 90% interval of 43%–100%, and a model at 95% scores 100% on 16 labels
about half the time. The digest counts an audit point only once it rests on
:data:`MIN_AUDIT_LABELS` (fewer than :data:`MIN_POINTS` such points: the cross-validated ones
instead), and the fit weighs each point by the audit labels it rests on (``measured_on``; the
binomial variance falls as 1/n). The points share their earlier audit labels, so they are not
independent draws: a fall from a lucky early 100% to a later 96% is the early luck diluted, not
the model getting worse. A curve therefore counts as falling only when its slope is below
:data:`FALLING_SLOPE` by more than the points' own binomial noise explains.

The forecast's range comes from the points' own uncertainty: the curve refit to the lower ends of
all the points' 90% intervals and to all their upper ends (the luck the points share, at each end
of its 90% range) — and never narrower than the latest point's own interval, placed around the
forecast. That floor matters because the audit set grows with the labels: its intervals shrink
from point to point even when accuracy stands still (100% on 2, 5, 7, 10 audit labels has lower
ends 43%, 65%, 72%, 79%), and the refit to the lower ends reads that shrinking as learning and
extrapolates it (a "96% floor" at 420 labels from evidence that supports 79% today). Labels added
later train a better model, but they do not make today's evidence about the curve's level any
sharper: a binomial interval narrows by sqrt(n_now / n_future) only once those future audit
labels exist, and a forecast is made before they do. So the range at every label count keeps at
least the latest interval's half-widths below and above the forecast (the curve shifted down and
up by them, :attr:`Forecast.spread`). The range does not cover a curve that bends differently
from a power law; ``bench/forecast.py`` measures how often it held the accuracy later reached.

The labels still needed are given only when the evidence can say something: not when the range
runs from "already there" to "out of reach" (any figure between is the fit's whim), nor when the
curve reaches the target only past :data:`EXTRAPOLATION_LIMIT` times today's labels (a power law
fit to the labels so far, extrapolated over more than a decade of them, is a guess).

The stop signal needs three things at once: the forecast plateau is near (current accuracy within
a couple of points of it); the model has stopped changing its mind: successive models' argmax
predictions on the unlabeled examples (the paper's stop set; both models fit the labeled ones)
agree (Cohen's kappa averaged over the last few models above 0.99) — the "stabilizing
predictions" criterion of Bloodgood & Vijay-Shanker 2009, small-text's KappaAverage;
and the current accuracy rests on enough evidence (:data:`MAX_STOP_INTERVAL`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from storage.errors import InvalidInputError

__all__ = [
    "EXTRAPOLATION_LIMIT",
    "MIN_AUDIT_LABELS",
    "Forecast",
    "StopAdvice",
    "fit_learning_curve",
    "prediction_agreement",
    "stop_signal",
]

MIN_POINTS = 4
MIN_DISTINCT_COUNTS = 3
MILESTONE_STEPS = (250, 500, 1000, 2000)
MAX_FORECAST_LABELS = 1_000_000  # beyond this "reachable" means nothing for a labeling team
FALLING_SLOPE = 0.005  # accuracy lost per e-fold of labels beyond which a curve counts as falling
FALLBACK_EXPONENT = 0.5  # typical c (Figueroa et al.); used when the 3-parameter fit fails
# A fit pinned at the bound a = 1 has not seen the curve bend yet, unless the curve is at 100%
# already (:attr:`Forecast.at_ceiling`): then there is nothing left to bend towards.
OPEN_CEILING = 0.995
# The stop signal claims accuracy is within a couple of points of its plateau. Evidence whose 90%
# interval is wider than this cannot tell a finished model from one 10 points short of it, so no
# stop is advised on it: 100% needs 25 audit labels (Wilson's lower end n / (n + 1.645^2) >= 0.90),
# 95% about 50 and 90% about 100 (half-width 1.645 sqrt(p(1-p)/n) <= 0.05). With the default 10%
# audit share that is 250 to 1,000 labels: a project is not told to stop before it could know.
# Matching the 2-point gap instead would need ~600 audit labels at 90%: no project would ever stop.
MAX_STOP_INTERVAL = 0.10
Z90 = 1.645  # the normal quantile of a two-sided 90% interval, as the audit's intervals use
# An audit point counts for the forecast once it rests on this many audit labels. A perfect score
# on n labels has Wilson's 90% lower end n / (n + 1.645^2): 43% on 2, 79% on 10, 88% on 20. On
# fewer than 20 a 100% cannot tell a model at a 90% target from one at 80%, and such points are
# the ones that read 100% by luck. (The stop signal asks for more, 25 at 100%: it claims more.)
MIN_AUDIT_LABELS = 20
# Labels still needed are not quoted beyond this multiple of the labels so far: the curve is fit
# to one decade of label counts at best, and a power law read further out is a guess.
EXTRAPOLATION_LIMIT = 10


def _power_law(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    out: np.ndarray = a - b * np.power(n, -c)
    return out


@dataclass(frozen=True)
class Forecast:
    """A fitted learning curve (``ok``), or why there is none (``message``)."""

    ok: bool
    message: str
    current_labels: int
    a: float = float("nan")
    b: float = float("nan")
    c: float = float("nan")
    # (a, b, c) of the curves refit to the points' interval ends; None: no range
    low_fit: tuple[float, float, float] | None = None
    high_fit: tuple[float, float, float] | None = None
    # the latest point's interval half-widths (below, above): the range is never narrower
    spread: tuple[float, float] | None = None
    unit: str = "labels"  # what the label counts count, for the sentences
    last_accuracy: float = float("nan")  # the latest point's (the one the spread comes from)

    @property
    def plateau(self) -> float:
        """Accuracy the curve tends to (clipped to 1); NaN without a fit."""
        return min(self.a, 1.0)

    @property
    def plateau_seen(self) -> bool:
        """Whether the curve has bent towards a plateau (a fit pinned at 100% has not)."""
        return self.ok and self.a < OPEN_CEILING

    @property
    def at_ceiling(self) -> bool:
        """Whether the curve is at 100% already: a fit pinned at 100% whose latest point, or
        its own value at today's labels, rounds to 100%. Such a curve has no plateau to show
        but 100%, and saying "no plateau in sight yet" of it contradicts the stop line."""
        if not self.ok or self.plateau_seen:
            return False
        latest = self.last_accuracy if math.isfinite(self.last_accuracy) else 0.0
        return max(self.predict(self.current_labels), latest) >= OPEN_CEILING

    @property
    def outlook(self) -> str:
        """Where the curve is heading, for the message and the chart's legend: "plateau ≈
        92%", "at the ceiling (≈100%)" or "no plateau in sight yet"; "" without a fit."""
        if not self.ok:
            return ""
        if self.plateau_seen:
            return f"plateau ≈ {self.plateau:.0%}"
        return "at the ceiling (≈100%)" if self.at_ceiling else "no plateau in sight yet"

    def predict(self, n: float) -> float:
        """Forecast accuracy at ``n`` labels, in [0, 1]; NaN without a fit."""
        if not self.ok:
            return float("nan")
        return float(np.clip(_power_law(np.asarray(float(n)), self.a, self.b, self.c), 0, 1))

    def _range_fits(self) -> list[tuple[float, float, float]] | None:
        """Every curve the range spans: the fit itself, the refits to the interval ends and the
        fit shifted down and up by the latest interval's half-widths; None without a range."""
        if not self.ok or self.low_fit is None or self.high_fit is None:
            return None
        fits = [(self.a, self.b, self.c), self.low_fit, self.high_fit]
        if self.spread is not None:
            below, above = self.spread
            fits += [(self.a - below, self.b, self.c), (self.a + above, self.b, self.c)]
        return fits

    def predict_range(self, n: float) -> tuple[float, float] | None:
        """The forecast's 90% range at ``n`` labels (see the module docstring); None without
        one (no fit, or points without intervals)."""
        fits = self._range_fits()
        if fits is None:
            return None
        ends = [float(np.clip(_power_law(np.asarray(float(n)), *fit), 0, 1)) for fit in fits]
        return min(ends), max(ends)

    def labels_to_reach(self, target: float) -> int | None:
        """Total labels at which the forecast reaches ``target``; None if never (in practice)."""
        if not self.ok:
            return None
        return _labels_to_reach((self.a, self.b, self.c), target, self.current_labels)

    def labels_to_reach_range(self, target: float) -> tuple[int, int | None] | None:
        """(fewest, most) total labels to reach ``target`` over the forecast's range: the
        highest curve gets there first; ``most`` is None when the lowest never does. None
        without a range, or when even the highest curve never gets there."""
        fits = self._range_fits()
        if fits is None:
            return None
        # The curves are fit apart and may cross (a flatter high-end curve falls under the
        # middle one far out): the range spans them all, as predict_range does.
        reach = [_labels_to_reach(fit, target, self.current_labels) for fit in fits]
        found = [n for n in reach if n is not None]
        if not found:
            return None
        return min(found), None if None in reach else max(found)

    def milestones(self, current_n: int | None = None) -> list[tuple[int, float]]:
        """(labels, forecast accuracy) at the next 250/500/1,000/2,000 labels."""
        base = self.current_labels if current_n is None else current_n
        return [(base + step, self.predict(base + step)) for step in MILESTONE_STEPS]

    def describe(self, target: float | None = None, measured: float | None = None) -> str:
        """``message``, plus "about N more labels to reach X%" for a target accuracy. A model
        whose ``measured`` accuracy is at the target is there, whatever the curve says."""
        if not self.ok or target is None:
            return self.message
        if measured is not None and measured >= target:
            return f"{self.message} The latest model already measures {measured:.0%}."
        if target >= 1.0:
            # a curve a - b n^-c only approaches a: no label count gets it to 100%
            return (f"{self.message} 100% is never reached by a fitted curve (it only "
                    "approaches its plateau): set target_accuracy to 0.98 or 0.99 for the "
                    f"{self.unit} needed.")  # fmt: skip
        need = self.labels_to_reach(target)
        bounds = self.labels_to_reach_range(target)
        unknown = self._unforecastable(need, bounds)
        if unknown:
            return (f"{self.message} Too early to forecast the {self.unit} needed to reach "
                    f"{target:.0%}: {unknown}.")  # fmt: skip
        if need is None:
            return f"{self.message} {target:.0%} looks out of reach: plateau ≈ {self.plateau:.0%}."
        more = need - self.current_labels
        if more <= 0:
            return f"{self.message} The model is already at about {target:.0%}."
        span = ""
        if bounds is not None:
            ahead = bounds[0] - self.current_labels
            fewest = _round(ahead) if ahead > 0 else "0"
            most = "out of reach" if bounds[1] is None else _round(bounds[1] - self.current_labels)
            span = f" (range {fewest} to {most})" if fewest != most else ""
        return f"{self.message} About {_round(more)} more {self.unit} to reach {target:.0%}{span}."

    @property
    def _horizon(self) -> int:
        """The most total labels a figure is quoted for (:data:`EXTRAPOLATION_LIMIT`)."""
        return EXTRAPOLATION_LIMIT * max(self.current_labels, 1)

    def _unforecastable(self, need: int | None, bounds: tuple[int, int | None] | None) -> str:
        """Why the labels still needed cannot be told from this evidence; "" when they can."""
        # the model may be there already or never get there: any figure is the fit's whim
        already = bounds is not None and bounds[0] <= self.current_labels
        if already and bounds is not None and (bounds[1] is None or bounds[1] > self._horizon):
            return "the evidence allows anything from none to out of reach"
        if need is not None and need > self._horizon:
            today = f"{self.current_labels:,} {self.unit}"
            return f"the curve gets there only past {EXTRAPOLATION_LIMIT}× today's {today}"
        return ""


@dataclass(frozen=True)
class StopAdvice:
    """Whether more labels are worth it, and why (a sentence for the digest)."""

    stop: bool
    reason: str


def fit_learning_curve(
    labels: Sequence[int],
    accuracy: Sequence[float],
    *,
    low: Sequence[float] | None = None,
    high: Sequence[float] | None = None,
    points: str = "points",
    unit: str = "labels",
    current: int | None = None,
    measured_on: Sequence[int] | None = None,
) -> Forecast:
    """Fit ``acc(n) = a - b n^-c`` (bounded; later points weigh more); never raises.

    ``current``: the label count today, which the labels still needed and the milestones count
    from (the most labels of any point when not given: a model trained after labels were undone
    has fewer than an earlier one).

    ``low`` / ``high``: each point's 90% interval ends; with them the forecast has a range (the
    curve refit to all the lower ends and to all the upper ends, never narrower than the latest
    point's interval). ``points`` names the points in the message ("audit points"), ``unit``
    what ``labels`` counts ("training labels").

    ``measured_on``: the audit labels each point's accuracy rests on. With it the points weigh
    by those (not by their training labels) and a curve counts as falling only beyond their
    binomial noise (see the module docstring)."""
    n = np.asarray(labels, dtype=float)
    acc = np.asarray(accuracy, dtype=float)
    keep = np.isfinite(n) & np.isfinite(acc) & (n > 0)
    size = None
    if measured_on is not None and len(measured_on) == len(acc):
        size = np.asarray(measured_on, dtype=float)
        keep &= np.isfinite(size) & (size > 0)
    ends = None
    if low is not None and high is not None and len(low) == len(high) == len(acc):
        lo, hi = np.asarray(low, dtype=float)[keep], np.asarray(high, dtype=float)[keep]
        if np.isfinite(lo).all() and np.isfinite(hi).all():
            ends = lo, hi
    n, acc = n[keep], acc[keep]
    # what a point's noise scales with: its audit labels when known, else its training labels
    # (a cross-validated score rests on all of them)
    weight = n if size is None else size[keep]
    if current is None:
        current = int(n.max()) if n.size else 0
    if n.size < MIN_POINTS or np.unique(n).size < MIN_DISTINCT_COUNTS:
        return Forecast(ok=False, current_labels=current, message=(
            f"Too few points to forecast yet ({counted(n.size, 'model')} at "
            f"{counted(np.unique(n).size, 'label count')}; need {MIN_POINTS} at "
            f"{MIN_DISTINCT_COUNTS} or more label counts)."))  # fmt: skip
    a, b, c, how = _fit(n, acc, weight)
    # a curve that falls with more labels (noisy early scores, a changing taxonomy) has no
    # power-law reading; a flat one does: it is at its plateau (noise may tilt it a little)
    falling = _falls(n, acc, weight, audit=size is not None)
    if not (np.isfinite(a) and np.isfinite(b)) or falling:
        on = "" if points == "points" else f" on the {points}"
        return Forecast(ok=False, current_labels=current, message=(
            f"No forecast: accuracy{on} is not rising with labels."))  # fmt: skip
    a = min(float(a), 1.0)
    low_fit = high_fit = spread = None
    # the latest point (the one measured on the most labels; the last of several at one count)
    last = int(np.flatnonzero(n == n.max())[-1])
    if ends is not None:
        low_fit, high_fit = (_fit(n, np.clip(e, 0.0, 1.0), weight)[:3] for e in ends)
        # its interval: today's evidence, which no later label sharpens
        lo, hi = np.clip(ends[0][last], 0, 1), np.clip(ends[1][last], 0, 1)
        spread = (max(float(acc[last] - lo), 0.0), max(float(hi - acc[last]), 0.0))
    fc = Forecast(ok=True, current_labels=current, message="", a=a, b=float(b), c=float(c),
                  low_fit=low_fit, high_fit=high_fit, spread=spread, unit=unit,
                  last_accuracy=float(acc[last]))  # fmt: skip
    steps = ", ".join(
        f"{_round(m)} {unit} ≈ {acc_:.0%}{_range(fc.predict_range(m))}"
        for m, acc_ in fc.milestones()[:3]
    )
    message = f"Forecast ({how} to {n.size} {points}): {steps}; {fc.outlook}."
    return replace(fc, message=message)


def _falls(n: np.ndarray, acc: np.ndarray, weight: np.ndarray, *, audit: bool) -> bool:
    """Whether accuracy falls with labels: the weighted slope against log labels is below
    -:data:`FALLING_SLOPE` and, for audit points (``weight``: their audit labels), its 90%
    interval is below zero too: lucky early scores on a few audit labels are no fall."""
    x = np.log(n)
    w = weight / weight.max()  # 1 / sigma^2, up to a factor
    slope = float(np.polyfit(x, acc, 1, w=np.sqrt(w))[0])
    if slope >= -FALLING_SLOPE or not audit:
        return slope < -FALLING_SLOPE
    # each point's binomial variance p(1-p)/n at the points' common accuracy (Agresti-Coull's
    # pseudo-counts keep it above zero at 100%); the slope's standard error follows from them.
    # Points sharing audit labels are treated as independent: that overstates the noise of a
    # fall between them, so a curve is called falling only on clear evidence.
    top = float(weight.max())
    mean = float(np.average(acc, weights=weight))
    p = (mean * top + Z90**2 / 2) / (top + Z90**2)
    inverse_var = weight / (p * (1 - p))
    centre = float(np.average(x, weights=inverse_var))
    spread = float(np.sum(inverse_var * (x - centre) ** 2))
    if spread <= 0:
        return False
    return slope + Z90 / math.sqrt(spread) < 0


def _fit(
    n: np.ndarray, acc: np.ndarray, weight: np.ndarray | None = None
) -> tuple[float, float, float, str]:
    """(a, b, c, how): the weighted power-law fit, or a fixed-exponent one when that fails.
    ``weight``: what each point's noise scales with (its training labels when not given)."""
    # sigma ~ 1/sqrt(n): a score measured on more labels is less noisy, and the later points are
    # the ones that say where the curve is heading
    w = n if weight is None else weight
    sigma = 1 / np.sqrt(w / w.max())
    a0 = min(1.0, acc.max() + 0.02)
    b0 = max(a0 - acc.min(), 1e-3) * n.min() ** FALLBACK_EXPONENT
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)  # covariance not estimable: fine
            (a, b, c), _ = curve_fit(_power_law, n, acc, p0=(a0, b0, FALLBACK_EXPONENT),
                                     sigma=sigma, bounds=([0, 0, 0.05], [1, np.inf, 2]),
                                     maxfev=5000)  # fmt: skip
        return float(a), float(b), float(c), "fit"
    except (RuntimeError, ValueError):
        # fixed exponent: a weighted linear fit in n^-c, which always has a solution
        c = FALLBACK_EXPONENT
        design = np.stack([np.ones_like(n), -np.power(n, -c)], axis=1) / sigma[:, None]
        a, b = np.linalg.lstsq(design, acc / sigma, rcond=None)[0]
        return float(a), float(b), float(c), "rough fit"


def _labels_to_reach(fit: tuple[float, float, float], target: float, current: int) -> int | None:
    """Total labels at which the curve ``fit`` = (a, b, c) reaches ``target`` (``current`` if
    it already has); None if never, in practice."""
    a, b, c = fit
    if target >= min(a, 1.0):
        return None
    if float(_power_law(np.asarray(float(max(current, 1))), a, b, c)) >= target:
        return current
    n = (b / (a - target)) ** (1 / c)
    return math.ceil(n) if n <= MAX_FORECAST_LABELS else None


def _range(bounds: tuple[float, float] | None) -> str:
    """E.g. " (85–92%)" for a forecast's range; "" without one or when it rounds to a point."""
    if bounds is None:
        return ""
    lo, hi = (round(100 * v) for v in bounds)
    return "" if lo == hi else f" ({lo}–{hi}%)"


def prediction_agreement(prev_pred: np.ndarray, cur_pred: np.ndarray) -> float:
    """Cohen's kappa between two models' argmax predictions on the same pool rows."""
    prev = np.asarray(prev_pred, dtype=np.int64)
    cur = np.asarray(cur_pred, dtype=np.int64)
    if prev.shape != cur.shape or prev.size == 0:
        raise InvalidInputError(
            f"need two equal non-empty predictions; got {prev.shape}, {cur.shape}"
        )
    observed = float((prev == cur).mean())
    k = int(max(prev.max(), cur.max())) + 1
    expected = float(np.dot(np.bincount(prev, minlength=k), np.bincount(cur, minlength=k)))
    expected /= prev.size**2
    if expected >= 1.0:  # both predict one and the same class everywhere
        return 1.0
    return (observed - expected) / (1.0 - expected)


def stop_signal(
    forecast: Forecast,
    agreements: Sequence[float],
    current_acc: float,
    *,
    interval: tuple[float, float] | None = None,
    window: int = 3,
    min_kappa: float = 0.99,
    plateau_gap: float = 0.02,
) -> StopAdvice:
    """Advise stopping when the plateau is near *and* the last ``window`` kappas average high
    *and* ``interval``, the current accuracy's 90% interval on the audit set, is at most
    :data:`MAX_STOP_INTERVAL` wide. Without ``interval`` (no audit estimate: cross-validated
    accuracy on the queue's picks is biased and has no interval) it never advises stopping."""
    if not forecast.ok:
        return StopAdvice(False, "Keep labeling: no forecast yet.")
    recent = list(agreements)[-window:]
    stable = len(recent) == window and float(np.mean(recent)) >= min_kappa
    if not forecast.plateau_seen:  # no plateau to measure a gap to, unless it is 100%
        if current_acc >= OPEN_CEILING and stable:
            done = StopAdvice(True, (
                f"More labels will buy little: accuracy is {current_acc:.0%} and the last "
                f"{window} models agree (kappa {np.mean(recent):.3f})."))  # fmt: skip
            return _unless_too_little_evidence(interval, current_acc, done)
        if current_acc >= OPEN_CEILING:
            return StopAdvice(False, (
                f"Accuracy is at the ceiling ({current_acc:.0%}), but the model is still "
                "changing."))  # fmt: skip
        if not forecast.at_ceiling:
            return StopAdvice(False, "Keep labeling: the learning curve has not levelled off yet.")
    # a curve at the ceiling is as good as a plateau at 100%: the gap is to that
    where = (
        "the ceiling (100%)"
        if forecast.at_ceiling
        else f"the forecast plateau ({forecast.plateau:.0%})"
    )
    gap = forecast.plateau - current_acc
    near = gap <= plateau_gap
    if near and stable:
        done = StopAdvice(
            True,
            f"More labels will buy little: accuracy {current_acc:.0%} is within {max(gap, 0):.1%} "
            f"of {where} and the last {window} models agree "
            f"(kappa {np.mean(recent):.3f}). Consider stopping or revising the taxonomy.",
        )
        return _unless_too_little_evidence(interval, current_acc, done)
    if near:
        return StopAdvice(False, f"Near {where}, but the model is still changing.")
    return StopAdvice(False, f"Keep labeling: about {gap:.0%} below {where}.")


def _unless_too_little_evidence(
    interval: tuple[float, float] | None, current_acc: float, advice: StopAdvice
) -> StopAdvice:
    """``advice`` to stop, or "keep labeling" when the accuracy it rests on is too uncertain."""
    if interval is None:
        return StopAdvice(False, (
            f"Keep labeling: accuracy {current_acc:.0%} looks levelled off, but it is not measured "
            "on the audit set (cross-validated on the labels the queue chose, which misjudges "
            "it), so there is no evidence to stop on."))  # fmt: skip
    low, high = interval
    if high - low > MAX_STOP_INTERVAL:
        return StopAdvice(False, (
            f"Keep labeling: accuracy {current_acc:.0%} looks levelled off, but its 90% interval "
            f"({low:.0%}–{high:.0%}) is too wide to be sure: stopping needs it at most "
            f"{100 * MAX_STOP_INTERVAL:.0f} points wide (more audit labels)."))  # fmt: skip
    return advice


def _round(n: float) -> str:
    """Labels rounded for humans: 1,234 -> "1,250"; small counts to the nearest 10."""
    step = 10 if n < 500 else 50 if n < 5000 else 500
    return f"{max(step, round(n / step) * step):,}"


def counted(n: int, noun: str) -> str:
    """The count with its noun: 1 model, 3 models, 12,000 examples."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def times(n: int) -> str:
    """How often: once, twice, 3 times."""
    return {1: "once", 2: "twice"}.get(n, f"{n} times")
