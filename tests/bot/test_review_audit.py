"""`labelbot review` and the review DM as an expert meets them: why there is nothing to review
(no scan yet, not one's own, all answered) and what a verdict did to the example's label (it
stands, it is the label now, or it is one vote that did not carry)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import ids
from bot.cli import app
from engine import projects, reviews
from tests.bot.conftest import LABELS as SLACK_LABELS
from tests.bot.conftest import PROJECT, Bot
from tests.bot.test_cli_reviews import LABELS, _import, _second_label
from tests.bot.test_reviews_slack import ANA, BOB, _doubt, _label, _reviews


def _ok(runner: CliRunner, *args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich wraps long lines: compare words


@pytest.mark.usefixtures("cli_env")
def test_review_says_why_there_is_nothing_to_review(banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", ",".join(LABELS))
    rows = list(banking_slice)
    flipped = rows[0][0]
    rows[0] = (flipped, "exchange_rate")  # a card_arrival question, mislabeled by ana
    _import(tmp_path / "ana.csv", rows, "ana")

    # no model, no scan: not "thank you", as if every label had been checked
    out = _ok(runner, "review", "bank", "--annotator", "ben")
    assert "nothing to review: no model yet, and the labels were never scanned" in out
    assert "`labelbot review bank --scan` scans them now" in out
    _ok(runner, "train", "bank")
    out = _ok(runner, "review", "bank", "--annotator", "ben")
    assert "nothing to review: the labels were not scanned since model v1" in out
    assert "the worker scans them after each retrain" in out

    # scanned: ana is not offered her own label
    out = _ok(runner, "review", "bank", "--annotator", "ana", "--scan", input="q\n")
    assert "1 likely mislabel," in out
    assert "nothing to review: 1 open review, none of them ana's to answer" in out

    # ben changes it (ana's label alone: his vote carries), then nothing is left
    out = _ok(runner, "review", "bank", "--annotator", "ben", input="c\nq\n")
    assert "changed: card_arrival is the example's label now" in out
    out = _ok(runner, "review", "bank", "--annotator", "cy")
    assert "nothing to review: every review is answered or withdrawn (1 changed)" in out


@pytest.mark.usefixtures("cli_env")
def test_a_change_that_does_not_carry_the_vote_says_so(banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", ",".join(LABELS))
    rows = list(banking_slice)
    flipped = rows[0][0]
    rows[0] = (flipped, "exchange_rate")
    _import(tmp_path / "ana.csv", rows, "ana")
    _second_label(flipped, "exchange_rate", "dan")  # two experts gave the doubted label
    _ok(runner, "train", "bank")
    [review] = [r for r in _scanned_reviews(runner) if r.text == flipped]
    out = _ok(runner, "review", "bank", "--annotator", "ben", input="c\n" * 5)
    assert "changed: card_arrival is your vote, but exchange_rate keeps the majority" in out
    assert "`labelbot disagreements bank` lists it" in out
    assert "(agreed:" not in out
    assert (review.given, review.given_by) == ("exchange_rate", "dan")


def _scanned_reviews(runner: CliRunner) -> list[reviews.ReviewRow]:
    _ok(runner, "review", "bank", "--list", "--scan")
    from bot.cli.common import workspace

    ws = workspace()
    try:
        return reviews.list_reviews(ws, project="bank")
    finally:
        ws.close()


def test_the_dm_says_when_a_change_did_not_carry_the_vote() -> None:
    from bot.views.review import reviewed_message

    done = reviewed_message(
        example_id=7, text="t", status="changed", label="refunds", user_id=BOB, agreed="billing"
    )
    assert done["text"] == f"Changed to refunds by <@{BOB}>"
    assert "your vote is added, but *billing* keeps the majority" in str(done["blocks"])


def test_help_says_what_a_verdict_does() -> None:
    result = CliRunner().invoke(app, ["review", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "a keep adds no vote" in text
    assert "stored as your vote beside the original label" in text
    assert "labelbot disagreements" in text


def test_the_answered_dm_says_what_the_verdict_did(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, review_share=1.0, multi_label_share=0.0)
    for _ in range(2):
        _doubt(bot, _label(bot, ANA, SLACK_LABELS[0]), SLACK_LABELS[1])

    bot.slack.command(BOB, "")
    bot.settle()
    (message,) = _reviews(bot, BOB)
    bot.slack.click(BOB, message, ids.REVIEW_CHANGE)
    bot.settle()
    updated = next(m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"])
    assert updated["text"] == f"Changed to {SLACK_LABELS[1]} by <@{BOB}>"
    # ana's label alone: bob's vote carries (a tie goes to the latest vote)
    assert f"*{SLACK_LABELS[1]}* is the example's label now" in str(updated["blocks"])

    # the next one (review_share 1.0): a keep leaves the label as it is
    (message,) = _reviews(bot, BOB)
    bot.slack.click(BOB, message, ids.REVIEW_KEEP)
    bot.settle()
    updated = next(m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"])
    assert "the label stands (a keep adds no vote)" in str(updated["blocks"])


@pytest.mark.usefixtures("cli_env")
def test_a_scan_on_demand_counts_as_the_scan_of_the_active_model(
    banking_slice, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """`review --scan` that opened no review was forgotten: the next `labelbot review` said
    "not scanned since model v1 … --scan scans them now" again, and the worker scanned anew."""
    from bot.cli.common import workspace
    from engine import jobs

    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", ",".join(LABELS))
    _import(tmp_path / "ana.csv", list(banking_slice), "ana")
    _ok(runner, "train", "bank")
    out = _ok(runner, "review", "bank", "--annotator", "ben", "--scan")
    assert "0 new to review" in out
    out = _ok(runner, "review", "bank", "--annotator", "ben")
    assert "not scanned since" not in out
    assert "nothing to review: the scan of model v1 doubted none of the labels" in out
    ws = workspace()
    try:
        assert jobs.review_cycle(ws) == []  # v1's labels were scanned: not again
    finally:
        ws.close()
