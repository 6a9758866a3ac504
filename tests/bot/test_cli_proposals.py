"""`labelbot proposals NAME|approve|reject` through typer's runner, and the digest's section."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from tests.engine.test_proposing import EXTRA, with_two_more_intents

FUSED = {"age_limit": "account_questions", "exchange_rate": "account_questions"}


def _run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _fused_project(runner: CliRunner, rows: list[tuple[str, str]], tmp_path: Path) -> None:
    labels = ["card_arrival", "account_questions", "atm_support", "change_pin", *EXTRA]
    _run(runner, "project", "create", "bank", "--labels", ",".join(labels))
    path = tmp_path / "bank.csv"
    seen: dict[str, int] = {}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for text, intent in rows:
            seen[intent] = seen.get(intent, 0) + 1
            writer.writerow([text, FUSED.get(intent, intent) if seen[intent] <= 16 else ""])
    _run(runner, "import", "bank", str(path))


def test_list_refresh_approve_and_reject(cli_env, tmp_path: Path, banking_slice) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    _fused_project(runner, with_two_more_intents(banking_slice), tmp_path)
    assert "no open proposals" in _run(runner, "proposals", "bank")
    table = _run(runner, "proposals", "bank", "--refresh")
    assert "split" in table and "account_q" in table and "key evidence" in table
    listed = json.loads(_run(runner, "proposals", "bank", "--json"))
    split = next(p for p in listed if p["kind"] == "split")
    assert split["key"] == ["split", "account_questions"] and split["status"] == "open"
    assert len(split["evidence"]["clusters"]) == 2 and split["message"].startswith("Split")
    assert split["into"] == [c["suggested_name"] for c in split["evidence"]["clusters"]]

    one = _run(runner, "proposals", "approve", "bank", str(split["id"]), "--into", "x", code=2)
    assert "takes 2 or more new labels; got 1" in one
    out = _run(runner, "proposals", "approve", "bank", str(split["id"]),
               "--into", "minimum_age,fx_rates", "--actor", "ana")  # fmt: skip
    assert (
        f"proposal {split['id']} applied: split account_questions into minimum_age, fx_rates"
        in (" ".join(out.split()))
    )
    assert "32 examples back in the queue" in " ".join(out.split())
    assert "they wait at the front of the queue" in out and out.count("32 examples") == 1
    history = _run(runner, "labels", "history", "bank")
    assert f"proposal {split['id']}" in history

    others = json.loads(_run(runner, "proposals", "bank", "--refresh", "--json"))
    assert others and all(p["kind"] != "split" for p in others)
    target = others[0]["id"]
    out = _run(runner, "proposals", "reject", "bank", str(target), "--reason", "not now")
    assert f"proposal {target} rejected" in out
    decided = json.loads(_run(runner, "proposals", "bank", "--status", "rejected", "--json"))
    assert [(p["id"], p["reason"]) for p in decided] == [(target, "not now")]
    everything = _run(runner, "proposals", "bank", "--status", "all")
    assert "applied" in everything and "rejected" in everything

    # errors are one line with the tree's exit codes
    out = _run(runner, "proposals", "approve", "bank", str(target), code=5)
    assert "already rejected" in out
    assert "no proposal" in _run(runner, "proposals", "reject", "bank", "999", code=3)
    assert "usage" in _run(runner, "proposals", "approve", "bank", code=2)
    assert "unknown action" in _run(runner, "proposals", "bank", "extra", code=2)
    odd = _run(runner, "proposals", "bank", "--status", "odd", code=2)
    assert "unknown status 'odd': use open, approved, rejected, applied, superseded or all" in odd


def test_digest_message_shows_open_proposals() -> None:
    from datetime import datetime

    from bot.views.digest import digest_message
    from engine.digest import Digest
    from engine.forecast import fit_learning_curve, stop_signal

    forecast = fit_learning_curve([], [])
    d = Digest(
        project="bank", channel=None, since=None, labels_since=0, by_annotator=[],
        total_labels=0, model_version=None, accuracy=None, accuracy_change=None, weakest=[],
        per_class_f1={}, curve=[], forecast=forecast, target=0.9,
        stop=stop_signal(forecast, [], 0.0), open_flags=0, open_discussions=0,
        generated_at=datetime(2026, 1, 1), open_proposals=5,
        top_proposals=["Merge A and B?", "Split C?", "Add a label like 'x'?"],
    )  # fmt: skip
    text = json.dumps(digest_message(d))
    assert "5 taxonomy proposals open" in text and "Split C?" in text and "(top 3)" in text
    assert "5 open taxonomy proposals:" in d.summary()


def test_approve_with_an_empty_into_is_refused(cli_env) -> None:  # type: ignore[no-untyped-def]
    """`--into ""` (a shell variable left empty) used to apply the proposal's own names; it is
    refused like any bad input, and the proposal stays open. An empty list of decided proposals
    does not point at --refresh, which detects open ones."""
    from engine.workspace import Workspace
    from storage.db import session_scope
    from storage.repositories import projects, proposals

    runner = CliRunner()
    _run(runner, "project", "create", "bank", "--labels", "card_arrival,age_limit")
    ws = Workspace.open()
    with session_scope(ws.db) as s:
        pid = int(projects.get_project(session=s, name="bank").id or 0)
        row, _ = proposals.save_open_proposal(
            session=s, project_id=pid, kind="split", labels=["card_arrival"],
            key='["split", "card_arrival"]', score=0.7, evidence_strength=9.0,
            evidence={"clusters": [{"suggested_name": "late", "size": 5},
                                   {"suggested_name": "track", "size": 4}]},
            message="Split card_arrival?",
        )  # fmt: skip
        proposal_id = str(row.id)
    ws.close()
    for into in ("", " , "):
        out = _run(runner, "proposals", "approve", "bank", proposal_id, "--into", into, code=2)
        assert " ".join(out.split()) == (
            f"error: --into {into!r} names no label: give the names, comma-separated, or leave "
            "--into out to use the proposal's own"
        )
    # an empty name between commas is refused as `labels split --into` refuses it (it was
    # dropped: "late,,track" applied late and track without a word)
    gap = _run(runner, "proposals", "approve", "bank", proposal_id, "--into", "late,,track", code=2)
    assert "an empty label name in 'late,,track'" in " ".join(gap.split())
    [still] = json.loads(_run(runner, "proposals", "bank", "--json"))
    assert still["status"] == "open" and still["into"] == ["late", "track"]
    assert "no taxonomy changes yet" in _run(runner, "labels", "history", "bank")
    rejected = " ".join(_run(runner, "proposals", "bank", "--status", "rejected").split())
    assert rejected == "bank: no rejected proposals"
