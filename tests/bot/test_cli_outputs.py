"""What the CLI reads and prints around its data: predict's ids, the models table's audit sizes,
simulate's check of the test file, the proposals table's evidence, the terminal loop's retrain
threshold, and adjudicating by the id an export shows."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import LABELS, _csv, cli_env  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("cli_env")


def _ok(runner: CliRunner, *args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


def _project(runner: CliRunner, tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    _ok(runner, "project", "create", "bank", "--labels", LABELS)
    _ok(runner, "import", "bank", str(_csv(tmp_path / "bank.csv", rows)))


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_predict_copies_the_id_column_named(banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    # one row in five labeled (every class among them), the rest unlabeled
    _project(runner, tmp_path, [(t, lb if (i // 5) % 5 == 0 else "") for i, (t, lb) in
                                enumerate(banking_slice)])  # fmt: skip
    _ok(runner, "train", "bank")
    texts = [t for t, _ in banking_slice[1:150:30]]
    tickets = _write(tmp_path / "tickets.csv", ["ticket_id", "text"],
                     [[f"T{i}", t] for i, t in enumerate(texts)])  # fmt: skip
    out = _ok(runner, "predict", "bank", str(tickets), "--id-column", "ticket_id")
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["id"] for x in lines] == [f"T{i}" for i in range(len(texts))]
    assert [x["text"] for x in lines] == texts and all(x["label"] for x in lines)
    # without the option only a column named id is read: none here
    plain = _ok(runner, "predict", "bank", str(tickets)).splitlines()
    assert [json.loads(x)["id"] for x in plain] == [None] * len(texts)
    missing = runner.invoke(app, ["predict", "bank", str(tickets), "--id-column", "case"])
    assert missing.exit_code == 2 and "no 'case' column" in missing.output


def test_models_table_shows_how_many_audit_labels_each_accuracy_rests_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.workspace import Workspace
    from storage.db import session_scope
    from storage.repositories import models, projects

    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", LABELS)
    ws = Workspace.open()
    with session_scope(ws.db) as s:
        pid = int(projects.get_project(session=s, name="bank").id or 0)
        for n_labels, audit in (
            (72, {"accuracy": 1.0, "n": 3}),
            (258, {"accuracy": 0.88, "n": 25}),
        ):
            run = models.start_model_run(
                session=s, project_id=pid, n_labels=n_labels, classes=LABELS.split(",")
            )
            models.finish_model_run(
                session=s, run_id=int(run.id or 0), status="ready", kind="linear",
                metrics={"accuracy": 0.8, "audit": audit},
            )  # fmt: skip
    ws.close()
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: one table row per version
    out = " ".join(_ok(runner, "models", "bank").split())
    # as status and project list write an audit figure (README: "audit 100.0% (n=3)")
    assert "100.0% (n=3)" in out and "88.0% (n=25)" in out and "1.000" not in out
    assert "versions with different n were scored on different sets" in out


def test_simulate_warns_of_test_rows_in_the_pool_and_refuses_a_test_file_from_it(  # type: ignore[no-untyped-def]
    banking_slice, tmp_path: Path
) -> None:
    runner = CliRunner()
    pool = [list(r) for r in banking_slice[::3]]  # 50 rows, 10 per class
    held_out = [list(r) for r in banking_slice[1::15]]  # 10 rows the pool does not have
    train = _write(tmp_path / "train.csv", ["text", "label"], pool)
    same = runner.invoke(app, ["simulate", str(train), "--test", str(train)])
    assert same.exit_code == 2, same.output
    assert "50 of the 50 test rows (100%) are in the training file too" in same.stderr
    # 2 of 12 test rows are pool rows (one with other spacing: the same text once normalised)
    overlapping = [*held_out, pool[0], ["  " + pool[7][0].replace(" ", "  "), pool[7][1]]]
    test = _write(tmp_path / "test.csv", ["text", "label"], overlapping)
    result = runner.invoke(app, ["simulate", str(train), "--test", str(test), "--budget", "10",
                                 "--batch", "5", "--seeds", "1", "--classifier", "linear",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    warning = " ".join(result.stderr.split())
    assert f"warning: 2 of the 12 rows of {test} (17%) are in {train} too" in warning
    assert json.loads(result.stdout)["curve"]  # the JSON on stdout stays clean
    half = _write(tmp_path / "half.csv", ["text", "label"], [*held_out[:5], *pool[:5]])
    refused = runner.invoke(app, ["simulate", str(train), "--test", str(half)])
    assert refused.exit_code == 2 and "5 of the 10 test rows (50%)" in refused.stderr


def test_proposal_evidence_never_prints_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.workspace import Workspace
    from storage.db import session_scope
    from storage.repositories import projects, proposals

    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", LABELS)
    ws = Workspace.open()
    with session_scope(ws.db) as s:
        pid = int(projects.get_project(session=s, name="bank").id or 0)
        proposals.save_open_proposal(
            session=s, project_id=pid, kind="rare", labels=["age_limit"], key='["rare"]',
            score=1.0, evidence={"count": 0, "f1": None, "suggestion": "gather_more"},
            evidence_strength=0.0, message="age_limit has no examples yet",
        )  # fmt: skip
    ws.close()
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: the evidence on one line
    out = " ".join(_ok(runner, "proposals", "bank").split())
    assert "None" not in out and "0 examples: gather_more" in out


@pytest.mark.parametrize(("every", "retrains"), [(2, True), (3, False)])
def test_label_retrains_after_the_projects_retrain_every_by_default(  # type: ignore[no-untyped-def]
    banking_slice, tmp_path: Path, every: int, retrains: bool
) -> None:
    """Without --retrain-every the terminal loop retrains when the scheduler would, after the
    project's retrain_every new labels (it used to be 10 whatever the project said). A worker
    holds the training lease here, so a retrain is seen as "not retrained" at once."""
    from engine.workspace import Workspace
    from storage.db import session_scope
    from storage.repositories import leases

    runner = CliRunner()
    _project(runner, tmp_path, [(t, "") for t, _ in banking_slice[:10]])
    _ok(runner, "project", "set", "bank", "--retrain-every", str(every))
    ws = Workspace.open()
    with session_scope(ws.db) as s:
        assert leases.try_acquire(
            session=s, name="train:bank", owner="worker-1:42", ttl=timedelta(minutes=15)
        )
    ws.close()
    out = _ok(runner, "label", "bank", "--annotator", "ann", input="1\n2\nq\n")
    assert out.count("labeled ") == 2
    assert ("not retrained" in out) is retrains, out


def test_adjudicate_takes_the_id_an_export_shows(tmp_path: Path) -> None:
    from engine import projects
    from engine.workspace import Workspace

    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", LABELS)
    ws = Workspace.open()
    for who, label in (("ana", "card_arrival"), ("ben", "age_limit")):
        path = _write(tmp_path / f"{who}.csv", ["id", "text", "label"],
                      [["T0135", "My card has not arrived yet", label]])  # fmt: skip
        projects.import_file(ws, project="bank", path=path, annotator=who, embed=False)
    ws.close()
    [record] = [json.loads(x) for x in _ok(runner, "export", "bank").splitlines()]
    assert record["id"] == "T0135" and record["disputed"] is True
    listed = _ok(runner, "disagreements", "bank")
    [item] = json.loads(_ok(runner, "disagreements", "bank", "--json"))
    assert item["external_id"] == "T0135"
    assert f"#{item['example_id']} (T0135) My card has not arrived yet" in listed
    out = _ok(runner, "adjudicate", "bank", "T0135", "card_arrival", "--actor", "lead")
    assert f"example #{item['example_id']} (T0135): card_arrival (was age_limit)" in out
    [record] = [json.loads(x) for x in _ok(runner, "export", "bank").splitlines()]
    assert record["label"] == "card_arrival" and record["disputed"] is False
    unknown = runner.invoke(app, ["adjudicate", "bank", "T9", "card_arrival"])
    assert unknown.exit_code == 3 and "no example 'T9' in project 'bank'" in unknown.output
