"""A model's classes are labels, not names: renames that hand a name from one label to another
(two labels swapping names, a label renamed into a name another label gave up) never make a
model -- the active one, or an older one pinned later -- answer under the wrong label, and its
per-class scores stay with their labels. On SQLite and PostgreSQL.

Runs recorded before labelbot stored their classes' label ids (migration 0013) are resolved from
the rename history: each label's name when the run started."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import exporting, projects, taxonomy, training
from engine.digest import build_digest
from engine.evaluation import explain_status
from engine.workspace import Workspace
from tests.engine.test_taxonomy import _start

LABELS = ["card_arrival", "age_limit", "atm_support", "change_pin", "exchange_rate"]
SWAP = {"age_limit": "change_pin", "change_pin": "age_limit"}  # each old name -> its label now
FREED = {"age_limit": "minimum_age", "change_pin": "age_limit"}


@pytest.fixture
def seeded(ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Project "bank": the 150-row Banking77 slice, 6 examples per class labeled by import
    (3 of change_pin, so that its scores differ from age_limit's), and model v1."""
    _start(ws, banking_slice, tmp_path, LABELS, few="change_pin", n_few=3)
    truth = dict(banking_slice)
    texts = [t for t, label in truth.items() if label in ("age_limit", "change_pin")][:20]
    return ws, texts


def _swap(ws: Workspace) -> None:
    taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="tmp", actor="a")
    taxonomy.rename_label(ws, project="bank", label="change_pin", new_name="age_limit", actor="a")
    taxonomy.rename_label(ws, project="bank", label="tmp", new_name="change_pin", actor="a")


def _free(ws: Workspace) -> None:
    taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="minimum_age", actor="a")
    taxonomy.rename_label(ws, project="bank", label="change_pin", new_name="age_limit", actor="a")


def _stored(ws: Workspace, texts: list[str]) -> list[tuple[str, float] | None]:
    """The stored prediction (label, confidence) of each text, as the export shows it."""
    by_text = {r["text"]: r["prediction"] for r in exporting.export_records(ws, "bank")}
    return [
        None if by_text[t] is None else (by_text[t]["label"], by_text[t]["confidence"])
        for t in texts
    ]


def _forget_label_ids(ws: Workspace) -> None:
    """Make every run look recorded before 0013: no label ids beside its class names."""
    with ws.db.begin() as conn:
        conn.execute(sa.text("UPDATE model_runs SET label_ids = NULL"))


def _renamed(before: list[training.TextPrediction], names: dict[str, str]) -> list[object]:
    return [(names.get(p.label, p.label), p.confidence) for p in before]


@pytest.mark.parametrize("stored_ids", [True, False], ids=["label_ids", "before_0013"])
@pytest.mark.parametrize("change", ["swap", "freed_name"])
def test_the_model_answers_under_each_class_s_own_label_after_names_move(  # type: ignore[no-untyped-def]
    seeded, change: str, stored_ids: bool
) -> None:
    """Two labels swap names, or one takes the name another gave up: the predict API and the
    stored predictions answer with the label each class is (same probabilities), not the label
    that now has the class's old name."""
    ws, texts = seeded
    if not stored_ids:
        _forget_label_ids(ws)
    before = training.predict_texts(ws, "bank", texts)
    stored_before = _stored(ws, texts)
    assert {p.label for p in before} == {"age_limit", "change_pin"}  # the model tells them apart
    names = SWAP if change == "swap" else FREED

    (_swap if change == "swap" else _free)(ws)

    after = training.predict_texts(ws, "bank", texts)
    assert [(p.label, p.confidence) for p in after] == _renamed(before, names)
    assert _stored(ws, texts) == [
        None if s is None else (names.get(s[0], s[0]), s[1]) for s in stored_before
    ]
    assert all(s is not None for s in _stored(ws, texts))  # the queue kept the model


def test_an_older_model_pinned_after_a_swap_answers_under_the_right_labels(seeded) -> None:  # type: ignore[no-untyped-def]
    """v1 is pinned back after the swap and the retrain v2: it still answers by label."""
    ws, texts = seeded
    before = training.predict_texts(ws, "bank", texts)
    _swap(ws)
    assert training.train_project(ws, "bank").version == 2
    v2 = training.predict_texts(ws, "bank", texts)
    assert sum(a.label == b for a, (b, _) in zip(v2, _renamed(before, SWAP), strict=True)) >= 18

    pinned = training.pin_version(ws, "bank", 1)
    assert pinned.version == 1 and pinned.is_active
    assert [(p.label, p.confidence) for p in training.predict_texts(ws, "bank", texts)] == (
        _renamed(before, SWAP)
    )
    stored = _stored(ws, texts)
    assert [s[0] if s else None for s in stored] == [SWAP[p.label] for p in before]


def test_a_run_from_before_0013_follows_an_undone_rename(seeded) -> None:  # type: ignore[no-untyped-def]
    """A run without label ids is resolved from the history: a rename undone after it was
    trained gives the label back the name it had then, even once another label took that name
    since."""
    ws, texts = seeded
    taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="minimum_age", actor="a")
    training.train_project(ws, "bank")  # v2 knows minimum_age
    before = training.predict_texts(ws, "bank", texts)
    assert {p.label for p in before} == {"minimum_age", "change_pin"}
    _forget_label_ids(ws)

    taxonomy.undo_last(ws, project="bank", actor="a")  # minimum_age is age_limit again
    taxonomy.rename_label(ws, project="bank", label="change_pin", new_name="minimum_age", actor="a")

    names = {"minimum_age": "age_limit", "change_pin": "minimum_age"}
    after = training.predict_texts(ws, "bank", texts)
    assert [(p.label, p.confidence) for p in after] == _renamed(before, names)
    assert [s[0] if s else None for s in _stored(ws, texts)] == [names[p.label] for p in before]


def _scores(ws: Workspace) -> dict[str, tuple[float, int]]:
    """`labelbot status --json`'s per-class (F1, support) of the active model."""
    info = explain_status(projects.project_status(ws, "bank"), ws=ws)
    table = info["model"]["per_class_f1"]["scores"]
    return {name: (s["f1"], s["support"]) for name, s in table.items()}


@pytest.mark.parametrize("change", ["swap", "freed_name"])
def test_per_class_scores_stay_with_their_labels(seeded, change: str) -> None:  # type: ignore[no-untyped-def]
    """`labelbot status`'s per-class F1 of a model trained before the names moved: each score
    (and its support: 6 labels of age_limit, 3 of change_pin) under its label's name today."""
    ws, _ = seeded
    before = _scores(ws)
    assert before["age_limit"] != before["change_pin"]  # else a mix-up would not show
    names = SWAP if change == "swap" else FREED

    (_swap if change == "swap" else _free)(ws)

    assert _scores(ws) == {names.get(name, name): score for name, score in before.items()}


@pytest.mark.parametrize("change", ["swap", "freed_name"])
def test_the_digest_s_per_class_scores_are_status_s(seeded, change: str) -> None:  # type: ignore[no-untyped-def]
    """The digest's per-class F1 (its panel and weakest classes) reads the scores as status
    does: each under its label's name today. After a freed name is taken, the old code showed
    age_limit's score under the label that took the name and none for minimum_age."""
    ws, _ = seeded
    (_swap if change == "swap" else _free)(ws)

    shown = build_digest(ws, "bank").per_class_f1
    assert shown == {name: f1 for name, (f1, _) in _scores(ws).items()}
    assert ("minimum_age" in shown) is (change == "freed_name")
