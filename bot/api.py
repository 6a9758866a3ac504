"""The HTTP face of labelbot: Bolt at POST /slack/events, GET /healthz, and a small REST API.

Bolt's synchronous dispatch (signature check, listener matching, waiting for the ack) runs in
``services.dispatch_executor``, never on the event loop: the bundled FastAPI adapter calls
``app.dispatch`` inline and one slow request would stall every other. Listeners then run in
Bolt's own ``listener_executor`` after their ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

from bot.app import build_app
from bot.config import SlackSettings
from bot.services import Services
from engine import exporting, messaging, projects, training
from storage.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    LabelbotError,
    NotFoundError,
    StaleActionError,
)

log = logging.getLogger(__name__)

STATUS = {
    NotFoundError: 404,
    InvalidInputError: 422,
    ConflictError: 409,
    StaleActionError: 409,
    ConfigurationError: 503,
}
MAX_TEXTS = 1000
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


class ProjectOut(BaseModel):
    name: str
    description: str
    channel: str | None


class PredictIn(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS)


class LabelProbability(BaseModel):
    label: str
    probability: float


class PredictionOut(BaseModel):
    text: str
    label: str
    confidence: float
    top: list[LabelProbability]


class PredictOut(BaseModel):
    project: str
    predictions: list[PredictionOut]


def create_api(settings: SlackSettings, services: Services, *, bolt: App | None = None) -> FastAPI:
    """The FastAPI app; ``bolt`` defaults to ``build_app(settings, services)``."""
    bolt = bolt or build_app(settings, services)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = None
        if settings.outbox_interval_s > 0:
            task = asyncio.create_task(_retry_outbox(services, settings.outbox_interval_s))
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    api = FastAPI(title="labelbot", lifespan=lifespan, docs_url=None, redoc_url=None)

    @api.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        bolt_request = to_bolt_request(request, await request.body())
        loop = asyncio.get_running_loop()
        bolt_response = await loop.run_in_executor(
            services.dispatch_executor, bolt.dispatch, bolt_request
        )
        return to_starlette_response(bolt_response)

    @api.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True, "outbox": messaging.outbox_size(services.ws)}

    api.include_router(_rest_router(settings, services))

    @api.exception_handler(LabelbotError)
    async def labelbot_error(_: Request, exc: LabelbotError) -> JSONResponse:
        status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=status)

    return api


def _rest_router(settings: SlackSettings, services: Services) -> APIRouter:
    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        expected = settings.api_token.get_secret_value() if settings.api_token else None
        scheme, _, token = (authorization or "").partition(" ")
        if (
            not expected
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(token.encode(), expected.encode())
        ):
            raise HTTPException(
                401,
                "a valid bearer token is required (LABELBOT_API_TOKEN)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    router = APIRouter(prefix="/api", dependencies=[Depends(require_token)])
    ws = services.ws

    @router.get("/projects")
    def list_projects() -> list[ProjectOut]:
        return [
            ProjectOut(name=p.name, description=p.description, channel=p.channel_id)
            for p in projects.list_projects(ws)
        ]

    @router.get("/projects/{name}/status")
    def project_status(name: str) -> dict[str, Any]:
        return projects.project_status(ws, name)

    @router.post("/projects/{name}/predict")
    def predict(name: str, body: PredictIn) -> PredictOut:
        found = training.predict_texts(ws, name, body.texts)
        return PredictOut(
            project=name,
            predictions=[
                PredictionOut(
                    text=p.text,
                    label=p.label,
                    confidence=p.confidence,
                    top=[LabelProbability(label=lb, probability=pr) for lb, pr in p.top],
                )
                for p in found
            ],
        )

    @router.get("/projects/{name}/export")
    def export(name: str, format: Literal["jsonl", "csv"] = "jsonl") -> Response:
        text = exporting.export_text(ws, name, format)
        return Response(text, media_type=MEDIA_TYPES[format])

    return router


async def _retry_outbox(services: Services, interval: float) -> None:
    """Every ``interval`` seconds, send what Slack could not take before."""
    while True:
        await asyncio.sleep(interval)
        try:
            sent = await asyncio.to_thread(services.courier.flush)
        except Exception:  # keep retrying: one bad round must not end delivery for good
            log.exception("outbox flush failed")
            continue
        if sent:
            log.info("outbox: delivered %d queued message(s)", sent)
