"""Honest live metrics: an audit stream of uniformly drawn examples, held out of training.

Labels chosen by active learning are a biased sample (the hard, ambiguous cases), so
cross-validation on them misjudges the model, usually pessimistically (Kottke et al. 2017,
"Challenges of reliable, realistic and comparable active learning evaluation"). Instead a share of
deliveries (default 10%, :func:`audit_slots`) goes to examples drawn uniformly at random from the
unlabeled pool (:func:`draw_audit`). Their labels form an unbiased evaluation set.

The scheme: **audit labels are held out of training.** Every model, the current one included, is
scored on *all* audit labels collected so far, none of which it was trained on. We chose this over
"evaluate before train" (predict each audit label with the model active when it was drawn, then
train on it) because that prequential average mixes the predictions of older, weaker models: it
lags behind the current model, and a recency window to fix the lag throws away most of the audit
labels. Holding out costs about 10% of the labels for training, and uniform labels are the ones
active learning values least. It also lets any model version (a candidate retrain, a rollback
target) be compared on the same audit set. A final model for export may be trained on audit labels
too; its reported estimate is then the last held-out one, a slightly conservative figure.

Caveat: audit picks come from the *unlabeled* pool, which lacks the examples active learning took
before the draw; those are harder than average. The resulting optimism is bounded by the share of
the pool already labeled (under ~5% on average at 1,000 labels of a 10k pool; negligible for large
pools) and is measured by ``bench/metric_honesty.py``.

Intervals: Wilson's score interval for accuracy (Wilson 1927, "Probable inference, the law of
succession, and statistical inference"), which keeps its coverage at small n and near 0 or 1 where
the normal approximation does not; a percentile bootstrap for macro-F1, which has no closed form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from engine.evaluation import metrics_from_predictions
from storage.errors import InvalidInputError

__all__ = [
    "DEFAULT_AUDIT_SHARE",
    "AuditReport",
    "Estimate",
    "audit_report",
    "audit_slots",
    "draw_audit",
    "estimate_accuracy",
    "estimate_f1",
    "wilson_interval",
]

DEFAULT_AUDIT_SHARE = 0.10
DEFAULT_CONFIDENCE = 0.90
SHARE_SCALE = 10_000  # shares are exact to 0.01%: integer arithmetic avoids float drift in slots
BOOTSTRAP_SAMPLES = 1_000


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its two-sided interval at ``confidence``, from ``n`` audit labels."""

    value: float
    low: float
    high: float
    n: int
    confidence: float

    def __str__(self) -> str:
        pct = round(100 * self.confidence)
        return f"{self.value:.1%} ({pct}% CI {self.low:.1%}–{self.high:.1%}, n={self.n})"


@dataclass(frozen=True)
class AuditReport:
    """Accuracy and macro-F1 with intervals, and per-class scores, of one model on the audit set."""

    accuracy: Estimate
    macro_f1: Estimate
    per_class: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, flat where the training service reads it (``metrics["audit"]``)."""
        acc, f1 = self.accuracy, self.macro_f1
        return {
            "accuracy": acc.value,
            "low": acc.low,
            "high": acc.high,
            "n": acc.n,
            "confidence": acc.confidence,
            "macro_f1": f1.value,
            "macro_f1_low": f1.low,
            "macro_f1_high": f1.high,
            "per_class": self.per_class,
        }


def audit_slots(*, n_delivered: int, n: int, share: float = DEFAULT_AUDIT_SHARE) -> np.ndarray:
    """Boolean mask over the next ``n`` delivery slots: True where an audit pick goes.

    Slot k (counted over the project's life) is an audit slot when ``floor((k+1)*share)`` steps up,
    so after any number of deliveries the audit count is within one of ``share`` times it.
    """
    if not 0.0 <= share <= 1.0 or n_delivered < 0 or n < 0:
        raise InvalidInputError(f"need 0 <= share <= 1 and counts >= 0; got share={share}")
    scale = round(share * SHARE_SCALE)
    k = np.arange(n_delivered, n_delivered + n, dtype=np.int64)
    mask: np.ndarray = (k + 1) * scale // SHARE_SCALE > k * scale // SHARE_SCALE
    return mask


def draw_audit(
    *,
    candidates: np.ndarray,
    n_delivered: int,
    n: int,
    rng: np.random.Generator,
    share: float = DEFAULT_AUDIT_SHARE,
) -> np.ndarray:
    """Uniform-random audit picks among ``candidates`` for the next ``n`` deliveries.

    Returns as many indices as :func:`audit_slots` allots to those deliveries (often none). The
    caller fills the rest of the batch with its query strategy, excluding these.
    """
    k = int(audit_slots(n_delivered=n_delivered, n=n, share=share).sum())
    candidates = np.asarray(candidates, dtype=np.int64)
    return rng.choice(candidates, size=min(k, len(candidates)), replace=False)


def wilson_interval(
    successes: int, n: int, *, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def estimate_accuracy(
    y_true: np.ndarray, y_pred: np.ndarray, *, confidence: float = DEFAULT_CONFIDENCE
) -> Estimate:
    """Accuracy on audit labels with its Wilson interval."""
    correct = np.asarray(y_true) == np.asarray(y_pred)
    n = int(correct.size)
    low, high = wilson_interval(int(correct.sum()), n, confidence=confidence)
    value = float(correct.mean()) if n else float("nan")
    return Estimate(value=value, low=low, high=high, n=n, confidence=confidence)


def estimate_f1(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    n_classes: int,
    rng: np.random.Generator,
    confidence: float = DEFAULT_CONFIDENCE,
    samples: int = BOOTSTRAP_SAMPLES,
) -> Estimate:
    """Macro-F1 (over classes present in ``y_true``) with a percentile-bootstrap interval."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    n = len(y_true)
    if n == 0:
        return Estimate(value=float("nan"), low=0.0, high=1.0, n=0, confidence=confidence)
    value = _macro_f1(y_true, y_pred, n_classes)
    boots = [_macro_f1(y_true[i], y_pred[i], n_classes) for i in rng.integers(0, n, (samples, n))]
    low, high = np.quantile(boots, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return Estimate(value=value, low=float(low), high=float(high), n=n, confidence=confidence)


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    # bincounts instead of sklearn: a thousand bootstrap resamples in ~50 ms
    tp = np.bincount(y_true[y_true == y_pred], minlength=n_classes)
    support = np.bincount(y_true, minlength=n_classes)
    predicted = np.bincount(y_pred, minlength=n_classes)
    present = support > 0
    f1 = 2 * tp[present] / (support[present] + predicted[present])
    return float(f1.mean())


def audit_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    n_classes: int,
    rng: np.random.Generator,
    class_names: Sequence[str] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> AuditReport:
    """Everything the digest shows about one model, from its predictions on the audit labels."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if len(y_true) != len(y_pred):
        raise InvalidInputError(f"{len(y_true)} audit labels but {len(y_pred)} predictions")
    per_class = (
        metrics_from_predictions(
            y_true, y_pred, n_classes=n_classes, class_names=class_names
        ).per_class
        if len(y_true)
        else {}
    )
    return AuditReport(
        accuracy=estimate_accuracy(y_true, y_pred, confidence=confidence),
        macro_f1=estimate_f1(y_true, y_pred, n_classes=n_classes, rng=rng, confidence=confidence),
        per_class=per_class,
    )
