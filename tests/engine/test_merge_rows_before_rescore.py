"""After a merge, before the queue's re-score, export and predict say of every pool text what
the re-score then writes: a stored row keeps only the model's top five classes, so a merged
label whose classes the row left out is scored live (engine.predicting.Merges). Real SQLite
and PostgreSQL, the real encoder and model."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import exporting, predicting, taxonomy, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import models
from storage.repositories import projects as projects_repo
from tests.engine import test_review34b_findings as found


def _rows(ws: Workspace) -> list[tuple[list[list[object]], str]]:
    """The active model's stored rows (probs) with their texts."""
    from storage.repositories import examples

    with session_scope(ws.db, read_only=True) as session:
        project = projects_repo.get_project(session=session, name="seven")
        run = models.get_active_model_run(session=session, project_id=int(project.id or 0))
        assert run is not None
        pool = examples.example_texts(session=session, project_id=int(project.id or 0))
        stored = models.get_predictions_for(session=session, example_ids=[i for i, _, _ in pool])
        return [(list(stored[i].probs), t) for i, t, _ in pool if stored[i].model_run_id == run.id]


def _said(ws: Workspace, texts: list[str], top_k: int | None) -> list[object]:
    said = predicting.predict_texts(ws, "seven", texts, top_k=top_k)
    return [(p.label, p.confidence, p.top) for p in said]


def _merged_beyond(ws: Workspace, tmp_path: Path, kind: str) -> list[str]:
    """Project "seven" trained (``kind``), the least peaked row's top label merged with a class
    that row left out, not re-scored; the texts of the model's rows."""
    found._seven_labeled(ws, tmp_path)
    if kind != "linear":
        training.train_project(ws, "seven", kind=kind)
    rows = _rows(ws)
    probs = max((p for p, _ in rows if len(p) == 5), key=lambda p: float(p[4][1]))
    left_out = [c for c in found.SEVEN if c not in {str(lb) for lb, _ in probs}]
    taxonomy.merge_labels(ws, project="seven", labels=[str(probs[0][0]), left_out[0]],
                          into="merged", actor="admin", rescore=False)  # fmt: skip
    return [t for _, t in rows]


@pytest.mark.parametrize("kind", ["linear", "blend"])
def test_export_says_before_the_rescore_what_it_writes(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, kind: str
) -> None:
    _merged_beyond(ws, tmp_path, kind)
    unscored = exporting.export_records(ws, "seven")
    training.rescore_project(ws, "seven")
    rescored = exporting.export_records(ws, "seven")
    assert [r["prediction"] for r in unscored] == [r["prediction"] for r in rescored]
    assert any(r["prediction"]["label"] == "merged" for r in rescored)


@pytest.mark.parametrize("kind", ["linear", "blend"])
def test_predict_says_before_the_rescore_what_it_writes(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, kind: str
) -> None:
    texts = _merged_beyond(ws, tmp_path, kind)
    said = {k: _said(ws, texts, k) for k in (None, 1, 5, 6)}
    # one text alone too (a batch of one row)
    alone = _said(ws, texts[:1], None)
    training.rescore_project(ws, "seven")
    for k, before in said.items():
        assert before == _said(ws, texts, k), k
    assert alone == _said(ws, texts[:1], None)


def test_rows_whose_stored_classes_say_the_answer_are_read_as_stored(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only rows whose stored classes cannot bound the merged label below their top are
    scored live (counted): every row the merged label tops, not every row."""
    found._seven_labeled(ws, tmp_path)
    rows = _rows(ws)
    pair = list(found.SEVEN[-2:])
    taxonomy.merge_labels(ws, project="seven", labels=pair, into="merged", actor="admin",
                          rescore=False)  # fmt: skip
    scored: list[str] = []
    real = predicting.Merges.rescored

    def counted(self, ws_, example_ids, texts):  # type: ignore[no-untyped-def]
        scored.extend(texts)
        return real(self, ws_, example_ids, texts)

    monkeypatch.setattr(predicting.Merges, "rescored", counted)
    unscored = exporting.export_records(ws, "seven")
    assert 0 < len(scored) < len(rows)
    assert {t for p, t in rows if str(p[0][0]) in pair} <= set(scored)
    training.rescore_project(ws, "seven")
    rescored = exporting.export_records(ws, "seven")
    assert [r["prediction"] for r in unscored] == [r["prediction"] for r in rescored]
