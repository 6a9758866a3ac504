"""Second opinions, agreement, disagreements and adjudication, rare classes in status: through
the engine services on real stored annotations, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine import consensus, exporting, labeling, messaging, projects, training
from engine.agreement import chosen_for_multiple_labeling, cohen_kappa, krippendorff_alpha
from storage.errors import StaleActionError

LABELS = ["card_arrival", "age_limit", "atm_support", "change_pin", "exchange_rate"]


@pytest.fixture
def bank(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The slice imported unlabeled, queue scored (cold start); returns (ws, truth)."""
    projects.create_project(ws, name="bank", labels=LABELS)
    path = tmp_path / "slice.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t, _ in banking_slice)
    projects.import_file(ws, project="bank", path=path)
    training.rescore_project(ws, "bank")
    return ws, dict(banking_slice)


def _label(ws, who: str, label: str | None = None, truth=None):  # type: ignore[no-untyped-def]
    task = labeling.next_task(ws, project="bank", annotator=who)
    assert task is not None and task.kind == "label"
    chosen = label or truth[task.text]
    labeling.submit_label(
        ws, project="bank", example_id=task.example_id, label=chosen, annotator=who,
        source="cli", key=f"{who}:{task.example_id}",
    )  # fmt: skip
    return task.example_id


def test_multi_labeled_example_goes_to_a_second_expert_then_leaves(bank) -> None:  # type: ignore[no-untyped-def]
    ws, truth = bank
    projects.update_settings(ws, project="bank", multi_label_share=1.0, audit_share=0.0)
    first = _label(ws, "U1", truth=truth)
    assert _label(ws, "U1", truth=truth) != first  # never back to the same expert
    assert _label(ws, "U2", truth=truth) == first  # a second opinion comes first
    # k = 2 experts labeled it: it leaves the queue
    assert _label(ws, "U3", truth=truth) != first
    status = projects.project_status(ws, "bank")
    assert status["agreement"]["examples"] >= 1 and status["agreement"]["multi_label_k"] == 2


def test_the_choice_is_per_example_and_stable(bank) -> None:  # type: ignore[no-untyped-def]
    ws, truth = bank
    projects.update_settings(ws, project="bank", multi_label_share=0.3, audit_share=0.0)
    project_id = projects.get_project(ws, "bank").id
    assert project_id is not None
    wanted = second = 0
    for _ in range(12):
        example_id = _label(ws, "U1", truth=truth)
        chosen = chosen_for_multiple_labeling(project_id, example_id, share=0.3)
        task = labeling.next_task(ws, project="bank", annotator="U2")
        assert task is not None
        assert (task.example_id == example_id) == chosen  # only the chosen ones come back
        labeling.release(ws, project="bank", example_id=task.example_id, annotator="U2")
        wanted += chosen
        if chosen:  # U2 gives the second label; a non-chosen one cannot be labeled twice
            _label(ws, "U2", truth=truth)
            second += 1
        else:
            with pytest.raises(StaleActionError, match="already labeled"):
                labeling.submit_label(
                    ws, project="bank", example_id=example_id, label=truth[task.text],
                    annotator="U2", source="cli", key=f"late:{example_id}",
                )  # fmt: skip
    assert second == wanted and 0 < wanted < 12


def test_audit_examples_get_a_second_opinion_when_asked(bank) -> None:  # type: ignore[no-untyped-def]
    ws, truth = bank
    projects.update_settings(
        ws, project="bank", multi_label_share=0.0, multi_label_audit=True, audit_share=0.5
    )
    plain = _label(ws, "U1", truth=truth)  # delivery 0: the queue's pick
    audited = _label(ws, "U1", truth=truth)  # delivery 1: an audit pick
    again = labeling.next_task(ws, project="bank", annotator="U2")  # delivery 2: queue
    assert again is not None and again.example_id == audited != plain


def test_agreement_in_status_from_stored_annotations(bank) -> None:  # type: ignore[no-untyped-def]
    ws, truth = bank
    projects.update_settings(ws, project="bank", multi_label_share=1.0, audit_share=0.0)
    pairs = []
    for i in range(8):
        a = LABELS[i % 3]
        b = a if i % 4 else LABELS[(i + 1) % 3]  # U2 disagrees on 2 of 8
        example_id = _label(ws, "U1", a)
        assert _label(ws, "U2", b) == example_id
        pairs.append((a, b))
    status = projects.project_status(ws, "bank")
    agreement = status["agreement"]
    assert agreement["examples"] == 8 and agreement["experts"] == 2
    assert agreement["measure"] == "kappa"
    assert agreement["kappa"] == pytest.approx(cohen_kappa(pairs))
    assert agreement["observed"] == pytest.approx(6 / 8)
    assert {row["label"] for row in agreement["per_label"]} == set(LABELS[:3])
    assert agreement["disagreements"] == 2

    projects.update_settings(ws, project="bank", multi_label_k=3)
    for _ in range(2):
        task = labeling.next_task(ws, project="bank", annotator="U3")
        assert task is not None
        labeling.submit_label(
            ws, project="bank", example_id=task.example_id, label=LABELS[0], annotator="U3",
            source="cli", key=f"U3:{task.example_id}",
        )  # fmt: skip
    # the k of an example is fixed when it is chosen: these were chosen with k = 2
    report = consensus.agreement_report(ws, "bank")
    assert report.experts == 2 and report.examples == 8


def test_disagreements_and_adjudication(bank) -> None:  # type: ignore[no-untyped-def]
    ws, _ = bank
    projects.update_settings(ws, project="bank", multi_label_share=1.0, audit_share=0.0)
    same = _label(ws, "U1", "age_limit")
    assert _label(ws, "U2", "age_limit") == same
    split = _label(ws, "U1", "card_arrival")
    assert _label(ws, "U2", "change_pin") == split
    projects.update_settings(ws, project="bank", multi_label_k=3)  # new choices ask 3 experts
    three = _label(ws, "U1", "atm_support")
    assert _label(ws, "U2", "atm_support") == three
    assert _label(ws, "U3", "exchange_rate") == three

    found = consensus.disagreements(ws, "bank")
    assert [d.example_id for d in found] == [split, three]
    first = found[0]
    assert [(v.annotator, v.label) for v in first.votes] == [
        ("U1", "card_arrival"),
        ("U2", "change_pin"),
    ]
    assert first.agreed == "change_pin" and first.involved == ["U1", "U2"]
    assert first.adjudicated is None
    # one example's view (what each click asks) is that example's entry of the whole list
    assert consensus.disagreements(ws, "bank", example_id=three) == [found[1]]
    assert consensus.disagreements(ws, "bank", example_id=same) == []
    projects.create_project(ws, name="other", labels=LABELS)
    assert consensus.disagreements(ws, "other", example_id=split) == []  # not its example
    assert consensus.agreement_report(ws, "bank").alpha == pytest.approx(
        krippendorff_alpha([
            (same, "U1", "age_limit"), (same, "U2", "age_limit"),
            (split, "U1", "card_arrival"), (split, "U2", "change_pin"),
            (three, "U1", "atm_support"), (three, "U2", "atm_support"),
            (three, "U3", "exchange_rate"),
        ])
    )  # fmt: skip

    # a label split since: refused, saying where it went and what to pick instead
    from engine import taxonomy

    taxonomy.split_label(ws, project="bank", label="exchange_rate", into=["fx_a", "fx_b"],
                         actor="lead", rescore=False)  # fmt: skip
    with pytest.raises(StaleActionError, match=r"split into fx_a, fx_b: pick one of those"):
        consensus.adjudicate(ws, project="bank", example_id=split, label="exchange_rate",
                             actor="lead")  # fmt: skip
    taxonomy.undo_last(ws, project="bank", actor="lead", rescore=False)
    settled = consensus.adjudicate(
        ws, project="bank", example_id=split, label="card_arrival", actor="lead"
    )
    assert settled.previous == "change_pin" and settled.label == "card_arrival"
    # the majority (2 of 3) chose atm_support; the adjudication decides all the same
    consensus.adjudicate(ws, project="bank", example_id=three, label="exchange_rate", actor="lead")
    assert consensus.disagreements(ws, "bank") == []
    everything = consensus.disagreements(ws, "bank", include_settled=True)
    assert [d.agreed for d in everything] == ["card_arrival", "exchange_rate"]
    assert everything[0].adjudicated is not None and everything[0].adjudicated.annotator == "lead"
    assert "lead" in everything[0].involved
    labels = {r["text"]: r["label"] for r in exporting.export_records(ws, "bank")}
    assert [labels[d.text] for d in everything] == ["card_arrival", "exchange_rate"]


def test_a_stored_click_carries_what_the_next_step_needs(bank) -> None:  # type: ignore[no-untyped-def]
    """The Slack loop reads from the click's own transaction whether the model agreed and
    whether another expert labeled the example, and from the task whether it is on screen."""
    ws, truth = bank
    projects.update_settings(ws, project="bank", multi_label_share=0.0, audit_share=0.0)
    for _ in range(15):
        _label(ws, "U1", truth=truth)
    training.train_project(ws, "bank")
    projects.update_settings(ws, project="bank", multi_label_share=1.0)
    task = labeling.next_task(ws, project="bank", annotator="U1")
    assert task is not None and not task.delivered
    messaging.record_delivery(ws, assignment_id=task.assignment_id, channel="D1", message_ts="1.2")
    shown = labeling.next_task(ws, project="bank", annotator="U1")
    assert shown is not None and shown.assignment_id == task.assignment_id and shown.delivered

    first = labeling.submit_label(
        ws, project="bank", example_id=task.example_id, label="age_limit", annotator="U1",
        source="slack", key="k1",
    )  # fmt: skip
    predicted = {r["text"]: r["prediction"] for r in exporting.export_records(ws, "bank")}
    assert predicted[task.text] is not None
    assert first.model_guess == predicted[task.text]["label"]
    assert not first.others_labeled
    second = labeling.next_task(ws, project="bank", annotator="U2")
    assert second is not None and second.example_id == task.example_id  # a second opinion
    again = labeling.submit_label(
        ws, project="bank", example_id=task.example_id, label="atm_support", annotator="U2",
        source="slack", key="k2",
    )  # fmt: skip
    assert again.others_labeled and again.model_guess == first.model_guess


def test_rare_classes_in_status(ws, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="bank", labels=LABELS)
    per = {"card_arrival": 8, "age_limit": 6, "atm_support": 5, "change_pin": 3, "exchange_rate": 0}
    rows, taken = [], dict.fromkeys(LABELS, 0)
    for text, label in banking_slice:
        if taken[label] < per[label]:
            rows.append((text, label))
            taken[label] += 1
    path = tmp_path / "rare.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    projects.import_file(ws, project="bank", path=path, embed=False)
    rare = projects.project_status(ws, "bank")["rare"]
    assert rare["minimum"] == 5 and rare["counts"] == per
    assert rare["too_rare"] == ["exchange_rate", "change_pin"]  # rarest first


def test_audit_picks_and_second_opinions_are_asked_blind(bank) -> None:  # type: ignore[no-untyped-def]
    """The model's guess anchors whoever sees it: an audit label would flatter the model it
    measures, and two experts who both saw the guess would agree more than they do."""
    ws, truth = bank
    projects.update_settings(ws, project="bank", multi_label_share=0.0, audit_share=0.0)
    for _ in range(20):
        _label(ws, "U1", truth=truth)
    training.train_project(ws, "bank")
    queue_pick = labeling.next_task(ws, project="bank", annotator="U1")
    assert queue_pick is not None and queue_pick.suggestion is not None  # the model helps here
    labeling.release(ws, project="bank", example_id=queue_pick.example_id, annotator="U1")

    projects.update_settings(ws, project="bank", audit_share=1.0)
    audit_pick = labeling.next_task(ws, project="bank", annotator="U1")
    assert audit_pick is not None and audit_pick.suggestion is None
    assert audit_pick.runner_up is None and audit_pick.reason is None
    labeling.release(ws, project="bank", example_id=audit_pick.example_id, annotator="U1")

    projects.update_settings(ws, project="bank", audit_share=0.0, multi_label_share=1.0)
    first = _label(ws, "U1", truth=truth)
    second = labeling.next_task(ws, project="bank", annotator="U2")
    assert second is not None and second.example_id == first
    assert second.suggestion is None and second.runner_up is None
