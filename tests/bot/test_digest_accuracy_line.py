"""The digest's accuracy line says the same in the terminal (``Digest.summary``) and in Slack
(the view adds only markup): interval, how it was measured, change since the previous model."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.views.digest import digest_message
from engine.digest import CurvePoint, Digest
from engine.evaluation import QUEUE_BIAS
from engine.forecast import fit_learning_curve, stop_signal


def _digest(accuracy: CurvePoint | None, change: float | None, version: int | None = 5) -> Digest:
    forecast = fit_learning_curve([], [])
    return Digest(
        project="bank", channel=None, since=None, labels_since=0, by_annotator=[],
        total_labels=0, model_version=version, accuracy=accuracy, accuracy_change=change,
        weakest=[], per_class_f1={}, curve=[], forecast=forecast, target=0.9,
        stop=stop_signal(forecast, [], 0.0), open_flags=0, open_discussions=0,
        generated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


AUDIT = CurvePoint(120, 0.8, 0.7, 0.88, "audit")
CV = CurvePoint(120, 0.8, None, None, "cv")


@pytest.mark.parametrize(
    ("point", "change", "detail"),
    [
        (AUDIT, 0.02, "(90% interval 70.0%–88.0%) on the audit set, +2.0 points since the "
                      "previous model"),
        (AUDIT, None, "(90% interval 70.0%–88.0%) on the audit set"),
        (CV, -0.031, f"cross-validated ({QUEUE_BIAS}), \u22123.1 points since the previous model"),
        (CV, 0.0, f"cross-validated ({QUEUE_BIAS}), +0.0 points since the previous model"),
    ],
)  # fmt: skip
def test_terminal_and_slack_say_the_same_accuracy_detail(
    point: CurvePoint, change: float | None, detail: str
) -> None:
    d = _digest(point, change)
    assert d.accuracy_detail() == detail
    assert f"model v5: accuracy 80.0% {detail}" in d.summary()
    blocks = digest_message(d)["blocks"]
    assert f"*Model v5:* 80.0% accuracy {detail}" in [
        b["text"]["text"] for b in blocks if b["type"] == "section"
    ]


def test_no_accuracy_has_no_detail() -> None:
    d = _digest(None, None)
    assert d.accuracy_detail() == ""
    assert "model v5: accuracy not measurable yet (too few labels)" in d.summary()
    assert "accuracy not measurable yet" in json.dumps(digest_message(d))
