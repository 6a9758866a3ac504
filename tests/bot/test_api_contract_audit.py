"""The REST API as a script written against README and /openapi.json meets it, over real HTTP:
an export is a named UTF-8 download, a body that is not sent as JSON is told so, and the
schema's examples are answers the API gives."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine import labeling, projects
from storage.db import session_scope
from storage.repositories import models
from tests.bot.conftest import API_TOKEN, PROJECT, Bot, train_bank

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


def _schema(spec: dict[str, Any], method: str, path: str, status: str) -> dict[str, Any]:
    op = spec["paths"][path][method]["responses"][status]
    return {**op["content"]["application/json"]["schema"], "components": spec["components"]}


def _failed_and_stopped_runs(bot: Bot) -> None:
    """v2 failed (with its reason), v3 still marked training with no process: `last_failure`
    and `training` have something to say."""
    project = projects.get_project(bot.ws, PROJECT)
    assert project.id is not None
    with session_scope(bot.ws.db) as session:
        failed = models.start_model_run(
            session=session, project_id=project.id, n_labels=30, classes=[]
        )
        assert failed.id is not None
        models.finish_model_run(
            session=session,
            run_id=failed.id,
            status="failed",
            metrics={"error": "OSError: disk full", "failed_at": "2026-12-04T10:00:00+00:00"},
        )
        models.start_model_run(session=session, project_id=project.id, n_labels=30, classes=[])


def test_status_is_described_by_the_schema_and_is_the_clis_json(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """/openapi.json described status as any object; now it names every field, and the answer
    (before a model, and with a model, a second expert, a failed and a stopped run) is the
    JSON `labelbot status --json` prints, field for field."""
    http = bot.slack.http
    spec = http.get("/openapi.json", headers=AUTH).json()
    path = "/api/projects/{name}/status"
    schema = _schema(spec, "get", path, "200")
    described = spec["components"]["schemas"]["StatusOut"]
    assert described["additionalProperties"] is False
    assert {"labeled", "queue", "model", "training", "last_failure"} <= set(described["required"])
    model = spec["components"]["schemas"]["ModelStatus"]
    assert {"estimate", "per_class_f1", "file_problem", "pinned"} <= set(model["properties"])

    monkeypatch.setattr("bot.cli.data.workspace", lambda **_: bot.ws)

    def both() -> dict[str, Any]:
        answer = http.get(f"{API}/status", headers=AUTH)
        assert answer.status_code == 200
        printed = CliRunner().invoke(app, ["status", PROJECT, "--json"])
        assert printed.exit_code == 0, printed.output
        assert answer.json() == json.loads(printed.output)
        jsonschema.validate(answer.json(), schema, cls=jsonschema.Draft202012Validator)
        return dict(answer.json())

    assert both()["model"] is None
    train_bank(bot, bank)
    # a second expert: the examples the first's waiting for another opinion come to them too
    for i in range(10):
        task = labeling.next_task(bot.ws, project=PROJECT, annotator="U0TWO")
        assert task is not None
        labeling.submit_label(
            bot.ws, project=PROJECT, example_id=task.example_id, label=bank[task.text],
            annotator="U0TWO", source="cli", key=f"two:{i}",
        )  # fmt: skip
    _failed_and_stopped_runs(bot)
    info = both()
    assert info["model"]["version"] == 1 and info["model"]["estimate"]["headline"] is not None
    assert info["last_failure"] == {
        "version": 2,
        "at": "2026-12-04T10:00:00+00:00",
        "error": "OSError: disk full",
    }
    assert [(t["version"], t["state"]) for t in info["training"]] == [(3, "stopped")]
    assert info["agreement"]["experts"] == 2 and info["agreement"]["measure"] == "kappa"


def test_the_schemas_examples_are_what_the_api_takes_and_answers(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Every example /openapi.json gives is valid under its own schema, and predict's example
    request, sent as it is, is answered in the shape of its example answer."""
    http = bot.slack.http
    spec = http.get("/openapi.json", headers=AUTH).json()
    schemas = spec["components"]["schemas"]
    with_examples = {name for name, s in schemas.items() if s.get("examples")}
    assert {"PredictIn", "PredictOut", "ErrorOut", "ProjectOut"} <= with_examples
    for name in with_examples:
        for example in schemas[name]["examples"]:
            schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
            jsonschema.validate(example, schema, cls=jsonschema.Draft202012Validator)
    train_bank(bot, bank)
    (request,) = schemas["PredictIn"]["examples"]
    answer = http.post(f"{API}/predict", json=request, headers=AUTH)
    assert answer.status_code == 200, answer.text
    jsonschema.validate(
        answer.json(),
        _schema(spec, "post", "/api/projects/{name}/predict", "200"),
        cls=jsonschema.Draft202012Validator,
    )
    (example,) = schemas["PredictOut"]["examples"]
    got = answer.json()
    assert [p["label"] for p in got["predictions"]] == [p["label"] for p in example["predictions"]]
    assert [len(p["top"]) for p in got["predictions"]] == [request["top_k"]] * 2
    assert set(got) == set(example)
