"""The figures each surface shows of one project agree after a taxonomy change: the metrics
gauge of labeled examples and status's "labeled"; the audit line App Home and /label models
show; the classes per-class F1 lists in status and in the digest; the status sentence that
explains why "labeled" differs from what the model trained on. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import gauges, projects, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import examples, feedback
from storage.repositories import projects as project_repo
from tests.engine import test_taxonomy_outvoted as outvoted
from tests.engine.test_taxonomy_outvoted import LABELS, TEXTS

bank = outvoted.bank  # project "bank": the six texts, unlabeled, no model


def _vote(ws: Workspace, text: str, label: str, who: str) -> None:
    """A live vote as stored by any path (a click, an import, a second opinion)."""
    with session_scope(ws.db) as s:
        project = project_repo.get_project(session=s, name="bank")
        assert project.id is not None
        by_text = {e.text: e.id for e in examples.list_examples(session=s, project_id=project.id)}
        label_id = project_repo.get_label(session=s, project_id=project.id, name=label).id
        feedback.add_annotation(
            session=s, example_id=by_text[text], label_id=label_id, annotator=who, source="cli",
            key=f"{who}:{text}:{label}",
        )  # fmt: skip


def _gauge(ws: Workspace) -> gauges.ProjectGauges:
    return next(g for g in gauges.project_gauges(ws) if g.name == "bank")


def test_labeled_gauge_counts_what_status_calls_labeled(bank: Workspace) -> None:
    # every text labeled by its own label; one change_pin text outvoted by age_limit
    for text, label in zip(TEXTS, LABELS * 2, strict=True):
        _vote(bank, text, label, "U1")
    _vote(bank, TEXTS[4], "age_limit", "U2")
    _vote(bank, TEXTS[4], "age_limit", "U3")
    status = projects.status_report(bank, "bank")
    assert (status["labeled"], _gauge(bank).annotated) == (6, 6)

    # a split of exchange_rate: its two examples wait to be relabeled, and so does the
    # age_limit-majority example once age_limit is retired unmapped, although its outvoted
    # change_pin vote still counts
    taxonomy.split_label(bank, project="bank", label="exchange_rate", into=["fx_a", "fx_b"],
                         actor="U0")  # fmt: skip
    taxonomy.retire_label(bank, project="bank", label="age_limit", actor="U0")
    status = projects.status_report(bank, "bank")
    gauge = _gauge(bank)
    assert status["labeled"] == 1  # TEXTS[1]: change_pin
    assert gauge.annotated == status["labeled"]
    assert gauge.annotated + gauge.queue <= gauge.examples


def test_audit_labels_all_waiting_are_not_more_nor_missing() -> None:
    """Every audit label given waits for a relabel (their labels retired): the run has no audit
    score, so the note says "3 audit labels were waiting" (not "3 more"), and App Home no longer
    says "no audit labels yet" beside it."""
    from bot.views.home import _estimate
    from bot.views.models import ProjectProgress
    from engine.evaluation import model_estimates, waiting_note

    none_scored = {"accuracy": 1.0, "macro_f1": 1.0, "n_labels": 36, "audit_waiting": 3}
    note = waiting_note(none_scored)
    assert note.startswith("3 audit labels were waiting to be relabeled when this model was"), note
    headline = model_estimates(none_scored, version=1, trained_on=36, labeled=39)["headline"]
    assert "(3 audit labels were waiting to be relabeled" in headline["description"]
    some_scored = {**none_scored, "audit": {"n": 5, "accuracy": 0.8, "low": 0.5, "high": 0.9}}
    assert waiting_note(some_scored).startswith("3 more audit labels were waiting")
    assert waiting_note({**none_scored, "audit_waiting": 1}).startswith("1 audit label was waiting")

    def home(queue_chosen: bool, notes: str = "") -> str:
        return _estimate(ProjectProgress(
            name="bank", labeled=39, total=150, accuracy=1.0, accuracy_source="cv",
            model_version=1, queue_chosen=queue_chosen, model_notes=notes,
        ))  # fmt: skip

    for queue_chosen in (True, False):
        waiting = home(queue_chosen, f"; {note}")
        assert "no audit labels yet" not in waiting, waiting
        assert waiting.startswith("v1: 100.0% cross-validated"), waiting
        never = home(queue_chosen)
        assert never.endswith("no audit labels yet)"), never


def test_per_class_f1_lists_the_labels_in_use_in_status_and_digest(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """After a merge and a retire, status (JSON and its table) and the digest list per-class
    F1 for the same classes: the labels in use today, not the merged or retired ones."""
    from typer.testing import CliRunner

    from bot.cli import app
    from bot.cli import data as cli_data
    from engine import digest, training
    from tests.helpers import label_next, load_slice

    truth = load_slice(ws, banking_slice, tmp_path)
    label_next(ws, truth, 40)
    training.train_project(ws, "bank")
    before = projects.status_report(ws, "bank")["model"]["per_class_f1"]["scores"]
    assert {"change_pin", "exchange_rate"} <= set(before)

    taxonomy.merge_labels(ws, project="bank", labels=["card_arrival", "change_pin"],
                          into="card_arrival", actor="U0")  # fmt: skip
    taxonomy.retire_label(ws, project="bank", label="exchange_rate", actor="U0")
    status = projects.status_report(ws, "bank")
    scores = status["model"]["per_class_f1"]["scores"]
    assert set(scores) == set(digest.build_digest(ws, "bank").per_class_f1)
    assert not {"change_pin", "exchange_rate"} & set(scores)
    assert set(scores) <= {lb["name"] for lb in status["labels"] if lb["active"]}
    # exchange_rate's examples wait for a relabel: fewer labeled than the model counted
    labels = status["model"]["estimate"]["labels"]
    assert labels["labeled"] < labels["trained_on"] + labels["audit"]
    assert labels["description"].endswith(
        "; some examples it counted now wait for a relabel, a label split or retired since"
    ), labels["description"]

    monkeypatch.setattr(cli_data, "workspace", lambda create=False: ws)
    table = CliRunner().invoke(app, ["status", "bank"])
    assert table.exit_code == 0, table.output
    retired = [line for line in table.output.splitlines() if "(retired)" in line]
    assert len(retired) == 2 and all(line.split("│")[3].strip() == "-" for line in retired), (
        table.output
    )


def test_status_says_why_fewer_are_labeled_than_the_model_counted() -> None:
    """39 labeled, a model trained on 33 with 19 audit labels: the sentence says the rest wait
    for a relabel rather than leave the sum short; a count that adds up says nothing of it."""
    from engine.evaluation import model_estimates

    metrics = {"audit": {"n": 19, "accuracy": 0.9, "low": 0.7, "high": 0.97}}
    short = model_estimates(metrics, version=8, trained_on=33, labeled=39)["labels"]
    assert short["description"] == (
        "39 labeled: model v8 trained on 33; 19 audit labels are held out of training to "
        "measure it; some examples it counted now wait for a relabel, a label split or "
        "retired since"
    )
    assert short["since"] == 0
    even = model_estimates(metrics, version=8, trained_on=33, labeled=52)["labels"]
    assert "relabel" not in even["description"]
