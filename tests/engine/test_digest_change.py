"""The digest's "+N points since the previous model" compares like with like: on the audit set,
the previous model's score on the active model's own audit labels (the audit set grows, and two
models' stored scores were on different samples); cross-validated, never across a taxonomy
change (the models measured other classes).

Model runs are stored directly with known metrics, so the figures are exact."""

from __future__ import annotations

from typing import Any

import pytest

from engine import digest, projects, taxonomy
from storage.db import session_scope
from storage.repositories import models
from storage.repositories import projects as project_repo

LABELS = ["a", "b", "c"]


def _audit(acc: float, n: int) -> dict[str, Any]:
    return {"accuracy": acc, "low": acc - 0.15, "high": min(acc + 0.08, 1.0), "n": n,
            "confidence": 0.9, "macro_f1": acc, "macro_f1_low": acc - 0.15,
            "macro_f1_high": min(acc + 0.08, 1.0), "per_class": {}}  # fmt: skip


def _run(ws: Any, n: int, *, cv: float, classes: list[str] = LABELS, activate: bool = True,
         **extra: Any) -> None:  # fmt: skip
    """Store a finished model run of ``n`` training labels with these metrics."""
    metrics = {"accuracy": cv, "macro_f1": cv, "n_labels": n, "folds": 5, "per_class": {},
               **extra}  # fmt: skip
    with session_scope(ws.db) as session:
        project = project_repo.get_project(session=session, name="p")
        stamp = project.settings.get(taxonomy.TAXONOMY_CHANGED_AT)
        if stamp is not None:  # read the labels after the latest change
            metrics[taxonomy.TAXONOMY_AS_OF] = stamp
        pid = int(project.id or 0)
        run = models.start_model_run(session=session, project_id=pid, n_labels=n, classes=classes)
        models.finish_model_run(session=session, run_id=int(run.id or 0), status="ready",
                                metrics=metrics, kind="linear")  # fmt: skip
        if activate:
            models.activate_model_run(session=session, project_id=pid, run_id=int(run.id or 0))


@pytest.fixture
def project(ws):  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="p", labels=LABELS)
    return ws


def test_the_audit_change_is_on_the_same_audit_labels(project) -> None:  # type: ignore[no-untyped-def]
    """The audit's change.db: v9 stored 83.3% on 18 audit labels, v10 85.0% on 20, and v9 also
    scored 85.0% on v10's 20: the digest said "+1.7 points", the models were equally good."""
    _run(project, 160, cv=0.8, audit=_audit(0.8333, 18))
    _run(project, 180, cv=0.8, audit=_audit(0.85, 20), audit_active=_audit(0.85, 20),
         audit_active_version=1)  # fmt: skip
    d = digest.build_digest(project, "p")
    assert d.accuracy_change == pytest.approx(0.0)
    assert "+0.0 points since the previous model" in "\n".join(d.summary())


def test_no_audit_change_without_the_same_audit_labels(project) -> None:  # type: ignore[no-untyped-def]
    """No score of the previous model on these audit labels (a run trained before they were
    kept, or with no model active): no change is claimed from two samples."""
    _run(project, 160, cv=0.8, audit=_audit(0.70, 18))
    _run(project, 180, cv=0.8, audit=_audit(0.85, 20))
    d = digest.build_digest(project, "p")
    assert d.accuracy_change is None
    assert "since" not in d.accuracy_detail()


def test_the_audit_change_names_the_model_it_is_from(project) -> None:  # type: ignore[no-untyped-def]
    """v2 was held back: v3 was compared with v1, the model active when it was trained."""
    _run(project, 100, cv=0.8, audit=_audit(0.80, 10))
    _run(project, 120, cv=0.7, audit=_audit(0.60, 12), activate=False)
    _run(project, 140, cv=0.8, audit=_audit(0.90, 14), audit_active=_audit(0.85, 14),
         audit_active_version=1)  # fmt: skip
    d = digest.build_digest(project, "p")
    assert d.accuracy_change == pytest.approx(0.05)
    assert d.accuracy_detail().endswith(", +5.0 points since v1")


def test_no_cross_validated_change_across_a_taxonomy_change(project) -> None:  # type: ignore[no-untyped-def]
    """v1 cross-validated 90% on three labels; after a label was added, v2 70% on four: the
    digest said "−20.0 points since the previous model"."""
    _run(project, 60, cv=0.9)
    taxonomy.add_labels(project, project="p", names=["d"], actor="admin")
    _run(project, 80, cv=0.7, classes=[*LABELS, "d"])
    d = digest.build_digest(project, "p")
    assert d.accuracy is not None and d.accuracy.source == "cv"
    assert d.accuracy_change is None
    assert "since" not in d.accuracy_detail()
    _run(project, 100, cv=0.75, classes=[*LABELS, "d"])  # both after the change: compared
    assert digest.build_digest(project, "p").accuracy_change == pytest.approx(0.05)
