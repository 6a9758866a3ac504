"""`labelbot status` (and the REST status: one function) and the digest (and App Home, built
from it) show the same figures for the same project: the same model with the same estimate,
said to be pinned and to predate the latest taxonomy change, the same per-class F1 for the
labels in use today, the same agreement and the same count of labeled examples.

The state is a realistic one: the Banking77 slice labeled by three experts (an audit share, a
second opinion that disagrees, a skip and a flag), two models, a merge and a rename since, and
the older model pinned."""

from __future__ import annotations

from pathlib import Path

from engine import digest, labeling, progress, projects, taxonomy, training
from engine.workspace import Workspace
from tests.helpers import load_slice

EXPERTS = ("U1", "U2", "U3")


def _label(ws: Workspace, truth: dict[str, str], n: int, *, disagree: bool = False) -> None:
    """``n`` labels from the queue by the experts in turn, by oracle; with ``disagree``, the
    first second opinion asked for is another label (a disagreement to settle)."""
    seen: set[int] = set()
    for i in range(n):
        who = EXPERTS[i % len(EXPERTS)]
        task = labeling.next_task(ws, project="bank", annotator=who)
        assert task is not None
        label = truth[task.text]
        if disagree and task.example_id in seen:  # someone labeled it: a second opinion
            label = next(lb for lb in ("age_limit", "exchange_rate") if lb != label)
            disagree = False
        seen.add(task.example_id)
        key = f"{who}:{task.example_id}"
        labeling.submit_label(ws, project="bank", example_id=task.example_id, label=label,
                              annotator=who, source="slack", key=key)  # fmt: skip


def _project(ws: Workspace, rows: list[tuple[str, str]], tmp_path: Path) -> None:
    truth = load_slice(ws, rows, tmp_path)
    projects.update_settings(ws, project="bank", audit_share=0.3, multi_label_share=0.3)
    _label(ws, truth, 30, disagree=True)
    training.train_project(ws, "bank")  # v1
    _label(ws, truth, 20)
    skipped = labeling.next_task(ws, project="bank", annotator="U1")
    assert skipped is not None
    labeling.skip(ws, project="bank", example_id=skipped.example_id, annotator="U1")
    flagged = labeling.next_task(ws, project="bank", annotator="U2")
    assert flagged is not None
    labeling.flag(ws, project="bank", example_id=flagged.example_id, annotator="U2",
                  reason="two intents in one")  # fmt: skip
    training.train_project(ws, "bank")  # v2
    taxonomy.merge_labels(ws, project="bank", labels=["atm_support", "change_pin"],
                          into="atm_support", actor="admin")  # fmt: skip
    taxonomy.rename_label(ws, project="bank", label="card_arrival", new_name="card_delivery",
                          actor="admin")  # fmt: skip
    training.pin_version(ws, "bank", 1)


def test_status_and_digest_say_which_model_the_figures_are(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    _project(ws, banking_slice, tmp_path)
    report = projects.status_report(ws, "bank")
    figures = digest.build_digest(ws, "bank")
    head = report["model"]["estimate"]["headline"]
    point = figures.accuracy
    assert point is not None and head is not None
    assert (head["source"], head["accuracy"], head["low"], head["high"]) == (
        point.source, point.accuracy, point.low, point.high)  # fmt: skip
    # and on how many audit labels: status gives its n, the digest said only "the audit set"
    assert head["source"] == "audit" and head["n"] > 0
    assert f"on the audit set of {head['n']} labels" in figures.accuracy_detail()
    # both say the figures are a pinned version's, one trained before the merge and rename
    assert report["model"]["pinned"] and report["model"]["before_taxonomy_change"]
    # per-class F1: the digest's (and so App Home's) classes are the labels in use today, by
    # today's names, with status's scores; status also lists the label merged away, marked
    # retired in its table (README: a merged label keeps its own score)
    assert "change_pin" in report["model"]["metrics"]["per_class"]  # v1 scored it
    scores = report["model"]["per_class_f1"]
    in_use = {lb["name"] for lb in report["labels"] if lb["active"]}
    shown = {lb: s["f1"] for lb, s in scores["scores"].items() if lb in in_use}
    assert shown == figures.per_class_f1 and scores["source"] == figures.per_class_source
    assert set(shown) == {"card_delivery", "age_limit", "atm_support", "exchange_rate"}
    assert (figures.model_pinned, figures.model_before_change) == (True, True)
    detail = figures.accuracy_detail()
    assert "v1 is pinned" in detail
    assert "trained before the latest taxonomy change" in detail
    # the counts: labeled examples (not votes) alike in status, the digest and App Home
    home = next(p for p in progress.user_progress(ws, annotator="U1").projects if p.name == "bank")
    assert report["labeled"] == figures.labeled_examples == home.labeled
    assert f"({report['labeled']} examples labeled in all)" in figures.summary()[0]
    assert report["annotations"] == figures.total_labels > report["labeled"]  # second opinions
    in_use = {lb["name"]: lb["count"] for lb in report["labels"] if lb["active"]}
    assert in_use == dict(home.class_counts)
    assert "card_arrival" not in in_use and "change_pin" not in in_use
    # one agreement report: the same disagreement to settle in status and the digest
    assert figures.agreement is not None
    assert report["agreement"]["disagreements"] == figures.agreement.disagreements >= 1

    training.unpin(ws, "bank")
    training.train_project(ws, "bank")  # v3: today's classes, not pinned
    report = projects.status_report(ws, "bank")
    figures = digest.build_digest(ws, "bank")
    assert report["model"]["version"] == figures.model_version == 3
    assert not report["model"]["pinned"] and not report["model"]["before_taxonomy_change"]
    assert figures.model_notes() == ""
    # the learning curve's points are the models' training labels, as `labelbot models` lists
    runs = {r.version: r.n_labels for r in training.list_versions(ws, "bank")}
    assert sorted(p.labels for p in figures.cv_curve) == sorted(runs.values())
