"""Which stored model counts as the best one (its file is never pruned)."""

from __future__ import annotations

from engine.audit import wilson_interval
from engine.training import _quality
from storage.models import ModelRun


def _run(version: int, right: int, n: int, cv: float) -> ModelRun:
    low, high = wilson_interval(right, n)
    audit = {"accuracy": right / n, "low": low, "high": high, "n": n}
    return ModelRun(project_id=1, version=version, n_labels=100 * version,
                    metrics={"audit": audit, "accuracy": cv})  # fmt: skip


def test_the_best_model_is_the_one_the_audit_set_vouches_for() -> None:
    """3 of 3 right on an early, tiny audit set is weaker evidence than 26 of 28."""
    lucky, measured = _run(2, 3, 3, cv=0.7), _run(9, 26, 28, cv=0.8)
    assert max([lucky, measured], key=_quality) is measured
