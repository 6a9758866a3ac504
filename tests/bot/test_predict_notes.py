"""After a split, `labelbot predict`, `/label predict` and the predict API say that the model
still answers under the split label's old name until the next model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine import taxonomy
from tests.bot.conftest import PROJECT, Bot, train_bank
from tests.bot.test_api import AUTH
from tests.bot.test_cli_taxonomy import _bank, _ok

SPLIT_NOTE = "was split into atm_find, atm_fee since model v1, which still answers 'atm_support'"


@pytest.mark.usefixtures("cli_env")
def test_cli_predict_notes_a_split_the_model_predates(banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    _bank(runner, tmp_path, banking_slice[:40])
    _ok(runner, "train", "bank")
    texts = tmp_path / "texts.csv"
    texts.write_text("text\nWhere is the nearest cash machine?\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    before = _ok(runner, "predict", "bank", str(texts), "--out", str(out))
    assert "note:" not in before

    _ok(runner, "labels", "split", "bank", "atm_support", "--into", "atm_find,atm_fee")
    after = _ok(runner, "predict", "bank", str(texts), "--out", str(out))
    assert SPLIT_NOTE in " ".join(after.split())
    assert "labelbot train bank" in after
    _ok(runner, "train", "bank")
    retrained = " ".join(_ok(runner, "predict", "bank", str(texts), "--out", str(out)).split())
    assert SPLIT_NOTE not in retrained
    # the split's examples went back to the queue: v2 has none of the new labels
    assert "note: model v2 had no labeled examples of atm_find, atm_fee" in retrained
    assert "(label some (`labelbot label bank`), then `labelbot train bank`)" in retrained
    top = json.loads(out.read_text(encoding="utf-8"))["top"]
    assert len(top) == 3 and not {"atm_find", "atm_fee"} & {t["label"] for t in top}


def test_slack_predict_answer_carries_the_note(bot: Bot, bank: dict[str, str]) -> None:
    def answer() -> str:
        bot.slack.command("U0ALICE", "predict Where is the nearest cash machine?")
        bot.settle()
        (*_, call) = [c for c in bot.api.calls("response_url") if c.params["_to"] == "U0ALICE"]
        assert not bot.api.refused(call)  # valid blocks
        return json.dumps(call.params["blocks"])

    train_bank(bot, bank)
    assert "since model v1" not in answer()
    assert _api_notes(bot) == []
    taxonomy.split_label(
        bot.ws, project=PROJECT, label="atm_support", into=["atm_find", "atm_fee"], actor="U0ADMIN"
    )
    assert SPLIT_NOTE in answer()
    (note,) = _api_notes(bot)  # the REST API says it too, beside the predictions
    assert SPLIT_NOTE in note


def _api_notes(bot: Bot) -> list[str]:
    answer = bot.slack.http.post(
        f"/api/projects/{PROJECT}/predict",
        headers=AUTH,
        json={"texts": ["Where is the nearest cash machine?"]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"]
    notes: list[str] = answer.json()["notes"]
    return notes
