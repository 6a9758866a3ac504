"""`labelbot status` (text and --json) and the REST status say which estimate they show: the
audit estimate with its interval as the headline, the cross-validated figure marked as biased,
why "labeled" exceeds the labels the model trained on, and that per-class F1 is
cross-validated. The REST predict answers a pool text as the export shows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine import exporting, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import models
from storage.repositories import projects as project_repo
from tests.bot.conftest import API_TOKEN, PROJECT, Bot
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.helpers import label_next

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
# the audit's p1 v8: 336 training labels, 36 audit labels; CV 0.783 against 97.2% on the audit
METRICS: dict[str, Any] = {
    "accuracy": 0.7827, "macro_f1": 0.8097, "n_labels": 336, "folds": 5,
    "per_class": {"NDA": {"precision": 0.6, "recall": 0.7, "f1": 0.64, "support": 14},
                  "Lease": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 20}},
    "audit": {"accuracy": 0.9722, "low": 0.8846, "high": 0.9938, "n": 36, "confidence": 0.9,
              "macro_f1": 0.9333, "macro_f1_low": 0.8889, "macro_f1_high": 1.0,
              "per_class": {"NDA": {"f1": 1.0, "support": 2}}},
}  # fmt: skip


def _seed_run(ws: Workspace, name: str, classes: list[str]) -> None:
    with session_scope(ws.db) as session:
        pid = int(project_repo.get_project(session=session, name=name).id or 0)
        run = models.start_model_run(session=session, project_id=pid, n_labels=336,
                                     classes=classes)  # fmt: skip
        models.finish_model_run(session=session, run_id=int(run.id or 0), status="ready",
                                metrics=METRICS, kind="blend")  # fmt: skip
        models.activate_model_run(session=session, project_id=pid, run_id=int(run.id or 0))


@pytest.mark.usefixtures("cli_env")
def test_cli_status_says_which_estimate_it_shows(tmp_path: Path) -> None:
    from bot.cli.common import workspace

    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "NDA,Lease"]).exit_code == 0
    rows = "text,label\n" + "".join(f"nda {i},NDA\nlease {i},Lease\n" for i in range(186))
    (tmp_path / "p.csv").write_text(rows, encoding="utf-8")
    assert runner.invoke(app, ["import", "p", str(tmp_path / "p.csv")]).exit_code == 0
    ws = workspace()
    _seed_run(ws, "p", ["NDA", "Lease"])
    ws.close()

    result = runner.invoke(app, ["status", "p"], terminal_width=200)
    assert result.exit_code == 0, result.output
    plain = " ".join(result.output.split())
    assert "model v1 (blend): accuracy 97.2% (90% interval 88.5%–99.4%) on 36 audit labels" in plain
    assert "also cross-validated accuracy 0.783, macro-F1 0.810 on its 336 training labels" in plain
    # every label was imported, none chosen by the queue: CV is not said to read low
    assert "usually reads low" not in plain
    assert "372 labeled: model v1 trained on 336; 36 audit labels are held out of training" in plain
    assert "F1 (cross-validated)" in plain
    assert "F1 column: per-class F1, cross-validated on the training labels" in plain

    info = json.loads(runner.invoke(app, ["status", "p", "--json"]).output)
    estimate = info["model"]["estimate"]
    head = estimate["headline"]
    assert (head["source"], head["n"], head["low"], head["high"]) == ("audit", 36, 0.8846, 0.9938)
    assert estimate["cross_validated"]["biased"] is False  # imported labels, not the queue's
    assert estimate["labels"] == {"labeled": 372, "trained_on": 336, "audit": 36, "since": 0,
                                  "description": estimate["labels"]["description"]}  # fmt: skip
    scores = info["model"]["per_class_f1"]
    assert scores["source"] == "cv" and scores["scores"]["NDA"] == {"f1": 0.64, "support": 14}
    assert info["model"]["metrics"]["accuracy"] == 0.7827  # the raw metrics stay


def test_rest_status_says_which_estimate_it_shows(bot: Bot, bank: dict[str, str]) -> None:
    from tests.bot.conftest import LABELS

    _seed_run(bot.ws, PROJECT, list(LABELS))
    status = bot.slack.http.get(f"/api/projects/{PROJECT}/status", headers=AUTH).json()
    estimate = status["model"]["estimate"]
    assert estimate["headline"]["source"] == "audit"
    assert "90% interval 88.5%–99.4%" in estimate["headline"]["description"]
    assert "usually reads low" in estimate["cross_validated"]["description"]
    assert estimate["labels"]["trained_on"] == 336
    assert status["model"]["per_class_f1"]["source"] == "cv"


@pytest.mark.slow
def test_rest_predict_answers_a_pool_text_as_exported(bot: Bot, bank: dict[str, str]) -> None:
    label_next(bot.ws, bank, 40, project=PROJECT)
    assert training.train_project(bot.ws, PROJECT, kind="blend").kind == "blend"
    records = exporting.export_records(bot.ws, PROJECT)
    answer = bot.slack.http.post(f"/api/projects/{PROJECT}/predict",
                                 json={"texts": [r["text"] for r in records]},
                                 headers=AUTH).json()  # fmt: skip
    got = [(p["label"], p["confidence"]) for p in answer["predictions"]]
    assert got == [(r["prediction"]["label"], r["prediction"]["confidence"]) for r in records]
