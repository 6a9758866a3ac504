"""The labelbot CLI through typer's runner, and once as a real subprocess."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.helpers import labeled_csv as _csv

LABELS = "card_arrival,age_limit,atm_support,change_pin,exchange_rate"


@pytest.fixture
def cli_env(tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from engine.config import get_settings

    db = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    get_settings.cache_clear()
    yield {"DATABASE_URL": f"sqlite:///{db}", "LABELBOT_DATA_DIR": str(embedding_cache_dir)}
    get_settings.cache_clear()


def test_cli_round_trip(cli_env, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    ok = runner.invoke(app, ["project", "create", "bank", "--labels", LABELS, "--channel", "C9"])
    assert ok.exit_code == 0, ok.output
    # one row in five labeled (every class among them), the rest unlabeled
    rows = [(t, lb if (i // 5) % 5 == 0 else "") for i, (t, lb) in enumerate(banking_slice)]
    data = _csv(tmp_path / "bank.csv", rows)
    result = runner.invoke(app, ["import", "bank", str(data)])
    assert result.exit_code == 0, result.output
    assert "imported 150 new examples, 30 labels" in result.output
    assert "note:" not in result.output
    # a second file gives one labeled text another label: a new vote, and it wins the tie
    text, label = rows[0]
    other = next(lb for lb in LABELS.split(",") if lb != label)
    result = runner.invoke(
        app, ["import", "bank", str(_csv(tmp_path / "fix.csv", [(text, other)]))]
    )
    assert result.exit_code == 0, result.output
    assert "imported 0 new examples; 1 already in the project (its label added as a vote)" in (
        result.output
    )
    assert "note: 1 text labeled before now counts as another label" in result.output
    result = runner.invoke(app, ["train", "bank"])
    assert result.exit_code == 0 and "model v1" in result.output, result.output
    status = runner.invoke(app, ["status", "bank", "--json"])
    info = json.loads(status.output)
    assert (info["examples"], info["labeled"], info["model"]["version"]) == (150, 30, 1)
    out = tmp_path / "export.jsonl"
    assert runner.invoke(app, ["export", "bank", "--out", str(out)]).exit_code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 150 and all(x["prediction"] for x in lines)
    predicted = runner.invoke(app, ["predict", "bank", str(data)])
    assert predicted.exit_code == 0
    first = json.loads(predicted.output.splitlines()[0])
    assert first["label"] in LABELS.split(",") and 0 < first["confidence"] <= 1


def test_cli_errors_are_one_line_with_exit_codes(cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    missing = runner.invoke(app, ["status", "nope"])
    assert missing.exit_code == 3 and "no project named 'nope'" in missing.output
    runner.invoke(app, ["project", "create", "p", "--labels", "a,b"])
    bad = _csv(tmp_path / "bad.csv", [("fine", "a"), ("hm", "zzz")])
    result = runner.invoke(app, ["import", "p", str(bad)])
    assert result.exit_code == 2 and "bad.csv:3: unknown label 'zzz'" in result.output
    assert "Traceback" not in result.output
    dup = runner.invoke(app, ["project", "create", "p", "--labels", "a"])
    assert dup.exit_code == 4 and "already exists" in dup.output


def test_cli_label_loop_in_terminal(cli_env, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    runner.invoke(app, ["project", "create", "bank", "--labels", LABELS])
    runner.invoke(
        app,
        ["import", "bank", str(_csv(tmp_path / "b.csv", [(t, "") for t, _ in banking_slice[:10]]))],
    )
    # label 1st as label #2, skip the 2nd, undo, label again, then quit
    result = runner.invoke(
        app,
        ["label", "bank", "--annotator", "ann", "--retrain-every", "0"],
        input="2\ns\nu\n1\nq\n",
    )
    assert result.exit_code == 0, result.output
    assert "labeled age_limit" in result.output and "undone: age_limit" in result.output
    assert "asked early: it is typical of a group of similar examples" in result.output
    status = json.loads(runner.invoke(app, ["status", "bank", "--json"]).output)
    assert status["labeled"] == 1 and status["labels"][0]["count"] == 1


def test_cli_training_waits_its_turn_behind_another_process(  # type: ignore[no-untyped-def]
    cli_env, banking_slice, tmp_path: Path
) -> None:
    """`labelbot train` and the retrain in `labelbot label` take the scheduler's lease: while
    a worker trains the project they say so (exit code 4 for `train`) and start nothing."""
    from datetime import timedelta

    from engine.workspace import Workspace
    from storage.db import session_scope
    from storage.repositories import leases

    runner = CliRunner()
    runner.invoke(app, ["project", "create", "bank", "--labels", LABELS])
    data = _csv(tmp_path / "b.csv", [(t, lb if i < 20 else "") for i, (t, lb) in
                                     enumerate(banking_slice[:30])])  # fmt: skip
    assert runner.invoke(app, ["import", "bank", str(data)]).exit_code == 0
    ws = Workspace.open()
    with session_scope(ws.db) as s:
        assert leases.try_acquire(
            session=s, name="train:bank", owner="worker-1:42", ttl=timedelta(minutes=15)
        )
    busy = "training of 'bank' already running in another process (worker-1:42); try again"
    refused = runner.invoke(app, ["train", "bank"])
    assert refused.exit_code == 4 and busy in " ".join(refused.output.split()), refused.output
    looped = runner.invoke(
        app, ["label", "bank", "--annotator", "ann", "--retrain-every", "0"], input="t\nq\n"
    )
    assert looped.exit_code == 0, looped.output
    assert f"not retrained: {busy}" in " ".join(looped.output.split()), looped.output
    assert "model v" not in looped.output
    with session_scope(ws.db) as s:
        leases.release(session=s, name="train:bank", owner="worker-1:42")
    ws.close()
    trained = runner.invoke(app, ["train", "bank"])
    assert trained.exit_code == 0 and "model v1" in trained.output, trained.output


def test_cli_label_loop_shows_data_as_text_and_why_an_example_is_back(  # type: ignore[no-untyped-def]
    cli_env, tmp_path: Path
) -> None:
    """Brackets in texts and label names are data, not terminal markup ("[/]" used to crash the
    loop); an example back after a split says what it was labeled and into what."""
    runner = CliRunner()
    runner.invoke(app, ["project", "create", "p", "--labels", "[urgent],other"])
    texts = [("Refund [/] now [bold]please", "[urgent]"), ("fine", "other")]
    assert runner.invoke(app, ["import", "p", str(_csv(tmp_path / "p.csv", texts))]).exit_code == 0
    split = runner.invoke(app, ["labels", "split", "p", "[urgent]", "--into", "[a],b", "--actor",
                                "ana"])  # fmt: skip
    assert split.exit_code == 0, split.output
    result = runner.invoke(app, ["label", "p", "--annotator", "ann", "--retrain-every", "0"],
                           input="q\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Refund [/] now [bold]please" in result.output
    assert "back for a new label: imported as [urgent], since split into [a] / b" in (
        " ".join(result.output.split()))  # fmt: skip
    assert "[a]" in result.output and "Traceback" not in result.output
    assert "asked early" not in result.output  # being back is the reason it is asked
    listed = runner.invoke(app, ["labels", "list", "p"])  # table cells are data too
    assert "[urgent]" in listed.output and "[a]" in listed.output


def test_cli_as_a_subprocess(cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, **cli_env, "HF_HUB_OFFLINE": "1"}
    labelbot = [sys.executable, "-c", "from bot.cli import main; main()"]
    created = subprocess.run(
        [*labelbot, "project", "create", "sub", "--labels", "x,y"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    listed = subprocess.run(
        [*labelbot, "project", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0 and "sub" in listed.stdout
    helped = subprocess.run(
        [*labelbot, "import", "--help"], env=env, capture_output=True, text=True
    )
    assert "--text-column" in helped.stdout and "one transaction" in helped.stdout


def test_cli_export_replaces_the_out_file_only_when_complete(  # type: ignore[no-untyped-def]
    cli_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad --format, or an export failing halfway, used to leave --out emptied (yesterday's
    export lost); the format is now checked first in any case, and the export written beside
    the file, then renamed over it."""
    from engine import exporting
    from storage.errors import LabelbotError

    runner = CliRunner()
    runner.invoke(app, ["project", "create", "p", "--labels", "a,b"])
    runner.invoke(app, ["import", "p", str(_csv(tmp_path / "p.csv", [("one", "a"), ("two", "")]))])
    out = tmp_path / "out" / "keep.jsonl"
    out.parent.mkdir()
    assert runner.invoke(app, ["export", "p", "--out", str(out)]).exit_code == 0
    kept = out.read_text(encoding="utf-8")
    assert len(kept.splitlines()) == 2
    bad = runner.invoke(app, ["export", "p", "--format", "xml", "--out", str(out)])
    assert bad.exit_code == 2 and "unknown export format 'xml'" in bad.output
    assert out.read_text(encoding="utf-8") == kept

    def fails_halfway(records, handle, fmt, **options):  # type: ignore[no-untyped-def]
        handle.write('{"id": "1"')
        raise LabelbotError("disk trouble")

    monkeypatch.setattr(exporting, "write_export", fails_halfway)
    failed = runner.invoke(app, ["export", "p", "--out", str(out)])
    assert failed.exit_code == 1 and "disk trouble" in failed.output
    assert out.read_text(encoding="utf-8") == kept
    assert [f.name for f in out.parent.iterdir()] == ["keep.jsonl"]  # no temporary file left
    monkeypatch.undo()
    assert (
        runner.invoke(app, ["export", "p", "--format", "JSONL", "--out", str(out)]).exit_code == 0
    )
    assert out.read_text(encoding="utf-8") == kept
    as_csv = runner.invoke(app, ["export", "p", "--format", "Csv"])
    assert as_csv.exit_code == 0 and as_csv.output.startswith("id,text,label,")


def test_cli_export_spreadsheet_safe(cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--spreadsheet-safe defuses formula cells in a CSV; asked of a JSONL export it is a
    one-line error that leaves an existing --out file as it was."""
    runner = CliRunner()
    runner.invoke(app, ["project", "create", "p", "--labels", "a,b"])
    data = _csv(tmp_path / "p.csv", [("=1+1", "a"), ("plain", "")])
    runner.invoke(app, ["import", "p", str(data)])
    safe = runner.invoke(app, ["export", "p", "--format", "csv", "--spreadsheet-safe"])
    assert safe.exit_code == 0, safe.output
    texts = [row["text"] for row in csv.DictReader(safe.output.splitlines())]
    assert texts == ["'=1+1", "plain"]
    out = tmp_path / "keep.jsonl"
    out.write_text("yesterday\n", encoding="utf-8")
    bad = runner.invoke(app, ["export", "p", "--spreadsheet-safe", "--out", str(out)])
    assert bad.exit_code == 2 and "applies to CSV output only" in bad.output
    assert out.read_text(encoding="utf-8") == "yesterday\n"


def test_cli_out_path_that_cannot_be_written_is_a_one_line_error(cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """No traceback for a missing folder, and predict says so before embedding anything: the
    project has no model, which predict would only find out after reading the output path."""
    runner = CliRunner()
    runner.invoke(app, ["project", "create", "p", "--labels", "a,b"])
    data = _csv(tmp_path / "p.csv", [("one", "a")])
    missing = tmp_path / "nowhere" / "x.jsonl"
    for command in (["export", "p"], ["predict", "p", str(data)]):
        result = runner.invoke(app, [*command, "--out", str(missing)])
        assert result.exit_code == 2, result.output
        assert result.output == f"error: {missing}: cannot write here (no such folder)\n"
    folder = runner.invoke(app, ["export", "p", "--out", str(tmp_path)])
    assert folder.exit_code == 2 and "is a folder" in folder.output
    # a place the machine refuses (sysfs takes no new file, even from root): exit 6, as a full
    # disk or a read-only folder (README), not 2 as a mistyped path
    refused = runner.invoke(app, ["export", "p", "--out", "/sys/labelbot-export.jsonl"])
    assert refused.exit_code == 6, refused.output
    assert refused.output.startswith("error: /sys/labelbot-export.jsonl: cannot write here (")


def test_cli_predict_refuses_a_lone_surrogate_with_its_line(cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    runner.invoke(app, ["project", "create", "p", "--labels", "a,b"])
    data = tmp_path / "s.jsonl"
    data.write_text('{"text": "fine"}\n{"text": "lone \\ud800 surrogate"}\n', encoding="utf-8")
    result = runner.invoke(app, ["predict", "p", str(data)])
    assert result.exit_code == 2
    assert "s.jsonl:2: text is not valid Unicode (a lone surrogate)" in result.output


def _ok(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return str(result.output)


def test_project_set_takes_every_documented_setting_and_prints_them_all(cli_env) -> None:  # type: ignore[no-untyped-def]
    """The README's per-project knobs are `project set` options; the answer is every setting in
    effect (defaults marked) and the channel, never the bot's own bookkeeping."""
    from bot.cli.common import workspace
    from engine import projects

    _ok("project", "create", "p", "--labels", "a,b", "--channel", "C9")
    ws = workspace()
    projects.update_settings(ws, project="p", taxonomy_changed_at="2026-12-01T15:06:48")
    out = _ok(
        "project", "set", "p", "--review-share", "0.2", "--multi-label-share", "0.3",
        "--multi-label-k", "3", "--multi-label-audit", "--no-rare-boost", "--rare-minimum", "8",
    )  # fmt: skip
    settings = projects.get_project(ws, "p").settings
    assert {k: settings[k] for k in ("review_share", "multi_label_share", "multi_label_k")} == {
        "review_share": 0.2, "multi_label_share": 0.3, "multi_label_k": 3,
    }  # fmt: skip
    assert settings["multi_label_audit"] is True and settings["rare_boost"] is False
    assert settings["rare_minimum"] == 8
    lines = out.splitlines()
    assert lines[0] == "channel = C9"
    for line in (
        "review_share = 0.2", "multi_label_k = 3", "multi_label_audit = true",
        "rare_boost = false", "rare_minimum = 8", "retrain_every = 20 (default)",
        "audit_share = 0.1 (default)", "timezone = UTC (default)",
    ):  # fmt: skip
        assert line in lines, out
    assert "taxonomy_changed_at" not in out
    assert _ok("project", "set", "p", "--rare-boost").count("rare_boost = true") == 1
    assert _ok("project", "set", "p", "--channel", "none").splitlines()[0] == "channel = none"
    ws.close()


def test_a_channel_another_project_has_is_allowed_with_a_note(cli_env) -> None:  # type: ignore[no-untyped-def]
    """Two projects may post in one channel; the CLI says so, and that `/label` there asks."""
    _ok("project", "create", "p", "--labels", "a,b", "--channel", "C9")
    made = CliRunner().invoke(app, ["project", "create", "q", "--labels", "a,b", "--channel", "C9"])
    assert made.exit_code == 0, made.output
    note = "note: C9 is also the channel of 'p': both post there, and `/label` in it"
    assert note in made.stderr and "asks which project" in made.stderr
    moved = CliRunner().invoke(app, ["project", "set", "p", "--channel", "<#C7|legal>"])
    assert moved.exit_code == 0 and "note:" not in moved.stderr
    back = CliRunner().invoke(app, ["project", "set", "p", "--channel", "C9"])
    assert "note: C9 is also the channel of 'q'" in back.stderr
    assert back.stdout.splitlines()[0] == "channel = C9"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--review-share", "1.5", "setting review_share must be between 0 and 1"),
        ("--multi-label-share", "nan", "setting multi_label_share must be a finite number"),
        ("--multi-label-k", "1", "setting multi_label_k must be between 2 and 10"),
        ("--rare-minimum", "0", "setting rare_minimum must be between 1 and 1,000"),
        ("--admins", "U01,@ann", "'@ann' is not a Slack user id"),
        ("--channel", "#legal", "'#legal' is not a Slack channel id"),
    ],
)
def test_project_set_refuses_bad_values_in_one_line(  # type: ignore[no-untyped-def]
    cli_env, option: str, value: str, message: str
) -> None:
    from bot.cli.common import workspace
    from engine import projects

    _ok("project", "create", "p", "--labels", "a,b")
    result = CliRunner().invoke(app, ["project", "set", "p", option, value])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {message}"), result.output
    assert result.output.strip().splitlines() == [result.output.strip()], result.output
    ws = workspace()
    assert projects.get_project(ws, "p").settings == {}
    assert projects.get_project(ws, "p").channel_id is None
    ws.close()


def _labeled_project(tmp_path: Path, labels: str, rows: list[tuple[str, str]], who: str) -> None:
    """Project ``p`` with ``rows`` labeled by ``who`` (not embedded: nothing here trains)."""
    from bot.cli.common import workspace
    from engine import projects

    _ok("project", "create", "p", "--labels", labels)
    ws = workspace()
    projects.import_file(
        ws, project="p", path=_csv(tmp_path / "p.csv", rows), annotator=who, embed=False
    )
    ws.close()


def _open_review(text: str, suggested: str) -> None:
    """A mislabel review of ``text``'s label, as a scan would open it."""
    from bot.cli.common import workspace
    from storage.db import session_scope
    from storage.repositories import examples, feedback, projects, reviews

    ws = workspace()
    with session_scope(ws.db) as s:
        pid = int(projects.get_project(session=s, name="p").id or 0)
        example = next(
            e for e in examples.list_examples(session=s, project_id=pid) if e.text == text
        )
        (row,) = feedback.example_annotations(session=s, example_id=int(example.id or 0))
        ids = {lb.name: lb.id for lb in projects.list_labels(session=s, project_id=pid)}
        reviews.add_review(
            session=s, project_id=pid, example_id=int(example.id or 0), annotation_id=row.id,
            annotator=row.annotator, given_label_id=int(ids[row.current] or 0),
            suggested_label_id=int(ids[suggested] or 0), confidence=0.9, margin=0.6,
        )  # fmt: skip
    ws.close()


def test_review_share_set_from_the_cli_decides_whether_reviews_come(  # type: ignore[no-untyped-def]
    cli_env, tmp_path: Path
) -> None:
    from bot.cli.common import workspace
    from engine import labeling

    rows = [("doubtful one", "a")] + [(f"text number {i}", "") for i in range(30)]
    _labeled_project(tmp_path, "a,b", rows, "ana")
    _open_review("doubtful one", "b")
    _ok("project", "set", "p", "--review-share", "0")
    ws = workspace()
    for i in range(15):  # 0.1 (the default) would have made the 10th a review
        task = labeling.next_task(ws, project="p", annotator="ben", reviews=True)
        assert task is not None and task.kind != "review", i
        labeling.skip(ws, project="p", example_id=task.example_id, annotator="ben")
    _ok("project", "set", "p", "--review-share", "1")
    task = labeling.next_task(ws, project="p", annotator="ben", reviews=True)
    assert task is not None and task.kind == "review" and task.given == "a"
    ws.close()


def test_status_says_what_is_too_rare_how_experts_agree_and_open_reviews(  # type: ignore[no-untyped-def]
    cli_env, tmp_path: Path
) -> None:
    from bot.cli.common import workspace
    from storage.db import session_scope
    from storage.repositories import assignments, examples, feedback, projects

    rows = [(f"nda text {i}", "NDA") for i in range(6)] + [("one lease", "Lease")]
    _labeled_project(tmp_path, "NDA,Lease,Hiring", rows, "ana")
    plain = " ".join(_ok("status", "p").split())
    assert "too rare to learn (under 5 labels): Hiring, Lease" in plain
    assert "agreement" not in plain and "review" not in plain  # nothing to say yet

    ws = workspace()
    # two of ana's examples asked blind of two experts, cy and dee (ana's imported labels are
    # no blind opinion): they agree; ana's NDA on the second still disagrees with their Lease
    with session_scope(ws.db) as s:
        pid = int(projects.get_project(session=s, name="p").id or 0)
        ids = {lb.name: lb.id for lb in projects.list_labels(session=s, project_id=pid)}
        found = {e.text: e.id for e in examples.list_examples(session=s, project_id=pid)}
        for text, label in (("nda text 0", "NDA"), ("nda text 1", "Lease")):
            example_id = int(found[text] or 0)
            assignments.request_more_labels(session=s, project_id=pid, example_id=example_id, k=2)
            for who in ("cy", "dee"):
                feedback.add_annotation(
                    session=s, example_id=example_id, label_id=int(ids[label] or 0),
                    annotator=who, source="cli", key=f"{who}:{text}",
                )  # fmt: skip
    ws.close()
    _open_review("one lease", "NDA")
    _ok("project", "set", "p", "--rare-minimum", "2")
    plain = " ".join(_ok("status", "p").split())
    # cy's and dee's Lease, two votes to ana's one, made Lease's second label
    assert "too rare to learn (under 2 labels): Hiring agreement:" in plain, plain
    assert "agreement: Cohen's kappa" in plain
    assert "over 2 examples labeled blind by both experts" in plain
    assert "1 disagreement to settle" in plain
    assert "1 mislabel review open" in plain
