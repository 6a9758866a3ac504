"""After a merge, before the queue's re-score, the labeling message's guess, a batch's "agreed
with the model" and a disagreement's model guess say what export (and predict) say for the
example: where the merged label's classes lie beyond a row's stored five, its probability is
more than the stored ones add up to, and can make it the model's top label. Real SQLite and
PostgreSQL, the real encoder and model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine import consensus, exporting, labeling, predicting, projects, taxonomy, training
from storage.db import session_scope
from storage.repositories import examples, models
from storage.repositories import projects as projects_repo
from tests.engine import test_review34b_findings as review34b

_seven_labeled = review34b._seven_labeled
VAGUE = {"hello", "ok thanks", "a question", "what?", "hmm", "yes please"}


def _merged_beyond_the_stored_five(ws, tmp_path: Path) -> tuple[int, str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Project "seven", trained; a stored row's second class merged with the classes the row
    left out, so that the merged label is the model's top today though its stored classes
    add up to less than the row's top (queue not re-scored). (example id, text, its export
    prediction)."""
    _seven_labeled(ws, tmp_path)
    return _merge_beyond_the_stored_five(ws)


def _merge_beyond_the_stored_five(ws) -> tuple[int, str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """:func:`_merged_beyond_the_stored_five` of the trained project "seven"."""
    loaded = training.active_model(ws, "seven")
    assert loaded is not None
    run, model = loaded
    with session_scope(ws.db, read_only=True) as session:
        project = projects_repo.get_project(session=session, name="seven")
        assert project.id is not None
        stored = models.get_predictions_for(session=session, example_ids=range(1, 200))
        texts = {i: examples.get_example(session=session, example_id=i).text for i in stored}
    best: tuple[float, int, list[str]] | None = None
    for example_id, row in stored.items():
        if texts[example_id] not in VAGUE or row.model_run_id != run.id:
            continue
        text = texts[example_id]
        p = dict(zip(run.classes, model.predict_proba(ws.embed([text, text]))[0], strict=True))
        kept = [str(lb) for lb, _ in row.probs]
        left = [c for c in run.classes if c not in kept]
        assert left  # five of seven stored
        for second in kept[1:]:
            margin = p[second] + sum(p[c] for c in left) - p[kept[0]]
            if best is None or margin > best[0]:
                best = (margin, example_id, [second, *left])
    assert best is not None and best[0] > 0.001  # clear of the 4 places stored
    _, example_id, merged = best
    taxonomy.merge_labels(ws, project="seven", labels=merged, into="merged", actor="admin",
                          rescore=False)  # fmt: skip
    text = texts[example_id]
    said = {r["text"]: r["prediction"] for r in exporting.export_records(ws, "seven")}[text]
    assert said["label"] == "merged"  # export scores the row live, as the re-score will
    [predicted] = predicting.predict_texts(ws, "seven", [text])
    assert (predicted.label, predicted.confidence) == (said["label"], said["confidence"])
    return example_id, text, said


def _handed(ws, example_id: int, annotator: str) -> labeling.Task:  # type: ignore[no-untyped-def]
    """The labeling task of ``example_id`` as the queue hands it to ``annotator`` (skipping the
    others it offers first)."""
    for _ in range(20):
        task = labeling.next_task(ws, project="seven", annotator=annotator)
        assert task is not None
        if task.example_id == example_id:
            return task
        labeling.skip(ws, project="seven", example_id=task.example_id, annotator=annotator)
    raise AssertionError(f"example {example_id} was never handed to {annotator}")


def test_the_labeling_guess_after_a_merge_is_exports(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    example_id, text, said = _merged_beyond_the_stored_five(ws, tmp_path)
    task = _handed(ws, example_id, "U1")
    assert task.suggestion is not None
    assert task.suggestion == (said["label"], said["confidence"])
    # the runner-up too is the row the re-score writes (predict's second label)
    [predicted] = predicting.predict_texts(ws, "seven", [text])
    second = predicted.top[1]
    if second[1] >= labeling.RUNNER_UP_MIN:
        assert task.runner_up == second
    else:
        assert task.runner_up is None
    # and the same after the re-score
    training.rescore_project(ws, "seven")
    again = labeling.held_task(ws, assignment_id=task.assignment_id)
    assert again.suggestion == task.suggestion


def test_taking_the_guess_after_a_merge_agrees_with_the_model(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    example_id, _, said = _merged_beyond_the_stored_five(ws, tmp_path)
    task = _handed(ws, example_id, "U1")
    labeling.start_batch(ws, project="seven", user="U1", size=3)
    result = labeling.submit_label(ws, project="seven", example_id=example_id,
                                   label=said["label"], annotator="U1", source="slack",
                                   key=f"U1:{task.example_id}")  # fmt: skip
    assert result.model_guess == said["label"]  # the expert took the model's guess
    # the tally as bot/flow.py counts it; the undo takes the agreement back out with it
    agreed = result.model_guess == (result.counts_as or result.label)
    labeling.count_batch_answer(ws, project="seven", user="U1", agreed=agreed)
    assert labeling.give_back_batch_answer(ws, project="seven", user="U1",
                                           annotation_id=result.annotation_id)  # fmt: skip
    tally = labeling.count_batch_answer(ws, project="seven", user="U1", agreed=False)
    assert tally is not None
    assert (tally.done, tally.compared, tally.agreed) == (1, 1, 0)


def test_a_disagreements_model_guess_after_a_merge_is_exports(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    example_id, _, said = _merged_beyond_the_stored_five(ws, tmp_path)
    projects.update_settings(ws, project="seven", multi_label_share=1.0, multi_label_k=2)
    first, second = [lb for lb in review34b.SEVEN if lb in _active(ws)][:2]
    for i, (annotator, label) in enumerate((("W1", first), ("W2", second))):
        _handed(ws, example_id, annotator)
        key = f"{annotator}:{i}"
        labeling.submit_label(ws, project="seven", example_id=example_id, label=label,
                              annotator=annotator, source="slack", key=key)  # fmt: skip
        if consensus.disagreements(ws, "seven", example_id=example_id):
            break
    [found] = consensus.disagreements(ws, "seven", example_id=example_id)
    assert found.model is not None
    assert (found.model[0], float(np.round(found.model[1], 4))) == (
        said["label"],
        said["confidence"],
    )


def _active(ws) -> set[str]:  # type: ignore[no-untyped-def]
    with session_scope(ws.db, read_only=True) as session:
        project = projects_repo.get_project(session=session, name="seven")
        assert project.id is not None
        return {lb.name for lb in projects_repo.list_labels(session=session, project_id=project.id)}


def test_the_click_path_scores_live_only_after_a_merge_and_once_per_task(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, monkeypatch
) -> None:
    calls = {"merges_since": 0, "rescored": 0}
    since, rescored = predicting.merges_since, predicting.Merges.rescored

    def counted_since(*args: Any, **kwargs: Any) -> Any:
        calls["merges_since"] += 1
        return since(*args, **kwargs)

    def counted_rescored(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["rescored"] += 1
        return rescored(self, *args, **kwargs)

    monkeypatch.setattr(predicting, "merges_since", counted_since)
    monkeypatch.setattr(predicting.Merges, "rescored", counted_rescored)
    _seven_labeled(ws, tmp_path)
    # no taxonomy change since the rows were written: the stored rows, nothing else
    task = labeling.next_task(ws, project="seven", annotator="U0")
    assert task is not None and task.suggestion is not None
    assert calls == {"merges_since": 0, "rescored": 0}
    labeling.release(ws, project="seven", example_id=task.example_id, annotator="U0")
    example_id, _, said = _merge_beyond_the_stored_five(ws)
    calls.update(merges_since=0, rescored=0)
    task = _handed(ws, example_id, "U1")
    first = dict(calls)
    again = labeling.held_task(ws, assignment_id=task.assignment_id)
    assert again.suggestion == task.suggestion == (said["label"], said["confidence"])
    # the merges read once per process (until the next change); one live score per showing
    assert calls["merges_since"] == first["merges_since"] <= 1
    assert calls["rescored"] == first["rescored"] + 1
