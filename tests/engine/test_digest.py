"""Digests: the figures a team sees, and the chart (a real PNG)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import digest, projects, training
from engine.forecast import fit_learning_curve
from tests.helpers import SLICE_LABELS as LABELS
from tests.helpers import label_next, load_slice


@pytest.fixture
def loaded(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    return ws, load_slice(ws, banking_slice, tmp_path, channel_id="C1")


def _label(ws, truth, n, who):  # type: ignore[no-untyped-def]
    label_next(ws, truth, n, annotators=(who,))


def test_digest_without_a_model_says_so(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    _label(ws, truth, 3, "U1")
    d = digest.build_digest(ws, "bank")
    assert d.labels_since == 3 and d.by_annotator == [("U1", 3)] and d.accuracy is None
    assert not d.forecast.ok and "Too few points" in d.forecast.message
    assert "no model yet" in d.summary()
    png = digest.render_chart(d, tmp_path / "empty.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_digest_after_several_models(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    projects.update_settings(ws, project="bank", audit_share=0.25)
    for who in ("U1", "U2", "U1", "U2", "U1"):
        _label(ws, truth, 12, who)
        training.train_project(ws, "bank")
    d = digest.build_digest(ws, "bank")
    assert d.labels_since == 60 and dict(d.by_annotator) == {"U1": 36, "U2": 24}
    assert d.model_version == 5 and d.accuracy is not None and d.accuracy.source == "audit"
    assert d.accuracy.low <= d.accuracy.accuracy <= d.accuracy.high
    assert d.accuracy_change is not None
    assert len(d.curve) == 5 and [p.labels for p in d.curve] == sorted(p.labels for p in d.curve)
    # the audit points rest on 3-15 audit labels: too few to read a curve from (a forecast
    # from them failed one CI run, "not rising"), so the cross-validated points are the basis
    # until four rest on 20 (engine.forecast.MIN_AUDIT_LABELS); the fits themselves are tested
    # on fixed curves in test_forecast*.py
    audit = [p for p in d.curve if p.source == "audit"]
    assert len(audit) >= 4 and all((p.measured_on or 0) < 20 for p in audit)
    assert d.forecast_basis == "cv"
    cv = fit_learning_curve(
        [p.labels for p in d.cv_curve], [p.accuracy for p in d.cv_curve],
        points="cross-validated points", unit="training labels",
    )  # fmt: skip
    assert (d.forecast.ok, d.forecast.a, d.forecast.b) == (cv.ok, cv.a, cv.b)
    assert d.forecast.message == (
        f"{cv.message} Audit-set points count once a model is scored on 20 audit labels: "
        "0 so far, 4 needed."
    )
    assert "Too few points" not in d.forecast.message
    assert len(d.weakest) <= 5 and set(d.per_class_f1) <= set(LABELS)
    text = "\n".join(d.summary())
    assert "model v5" in text and "on the audit set" in text and "U1 (36)" in text
    png = digest.render_chart(d, tmp_path / "digest.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and 20_000 < png.stat().st_size < 500_000
    digest.mark_sent(ws, "bank")
    assert digest.build_digest(ws, "bank").labels_since == 0


def test_per_class_f1_is_one_kind_for_every_class() -> None:
    """Audit F1 only once every class has enough audit labels; otherwise every class is
    cross-validated (a mix would rank biased-low CV scores against unbiased ones)."""
    from engine.evaluation import per_class_f1

    cv = {"a": {"f1": 0.6, "support": 30}, "b": {"f1": 0.7, "support": 20}}
    audit = {"a": {"f1": 0.9, "support": 8}, "b": {"f1": 0.0, "support": 1}}
    # b: one audit label is no evidence, so no class uses the audit set
    mixed = per_class_f1({"per_class": cv, "audit": {"per_class": audit}})
    assert (mixed.source, mixed.f1, mixed.support) == ("cv", {"a": 0.6, "b": 0.7},
                                                       {"a": 30, "b": 20})  # fmt: skip
    assert "cross-validated" in mixed.describe() and "reads low" in mixed.describe()
    audit["b"] = {"f1": 0.8, "support": 6}
    both = per_class_f1({"per_class": cv, "audit": {"per_class": audit}})
    assert (both.source, both.f1, both.support) == ("audit", {"a": 0.9, "b": 0.8},
                                                    {"a": 8, "b": 6})  # fmt: skip


def test_a_model_too_young_to_measure_is_not_called_no_model(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One label per class trains a model but cannot be cross-validated: the digest names
    the model and says why it shows no accuracy, instead of "no model yet"."""
    projects.create_project(ws, name="tiny", labels=["yes", "no"])
    path = tmp_path / "tiny.csv"
    path.write_text("text,label\nsure thing,yes\nno way,no\nmaybe later,\n", encoding="utf-8")
    projects.import_file(ws, project="tiny", path=path)
    run = training.train_project(ws, "tiny")
    d = digest.build_digest(ws, "tiny")
    assert d.model_version == run.version and d.accuracy is None
    lines = d.summary()
    assert "no model yet" not in lines
    assert f"model v{run.version}: accuracy not measurable yet (too few labels)" in lines


def test_digest_after_a_taxonomy_change_reads_as_the_team_sees_it(loaded) -> None:  # type: ignore[no-untyped-def]
    """After a merge: the merged-away label is no weakest class (its examples count under the
    merge target now), the forecast says why earlier models are not counted, an accuracy change
    is in points, and counts of one read singular."""
    from engine import labeling, taxonomy

    ws, truth = loaded
    for who in ("U1", "U2", "U1"):
        _label(ws, truth, 12, who)
        training.train_project(ws, "bank")
    before = digest.build_digest(ws, "bank")
    assert "card_arrival" in before.per_class_f1
    taxonomy.merge_labels(ws, project="bank", labels=["card_arrival", "age_limit"],
                          into="age_limit", actor="admin")  # fmt: skip
    task = labeling.next_task(ws, project="bank", annotator="U3")
    assert task is not None
    labeling.flag(ws, project="bank", example_id=task.example_id, annotator="U3", reason="?")
    d = digest.build_digest(ws, "bank")
    assert "card_arrival" not in d.per_class_f1
    assert all(label != "card_arrival" for label, _, _ in d.weakest)
    assert not d.forecast.ok
    assert "Not counted: 3 models from before the latest taxonomy change" in d.forecast.message
    text = "\n".join(d.summary())
    assert "1 open flag," in text and "open flags" not in text
    assert digest.points_change(0.25) == "+25.0 points"
    assert digest.points_change(-0.031) == "\u22123.1 points"
    if d.accuracy_change is not None:
        assert " points since the previous model" in text and "% since" not in text


def test_one_new_label_reads_in_the_singular(loaded) -> None:  # type: ignore[no-untyped-def]
    """`labelbot digest` (the terminal view) counts as the channel's digest does."""
    ws, truth = loaded
    _label(ws, truth, 1, "U1")
    head = digest.build_digest(ws, "bank").summary()[0]
    assert head.startswith("bank: 1 new label (") or head.startswith("bank: 1 new label since")
    assert "1 example labeled in all" in head
