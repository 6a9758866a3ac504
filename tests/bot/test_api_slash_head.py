"""A path answers the same with a trailing slash as without, with no redirect (curl without
-L, a POST, a proxy's host), and every GET route answers HEAD (curl -I, uptime checkers): the
GET's status and headers, no body. Through a real uvicorn, as a client sees it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from bot import api as bot_api
from bot.metrics import CONTENT_TYPE, OTHER
from tests.bot.conftest import API_TOKEN, PROJECT, Bot, slack_settings
from tests.bot.test_metrics import scrape, value
from tests.fakes import payloads
from tests.fakes.server import ServerThread
from tests.fakes.signing import signed_slash_command

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
# what uvicorn adds of its own (the date moves; a streamed GET body is chunked, a HEAD has none)
SERVERS_OWN = {"date", "server", "transfer-encoding"}


def _schema(http: httpx.Client) -> dict[str, Any]:
    answer = http.get("/openapi.json", headers=AUTH)
    assert answer.status_code == 200
    schema: dict[str, Any] = answer.json()
    return schema


def _get_paths(http: httpx.Client) -> list[str]:
    """Every GET route of the schema, its path parameter the bank project."""
    paths = [p for p, ops in _schema(http)["paths"].items() if "get" in ops]
    return [p.replace("{name}", PROJECT) for p in paths] + ["/openapi.json"]


def _slashed(path: str) -> str:
    where, _, query = path.partition("?")
    return f"{where}/" + (f"?{query}" if query else "")


def test_the_schema_lists_each_route_once(bot: Bot) -> None:
    schema = _schema(bot.slack.http)
    paths = list(schema["paths"])
    assert not [p for p in paths if p.endswith("/")]  # no alias of a route
    assert len({p.rstrip("/") for p in paths}) == len(paths)
    assert {m for ops in schema["paths"].values() for m in ops} <= {"get", "post"}  # no head
    ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert {
        "/healthz",
        "/metrics",
        "/api/projects",
        "/api/projects/{name}/status",
        "/api/projects/{name}/predict",
        "/api/projects/{name}/export",
    } <= set(paths)
    assert set(schema["paths"]["/api/projects/{name}/export"]) == {"get"}


def test_a_trailing_slash_is_the_same_path_not_a_redirect(bot: Bot, bank: dict[str, str]) -> None:
    http = bot.slack.http  # follows no redirect: a 307 would be seen as one
    for path in (*_get_paths(http), f"/api/projects/{PROJECT}/export?format=csv"):
        plain = http.get(path, headers=AUTH)
        for spelled in (_slashed(path), _slashed(_slashed(path))):
            slashed = http.get(spelled, headers=AUTH)
            assert slashed.status_code == plain.status_code == 200, spelled
            if path != "/metrics":  # its body counts the requests themselves
                assert slashed.content == plain.content, spelled
            assert slashed.headers["content-type"] == plain.headers["content-type"]
    export = http.get(f"/api/projects/{PROJECT}/export/", params={"format": "csv"}, headers=AUTH)
    assert export.headers["content-disposition"] == f'attachment; filename="{PROJECT}.csv"'
    assert len(export.text.splitlines()) == 151
    # a POST is answered, its body read, not sent elsewhere
    predict = http.post(f"/api/projects/{PROJECT}/predict/", json={"texts": ["hi"]}, headers=AUTH)
    assert predict.status_code == 409 and "no trained model" in predict.json()["detail"]
    # the token is still needed, the probe still is not
    anonymous = http.get("/api/projects/")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert http.get("/openapi.json/").status_code == 401
    assert http.get("/metrics/").status_code == 401
    assert http.get("/healthz/").json()["ok"] is True
    # what no route serves is a 404 either way
    missing = http.get("/api/projects/nope/status/", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"] == "NotFoundError"
    for junk in ("/nope/", "/api/", "/", "//"):
        answer = http.get(junk, headers=AUTH)
        assert answer.status_code == 404, junk
        assert answer.json() == {"error": "Not Found", "detail": "Not Found"}, junk


def test_slack_events_behaves_as_before_with_a_slash_too(bot: Bot) -> None:
    slack, secret = bot.slack, bot.slack.secret
    assert slack.command("U0ALICE", "help").status_code == 200
    form = payloads.slash_command(
        "U0BOB", "help", bot.api.dm_channel("U0BOB"), response_url=bot.api.response_url("U0BOB")
    )
    signed = signed_slash_command(secret, form)
    slashed = slack.http.post("/slack/events/", content=signed.body, headers=signed.headers)
    assert slashed.status_code == 200  # Slack's signature, not the bearer token
    bot.settle()
    assert "/label predict" in slack.ephemerals("U0ALICE")[-1]
    assert "/label predict" in slack.ephemerals("U0BOB")[-1]
    for path in ("/slack/events", "/slack/events/"):
        unsigned = slack.http.post(path, content=signed.body)
        assert unsigned.status_code == 401, path
        assert unsigned.json()["detail"] == bot_api.UNSIGNED
        refused = slack.http.get(path)
        assert refused.status_code == 405 and refused.headers["allow"] == "POST"


def _same_headers(get: httpx.Response, head: httpx.Response, *, length: bool = True) -> None:
    assert set(head.headers) - SERVERS_OWN == set(get.headers) - SERVERS_OWN
    for name in set(get.headers) - SERVERS_OWN - ({"content-length"} if not length else set()):
        assert head.headers[name] == get.headers[name], name


def test_head_answers_every_get_route_as_its_get_without_a_body(
    bot: Bot, bank: dict[str, str]
) -> None:
    http = bot.slack.http
    paths = _get_paths(http)
    assert f"/api/projects/{PROJECT}/export" in paths and "/metrics" in paths
    export = f"/api/projects/{PROJECT}/export"
    for path in (*paths, f"{export}?format=csv", f"{export}?format=CSV&spreadsheet_safe=true"):
        head = http.head(path, headers=AUTH)
        get = http.get(path, headers=AUTH)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and get.content, path
        # /metrics counts the HEAD itself: its length moves
        _same_headers(get, head, length=path != "/metrics")
        assert _slashed(path) and http.head(_slashed(path), headers=AUTH).status_code == 200
    csv_head = http.head(export, params={"format": "csv"}, headers=AUTH)
    assert csv_head.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv_head.headers["content-disposition"] == f'attachment; filename="{PROJECT}.csv"'
    assert "content-length" not in csv_head.headers  # the GET streams: it has none either
    assert http.head("/metrics", headers=AUTH).headers["content-type"] == CONTENT_TYPE
    # the errors are the GET's
    for path, status in (
        ("/api/projects/nope/status", 404),
        ("/api/projects/nope/export", 404),
        (f"{export}?format=xml", 422),
        (f"{export}?spreadsheet_safe=true", 422),
    ):
        head, get = http.head(path, headers=AUTH), http.get(path, headers=AUTH)
        assert head.status_code == get.status_code == status, path
        assert head.content == b""
        _same_headers(get, head)
    for path in paths:  # the token is still needed, but by the probe
        head, get = http.head(path), http.get(path)
        assert head.status_code == get.status_code == (200 if path == "/healthz" else 401), path
        _same_headers(get, head, length=path != "/healthz")
    # a POST route answers HEAD as before: not allowed
    predict = http.head(f"/api/projects/{PROJECT}/predict", headers=AUTH)
    assert predict.status_code == 405 and predict.headers["allow"] == "POST"
    assert http.head("/nope", headers=AUTH).status_code == 404


def test_a_405_on_a_get_route_allows_head_too(bot: Bot) -> None:
    http = bot.slack.http
    for path in ("/api/projects", "/metrics", f"/api/projects/{PROJECT}/export", "/healthz"):
        refused = http.delete(path, headers=AUTH)
        assert refused.status_code == 405, path
        assert refused.headers["allow"] == "GET, HEAD", path
        assert refused.json()["error"] == "Method Not Allowed"


@contextmanager
def _statements(bot: Bot) -> Iterator[list[str]]:
    """The SQL the database is sent meanwhile, and until the last response has ended: a HEAD's
    client has its answer with the headers, while the server may still be sending a body it
    drops. A request on the same connection is answered only after that (uvicorn)."""
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(bot.ws.db, "before_cursor_execute", seen)
    try:
        yield sent
        assert bot.slack.http.get("/healthz").status_code == 200
    finally:
        event.remove(bot.ws.db, "before_cursor_execute", seen)


def test_head_of_an_export_reads_no_example(bot: Bot, bank: dict[str, str]) -> None:
    http, url = bot.slack.http, f"/api/projects/{PROJECT}/export"
    with _statements(bot) as sent:
        assert http.head(url, params={"format": "csv"}, headers=AUTH).status_code == 200
    assert sent and not [s for s in sent if "examples" in s]  # the project's look-up alone
    with _statements(bot) as sent:
        assert len(http.get(url, headers=AUTH).text.splitlines()) == 150
    assert [s for s in sent if "examples" in s]  # the GET reads them (the check can see it)


def test_head_of_an_export_with_every_slot_taken_is_the_gets_503_at_once(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GET would wait EXPORT_WAIT_S for a slot and be refused: the HEAD says so now, without
    the wait (a 200 promised a download the GET then refused)."""
    http, url = bot.slack.http, f"/api/projects/{PROJECT}/export"
    monkeypatch.setattr(bot_api, "EXPORT_SLOTS", 0)  # none free
    monkeypatch.setattr(bot_api, "EXPORT_WAIT_S", 0.05)
    get = http.get(url, headers=AUTH)
    monkeypatch.setattr(bot_api, "EXPORT_WAIT_S", 60.0)
    started = time.monotonic()
    head = http.head(url, headers=AUTH)
    assert time.monotonic() - started < 10  # not the GET's wait
    assert head.status_code == get.status_code == 503 and head.content == b""
    assert head.headers["retry-after"] == get.headers["retry-after"] == "30"
    _same_headers(get, head)
    busy = bot_api.EXPORTS_BUSY.format(slots=0)
    assert get.json() == {"error": "Service Unavailable", "detail": busy}
    assert int(head.headers["content-length"]) == len(get.content)  # the same detail
    # a bad format is still the 422 it was, before any slot
    assert http.head(url, params={"format": "xml"}, headers=AUTH).status_code == 422


def test_metrics_count_a_slash_and_a_head_under_the_route_template(
    bot: Bot, bank: dict[str, str]
) -> None:
    http = bot.slack.http
    http.get("/api/projects/", headers=AUTH)
    http.head("/api/projects", headers=AUTH)
    http.head(f"/api/projects/{PROJECT}/status/", headers=AUTH)
    http.get("/api/projects/")  # the token's 401, answered before routing
    for junk in ("/junk/1/", "/junk/2", "/junk/3//"):
        http.get(junk, headers=AUTH)
        http.head(junk, headers=AUTH)
    samples = scrape(bot)
    count = "labelbot_http_requests_total"
    assert value(samples, count, route="/api/projects", method="GET", status="200") == 1
    assert value(samples, count, route="/api/projects", method="HEAD", status="200") == 1
    assert value(samples, count, route="/api/projects", method="GET", status="401") == 1
    status_route = "/api/projects/{name}/status"
    assert value(samples, count, route=status_route, method="HEAD", status="200") == 1
    assert value(samples, count, route=OTHER, method="GET", status="404") == 3
    assert value(samples, count, route=OTHER, method="HEAD", status="404") == 3
    routes = {dict(labels)["route"] for _, labels in samples if "route" in dict(labels)}
    assert routes <= {p for p in _schema(http)["paths"]} | {OTHER, "/openapi.json"}


def test_under_a_root_path_with_the_metrics_token(bot: Bot) -> None:
    """Behind a proxy that strips a prefix (uvicorn's root_path), with LABELBOT_METRICS_TOKEN:
    the slash is trimmed after the prefix, and each token opens what it opened."""
    metrics_token = "metrics-only-" + "m" * 32
    settings = slack_settings(
        str(bot.ws.settings.database_url),
        bot.api.api_url,
        bot.ws.settings.data_dir,
        LABELBOT_METRICS_TOKEN=metrics_token,
    )
    only = {"Authorization": f"Bearer {metrics_token}"}
    server = ServerThread(bot_api.create_api(settings, bot.services))
    server.server.config.root_path = "/labelbot"
    with server, httpx.Client(base_url=server.url) as http:
        assert http.get("/api/projects/", headers=AUTH).json() == []
        assert http.head("/api/projects/", headers=AUTH).status_code == 200
        for method in ("GET", "HEAD"):
            scraped = http.request(method, "/metrics/", headers=only)
            assert scraped.status_code == 200, method
            assert scraped.headers["content-type"] == CONTENT_TYPE
            for path in ("/api/projects/", "/api/projects", "/openapi.json/"):
                assert http.request(method, path, headers=only).status_code == 401, path
        assert http.get("/healthz/").json()["ok"] is True
        assert http.get("/", headers=AUTH).status_code == 404
