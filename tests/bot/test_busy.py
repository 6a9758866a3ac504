"""Past --max-connections requests in flight, the app answers 503 itself: JSON with Retry-After
like every other error, at once and without reading the request, while /healthz still answers
(a load balancer would otherwise take a busy replica out and send its load to the others)."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.api import BUSY, BUSY_WHEN, Busy, create_api
from tests.bot.conftest import Bot


def _app(release: asyncio.Event, started: asyncio.Event) -> Starlette:
    async def slow(_: Request) -> JSONResponse:
        started.set()
        await release.wait()
        return JSONResponse({"ok": True})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/api/slow", slow), Route("/healthz", health)])


def test_a_request_past_the_limit_is_a_json_503_and_health_still_answers() -> None:
    async def scenario() -> None:
        release, started = asyncio.Event(), asyncio.Event()
        app = Busy(_app(release, started), most=1)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.create_task(client.get("/api/slow"))
            await started.wait()  # one request in flight: the limit
            busy = await client.get("/api/slow")
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert busy.json() == {"error": "Service Unavailable", "detail": BUSY}
            assert (await client.get("/healthz")).status_code == 200
            release.set()
            assert (await first).status_code == 200
            assert (await client.get("/api/slow")).status_code == 200  # the slot is free again

    asyncio.run(scenario())


def test_serve_puts_the_limit_in_the_app(bot: Bot) -> None:
    """create_api adds it when given a limit (labelbot serve gives --max-connections)."""
    settings, services = bot.services.settings, bot.services
    api = create_api(settings, services, max_requests=7)
    assert [m.kwargs["most"] for m in api.user_middleware if m.cls is Busy] == [7]
    assert not [m for m in create_api(settings, services).user_middleware if m.cls is Busy]


def test_each_route_s_schema_declares_the_busy_503(bot: Bot) -> None:
    """A client reading /openapi.json learns that any route but /healthz may answer the
    --max-connections 503: under the route's own 503 when it declares one, else its default."""
    api = create_api(bot.services.settings, bot.services, max_requests=0)  # every request busy
    paths = api.openapi()["paths"]

    async def answers() -> dict[tuple[str, str], httpx.Response]:
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return {
                (method, path): await client.request(method, path.replace("{name}", "bank"))
                for path, item in paths.items()
                for method in item
            }

    for (method, path), answer in asyncio.run(answers()).items():
        if path == "/healthz":
            continue
        assert answer.status_code == 503 and answer.json()["detail"] == BUSY, path
        responses = paths[path][method]["responses"]
        declared = responses.get("503", responses["default"])["description"]
        assert BUSY_WHEN in declared and "Retry-After: 1" in declared, (path, declared)
