"""The digest's message text (what Slack shows in a notification and where blocks cannot be
drawn) before the first model, posted through the local Slack-compatible server on SQLite and
PostgreSQL: it read "bank digest: 3 new labels, accuracy no model yet"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.digests import post_digest
from tests.helpers import label_next, load_slice


def test_the_text_before_the_first_model_says_no_model_yet(
    ws: Any, banking_slice: Any, tmp_path: Path, slack_api: Any, slack_client: Any
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path, channel_id="C42")
    label_next(ws, truth, 3, annotators=("U1",), source="slack")
    post_digest(slack_client, ws, "bank")
    (message,) = slack_api.calls("chat.postMessage")
    assert message.params["text"] == "bank digest: 3 new labels, no model yet"
