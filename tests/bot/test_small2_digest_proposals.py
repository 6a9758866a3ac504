"""A proposal decided between building the channel's digest and posting it is left out of the
digest's list of open proposals, and out of its "N open" count too: the count said 2 over a
list of one. Real database, real digest, the fake Slack Web API."""

from __future__ import annotations

from pathlib import Path

import pytest

import bot.digests
from bot.digests import post_digest
from engine import proposing
from engine.digest import Digest, build_digest
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import projects as project_repo
from tests.helpers import label_next, load_slice, save_found_twice


def _two_open_proposals(ws: Workspace) -> tuple[int, int]:
    with session_scope(ws.db) as session:
        found = project_repo.get_project(session=session, name="bank")
        ids = []
        for label, count in (("age_limit", 2), ("card_arrival", 1)):
            row, _ = save_found_twice(
                session=session, project_id=int(found.id or 0), kind="rare", labels=[label],
                key=f'["rare", "{label}"]', score=0.7, evidence={"count": count,
                "suggestion": "gather"}, evidence_strength=1.0,
                message=f"{label} has {count} examples (out-of-fold F1 0.10)",
            )  # fmt: skip
            ids.append(int(row.id or 0))
    return ids[0], ids[1]


def test_a_proposal_decided_while_the_digest_is_posted_is_out_of_its_count(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, slack_api, slack_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path, channel_id="C42")
    label_next(ws, truth, 3, annotators=("U1",), source="slack")
    kept, decided = _two_open_proposals(ws)

    def built_then_decided(ws_: Workspace, name: str) -> Digest:
        digest = build_digest(ws_, name)
        assert digest.open_proposals == 2 and set(digest.top_proposal_ids) == {kept, decided}
        # an admin rejects one in Slack just now, before the digest is posted
        proposing.reject(ws_, name, decided, actor="U9", actor_is_admin=True)
        return digest

    monkeypatch.setattr(bot.digests, "build_digest", built_then_decided)
    assert post_digest(slack_client, ws, "bank").ts
    (message,) = slack_api.calls("chat.postMessage")
    text = str(message.params["blocks"])
    assert f"`#{kept}`" in text and f"`#{decided}`" not in text
    assert "*1 taxonomy proposal open*" in text, text
    assert "2 taxonomy proposals" not in text

    # both decided: no proposals section at all (it said "1 taxonomy proposal open" over none)
    monkeypatch.setattr(bot.digests, "build_digest", _deciding(kept))
    post_digest(slack_client, ws, "bank")
    last = slack_api.calls("chat.postMessage")[-1]
    assert "taxonomy proposal" not in str(last.params["blocks"])


def _deciding(last_open: int):  # type: ignore[no-untyped-def]
    """build_digest, then the one proposal it lists as open, ``last_open``, is rejected."""

    def built(ws_: Workspace, name: str) -> Digest:
        digest = build_digest(ws_, name)
        assert digest.top_proposal_ids == [last_open] and digest.open_proposals == 1
        proposing.reject(ws_, name, last_open, actor="U9", actor_is_admin=True)
        return digest

    return built
