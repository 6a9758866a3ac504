"""Review of session 35's stored predictions by label id (Prediction.class_ids, migration 0022:
export, predict, the labeling message) and of status' too rare to learn without audit twins
(engine.projects.held_out). Real SQLite and PostgreSQL, the real encoder and model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlmodel import select

from engine import consensus, exporting, labeling, predicting, projects, taxonomy, training
from engine.config import Settings
from engine.embeddings import EmbeddingCache
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import Example, Prediction
from storage.repositories import assignments, examples
from storage.repositories import projects as prepo
from tests.helpers import label_next, load_slice


def _trained(ws, banking_slice, tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 40)
    training.train_project(ws, "bank", kind="linear")
    return truth, {r["text"]: r["prediction"] for r in exporting.export_records(ws, "bank")}


def _swap(ws, a: str, b: str) -> None:  # type: ignore[no-untyped-def]
    """Labels ``a`` and ``b`` swap names, the queue not re-scored yet."""
    for old, new in ((a, "tmp_swap"), (b, a), ("tmp_swap", b)):
        taxonomy.rename_label(ws, project="bank", label=old, new_name=new, actor="admin",
                              rescore=False)  # fmt: skip


def test_export_after_an_undone_rename_names_todays_label(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    _, before = _trained(ws, banking_slice, tmp_path)
    # the rename re-scores the queue: the rows now say card_delivery (with card_arrival's id)
    taxonomy.rename_label(ws, project="bank", label="card_arrival", new_name="card_delivery",
                          actor="admin")  # fmt: skip
    # its undo, before the re-score (a Slack ack re-scores later; a failed re-score is pending)
    taxonomy.undo_last(ws, project="bank", actor="admin", rescore=False)
    records = list(exporting.export_records(ws, "bank"))
    moved = [r for r in records if (before[r["text"]] or {}).get("label") == "card_arrival"]
    assert moved
    said = predicting.predict_texts(ws, "bank", [r["text"] for r in moved])
    assert {p.label for p in said} == {"card_arrival"}  # predict reads the rows by label id
    assert {r["prediction"]["label"] for r in moved} == {"card_arrival"}  # as export should


def test_taking_the_shown_guess_counts_as_agreeing_after_a_swap(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    _, before = _trained(ws, banking_slice, tmp_path)
    _swap(ws, "card_arrival", "age_limit")
    for i in range(30):
        task = labeling.next_task(ws, project="bank", annotator=f"V{i}")
        assert task is not None
        swapped = before[task.text]["label"] in {"card_arrival", "age_limit"}
        if task.suggestion is None or not swapped:
            continue
        shown = task.suggestion[0]
        labeling.start_batch(ws, project="bank", user=f"V{i}", size=3)
        result = labeling.submit_label(ws, project="bank", example_id=task.example_id,
                                       label=shown, annotator=f"V{i}", source="slack",
                                       key=f"V{i}:{task.example_id}")  # fmt: skip
        assert result.model_guess == shown  # the expert took the model's guess as shown
        # the batch's tally as bot/flow.py counts it: one answer, agreeing; its undo takes
        # the agreement back out with it (read again from the stored prediction)
        agreed = result.model_guess == (result.counts_as or result.label)
        labeling.count_batch_answer(ws, project="bank", user=f"V{i}", agreed=agreed)
        assert labeling.give_back_batch_answer(ws, project="bank", user=f"V{i}",
                                               annotation_id=result.annotation_id)  # fmt: skip
        # the relabel, another label than the guess: one answer, compared, none agreeing
        tally = labeling.count_batch_answer(ws, project="bank", user=f"V{i}", agreed=False)
        assert tally is not None
        assert (tally.done, tally.compared, tally.agreed) == (1, 1, 0)
        return
    pytest.fail("no example whose guess is a swapped label was handed out")


def test_a_disagreements_model_guess_names_todays_label(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    truth, before = _trained(ws, banking_slice, tmp_path)
    projects.update_settings(ws, project="bank", multi_label_share=1.0, multi_label_k=2)
    _swap(ws, "card_arrival", "age_limit")
    names = [lb for lb in {*truth.values()} if lb not in {"card_arrival", "age_limit"}]
    for i in range(30):
        task = labeling.next_task(ws, project="bank", annotator="W1")
        assert task is not None
        if before[task.text]["label"] not in {"card_arrival", "age_limit"}:
            labeling.skip(ws, project="bank", example_id=task.example_id, annotator="W1")
            continue
        first, second = [n for n in names if n != truth[task.text]][:2]
        labeling.submit_label(ws, project="bank", example_id=task.example_id, label=first,
                              annotator="W1", source="slack", key=f"W1:{i}")  # fmt: skip
        if not consensus.disagreements(ws, "bank", example_id=task.example_id):
            labeling.submit_label(ws, project="bank", example_id=task.example_id, label=second,
                                  annotator="W2", source="slack", key=f"W2:{i}")  # fmt: skip
        [found] = consensus.disagreements(ws, "bank", example_id=task.example_id)
        [said] = predicting.predict_texts(ws, "bank", [task.text])
        assert found.model is not None
        assert found.model[0] == said.label  # the label the model meant, as predict names it
        return
    pytest.fail("no example whose guess is a swapped label was handed out")


def test_the_rare_reason_names_todays_label_after_a_swap(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    quota = {lb: 8 for lb in set(truth.values())}
    quota["age_limit"] = 2  # too rare: the queue's rare-label help looks for more of it
    for _ in range(len(truth)):
        task = labeling.next_task(ws, project="bank", annotator="U1")
        if task is None or not any(quota.values()):
            break
        label = truth[task.text]
        if quota[label]:
            quota[label] -= 1
            key = f"U1:{task.example_id}"
            labeling.submit_label(ws, project="bank", example_id=task.example_id, label=label,
                                  annotator="U1", source="cli", key=key)  # fmt: skip
        else:
            labeling.skip(ws, project="bank", example_id=task.example_id, annotator="U1")
    training.train_project(ws, "bank", kind="linear")
    _swap(ws, "card_arrival", "age_limit")  # the rare label is called card_arrival now
    said = []
    for i in range(20):
        task = labeling.next_task(ws, project="bank", annotator=f"R{i}")
        assert task is not None
        if task.reason is not None and task.reason.kind in {"rare", "no_examples"}:
            said.append(task.reason.label)
    assert said  # the rare-label help asked
    assert set(said) == {"card_arrival"}


def test_pairs_an_older_labelbot_left_are_not_read_after_a_swap(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """A row this labelbot wrote: n0 (label i0) first, n1 (label i1) second. The two labels swap
    names; a labelbot before 0022 (allowed on the schema: compatible_with) re-scores with a
    model retrained meanwhile, which puts label i1 (called n0 now) first: it rewrites probs in
    today's names and leaves class_ids as they were. The row means today's n0."""
    _trained(ws, banking_slice, tmp_path)
    with session_scope(ws.db, read_only=True) as session:
        row = next(
            r
            for r in session.exec(select(Prediction)).all()
            if r.class_ids and {r.probs[0][0], r.probs[1][0]} == {"card_arrival", "age_limit"}
        )
        text = session.get(Example, row.example_id).text  # type: ignore[union-attr]
    n0, n1 = row.probs[0][0], row.probs[1][0]
    _swap(ws, n0, n1)
    rest = [list(c) for c in row.probs[2:]]
    rewritten = [[n0, 0.51], [n1, 0.47], *rest]  # as an older labelbot writes it: today's names
    with session_scope(ws.db) as session:
        session.execute(
            sa.update(Prediction)
            .where(Prediction.example_id == row.example_id)  # type: ignore[arg-type]
            .values(probs=rewritten, label=n0, confidence=0.51)
        )
    [said] = predicting.predict_texts(ws, "bank", [text])
    assert said.label == n0


def test_status_reads_no_vectors_of_other_projects(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, db_url_and_schema, encoder
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(ws, project="bank", audit_share=0.5)
    label_next(ws, truth, 20)
    with session_scope(ws.db, read_only=True) as session:
        found = prepo.get_project(session=session, name="bank")
        assert found.id is not None
        assert assignments.audit_labeled_ids(session=session, project_id=found.id)
        mine = {h for _, _, h in examples.example_texts(session=session, project_id=found.id)}
    # the same database, with an embedding cache that holds another project's texts too
    data = tmp_path / "data"
    cache = EmbeddingCache(data / "embeddings", ws.encoder.name)
    cache.store(list(mine), ws.cache.lookup(list(mine))[1])
    others = [f"{i:032x}" for i in range(5000)]
    cache.store(others, np.random.default_rng(0).standard_normal((5000, 384)).astype(np.float32))
    url, schema = db_url_and_schema
    settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=str(data))
    other = Workspace.open(settings, schema=schema, encoder=encoder, migrate=False)
    try:
        status = projects.project_status(other, "bank")
        assert status["rare"] is not None
        cache = other.cache  # the keys of every shard are indexed, vectors read when needed
        read = {k for k, (shard, _) in cache._index.items() if cache._shards[shard] is not None}
    finally:
        other.close()
    assert read  # status read the vectors of its own texts (held_out: the audit twins)
    assert not read - mine  # none of another project's


def test_the_labeling_guess_reads_rows_without_ids_by_name(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    _, before = _trained(ws, banking_slice, tmp_path)
    with session_scope(ws.db) as session:
        session.execute(sa.update(Prediction).values(class_ids=None))  # rows before 0022
    taxonomy.rename_label(ws, project="bank", label="card_arrival", new_name="card_delivery",
                          actor="admin", rescore=False)  # fmt: skip
    guessed = []
    for i in range(30):
        task = labeling.next_task(ws, project="bank", annotator=f"G{i}")
        assert task is not None
        if task.suggestion is not None and before[task.text]["label"] == "card_arrival":
            guessed.append(task.suggestion[0])
    assert guessed
    assert set(guessed) == {"card_delivery"}  # as predict and export name it
