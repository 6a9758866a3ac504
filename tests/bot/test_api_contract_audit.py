"""The REST API as a script written against README and /openapi.json meets it, over real HTTP:
an export is a named UTF-8 download, a body that is not sent as JSON is told so, and the
schema's examples are answers the API gives."""

from __future__ import annotations

import json

from tests.bot.conftest import API_TOKEN, PROJECT, Bot

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
API = f"/api/projects/{PROJECT}"


def test_an_export_is_a_utf8_download_named_after_the_project(
    bot: Bot, bank: dict[str, str]
) -> None:
    """`curl -OJ` saves bank.csv, not a file called "export"; JSON Lines says its charset too,
    so a client does not guess it (requests runs a charset detector without one)."""
    http = bot.slack.http
    for params, disposition, content_type in [
        ({}, 'attachment; filename="bank.jsonl"', "application/x-ndjson; charset=utf-8"),
        ({"format": "CSV"}, 'attachment; filename="bank.csv"', "text/csv; charset=utf-8"),
        (
            {"format": "csv", "spreadsheet_safe": "true"},
            'attachment; filename="bank.csv"',
            "text/csv; charset=utf-8",
        ),
    ]:
        answer = http.get(f"{API}/export", params=params, headers=AUTH)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-disposition"] == disposition
        assert answer.headers["content-type"] == content_type
    # an error is no download
    missing = http.get("/api/projects/nope/export", headers=AUTH)
    assert missing.status_code == 404 and "content-disposition" not in missing.headers
    # the schema says so
    spec = http.get("/openapi.json", headers=AUTH).json()
    ok = spec["paths"]["/api/projects/{name}/export"]["get"]["responses"]["200"]
    assert "Content-Disposition" in ok["headers"]


def test_a_predict_body_not_sent_as_json_is_told_so(bot: Bot, bank: dict[str, str]) -> None:
    """`curl -d '{"texts": [...]}'` sends a form: the answer said "Input should be a valid
    dictionary or object to extract fields from", of a body that was one."""
    http = bot.slack.http
    body = json.dumps({"texts": ["Where is my card?"]}).encode()
    for headers, came in [
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            "as application/x-www-form-urlencoded",
        ),
        ({"Content-Type": "text/plain; charset=utf-8"}, "as text/plain"),
        ({}, "without a Content-Type"),
    ]:
        answer = http.post(f"{API}/predict", content=body, headers={**AUTH, **headers})
        assert answer.status_code == 422, answer.text
        assert answer.json() == {
            "error": "Unprocessable Entity",
            "detail": [
                {
                    "type": "content_type",
                    "loc": ["body"],
                    "msg": "the body must be sent as JSON, with Content-Type: application/json; "
                    f"it came {came} (curl's -d sends a form: add -H 'Content-Type: "
                    "application/json', or use --json)",
                }
            ],
        }
    # sent as JSON (+json too), the same bytes reach the model: no model yet
    for kind in ("application/json", "application/vnd.api+json", "Application/JSON; charset=utf-8"):
        answer = http.post(f"{API}/predict", content=body, headers={**AUTH, "Content-Type": kind})
        assert answer.status_code == 409, (kind, answer.text)
    # and a JSON body of the wrong shape keeps pydantic's words, field by field
    wrong = http.post(f"{API}/predict", json={"texts": "card?"}, headers=AUTH)
    assert wrong.json()["detail"] == [
        {"type": "list_type", "loc": ["body", "texts"], "msg": "Input should be a valid list"}
    ]
