"""Digests posted through the local Slack-compatible server; `labelbot digest`, `project set`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.digests import post_digest
from engine import projects, proposing, training
from storage.db import session_scope
from storage.errors import ConfigurationError
from storage.repositories import projects as project_repo
from storage.repositories import proposals as proposal_repo
from tests.helpers import label_next, load_slice, save_found_twice


@pytest.fixture
def trained(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    return _trained(ws, banking_slice, tmp_path)


def _trained(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice, tmp_path, channel_id="C42")
    for round_ in range(4):
        label_next(ws, truth, 10, annotators=("U1" if round_ % 2 else "U2",), source="slack")
        training.train_project(ws, "bank")
    return ws


def test_digest_posts_blocks_and_uploads_the_chart(trained, slack_api, slack_client) -> None:  # type: ignore[no-untyped-def]
    with session_scope(trained.db) as session:  # open proposals (detection: test_proposing)
        found = project_repo.get_project(session=session, name="bank")
        save_found_twice(
            session=session, project_id=int(found.id or 0), kind="rare", labels=["age_limit"],
            key='["rare", "age_limit"]', score=0.7, evidence={"count": 2, "suggestion": "gather"},
            evidence_strength=1.0, message="age_limit has 2 examples (out-of-fold F1 0.10)",
        )  # fmt: skip
        # found by one refresh only: the channel does not get it yet, nor does the digest
        proposal_repo.save_open_proposal(
            session=session, project_id=int(found.id or 0), kind="rare", labels=["card_arrival"],
            key='["rare", "card_arrival"]', score=0.9, evidence_strength=1.0,
            evidence={"count": 1, "suggestion": "gather"},
            message="card_arrival has 1 example (out-of-fold F1 0.00)",
        )  # fmt: skip
    posted = post_digest(slack_client, trained, "bank")
    assert posted.channel == "C42" and posted.ts and posted.file_id
    (message,) = slack_api.calls("chat.postMessage")
    assert message.params["channel"] == "C42" and "bank digest" in message.params["text"]
    text = str(message.params["blocks"])
    assert "40 new labels" in text and "Model v4" in text and "<@U1> 20" in text
    open_ = next(p for p in proposing.list_proposals(trained, "bank") if p.labels == ["age_limit"])
    assert f"`#{open_.id}` *age_limit* has only 2 examples, too few for the model" in text
    assert "*1 taxonomy proposal open*" in text and "card_arrival" not in text
    assert "out-of-fold F1" not in text  # plain words, not the detector's statistics
    assert slack_api.calls("files.getUploadURLExternal")
    (done,) = slack_api.calls("files.completeUploadExternal")
    assert done.params["channel_id"] == "C42"
    png = slack_api.uploads[posted.file_id]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and 20_000 < len(png) < 500_000


def test_not_in_channel_tells_the_admins(trained, slack_api, slack_client) -> None:  # type: ignore[no-untyped-def]
    slack_api.fail_next("chat.postMessage", status=200, error="not_in_channel")
    with pytest.raises(ConfigurationError, match="invite it with /invite @labelbot"):
        post_digest(slack_client, trained, "bank")
    projects.update_settings(trained, project="bank", admins=["UADMIN"])
    slack_api.fail_next("chat.postMessage", status=200, error="not_in_channel")
    posted = post_digest(slack_client, trained, "bank")
    assert posted.notified_admins == ["UADMIN"] and posted.ts is None
    dm = slack_api.calls("chat.postMessage")[-1]
    assert dm.params["channel"] == "UADMIN" and "not a member of <#C42>" in dm.params["text"]


def test_cli_digest_and_project_set(  # type: ignore[no-untyped-def]
    encoder, embedding_cache_dir, banking_slice, tmp_path: Path, monkeypatch
) -> None:
    from engine.config import Settings, get_settings
    from engine.workspace import Workspace

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    get_settings.cache_clear()
    settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=embedding_cache_dir)
    trained = _trained(Workspace.open(settings, encoder=encoder), banking_slice, tmp_path)
    runner = CliRunner()
    chart = tmp_path / "d.png"
    result = runner.invoke(app, ["digest", "bank", "--out", str(chart)])
    assert result.exit_code == 0, result.output
    assert "model v4" in result.output and chart.read_bytes()[:4] == b"\x89PNG"
    bad = runner.invoke(app, ["project", "set", "bank", "--digest-cron", "99 * * * *"])
    assert bad.exit_code == 2 and "invalid digest schedule" in bad.output
    ok = runner.invoke(app, ["project", "set", "bank", "--timezone", "Europe/Berlin",
                             "--retrain-every", "30", "--admins", "U1,U2"])  # fmt: skip
    assert ok.exit_code == 0 and "timezone = Europe/Berlin" in ok.output
    assert projects.get_project(trained, "bank").settings["admins"] == ["U1", "U2"]
    get_settings.cache_clear()
