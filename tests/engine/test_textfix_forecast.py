"""The forecast, the stop line and the chart legend agree at the ceiling: a learning curve at
about 100% is "at the ceiling (≈100%)", not "no plateau in sight yet" beside a stop line that
says more labels will buy little; and a 100% target, which no fitted curve ever reaches, is
said to be one (with a reachable target to set instead), not "out of reach: plateau ≈ 100%"."""

from __future__ import annotations

from typing import Any

import pytest

from engine import digest, projects
from engine.forecast import fit_learning_curve, stop_signal
from storage.db import session_scope
from storage.repositories import models
from tests.engine.test_digest_caveat import _legend
from tests.engine.test_digest_honesty import LABELS, _audit, _run

AGREE = [1.0, 1.0, 1.0]

CEILING = "at the ceiling (≈100%)"
NEVER = "100% is never reached by a fitted curve"


@pytest.mark.parametrize(
    "accuracy", [[1.0, 1.0, 1.0, 1.0], [0.98, 1.0, 1.0, 1.0], [0.9, 0.95, 0.98, 1.0]]
)
def test_a_curve_at_100_percent_is_at_the_ceiling(accuracy: list[float]) -> None:
    fc = fit_learning_curve([50, 100, 150, 200], accuracy)
    assert fc.ok and fc.at_ceiling
    assert fc.message.endswith(f"; {CEILING}.") and "no plateau in sight" not in fc.message
    done = stop_signal(fc, AGREE, 1.0, interval=(0.91, 1.0))
    assert done.stop and done.reason.startswith("More labels will buy little: accuracy is 100%")


def test_a_curve_still_climbing_has_no_plateau_in_sight() -> None:
    """A fit pinned at 1 whose points are still well below it has not bent yet: as before."""
    rising = fit_learning_curve([30, 60, 90, 120, 150, 180, 210, 240],
                                [0.77, 0.80, 0.83, 0.85, 0.87, 0.89, 0.90, 0.92])  # fmt: skip
    assert not rising.at_ceiling and "no plateau in sight yet" in rising.message
    plateau = fit_learning_curve([100, 200, 400, 800], [0.80, 0.86, 0.89, 0.90])
    assert plateau.plateau_seen and not plateau.at_ceiling and "plateau ≈" in plateau.message


def test_the_stop_line_at_the_ceiling_agrees_when_models_still_change() -> None:
    """At the ceiling with models that still disagree, the stop line says so; it said "the
    learning curve has not levelled off yet" under a forecast at 100%."""
    fc = fit_learning_curve([50, 100, 150, 200], [1.0, 1.0, 1.0, 1.0])
    advice = stop_signal(fc, [0.9, 0.95, 0.97], 1.0, interval=(0.91, 1.0))
    assert not advice.stop
    assert "not levelled off" not in advice.reason and "ceiling" in advice.reason
    assert "still changing" in advice.reason
    # the active model a little below a curve at the ceiling: the gap is to 100%
    near = stop_signal(fc, AGREE, 0.985, interval=(0.95, 1.0))
    assert near.stop and "of the ceiling (100%)" in near.reason
    far = stop_signal(fc, AGREE, 0.9, interval=(0.85, 0.94))
    assert not far.stop and far.reason == "Keep labeling: about 10% below the ceiling (100%)."


def test_a_target_of_100_percent_is_never_reached_by_a_fit() -> None:
    for accuracy in ([1.0, 1.0, 1.0, 1.0], [0.9, 0.95, 0.98, 0.99], [0.80, 0.86, 0.89, 0.90]):
        fc = fit_learning_curve([50, 100, 150, 200], accuracy)
        said = fc.describe(1.0, measured=accuracy[-1] - 0.001)
        assert "looks out of reach" not in said, said
        assert NEVER in said and "0.98 or 0.99" in said, said
    # a model that measures 100% is there, whatever the target
    assert "already measures 100%" in fc.describe(1.0, measured=1.0)
    # a target under 100% is forecast as before: this curve levels off at 96%
    assert fc.plateau_seen and f"plateau ≈ {fc.plateau:.0%}" in fc.message
    assert f"99% looks out of reach: plateau ≈ {fc.plateau:.0%}." in fc.describe(0.99, 0.9)


def _ceiling_project(
    ws: Any, target: float | None = None, accuracy: tuple[float, ...] = (1.0,) * 4
) -> digest.Digest:
    """Four models scored on 25-50 audit labels each (Wilson-like ends), agreeing."""
    projects.create_project(ws, name="p", labels=LABELS)
    if target is not None:
        projects.update_settings(ws, project="p", target_accuracy=target)
    points = zip(((100, 25), (150, 30), (200, 40), (250, 50)), accuracy, strict=True)
    for i, ((n, on), acc) in enumerate(points):
        low = acc * on / (on + 1.645**2)
        _run(ws, "p", n, 0.97, _audit(acc, low, min(1.0, acc + 0.02), on))
        if i:  # each model after the first agrees with the one before
            with session_scope(ws.db) as session:
                pid = int(projects.get_project(ws, "p").id or 0)
                run = models.list_model_runs(session=session, project_id=pid)[-1]
                run.metrics = {**run.metrics, "agreement_previous": 1.0}
                session.add(run)
    return digest.build_digest(ws, "p")


def test_the_digest_and_its_chart_agree_at_the_ceiling(ws: Any) -> None:
    d = _ceiling_project(ws)
    assert d.forecast_basis == "audit" and d.forecast.at_ceiling
    assert d.stop.stop and "accuracy is 100%" in d.stop.reason
    assert CEILING in d.forecast_line() and "no plateau" not in d.forecast_line()
    assert f"forecast from audit points ({CEILING})" in _legend(d)


def test_the_digest_with_a_100_percent_target(ws: Any) -> None:
    d = _ceiling_project(ws, target=1.0, accuracy=(0.95, 0.97, 0.98, 0.985))
    assert d.forecast_basis == "audit" and d.forecast.ok
    line = d.forecast_line()
    assert "looks out of reach" not in line and NEVER in line and "0.98 or 0.99" in line
