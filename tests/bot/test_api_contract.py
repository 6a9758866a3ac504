"""The REST API against its own description: /openapi.json declares the bearer token, every
error each route answers (in the one error shape), the export's media types and predict's
limits, and a walk over the routes provokes each declared answer over real HTTP and checks the
status and body against what the schema says."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import pytest

from bot import api as http_api
from engine import training
from storage.db import make_engine
from tests.bot.conftest import API_TOKEN, PROJECT, Bot, train_bank

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
API = f"/api/projects/{PROJECT}"
AGE = "How old do I need to be to open an account?"


def openapi(bot: Bot) -> dict[str, Any]:
    answer = bot.slack.http.get("/openapi.json", headers=AUTH)
    assert answer.status_code == 200
    spec: dict[str, Any] = answer.json()
    return spec


def test_the_schema_declares_the_token_the_errors_the_media_types_and_the_limits(
    bot: Bot,
) -> None:
    spec = openapi(bot)
    schemes = spec["components"]["securitySchemes"]
    ((scheme_name, scheme),) = schemes.items()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    operations = {
        (method, path): op for path, item in spec["paths"].items() for method, op in item.items()
    }
    assert set(operations) == {
        ("get", "/healthz"),
        ("get", "/metrics"),
        ("get", "/api/projects"),
        ("get", "/api/projects/{name}/status"),
        ("post", "/api/projects/{name}/predict"),
        ("get", "/api/projects/{name}/export"),
    }
    for (_, path), op in operations.items():
        if path == "/healthz":  # public: a load balancer's probe
            assert "security" not in op
            continue
        assert op["security"] == [{scheme_name: []}], path
        for status in ("401", "default"):
            assert op["responses"][status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorOut"
            }
    # the shape the handlers answer, not FastAPI's {"detail": [{"loc", "msg", "type", ...}]}
    assert "HTTPValidationError" not in str(spec)
    shape = spec["components"]["schemas"]["ErrorOut"]
    assert shape["required"] == ["error", "detail"] and shape["additionalProperties"] is False
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {"type", "loc", "msg"}  # never the input

    predict = operations[("post", "/api/projects/{name}/predict")]
    assert {"401", "404", "409", "413", "422", "503"} <= set(predict["responses"])
    texts = spec["components"]["schemas"]["PredictIn"]["properties"]["texts"]
    assert (texts["minItems"], texts["maxItems"]) == (1, http_api.MAX_TEXTS)
    assert f"{http_api.MAX_PREDICT_CHARS:,} characters in all" in texts["description"]
    assert texts["items"]["minLength"] == 1 and texts["items"]["maxLength"] == 50_000
    assert texts["items"]["pattern"] == r"\S"
    assert f"{http_api.MAX_PREDICT_CHARS:,}" in predict["responses"]["413"]["description"]

    export = operations[("get", "/api/projects/{name}/export")]
    assert set(export["responses"]["200"]["content"]) == {"text/csv", "application/x-ndjson"}
    (fmt,) = [p for p in export["parameters"] if p["name"] == "format"]
    assert all(jsonschema.Draft202012Validator(fmt["schema"]).is_valid(f) for f in ("CSV", "csv"))
    assert not jsonschema.Draft202012Validator(fmt["schema"]).is_valid("xml")


def test_predict_without_a_model_is_a_conflict_not_a_missing_project(
    bot: Bot, bank: dict[str, str]
) -> None:
    """A client tells "wait for training" from "wrong project name" by the status."""
    http = bot.slack.http
    no_model = http.post(f"{API}/predict", json={"texts": [AGE]}, headers=AUTH)
    assert no_model.status_code == 409, no_model.text
    assert no_model.json()["error"] == "ConflictError"
    assert "has no trained model yet" in no_model.json()["detail"]
    assert f"labelbot train {PROJECT}" in no_model.json()["detail"]
    unknown = http.post("/api/projects/nope/predict", json={"texts": [AGE]}, headers=AUTH)
    assert unknown.status_code == 404 and unknown.json()["error"] == "NotFoundError"
    assert "no project named 'nope'" in unknown.json()["detail"]


def test_export_takes_its_format_in_any_case(bot: Bot, bank: dict[str, str]) -> None:
    """As `labelbot export --format CSV`."""
    http = bot.slack.http
    for fmt, media_type, head in [
        ("CSV", "text/csv", "id,text,label"),
        ("Csv", "text/csv", "id,text,label"),
        ("JSONL", "application/x-ndjson", '{"id"'),
    ]:
        answer = http.get(f"{API}/export", params={"format": fmt}, headers=AUTH)
        assert answer.status_code == 200, (fmt, answer.text)
        assert answer.headers["content-type"].split(";")[0] == media_type
        assert answer.text.startswith(head)
    safe = {"format": "CSV", "spreadsheet_safe": "true"}
    assert http.get(f"{API}/export", params=safe, headers=AUTH).status_code == 200
    unknown = http.get(f"{API}/export", params={"format": "xml"}, headers=AUTH)
    assert unknown.status_code == 422
    assert unknown.json() == {
        "error": "InvalidInputError",
        "detail": "unknown export format 'xml': use jsonl or csv",
    }


def test_predict_caps_the_characters_of_a_request(bot: Bot, bank: dict[str, str]) -> None:
    """All the texts together: the tokenizer splits every character of a text before the
    encoder reads its first 256 tokens. Refused before any text is embedded."""
    http, cap = bot.slack.http, http_api.MAX_PREDICT_CHARS
    at_cap = [f"{i:05d}" + "x" * 49_995 for i in range(cap // 50_000)]
    assert sum(map(len, at_cap)) == cap
    # at the cap, past it: the project has no model yet
    assert http.post(f"{API}/predict", json={"texts": at_cap}, headers=AUTH).status_code == 409
    started = time.monotonic()
    over = http.post(f"{API}/predict", json={"texts": [*at_cap, "y"]}, headers=AUTH)
    assert over.status_code == 413
    assert over.json() == {
        "error": "Request Entity Too Large",
        "detail": f"the texts have {cap + 1:,} characters in all, over the {cap:,} a request "
        "may have: send them in smaller batches",
    }
    assert time.monotonic() - started < 10
    # the old maximum, 1,000 texts at the 50,000-character limit (44 MB): refused, not embedded
    huge = bot.slack.http.post(
        f"{API}/predict", json={"texts": ["z" * 50_000] * http_api.MAX_TEXTS}, headers=AUTH
    )
    assert huge.status_code == 413 and len(huge.content) < 1000


# --- the walk: every answer /openapi.json declares, provoked -------------------------------------

Provoke = Callable[[httpx.Client], httpx.Response]
NOPE = "/api/projects/nope"


def _database_down(bot: Bot) -> Provoke:
    def provoke(http: httpx.Client) -> httpx.Response:
        with socket.socket() as closed:  # a port nobody listens on: connection refused
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bot.ws, "db", make_engine(f"postgresql+psycopg://x@127.0.0.1:{port}/x"))
            return http.get("/healthz")

    return provoke


def _announced_over_the_cap(bot: Bot) -> Provoke:
    """A body announced over MAX_API_BODY and never sent: answered before it is read (over a
    bare socket: httpx sends no Content-Length that its body does not have)."""

    def provoke(http: httpx.Client) -> httpx.Response:
        url = httpx.URL(bot.url)
        head = (
            f"POST {API}/predict HTTP/1.1\r\nHost: {url.host}\r\nConnection: close\r\n"
            f"Authorization: Bearer {API_TOKEN}\r\n"
            f"Content-Length: {http_api.MAX_API_BODY + 1}\r\n\r\n"
        )
        with socket.create_connection((url.host, url.port), timeout=10) as sock:
            sock.sendall(head.encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        status_line, _, rest = answer.partition(b"\r\n")
        raw_headers, _, body = rest.partition(b"\r\n\r\n")
        headers = [line.partition(b": ")[::2] for line in raw_headers.split(b"\r\n")]
        return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)

    return provoke


def _model_of_another_encoder(bot: Bot) -> Provoke:
    """The active model's file says it was trained on another encoder's embeddings."""

    def provoke(http: httpx.Client) -> httpx.Response:
        loaded = training.active_model(bot.ws, PROJECT)
        assert loaded is not None
        run, model = loaded
        assert run.artifact_path is not None
        path = bot.ws.settings.artifact_file(run.artifact_path)
        dataclasses.replace(model, encoder="someone/another-encoder").save(path)
        bot.ws.memo.pop(("model", run.id), None)  # read the file again
        try:
            return http.post(f"{API}/predict", json={"texts": [AGE]}, headers=AUTH)
        finally:
            model.save(path)
            bot.ws.memo.pop(("model", run.id), None)

    return provoke


def _exports_busy() -> Provoke:
    """No export slot free (the process allows none here) within the wait for one."""

    def provoke(http: httpx.Client) -> httpx.Response:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(http_api, "EXPORT_SLOTS", 0)
            patch.setattr(http_api, "EXPORT_WAIT_S", 0.05)
            answer = http.get(f"{API}/export", headers=AUTH)
        assert answer.headers["retry-after"] == "30"
        return answer

    return provoke


def provocations(bot: Bot) -> tuple[dict[tuple[str, str, str], list[Provoke]], set[str]]:
    """(method, path, status) → requests that must get that answer; the second part: the
    statuses that need a trained model (the rest are provoked before there is one)."""
    status, predict, export = (
        "/api/projects/{name}/status",
        "/api/projects/{name}/predict",
        "/api/projects/{name}/export",
    )
    over_cap = ["x" * 50_000] * (http_api.MAX_PREDICT_CHARS // 50_000 + 1)
    cases: dict[tuple[str, str, str], list[Provoke]] = {
        ("get", "/healthz", "200"): [lambda h: h.get("/healthz")],
        ("get", "/healthz", "503"): [_database_down(bot)],
        ("get", "/metrics", "200"): [lambda h: h.get("/metrics", headers=AUTH)],
        ("get", "/metrics", "401"): [lambda h: h.get("/metrics")],
        ("get", "/metrics", "default"): [lambda h: h.post("/metrics", headers=AUTH)],
        ("get", "/api/projects", "200"): [lambda h: h.get("/api/projects", headers=AUTH)],
        ("get", "/api/projects", "401"): [
            lambda h: h.get("/api/projects"),
            lambda h: h.get("/api/projects", headers={"Authorization": "Bearer nope"}),
        ],
        ("get", "/api/projects", "default"): [lambda h: h.delete("/api/projects", headers=AUTH)],
        ("get", status, "200"): [lambda h: h.get(f"{API}/status", headers=AUTH)],
        ("get", status, "401"): [lambda h: h.get(f"{API}/status")],
        ("get", status, "404"): [lambda h: h.get(f"{NOPE}/status", headers=AUTH)],
        ("get", status, "default"): [lambda h: h.put(f"{API}/status", headers=AUTH)],
        ("post", predict, "200"): [
            lambda h: h.post(f"{API}/predict", json={"texts": [AGE, "card?"]}, headers=AUTH)
        ],
        ("post", predict, "401"): [lambda h: h.post(f"{API}/predict", json={"texts": [AGE]})],
        ("post", predict, "404"): [
            lambda h: h.post(f"{NOPE}/predict", json={"texts": [AGE]}, headers=AUTH)
        ],
        ("post", predict, "409"): [
            lambda h: h.post(f"{API}/predict", json={"texts": [AGE]}, headers=AUTH)
        ],
        ("post", predict, "413"): [
            lambda h: h.post(f"{API}/predict", json={"texts": over_cap}, headers=AUTH),
            _announced_over_the_cap(bot),
        ],
        ("post", predict, "422"): [
            lambda h: h.post(f"{API}/predict", json={"texts": []}, headers=AUTH),
            lambda h: h.post(f"{API}/predict", json={"texts": ["  "]}, headers=AUTH),
            lambda h: h.post(f"{API}/predict", content=b"{not json", headers=AUTH),
        ],
        ("post", predict, "503"): [_model_of_another_encoder(bot)],
        ("post", predict, "default"): [lambda h: h.get(f"{API}/predict", headers=AUTH)],
        ("get", export, "200"): [
            lambda h: h.get(f"{API}/export", headers=AUTH),
            lambda h: h.get(f"{API}/export", params={"format": "CSV"}, headers=AUTH),
        ],
        ("get", export, "401"): [lambda h: h.get(f"{API}/export")],
        ("get", export, "404"): [lambda h: h.get(f"{NOPE}/export", headers=AUTH)],
        ("get", export, "422"): [
            lambda h: h.get(f"{API}/export", params={"format": "xml"}, headers=AUTH),
            lambda h: h.get(f"{API}/export", params={"spreadsheet_safe": "true"}, headers=AUTH),
            lambda h: h.get(f"{API}/export", params={"spreadsheet_safe": "maybe"}, headers=AUTH),
        ],
        ("get", export, "503"): [_exports_busy()],
        ("get", export, "default"): [lambda h: h.post(f"{API}/export", headers=AUTH)],
    }
    return cases, {f"{predict} 200", f"{predict} 503"}


def _check(spec: dict[str, Any], key: tuple[str, str, str], answer: httpx.Response) -> None:
    method, path, status = key
    declared = spec["paths"][path][method]["responses"]
    if status == "default":
        assert answer.status_code >= 400 and str(answer.status_code) not in declared, key
    else:
        assert str(answer.status_code) == status, (key, answer.status_code, answer.text[:300])
    media_type = answer.headers["content-type"].split(";")[0]
    content = declared[status]["content"]
    assert media_type in content, (key, media_type)
    if media_type != "application/json":
        return
    schema = {**content[media_type]["schema"], "components": spec["components"]}
    jsonschema.validate(answer.json(), schema, cls=jsonschema.Draft202012Validator)


def test_every_answer_the_schema_declares_is_the_answer_the_api_gives(
    bot: Bot, bank: dict[str, str]
) -> None:
    spec = openapi(bot)
    declared = {
        (method, path, status)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        for status in op["responses"]
    }
    cases, need_a_model = provocations(bot)
    # every declared answer is provoked here, and nothing is provoked that is not declared
    assert declared == set(cases)
    later = {k for k in cases if f"{k[1]} {k[2]}" in need_a_model}
    http = bot.slack.http
    for key in sorted(set(cases) - later):
        for provoke in cases[key]:
            _check(spec, key, provoke(http))
    train_bank(bot, bank)
    for key in sorted(later):
        for provoke in cases[key]:
            _check(spec, key, provoke(http))
    # and the 200 of predict is what the model says, now that there is one
    (ok,) = cases[("post", "/api/projects/{name}/predict", "200")]
    answer = ok(http).json()
    assert [p["label"] for p in answer["predictions"]][0] == "age_limit"
    assert answer["model_version"] == 1  # the model that gave every prediction of it
