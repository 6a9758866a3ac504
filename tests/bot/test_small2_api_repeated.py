"""POST /api/projects/NAME/predict refuses a JSON object that names a field twice, as import
refuses such an object: json keeps the last value, so {"texts": ["a"], "texts": ["b"]} was
answered for "b" alone, without a word. A 422 in the API's shape for a malformed body, naming
the field. Real Bolt app, real FastAPI over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.bot.conftest import API_TOKEN, PROJECT, Bot, train_bank

AUTH = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
PREDICT = f"/api/projects/{PROJECT}/predict"
AGE = "How old do I need to be to open an account?"


def _post(bot: Bot, raw: str) -> httpx.Response:
    return bot.slack.http.post(PREDICT, content=raw.encode(), headers=AUTH)


def test_a_field_named_twice_is_refused(bot: Bot, bank: dict[str, str]) -> None:
    # before any model too: the body is refused before the model is looked for (409)
    first = _post(bot, '{"texts": ["a"], "texts": ["b"]}')
    assert first.status_code == 422, first.text
    train_bank(bot, bank)
    for raw, twice in (
        (f'{{"texts": ["{AGE}"], "texts": ["card?"]}}', "texts"),
        (f'{{"top_k": 1, "texts": ["{AGE}"], "top_k": 2}}', "top_k"),
        (f'{{"texts": ["{AGE}"], "t\\u0065xts": ["card?"]}}', "texts"),  # escaped alike
    ):
        refused = _post(bot, raw)
        assert refused.status_code == 422, refused.text
        assert refused.json() == {
            "error": "Unprocessable Entity",
            "detail": [
                {
                    "type": "duplicate_field",
                    "loc": ["body", twice],
                    "msg": f"the field {twice!r} appears twice in one object; keep one",
                }
            ],
        }
    # once each: answered as ever
    answered = _post(bot, f'{{"texts": ["{AGE}"], "top_k": 2}}')
    assert answered.status_code == 200, answered.text
    assert [p["text"] for p in answered.json()["predictions"]] == [AGE]
