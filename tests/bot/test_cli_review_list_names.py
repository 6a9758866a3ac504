"""`labelbot review NAME --list` names a review's labels as the live Slack card does, as they
count today (a rename's new name, a merge's target), with the name it had when the review was
opened beside it when that differs: "fx_rate (was: exchange_rate)". It showed the merged label's
old name. `--json` keeps its fields and adds each label as it counts today (`given_now`,
`suggested_now`, `outcome_now`: null once split or retired). A real scan, rename, merge, retire
and split, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from engine import reviews
from tests.bot.test_cli_model_figures import cli_db  # noqa: F401  (the fixture)
from tests.bot.test_cli_reviews import _import
from tests.conftest import BANKING_SLICE_LABELS

JSON_KEYS = {"id", "example_id", "text", "given", "given_by", "suggested", "confidence",
             "status", "reviewer", "outcome"}  # fmt: skip
NOW_KEYS = ("given_now", "suggested_now", "outcome_now")
ADDED_KEYS = {"external_id"}  # the example's imported id, added after the *_now names


def _ok(*args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return " ".join(str(result.output).split())


def _row(listed: str, review_id: int) -> str:
    """Review ``review_id``'s row of the `--list` table (whitespace collapsed)."""
    found = re.search(rf"│ {review_id} │(.*?)│ (?=\d+ │|└)", listed)
    assert found is not None, listed
    return found.group(1)


def _listed(review_id: int) -> dict[str, object]:
    """Review ``review_id`` as `review --list --status all --json` prints it."""
    listed = json.loads(_ok("review", "bank", "--list", "--status", "all", "--json"))
    (shown,) = [r for r in listed if r["id"] == review_id]
    # the JSON's fields as they were, and more
    assert set(shown) == JSON_KEYS | set(NOW_KEYS) | ADDED_KEYS
    return dict(shown)


def _labels(shown: dict[str, object]) -> tuple[object, ...]:
    """(given, suggested, outcome) as stored, then as each counts now."""
    return (shown["given"], shown["suggested"], shown["outcome"], *(shown[k] for k in NOW_KEYS))


def test_the_review_list_names_labels_as_they_count_now(
    cli_db: None,  # noqa: F811
    banking_slice: list[tuple[str, str]],
    tmp_path: Path,
) -> None:
    from bot.cli.common import workspace

    _ok("project", "create", "bank", "--labels", ",".join(BANKING_SLICE_LABELS))
    rows = list(banking_slice)
    flipped = rows[0][0]
    assert rows[0][1] == "card_arrival"
    rows[0] = (flipped, "exchange_rate")  # a card_arrival question, mislabeled by ana
    _import(tmp_path / "ana.csv", rows[:75], "ana")
    _import(tmp_path / "ben.csv", rows[75:], "ben")
    _ok("train", "bank")
    listed = json.loads(
        CliRunner().invoke(app, ["review", "bank", "--scan", "--list", "--json"]).output
    )
    (review,) = [r for r in listed if r["text"] == flipped]
    assert (review["given"], review["suggested"]) == ("exchange_rate", "card_arrival")
    rid = int(review["id"])
    assert (review["given_now"], review["suggested_now"], review["outcome_now"]) == (
        "exchange_rate", "card_arrival", None,
    )  # fmt: skip
    row = _row(_ok("review", "bank", "--list"), rid)
    assert "exchange_rate (ana)" in row and "card_arrival (" in row and "was:" not in row, row

    # a rename: the label is the same, under its new name
    _ok("labels", "rename", "bank", "exchange_rate", "fx_rate")
    row = _row(_ok("review", "bank", "--list"), rid)
    assert "fx_rate (was: exchange_rate) (ana)" in row, row
    assert "card_arrival (" in row and "card_arrival (was:" not in row, row

    # a merge: the suggestion counts as the label it went into, as on the Slack card
    _ok("labels", "merge", "bank", "card_arrival", "change_pin", "--into", "card_issue")
    row = _row(_ok("review", "bank", "--list"), rid)
    assert "fx_rate (was: exchange_rate) (ana)" in row, row
    assert re.search(r"card_issue \(was: card_arrival\) \(\d+%\)", row), row
    ws = workspace()
    try:  # the card ben is sent names them so too
        task = reviews.next_review(ws, project="bank", annotator="ben")
        assert task is not None and task.review_id == rid
        assert (task.given, task.suggestion and task.suggestion[0]) == ("fx_rate", "card_issue")
    finally:
        ws.close()
    # the stored names as they were (the merged-away label's own), and as each counts now
    assert _labels(_listed(rid)) == (
        "fx_rate", "card_arrival", None, "fx_rate", "card_issue", None,
    )  # fmt: skip

    # ben changes it to the suggestion; the outcome follows a later rename too
    assert "changed: card_issue" in _ok("review", "bank", "--annotator", "ben", input="c\n")
    _ok("labels", "rename", "bank", "card_issue", "card_trouble")
    row = _row(_ok("review", "bank", "--list", "--status", "all"), rid)
    assert "changed: card_trouble (was: card_issue)" in row, row
    assert re.search(r"card_trouble \(was: card_arrival\) \(\d+%\)", row), row
    assert "fx_rate (was: exchange_rate) (ana)" in row and "ben" in row, row
    assert _labels(_listed(rid)) == (
        "fx_rate", "card_arrival", "card_trouble", "fx_rate", "card_trouble", "card_trouble",
    )  # fmt: skip

    # retired and split since: nothing counts as them now
    _ok("labels", "retire", "bank", "fx_rate")
    _ok("labels", "split", "bank", "card_trouble", "--into", "card_late,card_lost")
    assert _labels(_listed(rid)) == (
        "fx_rate", "card_arrival", "card_trouble", None, None, None,
    )  # fmt: skip
