"""Taxonomy changes end to end through the engine services, on SQLite and PostgreSQL.

Each change is checked for what it does to the stored annotations (never touched), the export
(``label`` mapped, ``annotations[].label`` what was clicked), the queue, the next model and a
click on a button sent before the change.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from engine import exporting, jobs, labeling, projects, taxonomy, training
from storage.db import session_scope
from storage.errors import ConflictError, InvalidInputError, StaleActionError
from storage.models import Annotation, LabelEvent
from storage.repositories import feedback
from storage.repositories import projects as project_repo

LABELS = ["card_arrival", "age_limit", "atm_support", "change_pin", "exchange_rate"]
PER_CLASS = 6  # seed labels per class (imported); the other 24 per class stay unlabeled


def _start(
    ws, banking_slice, tmp_path: Path, labels: list[str], few: str = "", n_few: int = 2
) -> None:  # type: ignore[no-untyped-def]
    """Project "bank" with ``labels``: the 150-row slice imported, the first 6 examples of each of
    those labels labeled (``n_few`` of label ``few``), and a first model."""
    projects.create_project(ws, name="bank", labels=labels)
    path = tmp_path / "slice.csv"
    seen: dict[str, int] = {}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for text, label in banking_slice:
            seen[label] = seen.get(label, 0) + 1
            keep = n_few if label == few else PER_CLASS
            writer.writerow([text, label if label in labels and seen[label] <= keep else ""])
    projects.import_file(ws, project="bank", path=path)
    training.train_project(ws, "bank")


@pytest.fixture
def seeded(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The 150-row Banking77 slice, 6 examples per class labeled by import, and a first model."""
    _start(ws, banking_slice, tmp_path, LABELS)
    return ws, dict(banking_slice)


def _annotations(ws):  # type: ignore[no-untyped-def]
    with session_scope(ws.db, read_only=True) as s:
        return sorted(
            (a.id, a.example_id, a.label_id, a.annotator, a.retracted_at)
            for a in s.exec(select(Annotation)).all()
        )


def _agreed(ws):  # type: ignore[no-untyped-def]
    with session_scope(ws.db, read_only=True) as s:
        project = project_repo.get_project(session=s, name="bank")
        return feedback.current_labels(session=s, project_id=project.id)


def _by_text(ws):  # type: ignore[no-untyped-def]
    return {r["text"]: r for r in exporting.export_records(ws, "bank")}


def _submit(ws, example_id, label, who="U1", key=None):  # type: ignore[no-untyped-def]
    return labeling.submit_label(
        ws, project="bank", example_id=example_id, label=label, annotator=who,
        source="slack", key=key or f"{example_id}:{label}:{who}",
    )  # fmt: skip


def test_merge_maps_annotations_export_and_next_model(seeded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = seeded
    before = _annotations(ws)
    change = taxonomy.merge_labels(
        ws, project="bank", labels=["card_arrival", "change_pin"], into="cards",
        actor="ana", reason="experts cannot tell them apart",
    )  # fmt: skip
    assert change.kind == "merge" and change.mapped == 2 * PER_CLASS and change.requeued == 0
    assert change.labels == ["age_limit", "atm_support", "exchange_rate", "cards"]
    assert _annotations(ws) == before  # what the experts clicked is untouched
    agreed = _agreed(ws)
    assert len(agreed) == 5 * PER_CLASS
    assert sorted(set(agreed.values())) == ["age_limit", "atm_support", "cards", "exchange_rate"]

    records = _by_text(ws)
    merged = [r for t, r in records.items() if truth[t] in ("card_arrival", "change_pin")]
    labeled = [r for r in merged if r["annotations"]]
    assert len(labeled) == 2 * PER_CLASS
    assert {r["label"] for r in labeled} == {"cards"}  # mapped
    assert {a["label"] for r in labeled for a in r["annotations"]} == {"card_arrival", "change_pin"}
    status = projects.project_status(ws, "bank")
    counts = {lb["name"]: (lb["count"], lb["active"]) for lb in status["labels"]}
    assert counts["cards"] == (2 * PER_CLASS, True) and counts["change_pin"] == (0, False)

    # the scheduler sees a stale model; the next one learns the merged taxonomy
    decision = jobs.retrain_decision(ws, "bank")
    assert decision.due and "taxonomy changed" in decision.reason
    run = training.train_project(ws, "bank")
    assert run.classes == ["age_limit", "atm_support", "exchange_rate", "cards"]
    assert run.is_active and run.n_labels == 5 * PER_CLASS
    assert not jobs.retrain_decision(ws, "bank").due

    # a button sent before the merge: stored as clicked, counts as the merge target
    task = labeling.next_task(ws, project="bank", annotator="U1")
    assert task is not None and "change_pin" not in [c.name for c in task.labels]
    result = _submit(ws, task.example_id, "change_pin")
    assert result.created and result.label == "change_pin" and result.counts_as == "cards"
    assert _agreed(ws)[task.example_id] == "cards"


def test_merge_into_one_of_them_keeps_its_id(seeded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = seeded
    labels = {lb.name: lb.id for lb in projects.list_labels(ws, project="bank")}
    change = taxonomy.merge_labels(
        ws, project="bank", labels=["change_pin", "card_arrival"], actor="ana"
    )
    assert change.labels == ["age_limit", "atm_support", "change_pin", "exchange_rate"]
    after = {lb.name: (lb.id, lb.active) for lb in projects.list_labels(ws, project="bank")}
    assert after["change_pin"] == (labels["change_pin"], True)  # the first is the default target
    assert after["card_arrival"] == (labels["card_arrival"], False)
    assert sum(1 for v in _agreed(ws).values() if v == "change_pin") == 2 * PER_CLASS


def test_split_sends_examples_back_to_the_queue_first(seeded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = seeded
    before = _annotations(ws)
    change = taxonomy.split_label(
        ws, project="bank", label="exchange_rate", into=["rate_today", "rate_fees"],
        actor="ana", reason="two different questions",
    )  # fmt: skip
    assert change.requeued == PER_CLASS and "rate_today" in change.labels
    assert "exchange_rate" not in change.labels
    assert _annotations(ws) == before
    records = _by_text(ws)
    old = [r for t, r in records.items() if truth[t] == "exchange_rate" and r["annotations"]]
    assert len(old) == PER_CLASS
    assert all(r["label"] is None for r in old)  # unlabeled until relabeled ...
    assert all(r["annotations"][0]["label"] == "exchange_rate" for r in old)  # ... history kept
    status = projects.project_status(ws, "bank")
    assert status["labeled"] == 4 * PER_CLASS

    # the split label's examples come first, even for the expert who labeled them (import)
    firsts = []
    for i in range(PER_CLASS):
        task = labeling.next_task(ws, project="bank", annotator="U1")
        assert task is not None
        firsts.append(truth[task.text])
        with pytest.raises(StaleActionError, match="split into rate_today, rate_fees"):
            _submit(ws, task.example_id, "exchange_rate")  # a stale button stores nothing
        _submit(ws, task.example_id, "rate_today" if i % 2 else "rate_fees")
    assert firsts == ["exchange_rate"] * PER_CLASS
    assert len(_annotations(ws)) == len(before) + PER_CLASS
    agreed = _agreed(ws)
    assert sum(v in ("rate_today", "rate_fees") for v in agreed.values()) == PER_CLASS

    run = training.train_project(ws, "bank")
    assert run.classes[-2:] == ["rate_today", "rate_fees"] and "exchange_rate" not in run.classes


def test_retire_requeues_or_maps(seeded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = seeded
    change = taxonomy.retire_label(
        ws, project="bank", label="atm_support", actor="ana", reason="out of scope"
    )
    assert change.requeued == PER_CLASS and change.mapped == 0
    task = labeling.next_task(ws, project="bank", annotator="U2")
    assert task is not None and truth[task.text] == "atm_support"
    with pytest.raises(StaleActionError, match="was retired; pick another"):
        _submit(ws, task.example_id, "atm_support", who="U2")

    change = taxonomy.retire_label(
        ws, project="bank", label="age_limit", map_to="card_arrival", actor="ana"
    )
    assert change.mapped == PER_CLASS and change.requeued == 0
    assert "age_limit" not in {r["label"] for r in _by_text(ws).values()}
    assert sum(v == "card_arrival" for v in _agreed(ws).values()) == 2 * PER_CLASS
    result = _submit(ws, task.example_id, "age_limit", who="U2")  # a stale, mapped button
    assert result.counts_as == "card_arrival"
    run = training.train_project(ws, "bank")
    assert run.classes == ["card_arrival", "change_pin", "exchange_rate"]


def test_rename_keeps_ids_and_old_buttons_work(seeded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = seeded
    before = _annotations(ws)
    ids = {lb.name: lb.id for lb in projects.list_labels(ws, project="bank")}
    change = taxonomy.rename_label(
        ws, project="bank", label="age_limit", new_name="minimum_age", actor="ana"
    )
    assert change.requeued == 0 and "minimum_age" in change.labels
    assert {lb.name: lb.id for lb in projects.list_labels(ws, project="bank")}[
        "minimum_age"
    ] == ids["age_limit"]
    assert _annotations(ws) == before
    assert sum(v == "minimum_age" for v in _agreed(ws).values()) == PER_CLASS
    task = labeling.next_task(ws, project="bank", annotator="U1")
    assert task is not None
    result = _submit(ws, task.example_id, "age_limit")  # the button still says the old name
    assert result.label == result.counts_as == "minimum_age"
    assert jobs.retrain_decision(ws, "bank").due
    assert "minimum_age" in training.train_project(ws, "bank").classes


def test_chained_changes_resolve_through_the_history(seeded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = seeded
    taxonomy.merge_labels(ws, project="bank", labels=["change_pin", "card_arrival"], actor="a")
    taxonomy.merge_labels(
        ws, project="bank", labels=["change_pin", "atm_support"], into="cards", actor="a"
    )
    assert sum(v == "cards" for v in _agreed(ws).values()) == 3 * PER_CLASS
    change = taxonomy.split_label(ws, project="bank", label="cards", into=["c1", "c2"], actor="a")
    assert change.requeued == 3 * PER_CLASS  # the labels merged earlier follow their target
    assert set(_agreed(ws).values()) == {"age_limit", "exchange_rate"}


def test_add_describe_history_and_admins(seeded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = seeded
    taxonomy.add_labels(ws, project="bank", names=["lost_card"], actor="ana", reason="new intent")
    taxonomy.describe_label(
        ws, project="bank", label="lost_card", description="Card lost or stolen", actor="bo"
    )
    taxonomy.retire_label(ws, project="bank", label="lost_card", actor="ana")
    history = taxonomy.label_history(ws, project="bank")
    assert [(h.kind, h.actor) for h in history] == [
        ("add", "ana"), ("describe", "bo"), ("retire", "ana"),
    ]  # fmt: skip
    assert history[0].reason == "new intent" and history[0].summary == "added lost_card"
    assert history[1].details["new"] == "Card lost or stolen"
    assert history[2].summary == "retired lost_card; 0 examples back in the queue"
    assert history[0].created_at <= history[2].created_at
    lb = {x.name: x for x in projects.list_labels(ws, project="bank")}["lost_card"]
    assert lb.description == "Card lost or stolen" and not lb.active  # kept, not deleted

    assert not taxonomy.is_admin(ws, project="bank", user_id="U1")
    projects.update_settings(ws, project="bank", admins=["U1"])
    assert taxonomy.is_admin(ws, project="bank", user_id="U1")
    assert not taxonomy.is_admin(ws, project="bank", user_id="U2")


def test_invalid_changes_are_clear_and_record_nothing(seeded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = seeded
    with pytest.raises(InvalidInputError, match=r"unknown label 'nope' \(labels: card_arrival, "):
        taxonomy.rename_label(ws, project="bank", label="nope", new_name="x", actor="a")
    with pytest.raises(InvalidInputError, match="cannot merge label 'age_limit' with itself"):
        taxonomy.merge_labels(ws, project="bank", labels=["age_limit", "age_limit"], actor="a")
    with pytest.raises(InvalidInputError, match="at least two labels"):
        taxonomy.merge_labels(ws, project="bank", labels=["age_limit"], into="x", actor="a")
    with pytest.raises(ConflictError, match="label 'change_pin' already exists; a split creates"):
        taxonomy.split_label(
            ws, project="bank", label="age_limit", into=["teen", "change_pin"], actor="a"
        )
    with pytest.raises(InvalidInputError, match="at least two new labels"):
        taxonomy.split_label(ws, project="bank", label="age_limit", into=["teen"], actor="a")
    with pytest.raises(ConflictError, match="cannot rename 'age_limit' to 'change_pin'"):
        taxonomy.rename_label(
            ws, project="bank", label="age_limit", new_name="change_pin", actor="a"
        )
    with pytest.raises(InvalidInputError, match="map it to itself"):
        taxonomy.retire_label(ws, project="bank", label="age_limit", map_to="age_limit", actor="a")
    with pytest.raises(InvalidInputError, match="needs an actor"):
        taxonomy.add_labels(ws, project="bank", names=["x"], actor=" ")
    assert taxonomy.label_history(ws, project="bank") == []
    assert len(projects.list_labels(ws, project="bank")) == 5  # the failed split added nothing

    taxonomy.retire_label(ws, project="bank", label="age_limit", actor="a")
    with pytest.raises(InvalidInputError, match="'age_limit' was retired"):
        taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="x", actor="a")
    with pytest.raises(ConflictError, match="a retired label has that name"):
        taxonomy.merge_labels(
            ws, project="bank", labels=["change_pin", "card_arrival"], into="age_limit",
            actor="a",
        )  # fmt: skip
    for name in ["card_arrival", "atm_support", "change_pin"]:
        taxonomy.retire_label(ws, project="bank", label=name, actor="a", rescore=False)
    with pytest.raises(InvalidInputError, match="last label"):
        taxonomy.retire_label(ws, project="bank", label="exchange_rate", actor="a")
    with session_scope(ws.db, read_only=True) as s:
        assert len(s.exec(select(LabelEvent)).all()) == 4


def test_describe_does_not_make_the_model_stale(seeded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = seeded
    taxonomy.describe_label(ws, project="bank", label="age_limit", description="18+", actor="a")
    assert not jobs.retrain_decision(ws, "bank").due
    # a change made after the last model started makes it stale, one made before does not
    later = training.list_versions(ws, "bank")[-1].created_at + timedelta(hours=1)
    taxonomy.add_labels(ws, project="bank", names=["new_one"], actor="a", rescore=False)
    assert jobs.retrain_decision(ws, "bank", now=later).due


def test_a_split_example_can_be_relabeled_from_chat_by_anyone(seeded) -> None:  # type: ignore[no-untyped-def]
    from engine import messaging

    ws, _ = seeded
    taxonomy.split_label(
        ws, project="bank", label="atm_support", into=["atm_where", "atm_broken"], actor="admin"
    )
    with session_scope(ws.db, read_only=True) as s:
        waiting = [
            a for a in s.exec(select(Annotation)).all() if a.annotator == "import"
        ]  # the seed labels of every class, imported by "import"
    split_example = next(
        a.example_id for a in waiting if a.example_id not in _agreed(ws)
    )  # its annotation no longer counts
    # the expert who gave the old label, and anyone else, may label it again
    ref, stored = messaging.prepare_label(
        ws, example_id=split_example, annotator="import", key="k1"
    )
    assert stored is None and ref.example_id == split_example
    assert not messaging.labeled_by_others(ws, example_id=split_example, annotator="U9")


def test_a_requeued_example_says_what_it_was_labeled_and_since_what(seeded) -> None:  # type: ignore[no-untyped-def]
    """A task for an example back in the queue names its old label, who gave it, and the change:
    a split's parts by their names today (a part renamed or merged away since), or a retire."""
    ws, truth = seeded
    task = labeling.next_task(ws, project="bank", annotator="U1")
    assert task is not None and task.earlier == ()  # never labeled: nothing to explain
    labeling.release(ws, project="bank", example_id=task.example_id, annotator="U1")

    taxonomy.split_label(ws, project="bank", label="exchange_rate",
                         into=["rate_today", "rate_fees", "rate_other"], actor="ana")  # fmt: skip
    taxonomy.rename_label(ws, project="bank", label="rate_today", new_name="rate_now", actor="ana")
    taxonomy.merge_labels(ws, project="bank", labels=["rate_other", "atm_support"], into="misc",
                          actor="ana")  # fmt: skip
    task = labeling.next_task(ws, project="bank", annotator="U1")
    assert task is not None and truth[task.text] == "exchange_rate"
    assert task.earlier == (
        taxonomy.EarlierLabel("exchange_rate", ("import",), ("rate_now", "rate_fees", "misc")),
    )
    # a second expert's label of the same example joins the same line once it stops counting
    _submit(ws, task.example_id, "rate_fees", who="U1")
    taxonomy.retire_label(ws, project="bank", label="rate_fees", actor="ana")
    with session_scope(ws.db, read_only=True) as s:
        earlier = taxonomy.earlier_labels(session=s, example_id=task.example_id)
    assert earlier == [
        taxonomy.EarlierLabel("exchange_rate", ("import",), ("rate_now", "misc")),
        taxonomy.EarlierLabel("rate_fees", ("U1",), None),
    ]
    # labeled again: it counts and has nothing to explain; the next example back has
    _submit(ws, task.example_id, "rate_now", who="U2")
    assert task.example_id in _agreed(ws)
    with session_scope(ws.db, read_only=True) as s:
        assert taxonomy.earlier_labels(session=s, example_id=task.example_id) == []
    nxt = labeling.next_task(ws, project="bank", annotator="U2")
    assert nxt is not None and nxt.example_id != task.example_id
    assert [e.label for e in nxt.earlier] == ["exchange_rate"]


def test_the_queue_says_when_it_asks_for_a_rare_label_and_the_models_second_guess(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """A label with 2 examples gets the queue's help, and those tasks say so; every task of a
    model carries its runner-up guess when that one is a contender."""
    _start(ws, banking_slice, tmp_path, LABELS, few="atm_support")
    tasks = []
    for i in range(12):
        task = labeling.next_task(ws, project="bank", annotator=f"U{i}")
        assert task is not None
        tasks.append(task)
    reasons = [t.reason for t in tasks]
    helped = reasons.count(labeling.AskReason("rare", "atm_support"))
    assert helped >= 2 and set(reasons) <= {None, labeling.AskReason("rare", "atm_support")}
    guesses = [(t.suggestion, t.runner_up) for t in tasks if t.runner_up is not None]
    assert guesses  # the model's uncertain picks have a close second
    for (top, p), (second, q) in guesses:
        assert second != top and labeling.RUNNER_UP_MIN <= q <= p


@pytest.mark.parametrize("description", ["", "Which exchange rate applies to my currency"])
def test_an_added_label_is_searched_from_its_name_at_once(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, description: str
) -> None:
    """A label added mid-project has no example: the queue asks first about the unlabeled
    examples nearest its name (and guidelines), before any model knows the label."""
    _start(ws, banking_slice, tmp_path, LABELS[:4])  # exchange_rate's 30 examples unlabeled
    truth = dict(banking_slice)

    asked: list[labeling.Task] = []

    def first_asked(n: int) -> list[str]:
        tasks = [labeling.next_task(ws, project="bank", annotator=f"U{i}") for i in range(n)]
        for i, task in enumerate(tasks):
            assert task is not None
            labeling.release(ws, project="bank", example_id=task.example_id, annotator=f"U{i}")
            asked.append(task)
        return [truth[t.text] for t in tasks if t is not None]

    assert first_asked(1) and asked[0].reason is None  # the model's own pick: nothing to say
    taxonomy.add_labels(ws, project="bank", names=["exchange_rate"], actor="ana",
                        descriptions=[description])  # fmt: skip
    # searched by name at once: the change drops the old model, and a cold start alone (k-means
    # over the five intents) would ask about about one exchange_rate example in five
    asked.clear()
    assert first_asked(5) == ["exchange_rate"] * 5
    # ... and each says so (what the labeling message shows)
    assert {t.reason for t in asked} == {labeling.AskReason("no_examples", "exchange_rate")}
    training.train_project(ws, "bank")  # a model over the new label set: still searched
    asked.clear()
    assert first_asked(5).count("exchange_rate") >= 4
    assert labeling.AskReason("no_examples", "exchange_rate") in {t.reason for t in asked}
    # renamed since the queue was scored: the reason names the label as called today (the
    # stored reason keeps its label's id)
    taxonomy.rename_label(ws, project="bank", label="exchange_rate", new_name="fx", actor="a",
                          rescore=False)  # fmt: skip
    task = labeling.next_task(ws, project="bank", annotator="U9")
    assert task is not None and task.reason == labeling.AskReason("no_examples", "fx")


def _label_rows(ws):  # type: ignore[no-untyped-def]
    return {lb.name: (lb.id, lb.active) for lb in projects.list_labels(ws, project="bank")}


def test_undo_walks_back_through_the_history_and_keeps_labels_given_since(seeded) -> None:  # type: ignore[no-untyped-def]
    """Rename, split (one part used since), merge, retire and describe, then five undos: each
    restores the taxonomy and what the annotations count as, newest first; the label given to a
    split part since counts as the label it came from; unused parts and names are freed."""
    ws, truth = seeded
    start_agreed, start_labels, start_annotations = _agreed(ws), _label_rows(ws), _annotations(ws)
    taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="minimum_age", actor="a")
    taxonomy.split_label(ws, project="bank", label="exchange_rate",
                         into=["rate_today", "rate_fees"], actor="a")  # fmt: skip
    task = labeling.next_task(ws, project="bank", annotator="U1")
    assert task is not None and truth[task.text] == "exchange_rate"
    _submit(ws, task.example_id, "rate_today")  # work done after the split
    taxonomy.merge_labels(ws, project="bank", labels=["card_arrival", "change_pin"], actor="a")
    taxonomy.retire_label(ws, project="bank", label="atm_support", actor="a")
    taxonomy.describe_label(ws, project="bank", label="minimum_age", description="18+", actor="a")
    assert taxonomy.last_undoable(ws, project="bank").kind == "describe"  # type: ignore[union-attr]

    undo = taxonomy.undo_last(ws, project="bank", actor="bo", reason="too hasty")
    assert (
        undo.kind == "undo" and undo.summary.startswith("undid #") and "described" in undo.summary
    )
    assert {lb.name: lb.description for lb in projects.list_labels(ws, project="bank")}[
        "minimum_age"] == ""  # fmt: skip

    undo = taxonomy.undo_last(ws, project="bank", actor="bo")  # the retire
    assert undo.details["restored"] == ["atm_support"]
    assert undo.details["restored_examples"] == PER_CLASS
    assert f"{PER_CLASS} examples count again" in undo.summary
    assert sum(v == "atm_support" for v in _agreed(ws).values()) == PER_CLASS

    undo = taxonomy.undo_last(ws, project="bank", actor="bo")  # the merge into card_arrival
    assert undo.details["restored"] == ["change_pin"] and undo.details["removed"] == []
    assert sum(v == "change_pin" for v in _agreed(ws).values()) == PER_CLASS

    undo = taxonomy.undo_last(ws, project="bank", actor="bo")  # the split
    assert undo.details == {**undo.details, "restored": ["exchange_rate"],
                            "kept_as": ["rate_today"], "removed": ["rate_fees"]}  # fmt: skip
    assert undo.details["restored_examples"] == PER_CLASS - 1  # the 6th was relabeled since
    agreed = _agreed(ws)
    assert agreed[task.example_id] == "exchange_rate"  # the label given since counts, mapped
    assert sum(v == "exchange_rate" for v in agreed.values()) == PER_CLASS
    later = labeling.next_task(ws, project="bank", annotator="U2")
    assert later is not None  # a button of the removed part, sent before the undo: stale
    with pytest.raises(StaleActionError, match="'rate_fees' was removed when a taxonomy change"):
        _submit(ws, later.example_id, "rate_fees", who="U2")

    taxonomy.undo_last(ws, project="bank", actor="bo")  # the rename
    assert _label_rows(ws) == {**start_labels, "rate_today": (_label_rows(ws)["rate_today"][0],
                                                              False)}  # fmt: skip
    assert _agreed(ws) == start_agreed  # every label counts as it did before the first change
    assert _annotations(ws)[: len(start_annotations)] == start_annotations  # nothing rewritten
    with pytest.raises(InvalidInputError, match="no taxonomy change left to undo"):
        taxonomy.undo_last(ws, project="bank", actor="bo")

    history = taxonomy.label_history(ws, project="bank")
    assert [h.kind for h in history] == ["rename", "split", "merge", "retire", "describe"] + [
        "undo"] * 5  # fmt: skip
    assert all(h.undone_by is not None for h in history[:5])
    assert history[5].reason == "too hasty" and history[5].actor == "bo"
    assert {h.undone_by for h in history[:5]} == {h.id for h in history[5:]}

    # the next model learns the taxonomy as it was; a freed name can be used again
    assert jobs.retrain_decision(ws, "bank").due
    assert sorted(training.train_project(ws, "bank").classes) == sorted(LABELS)
    taxonomy.split_label(ws, project="bank", label="exchange_rate",
                         into=["rate_fees", "rate_other"], actor="a")  # fmt: skip
    with pytest.raises(ConflictError, match="a retired label has the name .rate_today."):
        taxonomy.add_labels(ws, project="bank", names=["rate_today"], actor="a")  # still used
    # a split label is retired too: the hint names the change that retired it, not "the
    # retirement" (there was none to undo)
    with pytest.raises(ConflictError, match="also those merged or split") as refused:
        taxonomy.add_labels(ws, project="bank", names=["exchange_rate"], actor="a")
    assert "undo the change that retired it" in str(refused.value)
    assert "undo the retirement" not in str(refused.value)


def test_undo_a_merge_restores_what_the_merged_label_had_absorbed(seeded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = seeded
    start = _agreed(ws)
    taxonomy.merge_labels(ws, project="bank", labels=["card_arrival", "change_pin"], actor="a")
    taxonomy.merge_labels(ws, project="bank", labels=["card_arrival", "atm_support"],
                          into="cards", actor="a")  # fmt: skip
    assert sum(v == "cards" for v in _agreed(ws).values()) == 3 * PER_CLASS
    undo = taxonomy.undo_last(ws, project="bank", actor="a")
    assert undo.details["removed"] == ["cards"] and "cards" not in _label_rows(ws)
    agreed = _agreed(ws)  # change_pin's examples count as card_arrival again, not as nothing
    assert sum(v == "card_arrival" for v in agreed.values()) == 2 * PER_CLASS
    assert sum(v == "atm_support" for v in agreed.values()) == PER_CLASS
    taxonomy.undo_last(ws, project="bank", actor="a")
    assert _agreed(ws) == start


def test_undo_that_would_lose_labels_is_refused_and_changes_nothing(seeded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = seeded
    taxonomy.add_labels(ws, project="bank", names=["lost_card"], actor="a")
    task = labeling.next_task(ws, project="bank", annotator="U1")
    assert task is not None
    _submit(ws, task.example_id, "lost_card")
    rows, history = _label_rows(ws), taxonomy.label_history(ws, project="bank")
    with pytest.raises(ConflictError, match="'lost_card' has been used since"):
        taxonomy.undo_last(ws, project="bank", actor="a")
    assert _label_rows(ws) == rows and taxonomy.label_history(ws, project="bank") == history

    # a change recorded before events kept the labels folded into a merged label: refused when
    # the history shows the merged label had absorbed one, since the undo cannot tell which
    taxonomy.retire_label(ws, project="bank", label="lost_card", map_to="age_limit", actor="a")
    taxonomy.merge_labels(ws, project="bank", labels=["age_limit", "atm_support"],
                          into="atm_support", actor="a")  # fmt: skip
    with session_scope(ws.db) as s:
        event = s.exec(select(LabelEvent).order_by(LabelEvent.id.desc())).first()  # type: ignore[union-attr]
        assert event is not None and event.kind == "merge"
        event.details = {k: v for k, v in event.details.items() if k != "followers"}
        s.add(event)
    with pytest.raises(ConflictError, match="recorded before labelbot kept"):
        taxonomy.undo_last(ws, project="bank", actor="a")


def test_two_undos_at_once_never_undo_one_change_twice(seeded, db_url_and_schema, encoder) -> None:  # type: ignore[no-untyped-def]
    """Two admins press undo at the same moment (two processes): each undo event reverts a
    different change, or the late one is told the taxonomy changed meanwhile."""
    import threading

    from engine.workspace import Workspace

    ws, _ = seeded
    taxonomy.merge_labels(ws, project="bank", labels=["card_arrival", "change_pin"],
                          into="cards", actor="a")  # fmt: skip
    taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="minimum_age", actor="a")
    _, schema = db_url_and_schema
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def admin(who: str) -> None:
        other = Workspace.open(ws.settings, schema=schema, encoder=encoder, migrate=False)
        barrier.wait()
        try:
            outcomes.append(taxonomy.undo_last(other, project="bank", actor=who, rescore=False))
        except ConflictError as exc:
            outcomes.append(exc)
        finally:
            other.close()

    threads = [threading.Thread(target=admin, args=(f"U{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == 2
    undos = [h for h in taxonomy.label_history(ws, project="bank") if h.kind == "undo"]
    targets = [h.details["event_id"] for h in undos]
    assert len(targets) == len(set(targets)) >= 1  # no change undone twice
    assert len(undos) == sum(isinstance(o, taxonomy.TaxonomyChange) for o in outcomes)
    assert all("changed meanwhile" in str(o) for o in outcomes if isinstance(o, ConflictError))
    assert "minimum_age" not in [lb.name for lb in projects.list_labels(ws, project="bank")]


def _mapping_is_resolved(ws) -> None:  # type: ignore[no-untyped-def]
    """Every retired label counts as an active label or as nothing; active labels map nowhere."""
    rows = {lb.id: lb for lb in projects.list_labels(ws, project="bank")}
    for lb in rows.values():
        if lb.active:
            assert lb.mapped_to_id is None, lb
        elif lb.mapped_to_id is not None:
            assert rows[lb.mapped_to_id].active, (lb, rows[lb.mapped_to_id])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_changes_and_undos_keep_the_mapping_and_undo_back_to_the_start(
    seeded, seed: int
) -> None:  # type: ignore[no-untyped-def]
    """A seeded random walk of changes, labels and undos: the label mapping stays resolved after
    every step; undoing everything restores the labels and what each imported annotation counts
    as, unless an undo is refused because a label it would remove was used (then nothing
    changes)."""
    import random

    ws, _ = seeded
    rng = random.Random(seed)
    start_agreed, start_names = _agreed(ws), sorted(LABELS)
    fresh = iter(f"l{seed}_{i}" for i in range(1000))
    relabeled: set[int] = set()  # examples given a (random) label during the walk
    for step in range(30):
        active = [lb.name for lb in projects.list_labels(ws, project="bank", active_only=True)]
        op = rng.choice(["merge", "split", "retire", "rename", "add", "label", "undo", "undo"])
        try:
            if op == "merge" and len(active) >= 3:
                a, b = rng.sample(active, 2)
                into = rng.choice([a, next(fresh)])
                taxonomy.merge_labels(ws, project="bank", labels=[a, b], into=into, actor="r",
                                      rescore=False)  # fmt: skip
            elif op == "split":
                parts = [next(fresh), next(fresh)]
                taxonomy.split_label(ws, project="bank", label=rng.choice(active), into=parts,
                                     actor="r", rescore=False)  # fmt: skip
            elif op == "retire" and len(active) >= 3:
                a = rng.choice(active)
                to = rng.choice([None, *[x for x in active if x != a]])
                taxonomy.retire_label(ws, project="bank", label=a, map_to=to, actor="r",
                                      rescore=False)  # fmt: skip
            elif op == "rename":
                taxonomy.rename_label(ws, project="bank", label=rng.choice(active),
                                      new_name=next(fresh), actor="r", rescore=False)  # fmt: skip
            elif op == "add":
                taxonomy.add_labels(ws, project="bank", names=[next(fresh)], actor="r",
                                    rescore=False)  # fmt: skip
            elif op == "label":
                task = labeling.next_task(ws, project="bank", annotator=f"U{step}")
                if task is not None:
                    _submit(ws, task.example_id, rng.choice(active), who=f"U{step}")
                    relabeled.add(task.example_id)
            elif op == "undo":
                taxonomy.undo_last(ws, project="bank", actor="r", rescore=False)
        except ConflictError as exc:
            assert "has been used since" in str(exc)  # the only refusal in this walk
        except InvalidInputError as exc:
            assert "no taxonomy change left" in str(exc)
        _mapping_is_resolved(ws)

    while True:  # undo everything that can be undone
        try:
            taxonomy.undo_last(ws, project="bank", actor="r", rescore=False)
        except InvalidInputError:
            break  # nothing left: back at the start
        except ConflictError as exc:
            assert "has been used since" in str(exc)
            return  # a label given since blocks the way back; nothing was lost
        _mapping_is_resolved(ws)
    names = sorted(lb.name for lb in projects.list_labels(ws, project="bank", active_only=True))
    assert names == start_names
    agreed = _agreed(ws)  # what the import's labels count as is what it was at the start
    kept = {i: lb for i, lb in start_agreed.items() if i not in relabeled}
    assert len(kept) >= len(start_agreed) - 30
    assert {i: agreed.get(i) for i in kept} == kept


def test_the_model_answers_in_todays_names_until_the_next_one(seeded) -> None:  # type: ignore[no-untyped-def]
    """Between a change and the next model, the active model speaks today's taxonomy: a renamed
    label under its new name, merged labels as their target (probabilities added), in the
    predict API and in the stored predictions; one that cannot (a split) leaves a cold start."""
    ws, truth = seeded
    texts = [t for t, label in truth.items() if label in ("age_limit", "change_pin")][:20]
    before = training.predict_texts(ws, "bank", texts, top_k=len(LABELS))  # every class

    taxonomy.rename_label(ws, project="bank", label="age_limit", new_name="minimum_age", actor="a")
    taxonomy.add_labels(ws, project="bank", names=["age_limit"], actor="a")  # the old name, reused
    taxonomy.retire_label(ws, project="bank", label="age_limit", actor="a")  # (unused: retired)
    renamed = training.predict_texts(ws, "bank", texts, top_k=len(LABELS))
    rename = {"age_limit": "minimum_age"}
    assert [p.label for p in renamed] == [rename.get(p.label, p.label) for p in before]
    assert [p.confidence for p in renamed] == [p.confidence for p in before]
    stored = {r["text"]: r["prediction"] for r in exporting.export_records(ws, "bank")}
    assert all(stored[t] is not None for t in texts)  # the queue kept the model
    assert {stored[t]["label"] for t in texts} <= set(LABELS) - {"age_limit"} | {"minimum_age"}

    taxonomy.merge_labels(
        ws, project="bank", labels=["minimum_age", "change_pin"], into="misc", actor="a"
    )
    merged = training.predict_texts(ws, "bank", texts)
    for old, new in zip(before, merged, strict=True):
        together = sum(p for lb, p in old.top if lb in ("age_limit", "change_pin"))
        if old.label in ("age_limit", "change_pin"):
            assert new.label == "misc" and new.confidence == pytest.approx(together, abs=2e-4)
        assert {lb for lb, _ in new.top} <= {"misc", "card_arrival", "atm_support", "exchange_rate"}
    stored = {r["text"]: r["prediction"] for r in exporting.export_records(ws, "bank")}
    assert all(stored[t] is not None and stored[t]["label"] != "change_pin" for t in texts)

    taxonomy.split_label(ws, project="bank", label="misc", into=["m1", "m2"], actor="a")
    stored = {r["text"]: r["prediction"] for r in exporting.export_records(ws, "bank")}
    assert all(stored[t] is None for t in texts)  # m1 and m2 are new to the model: cold start


def test_guidelines_for_a_label_without_examples_steer_the_queue_at_once(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    """A label whose name says little ("topic_5") is searched by its guidelines as soon as
    they are written: the describe re-scores the queue (it used to wait for the next import,
    retrain or change)."""
    _start(ws, banking_slice, tmp_path, LABELS[:4])  # exchange_rate's 30 examples unlabeled
    truth = dict(banking_slice)
    taxonomy.add_labels(ws, project="bank", names=["topic_5"], actor="ana")

    def first_asked(n: int) -> list[str]:
        out = []
        for i in range(n):
            task = labeling.next_task(ws, project="bank", annotator=f"U{i}")
            assert task is not None
            labeling.release(ws, project="bank", example_id=task.example_id, annotator=f"U{i}")
            out.append(truth[task.text])
        return out

    before = first_asked(5).count("exchange_rate")
    change = taxonomy.describe_label(
        ws, project="bank", label="topic_5", actor="ana",
        description="Which exchange rate applies when I pay or convert in a foreign currency",
    )  # fmt: skip
    assert change.details["searched"] is True
    assert first_asked(5).count("exchange_rate") >= max(4, before + 1)


def test_retire_and_merge_count_the_examples_status_counts(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The N of "its N examples count as X" and "N examples mapped" counts the examples whose
    agreed label it is, as `labelbot status` does: an example where the label only has an
    outvoted vote is another label's (it used to count, one more than status showed)."""
    from storage.repositories import examples as example_repo

    projects.create_project(ws, name="bank", labels=["oos", "savings", "pay_bill", "fees"])
    texts = {f"t{i}": f"question number {i}" for i in range(1, 7)}
    path = tmp_path / "ana.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([[texts["t1"], "oos"], [texts["t2"], "oos"], [texts["t3"], "oos"],
                          [texts["t4"], "pay_bill"], [texts["t5"], "fees"],
                          [texts["t6"], "fees"]])  # fmt: skip
    projects.import_file(ws, project="bank", path=path, annotator="ana", embed=False)

    def vote(key: str, label: str, who: str) -> None:
        with session_scope(ws.db) as s:
            project = project_repo.get_project(session=s, name="bank")
            [example] = [e for e in example_repo.list_examples(session=s, project_id=project.id)
                         if e.text == texts[key]]  # fmt: skip
            feedback.add_annotation(
                session=s, example_id=example.id, annotator=who, source="cli", key=f"{who}:{key}",
                label_id=project_repo.get_label(session=s, project_id=project.id, name=label).id,
            )  # fmt: skip

    for who in ("bob", "cy"):  # two votes outvote ana's: t3 is pay_bill's, t6 savings'
        vote("t3", "pay_bill", who)
        vote("t6", "savings", who)

    def counts() -> dict[str, int]:
        return {lb["name"]: lb["count"] for lb in projects.project_status(ws, "bank")["labels"]}

    assert counts() == {"oos": 2, "savings": 1, "pay_bill": 2, "fees": 1}
    change = taxonomy.retire_label(
        ws, project="bank", label="oos", map_to="savings", actor="ana", rescore=False
    )
    assert change.mapped == 2 and "retired oos; its 2 examples count as savings" in change.summary
    assert counts()["savings"] == 1 + 2
    change = taxonomy.merge_labels(
        ws, project="bank", labels=["pay_bill", "fees"], into="billing", actor="ana", rescore=False
    )
    assert change.mapped == 3 and "3 examples mapped" in change.summary
    assert counts()["billing"] == 3
