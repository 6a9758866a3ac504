"""After a merge, before the queue's re-score, export and predict say of every pool text what
the re-score then writes: a stored row keeps only the model's top five classes, so a merged
label whose classes the row left out is scored live (engine.predicting.Merges). Real SQLite
and PostgreSQL, the real encoder and model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts Merges.rescored scores live, from now on."""
    scored: list[str] = []
    real = predicting.Merges.rescored

    def counted(self, ws_, example_ids, texts):  # type: ignore[no-untyped-def]
        scored.extend(texts)
        return real(self, ws_, example_ids, texts)

    monkeypatch.setattr(predicting.Merges, "rescored", counted)
    return scored


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
    scored = _counting(monkeypatch)
    unscored = exporting.export_records(ws, "seven")
    assert 0 < len(scored) < len(rows)
    assert {t for p, t in rows if str(p[0][0]) in pair} <= set(scored)
    training.rescore_project(ws, "seven")
    rescored = exporting.export_records(ws, "seven")
    assert [r["prediction"] for r in unscored] == [r["prediction"] for r in rescored]


def test_a_merge_after_a_rescored_merge_is_answered_as_its_rescore(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two labels merged and re-scored (the rows name "m1"), then "m1" merged with a third:
    export and predict say what the next re-score writes, scoring live only rows whose stored
    classes cannot say it (the merge since the rows), not every row naming "m1"."""
    found._seven_labeled(ws, tmp_path)
    s = found.SEVEN
    taxonomy.merge_labels(ws, project="seven", labels=[s[5], s[6]], into="m1", actor="admin",
                          rescore=True)  # fmt: skip
    rows = _rows(ws)
    taxonomy.merge_labels(ws, project="seven", labels=["m1", s[4]], into="m2", actor="admin",
                          rescore=False)  # fmt: skip
    scored = _counting(monkeypatch)
    unscored = exporting.export_records(ws, "seven")
    assert 0 < len(scored) < len(rows)
    said = _said(ws, [t for _, t in rows], 5)
    training.rescore_project(ws, "seven")
    rescored = exporting.export_records(ws, "seven")
    assert [r["prediction"] for r in unscored] == [r["prediction"] for r in rescored]
    assert said == _said(ws, [t for _, t in rows], 5)
    assert any(r["prediction"]["label"] == "m2" for r in rescored)


def test_undoing_a_rescored_merge_into_a_kept_label(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A label merged into another that stays (its probability added to the other's in the
    re-scored rows), then the merge undone before the re-score: rows naming the kept label
    are scored live (its stored probability holds the other's), the rest read as stored."""
    found._seven_labeled(ws, tmp_path)
    s = found.SEVEN
    taxonomy.merge_labels(ws, project="seven", labels=[s[0], s[1]], actor="admin", rescore=True)
    rows = _rows(ws)
    taxonomy.undo_last(ws, project="seven", actor="admin", rescore=False)
    scored = _counting(monkeypatch)
    unscored = exporting.export_records(ws, "seven")
    assert {t for p, t in rows if str(p[0][0]) == s[0]} <= set(scored)
    assert len(scored) < len(rows)
    said = _said(ws, [t for _, t in rows], None)
    training.rescore_project(ws, "seven")
    rescored = exporting.export_records(ws, "seven")
    assert [r["prediction"] for r in unscored] == [r["prediction"] for r in rescored]
    assert said == _said(ws, [t for _, t in rows], None)
    assert any(r["prediction"]["label"] == s[1] for r in rescored)


def _exact_agrees(ws: Workspace) -> list[int]:
    """Merges.exact_rows (a page at once, as export asks) says of every stored row of the
    active model what Merges.exact says of it alone, rows it cannot read included; the counts."""
    with session_scope(ws.db, read_only=True) as session:
        project = projects_repo.get_project(session=session, name="seven")
        run = models.get_active_model_run(session=session, project_id=int(project.id or 0))
        assert run is not None
        stored = models.get_predictions(session=session, project_id=int(project.id or 0))
    merges = predicting.merges_since(ws, "seven", run)
    assert merges is not None
    rows: list[tuple[Any, Any]] = [
        (p.probs, p.class_ids) for p in stored.values() if p.model_run_id == run.id
    ]
    probs, ids = rows[0]
    rows += [
        (probs, None),
        (probs, [[], "x", 1.0]),
        ([], None),
        (probs[:1], [ids[0][:1], *ids[1:]]),
        (probs, [[str(i) for i in ids[0]], *ids[1:]]),
    ]
    counts = merges.exact_rows(rows)
    assert counts == [merges.exact(p, c) for p, c in rows]
    targets = predicting.label_targets(ws, "seven")
    for (p, c), count in zip(rows, counts, strict=True):
        if count:  # the export's top of a row it reads as stored
            assert merges.top_of(p, c) == predicting.stored_top(p, {}, c, targets)[0]
    return counts


@pytest.mark.parametrize("change", ["merged", "merged again", "merge undone"])
def test_a_page_of_rows_is_told_as_each_row_alone(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, change: str
) -> None:
    found._seven_labeled(ws, tmp_path)
    s = found.SEVEN
    taxonomy.merge_labels(ws, project="seven", labels=[s[5], s[6]], into="m1", actor="admin",
                          rescore=change != "merged")  # fmt: skip
    if change == "merged again":  # rows naming a merged label, then a merge of it
        taxonomy.merge_labels(ws, project="seven", labels=["m1", s[4]], into="m2",
                              actor="admin", rescore=False)  # fmt: skip
    if change == "merge undone":  # rows naming "m1", removed: they are scored live
        taxonomy.merge_labels(ws, project="seven", labels=[s[0], s[1]], actor="admin",
                              rescore=False)  # fmt: skip
        taxonomy.undo_last(ws, project="seven", actor="admin", rescore=False)
        taxonomy.undo_last(ws, project="seven", actor="admin", rescore=False)
    counts = _exact_agrees(ws)
    assert 0 in counts
    # (after the undo nearly every row names "m1": of six labels it kept five)
    assert change == "merge undone" or max(counts) >= 2


def test_without_the_model_file_export_reads_the_rows_through_the_merge(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The active model's file gone after a merge (nothing can be scored live): the export
    reads each stored row through the merge, the merged classes' stored probabilities added,
    and names no merged-away label."""
    found._seven_labeled(ws, tmp_path)
    rows = _rows(ws)
    pair = list(found.SEVEN[-2:])
    taxonomy.merge_labels(ws, project="seven", labels=pair, into="merged", actor="admin",
                          rescore=False)  # fmt: skip
    with session_scope(ws.db, read_only=True) as session:
        project = projects_repo.get_project(session=session, name="seven")
        run = models.get_active_model_run(session=session, project_id=int(project.id or 0))
    assert run is not None and run.artifact_path
    Path(run.artifact_path).unlink()
    ws.memo.clear()
    scored = _counting(monkeypatch)
    said = {r["text"]: r["prediction"] for r in exporting.export_records(ws, "seven")}
    assert scored == []
    for probs, text in rows:
        summed: dict[str, float] = {}
        for lb, p in probs:
            now = "merged" if lb in pair else str(lb)
            summed[now] = summed.get(now, 0.0) + float(p)  # type: ignore[arg-type]
        top = max(summed.items(), key=lambda item: item[1])
        assert said[text] == {"label": top[0], "confidence": round(top[1], 4)}, text
    assert any(p["label"] == "merged" for p in said.values())
