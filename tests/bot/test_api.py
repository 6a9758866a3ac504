"""The REST API and the model in chat (`/label predict`, the message shortcut)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bot import ids
from engine import projects
from tests.bot.conftest import API_TOKEN, PROJECT, Bot, train_bank
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
AGE = "How old do I need to be to open an account?"


@pytest.fixture
def trained(bot: Bot, bank: dict[str, str]) -> Bot:
    train_bank(bot, bank)
    return bot


def test_rest_api_needs_the_bearer_token(bot: Bot, bank: dict[str, str]) -> None:
    http = bot.slack.http
    assert http.get("/healthz").json() == {
        "ok": True,
        "outbox": 0,
        "dead": 0,
        "slack": "unverified",
    }
    head = http.head("/healthz")  # an uptime checker's probe: no token, no body
    assert head.status_code == 200 and head.content == b""
    assert http.get("/api/projects").status_code == 401
    wrong = http.get("/api/projects", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert http.get("/api/projects", headers=AUTH).json() == [
        {"name": PROJECT, "description": "", "channel": "C0PROJECT"}
    ]
    # the scheme in any case, and any spaces after it (RFC 9110, 11.4: 1*SP)
    for spelled in (f"bearer {API_TOKEN}", f"Bearer   {API_TOKEN}"):
        assert http.get("/api/projects", headers={"Authorization": spelled}).status_code == 200
    for wrong_token in (f"Bearer {API_TOKEN}x", f"Basic {API_TOKEN}", f"Bearer{API_TOKEN}"):
        refused = http.get("/api/projects", headers={"Authorization": wrong_token})
        assert refused.status_code == 401, wrong_token
    status = http.get(f"/api/projects/{PROJECT}/status", headers=AUTH).json()
    assert status["examples"] == 150 and status["model"] is None
    missing = http.get("/api/projects/nope/status", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"] == "NotFoundError"
    no_model = http.post(f"/api/projects/{PROJECT}/predict", json={"texts": [AGE]}, headers=AUTH)
    assert no_model.status_code == 409 and "no trained model" in no_model.json()["detail"]
    assert (
        http.post(f"/api/projects/{PROJECT}/predict", json={"texts": []}, headers=AUTH).status_code
        == 422
    )  # noqa: E501
    export = http.get(f"/api/projects/{PROJECT}/export", headers=AUTH)
    assert export.headers["content-type"].startswith("application/x-ndjson")
    assert len(export.text.splitlines()) == 150
    csv_export = http.get(f"/api/projects/{PROJECT}/export?format=csv", headers=AUTH)
    assert csv_export.text.startswith("id,text,label")


def test_rest_export_spreadsheet_safe(bot: Bot, bank: dict[str, str], tmp_path: Path) -> None:
    """?spreadsheet_safe=true defuses a text a spreadsheet would run; 422 for JSONL."""
    (tmp_path / "more.csv").write_text('text\n"=HYPERLINK(""http://x.example"")"\n')
    projects.import_file(bot.ws, project=PROJECT, path=tmp_path / "more.csv", embed=False)
    http, url = bot.slack.http, f"/api/projects/{PROJECT}/export"
    safe = http.get(url, params={"format": "csv", "spreadsheet_safe": "true"}, headers=AUTH)
    plain = http.get(url, params={"format": "csv"}, headers=AUTH)
    assert safe.text.startswith("\ufeff") and not plain.text.startswith("\ufeff")  # for Excel
    texts = {r["id"]: r["text"] for r in csv.DictReader(io.StringIO(safe.text[1:]))}
    raw = {r["id"]: r["text"] for r in csv.DictReader(io.StringIO(plain.text))}
    assert len(texts) == 151 and texts.keys() == raw.keys()
    changed = {i: (raw[i], texts[i]) for i in raw if raw[i] != texts[i]}
    assert list(changed.values()) == [
        ('=HYPERLINK("http://x.example")', '\'=HYPERLINK("http://x.example")')
    ]
    jsonl = http.get(url, params={"spreadsheet_safe": "true"}, headers=AUTH)
    assert jsonl.status_code == 422 and "CSV output only" in jsonl.text


@pytest.mark.slow
def test_the_model_answers_over_rest_slash_command_and_shortcut(trained: Bot) -> None:
    bot = trained
    answer = bot.slack.http.post(
        f"/api/projects/{PROJECT}/predict",
        json={"texts": [AGE, "my card has not arrived"]},
        headers=AUTH,
    ).json()
    assert [p["label"] for p in answer["predictions"]] == ["age_limit", "card_arrival"]
    top = answer["predictions"][0]["top"]
    assert len(top) == 3 and abs(sum(t["probability"] for t in top) - 1) < 0.5

    assert bot.slack.command("U0ALICE", f"predict {AGE}").status_code == 200
    bot.settle()
    (said,) = bot.slack.ephemerals("U0ALICE")
    assert "*age_limit*" in said or "age_limit" in said

    shortcut = payloads.message_shortcut("U0BOB", ids.CLASSIFY_SHORTCUT, "C0OTHER", "1.1", AGE)
    shortcut["response_url"] = bot.api.response_url("U0BOB")
    assert bot.slack.post(signed_interactivity(bot.slack.secret, shortcut)).status_code == 200
    bot.settle()
    (call,) = [c for c in bot.api.calls("response_url") if c.params["_to"] == "U0BOB"]
    assert call.params["response_type"] == "ephemeral"
    assert "age_limit" in json.dumps(call.params["blocks"])


def test_label_command_helps_when_there_is_nothing_to_do(bot: Bot) -> None:
    bot.slack.command("U0ALICE")
    bot.settle()
    assert "no projects yet" in bot.slack.ephemerals("U0ALICE")[-1]
    bot.slack.command("U0ALICE", "help")
    bot.settle()
    assert "/label predict" in bot.slack.ephemerals("U0ALICE")[-1]


@pytest.mark.slow
def test_predictions_of_new_text_leave_the_embedding_cache_alone(trained: Bot) -> None:
    """Texts sent to predict are not the project's: keeping their vectors would let callers grow
    the disk cache (and every process's index of it) without bound."""
    bot = trained

    def shards() -> list[Path]:
        return sorted(bot.ws.settings.data_dir.glob("embeddings/*/shard-*.npz"))

    before, known = shards(), len(bot.ws.cache)
    texts = [f"my card number {i} never arrived, where is it?" for i in range(5)]
    for _ in range(2):
        answer = bot.slack.http.post(
            f"/api/projects/{PROJECT}/predict", json={"texts": texts}, headers=AUTH
        )
        assert answer.status_code == 200
    assert shards() == before and len(bot.ws.cache) == known


def test_a_damaged_model_file_answers_the_documented_error_name(trained: Bot) -> None:
    """DamagedModelFile is a NotFoundError: clients branch on the README's names (404)."""
    from engine import training

    found = training.active_model(trained.ws, PROJECT)
    assert found is not None and found[0].artifact_path
    Path(found[0].artifact_path).write_bytes(b"")
    trained.ws.memo.clear()  # as in a replica that never loaded it
    answer = trained.slack.http.post(
        f"/api/projects/{PROJECT}/predict", json={"texts": [AGE]}, headers=AUTH
    )
    assert answer.status_code == 404 and answer.json()["error"] == "NotFoundError"
    assert "is empty or damaged" in answer.json()["detail"]
