"""The REST API as a script written against README and /openapi.json meets it, over real HTTP:
an export is a named UTF-8 download, a body that is not sent as JSON is told so, and the
schema's examples are answers the API gives."""

from __future__ import annotations

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
