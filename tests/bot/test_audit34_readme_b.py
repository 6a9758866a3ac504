"""Audit of README from "## Configuration" to the end against what labelbot does: each test
here was a place where it did not do what the README says, marked xfail (strict) until fixed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.config import get_settings
from engine.jobs import TRAIN_LEASE
from storage.db import make_engine, session_scope
from storage.repositories import leases
from tests.bot.test_cli_reviews import LABELS, _import
from tests.fakes.slack_api import FakeSlackAPI


def _ok(runner: CliRunner, *args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich wraps long lines: compare words


@pytest.mark.usefixtures("cli_env")
def test_a_scan_before_the_first_model_is_not_called_never_scanned(  # type: ignore[no-untyped-def]
    banking_slice, tmp_path: Path
) -> None:
    """README, 'The model reviews the humans': with nothing to review `labelbot review` says
    why, and "a `--scan` counts as the worker's scan". A project whose labels were imported and
    scanned on demand, before any model, doubted none of them: it was scanned."""
    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", ",".join(LABELS))
    _import(tmp_path / "ana.csv", list(banking_slice), "ana")
    out = _ok(runner, "review", "bank", "--annotator", "ben", "--scan")
    assert "scanned 150 labels: 0 likely mislabels, 0 new to review" in out
    out = _ok(runner, "review", "bank", "--annotator", "ben")
    assert "nothing to review" in out
    assert "never scanned" not in out
    assert "--scan` scans them now" not in out


@pytest.mark.usefixtures("cli_env")
def test_digest_post_with_a_refused_token_says_so_in_one_line(
    slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README, 'Digests and admin commands': "When Slack refuses the token or cannot be
    reached, `--post` says so in one line (exit 6)". Run as a person runs it: a process of its
    own, whose stderr is what they read."""
    monkeypatch.setenv("SLACK_API_URL", slack_api.api_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "test-signing-secret")
    _ok(CliRunner(), "project", "create", "p", "--labels", "a,b", "--channel", "C0DIGEST")
    slack_api.fail_next("chat.postMessage", error="invalid_auth")
    posted = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "digest", "p", "--post"],
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert posted.returncode == 6, posted.stderr
    assert "error: Slack refused SLACK_BOT_TOKEN (invalid_auth)" in posted.stderr
    assert len(posted.stderr.strip().splitlines()) == 1, posted.stderr


@pytest.mark.usefixtures("cli_env")
def test_digest_post_on_a_failing_slack_says_each_library_warning_once_in_the_clis_style(
    slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack answering 503 to every try: the post is tried again, and each try's search for an
    earlier one fails too. The warning that says so was printed raw by Python's last-resort
    handler, once per try; now it is a "warning: …" line, once, above the command's error."""
    monkeypatch.setenv("SLACK_API_URL", slack_api.api_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "test-signing-secret")
    _ok(CliRunner(), "project", "create", "p", "--labels", "a,b", "--channel", "C0DIGEST")
    for method in ("chat.postMessage", "conversations.history"):
        slack_api.fail_next(method, status=503, times=20)
    posted = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "digest", "p", "--post"],
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert posted.returncode == 4, posted.stderr
    lines = posted.stderr.strip().splitlines()
    assert lines[-1].startswith("error: Slack did not take the digest of p (HTTP 503"), lines
    warned = [line for line in lines if "could not check whether an earlier try" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: could not check"), lines
    assert len(lines) == 2, lines


@pytest.mark.usefixtures("cli_env")
def test_train_says_it_took_a_dead_trainers_lease_over_in_the_clis_style() -> None:
    """`labelbot train` after a trainer that died holding its lease: engine.jobs' warning that
    the lease was taken over was printed raw (its message alone) by Python's last-resort
    handler; now it is the CLI's "warning: …" line, above the command's own outcome."""
    _ok(CliRunner(), "project", "create", "p", "--labels", "a,b")
    said = "from engine import jobs; print(jobs.default_owner())"
    dead = subprocess.run([sys.executable, "-c", said], capture_output=True, text=True,
                          timeout=120, check=True).stdout.strip()  # fmt: skip
    db = make_engine(get_settings().database_url)
    with session_scope(db) as session:
        assert leases.try_acquire(session=session, name="train:p", owner=dead, ttl=TRAIN_LEASE)
    db.dispose()
    trained = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "train", "p"],
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    lines = trained.stderr.strip().splitlines()
    took = f"warning: took lease train:p over from {dead}: that process has ended"
    assert lines[0] == took, trained.stderr
    assert sum(took[len("warning: ") :] in line for line in lines) == 1, trained.stderr
