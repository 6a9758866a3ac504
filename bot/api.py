"""The HTTP face of labelbot: Bolt at POST /slack/events, GET /healthz, GET /metrics (for
Prometheus, bot.metrics) and a small REST API.

Bolt's synchronous dispatch (signature check, listener matching, waiting for the ack) runs in
``services.dispatch_executor``, never on the event loop: the bundled FastAPI adapter calls
``app.dispatch`` inline and one slow request would stall every other. Listeners then run in
Bolt's own ``listener_executor`` after their ack.

Nothing is read before it is needed: a /slack/events body is capped (``MAX_SLACK_BODY``) and its
signature checked before Bolt parses it (its headers, and the timestamp's freshness, before the
body is even read), and a request without the bearer token is refused before its body is read
(``TokenFirst``): every path needs it but ``PUBLIC_PATHS``. A body must keep coming: one that
stalls or trickles is cut off with a 408 (``BodyLimit``), and a client that hangs up mid-body is
one line in the log, not a traceback. Every error answers JSON,
``{"error": <labelbot error class or HTTP status phrase>, "detail": <message>}``.

A path answers the same with a trailing slash as without (``TrailingSlash``: no redirect), and
every GET route answers HEAD as well: its status and headers, no body (``_answer_head``).

/openapi.json describes what the routes really do: the bearer token (declared there, checked by
``TokenFirst``), each error a route answers in that shape (``ErrorOut``), the export's media
types, predict's limits, status's fields (``StatusOut``) and examples of the bodies.
tests/bot/test_api_contract.py provokes every error it declares.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import functools
import hmac
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from http import HTTPStatus
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qs

import anyio.to_thread
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from slack_bolt import App, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import socket_mode
from bot.app import build_app
from bot.config import SlackSettings
from bot.delivery import token_watch
from bot.listeners.shape import NO_RETRY_HEADER
from bot.metrics import (
    CONTENT_TYPE,
    HttpMetrics,
    RequestTimer,
    RouteTemplates,
    exposition,
    render_activity,
    render_state,
    route_path,
)
from bot.services import Services
from bot.signature_watch import SignatureWatch, signed_timestamp
from engine import exporting, gauges, jobs, messaging, predicting, projects
from engine.gauges import ProjectGauges
from engine.importing import INVISIBLE_RANGES, MAX_TEXT_CHARS, text_problem
from engine.scheduler import DatabaseWatch
from storage.errors import (
    ConfigurationError,
    ConflictError,
    DatabaseUnavailable,
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
    DatabaseUnavailable: 503,
}
# A database that cannot be reached: a client may try again after this (the message says so).
UNAVAILABLE_RETRY_AFTER_S = 60
# What a client is told of it: not the driver's words, which name the database's host and port
# (the log has them, UNAVAILABLE_LOG).
UNAVAILABLE = (
    "the database cannot be reached just now: nothing was stored; try again in a minute "
    "(the server's log says why)"
)
UNAVAILABLE_LOG = "%s %s: 503: %s"
# DatabaseDeadline's refusal, in the log
DATABASE_LATE = "the database did not answer within {seconds:g} s"
MAX_TEXTS = 1000
# All the texts of one predict request together, in characters. The encoder reads only the
# first 256 tokens of a text (about 1,000-1,500 characters), but the tokenizer splits all of it
# first: 1,000 texts at the 50,000-character limit spent about a minute in the tokenizer and
# grew the process by 1.2 GB for good, to read 2-3% of each. 2,000 characters for each of
# MAX_TEXTS texts is more than the encoder reads; longer texts go in smaller batches.
MAX_PREDICT_CHARS = 2_000_000
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
# An export is a file: `curl -OJ` and a browser save it as NAME.jsonl or NAME.csv (a project's
# name is letters, digits, '_', '-' and '.': nothing to escape), in UTF-8, said for JSON Lines
# too (Starlette adds the charset to text/* alone, and a client without one guesses: Python's
# requests runs a charset detector on the body)
EXPORT_DISPOSITION = 'attachment; filename="{name}.{fmt}"'
EXPORT_HEADERS = {
    "Content-Disposition": {
        "description": "attachment; the file name is the project's and the format's "
        '(`attachment; filename="bank.csv"`)',
        "schema": {"type": "string"},
    }
}
# Slack's payloads are a few KB. The largest is a modal's submission: labelbot's modals have a
# few inputs of at most 3,000 characters, under half a megabyte even as escaped emoji.
MAX_SLACK_BODY = 1 << 20
# A predict request of MAX_TEXTS texts at the import limit (MAX_TEXT_CHARS), as plain ASCII,
# with room for the JSON around them; MAX_PREDICT_CHARS fits even with every character escaped
# (12 bytes for "\ud83d\ude00").
MAX_API_BODY = 64 << 20
# uvicorn has no read timeout: a client that stalls mid-body would hold its connection (a file
# descriptor) and the part of the body sent so far for good, without any credential; 1,100 of
# them took the server down. So a body must keep coming (at most BODY_READ_TIMEOUT_S between two
# chunks) and be complete within BODY_TIMEOUT_S (a trickle of a byte every few seconds), else
# 408. Slack sends its few KB at once; MAX_API_BODY in BODY_TIMEOUT_S is 0.5 MB/s.
BODY_READ_TIMEOUT_S = 15.0
BODY_TIMEOUT_S = 120.0
TIMED_OUT = "the request body did not arrive in time"
# Slack's tolerance for a request's timestamp (slack_sdk's SignatureVerifier: 5 minutes).
SLACK_MAX_AGE_S = 300
UNSIGNED = "the request is not signed with the app's signing secret"
# A signed request whose timestamp is out of Slack's window: when every request says so, it is
# this server's clock that is off (bot.signature_watch logs the same with the skew).
CLOCK_SKEWED = (
    "the request's timestamp is more than 5 minutes from this server's clock (Slack's are "
    "accepted within 5 minutes): check this server's clock (NTP)"
)
# A load balancer's probe wants an answer, not a hang (psycopg waits 10 s to connect).
HEALTH_TIMEOUT_S = 2.0
METRICS_TIMEOUT_S = 5.0  # a scrape's database reads; Prometheus's default scrape timeout is 10 s
# /healthz and /metrics while the database is down: once a minute each (DatabaseWatch), not
# a line per probe and scrape, then "database reachable again"
OUTAGE_LOG = "%s: database unavailable: %s; said once a minute while it lasts"


def _outage_reason(exc: Exception, timeout_s: float) -> str:
    """Why a probe or scrape got no answer from the database, in one line."""
    if isinstance(exc, TimeoutError):  # asyncio.wait_for: no words of its own
        return f"did not answer within {timeout_s:g} s"
    if isinstance(exc, DatabaseUnavailable):  # its reason, without the advice to users
        return exc.reason
    return str(exc).strip().split("\n")[0] or type(exc).__name__


TOKEN_REQUIRED = "a valid bearer token is required (LABELBOT_API_TOKEN)"
# The only paths served without the bearer token: a load balancer's probe, and Slack's Request
# URL (signed with the app's signing secret instead). Everything else, /openapi.json included,
# needs the token: deny by default, so a route added later is never public by mistake.
PUBLIC_PATHS = frozenset({"/healthz", "/slack/events"})
METRICS_PATH = "/metrics"  # LABELBOT_METRICS_TOKEN opens it (and only it)
NOT_A_PAYLOAD = "the body is not a Slack payload"
# With every refusal of a signed request Slack would not send (as bot.listeners.shape's): Slack
# re-sends an event answered with an error up to three times, and each would be refused alike
NO_RETRY = {NO_RETRY_HEADER: "1"}
# An export holds one database connection from its first byte to its last, as long as the
# client takes to read it. The pool has 15 (storage.db.make_engine): 15 slow downloads took them
# all, and every Slack click then failed after the pool's 30 s wait (bench/serve_load.py). So
# at most EXPORT_SLOTS stream at once in a process; another waits up to EXPORT_WAIT_S for a
# slot, then answers 503 with Retry-After. A client that takes no piece for EXPORT_SEND_TIMEOUT_S
# (it stopped reading) is cut off, so a stuck download cannot hold a slot for good.
EXPORT_SLOTS = 4
EXPORT_WAIT_S = 30.0
EXPORT_SEND_TIMEOUT_S = 120.0
EXPORTS_BUSY = (
    "{slots} exports are being downloaded from this server already (each holds a database "
    "connection until it ends): try again when one has finished"
)
EXPORTS_RETRY_AFTER_S = 30


def _exports_busy() -> HTTPException:
    """An export's 503 when no slot is free: the GET's after its wait, the HEAD's at once."""
    busy = EXPORTS_BUSY.format(slots=EXPORT_SLOTS)
    return HTTPException(503, busy, {"Retry-After": str(EXPORTS_RETRY_AFTER_S)})


class ExportSlots:
    """How many exports stream at once in this process: at most ``EXPORT_SLOTS`` (read when
    asked, so a test or an operator's patch takes effect at once)."""

    def __init__(self) -> None:
        self.busy = 0
        self._changed = asyncio.Condition()

    def free(self) -> bool:
        """Whether a slot is free at this moment: a HEAD's answer, which neither waits for a
        slot nor takes one."""
        return self.busy < EXPORT_SLOTS

    async def take(self, wait: float) -> bool:
        """Take a slot, waiting up to ``wait`` seconds for one; False when none came."""
        async with self._changed:
            try:
                async with asyncio.timeout(wait):
                    await self._changed.wait_for(lambda: self.busy < EXPORT_SLOTS)
            except TimeoutError:
                return False
            self.busy += 1
            return True

    async def give_back(self) -> None:
        async with self._changed:
            self.busy -= 1
            self._changed.notify()


UNEXPECTED = "unexpected error; the server log has the details"
BUSY_RETRY_AFTER_S = 1
BUSY = "the server is answering as many requests as it may at once: try again in a moment"
# Busy's refusal, which any route but /healthz may answer, in /openapi.json's words
BUSY_WHEN = (
    f"Service Unavailable with Retry-After: {BUSY_RETRY_AFTER_S} when the server is answering "
    "`labelbot serve --max-connections` requests already"
)

_R = TypeVar("_R")


class DatabaseDeadline:
    """One REST request's wait for the database: ``seconds`` in all
    (LABELBOT_API_DEADLINE_SECONDS) for the calls made through :meth:`run`, past which it is
    answered 503 DatabaseUnavailable with Retry-After. A server that stops answering without
    closing the connection (a partition, a frozen host or process) held a request for minutes,
    as long as the kernel's TCP retransmissions: /healthz answered 503 in 2 s meanwhile.

    Only what waits for the database goes through it; predict's encoding does not (a large
    batch on a slow CPU takes what it takes). A call past its time is left to finish in its
    thread (no thread can be stopped): its connection fails once libpq's TCP settings give up
    on the server (storage.db.POSTGRES_TCP), or finishes when the server answers again."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._left = seconds

    async def run(self, func: Callable[..., _R], *args: Any, **kwargs: Any) -> _R:
        """``func(*args, **kwargs)`` in a worker thread, within what is left of the deadline."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            async with asyncio.timeout(max(self._left, 0.0)) as limit:
                # abandon_on_cancel: Starlette's run_in_threadpool would wait for the thread
                # through the cancel, however long it hangs
                return await anyio.to_thread.run_sync(
                    functools.partial(func, *args, **kwargs), abandon_on_cancel=True
                )
        except TimeoutError:
            if not limit.expired():
                raise  # the call's own
            raise DatabaseUnavailable(
                f"{DATABASE_LATE.format(seconds=self.seconds)}; nothing was stored: try again "
                "in a minute"
            ) from None
        finally:
            self._left -= loop.time() - began


def _predictable(text: str) -> str:
    """The same rules as an import (engine.importing.text_problem): a text predicts iff it
    imports."""
    problem = text_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


class Problem(BaseModel):
    """One reason a request failed validation, without the input itself."""

    model_config = ConfigDict(extra="forbid")
    type: str
    loc: list[str | int]
    msg: str


class ErrorOut(BaseModel):
    """The body of every error: labelbot's error class (``NotFoundError``, ...) or the HTTP
    status phrase, and a message; for a request that fails validation, one problem a field."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"error": "NotFoundError", "detail": "no project named 'bnak' (projects: bank)"},
                {
                    "error": "Unprocessable Entity",
                    "detail": [
                        {"type": "missing", "loc": ["body", "texts"], "msg": "Field required"}
                    ],
                },
            ]
        },
    )
    error: str
    detail: str | list[Problem]


class HealthOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ok: Literal[True]
    outbox: int = Field(description="messages waiting for Slack")
    dead: int = Field(
        description="messages given up in the last 24 hours (Slack refused them for good, "
        "answered internal_error 12 times, or they were still unsent a day after the first try)"
    )
    slack: str = Field(
        description='"ok"; or the error Slack last refused the bot token with in this process '
        '(e.g. "token_revoked", "invalid_auth", "app_uninstalled"): reinstall the app or update '
        'SLACK_BOT_TOKEN; or "off" when this server runs without Slack'
    )
    socket_mode: str | None = Field(
        None,
        description='only with SLACK_APP_TOKEN: "connected", "reconnecting", or "refused: '
        '<error>" while Slack refuses SLACK_APP_TOKEN',
    )


class HealthDown(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ok: Literal[False]
    error: str


class ProjectOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "bank", "description": "", "channel": "C0123ABCDEF"}]
        }
    )
    name: str
    description: str
    channel: str | None


# --- GET /api/projects/{name}/status: `labelbot status --json`, described ----------------------
# Only the schema: the route answers engine.projects.status_report's dict as it is (the CLI's
# very JSON), never re-made through these models. Where its shape is fixed they forbid other
# fields, so tests/bot/test_api_contract*.py fail when the two part; the raw stored figures
# (model.metrics, agreement.per_label) stay open objects.
_FIXED = ConfigDict(extra="forbid")


class StatusLabel(BaseModel):
    model_config = _FIXED
    name: str
    active: bool = Field(description="false once retired")
    count: int = Field(description="agreed labels of this class")
    description: str


class Headline(BaseModel):
    model_config = _FIXED
    source: Literal["audit", "cv"] = Field(
        description="audit: on audit labels, drawn at random and never trained on; cv: "
        "cross-validated on the training labels (no audit labels yet)"
    )
    accuracy: float
    low: float | None = Field(description="the interval's bounds (audit only)")
    high: float | None
    confidence: float | None = Field(None, description="the interval's level, 0.9 (audit only)")
    n: int = Field(description="the labels it was measured on")
    macro_f1: float | None
    macro_f1_low: float | None = None
    macro_f1_high: float | None = None
    biased: bool = Field(description="true when it usually reads low (the queue chose the labels)")
    waiting: int | None = Field(
        None, description="audit labels left out, waiting for a relabel since a taxonomy change"
    )
    description: str


class CrossValidated(BaseModel):
    model_config = _FIXED
    accuracy: float
    macro_f1: float
    labels: int
    folds: int
    biased: bool
    description: str


class LabelCounts(BaseModel):
    model_config = _FIXED
    labeled: int
    trained_on: int
    audit: int = Field(description="audit labels held out of training to measure the model")
    audit_twins: int | None = Field(
        None,
        description="labels held out of training with them (an audit text to the model: in "
        "other letter case, accents or invisible characters); absent when none",
    )
    since: int = Field(description="labels that arrived after the model was trained")
    undone: int | None = Field(
        None,
        description="examples the model counted whose label was undone since; absent when "
        "the model did not note the last label it read",
    )
    relabel: int | None = Field(
        None,
        description="examples the model counted that wait for a relabel, their label split "
        "or retired since; absent as undone is",
    )
    description: str


class Estimate(BaseModel):
    model_config = _FIXED
    headline: Headline | None = Field(description="the accuracy to quote; null without one")
    cross_validated: CrossValidated | None
    labels: LabelCounts


class ClassF1(BaseModel):
    model_config = _FIXED
    f1: float
    support: int


class PerClassF1(BaseModel):
    model_config = _FIXED
    source: Literal["audit", "cv"] | None
    description: str | None
    scores: dict[str, ClassF1] = Field(description="by today's label names, labels in use only")


class ModelStatus(BaseModel):
    model_config = _FIXED
    version: int
    kind: str
    trained_at: str = Field(description="ISO 8601, with its UTC offset")
    labels: int = Field(description="the labels it was trained on")
    metrics: dict[str, Any] = Field(description="the raw stored metrics of the run")
    pinned: bool = Field(description="the active version is pinned: retrains are not promoted")
    before_taxonomy_change: bool = Field(
        description="trained before the latest taxonomy change: its figures measured the "
        "labels as they were then"
    )
    estimate: Estimate
    per_class_f1: PerClassF1
    file_problem: str | None = Field(
        description="why the active model's file cannot answer (missing, damaged); null when fine"
    )


class Rare(BaseModel):
    model_config = _FIXED
    minimum: int
    counts: dict[str, int]
    too_rare: list[str] = Field(description="active labels with fewer than `minimum` examples")


class Agreement(BaseModel):
    model_config = _FIXED
    examples: int
    experts: int
    observed: float | None
    kappa: float | None
    alpha: float | None
    measure: Literal["kappa", "alpha"] = Field(description="kappa with two experts, else alpha")
    value: float | None
    per_label: list[dict[str, Any]]
    waiting: int = Field(description="examples waiting for a second expert")
    multi_label_share: float
    multi_label_k: int
    disagreements: int
    summary: str


class Reviews(BaseModel):
    model_config = _FIXED
    open: int
    kept: int
    changed: int
    dismissed: int


class Training(BaseModel):
    model_config = _FIXED
    version: int
    state: Literal["training", "stopped"]
    description: str


class Failure(BaseModel):
    model_config = _FIXED
    version: int
    at: str = Field(description="when it failed, ISO 8601")
    error: str


class StatusOut(BaseModel):
    """What `labelbot status NAME --json` prints."""

    model_config = _FIXED
    project: str
    channel: str | None
    examples: int
    labeled: int = Field(description="examples with an agreed label")
    unlabeled: int
    queue: int = Field(description="examples free to hand out to a labeler")
    annotations: int
    comments: int
    open_flags: int = Field(description="flags no one has resolved (an example may have two)")
    flagged_examples: int = Field(
        description="examples without a label that an open flag sets aside (out of the queue): "
        "examples = labeled + queue + flagged_examples"
    )
    labels: list[StatusLabel]
    model: ModelStatus | None = Field(description="the active model; null before the first")
    rare: Rare
    agreement: Agreement
    reviews: Reviews = Field(description="mislabel reviews by state")
    training: list[Training] = Field(description="runs still marked training")
    last_failure: Failure | None = Field(
        description="the newest training when it failed; null once one succeeds"
    )


# The import's rules (text_problem), which _predictable checks: here only for the schema, so a
# refusal keeps its own words ("empty text", "over the 50,000 limit"). `not` says what `pattern`
# cannot: no NUL, and not blank by Python's str.strip, whose spaces are \s as a JavaScript
# validator reads it (ECMA-262) and five more (\x1c-\x1f, \x85; Rust's \s has \x85 only). A
# lone surrogate stays in the description: a pattern for it means another thing in each dialect.
# Invisible characters (engine.importing.INVISIBLE_RANGES) the same way, those of the Basic
# Multilingual Plane: one above it (a tag) is a surrogate pair to a JavaScript validator.
_BLANK = "".join(f"\\u{lo:04x}-\\u{hi:04x}" for lo, hi in INVISIBLE_RANGES if hi <= 0xFFFF)
TEXT_RULES = {
    "minLength": 1,
    "maxLength": MAX_TEXT_CHARS,
    "pattern": r"\S",
    "not": {"pattern": rf"\x00|^[\s\x01-\x1f\x7f-\x9f{_BLANK}]*$"},
    "description": f"not empty or blank, at most {MAX_TEXT_CHARS:,} characters (without the "
    "spaces around it), not only invisible characters (zero-width spaces, joiners, direction "
    "marks, tags), no NUL character, valid Unicode (no lone surrogate): as an import",
}


class PredictIn(BaseModel):
    # a misspelt or hoped-for option ({"top_k": 5} before it existed) was ignored without a word
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"texts": ["How old do I need to be to open an account?", "card?"], "top_k": 2}
            ]
        },
    )
    texts: list[
        Annotated[str, AfterValidator(_predictable), Field(json_schema_extra=TEXT_RULES)]
    ] = Field(
        min_length=1,
        max_length=MAX_TEXTS,
        description=f"1 to {MAX_TEXTS:,} texts, {MAX_PREDICT_CHARS:,} characters in all "
        "(413 over that)",
    )
    top_k: int | None = Field(
        default=None,
        ge=1,
        strict=True,
        description=f"How many labels each prediction's `top` lists, most probable first: 1 to "
        f"the project's number of labels (422 over that); {predicting.TOP_K} when not given. "
        "Labels the model had no labeled example of are never listed (`notes` names them), so "
        "`top` may hold fewer",
    )


class LabelProbability(BaseModel):
    label: str
    probability: float


class PredictionOut(BaseModel):
    text: str
    label: str
    confidence: float
    top: list[LabelProbability] = Field(
        description="The most probable labels (`top_k`), highest first; never one the model "
        "had no labeled example of"
    )


class PredictOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "project": "bank",
                    "predictions": [
                        {
                            "text": "How old do I need to be to open an account?",
                            "label": "age_limit",
                            "confidence": 0.9981,
                            "top": [
                                {"label": "age_limit", "probability": 0.9981},
                                {"label": "card_arrival", "probability": 0.0008},
                            ],
                        },
                        {
                            "text": "card?",
                            "label": "card_arrival",
                            "confidence": 0.9984,
                            "top": [
                                {"label": "card_arrival", "probability": 0.9984},
                                {"label": "atm_support", "probability": 0.001},
                            ],
                        },
                    ],
                    "notes": [],
                    "model_version": 1,
                }
            ]
        }
    )
    project: str
    predictions: list[PredictionOut]
    notes: list[str] = Field(
        default_factory=list,
        description="What the active model cannot answer, one line each: labels it had no "
        "labeled example of (it never answers them), and taxonomy changes it predates (a label "
        "split or retired since is still answered under its old name, a label added since "
        "never is); empty once a model is trained on examples of every label",
    )
    model_version: int = Field(
        description="The version of the model that gave every prediction of this answer (a "
        "model promoted meanwhile answers the next request)"
    )


def create_api(
    settings: SlackSettings,
    services: Services,
    *,
    bolt: App | None = None,
    slack: bool = True,
    max_requests: int | None = None,
) -> FastAPI:
    """The FastAPI app; ``bolt`` defaults to ``build_app(settings, services)``. With ``slack``
    False (the REST API alone, bot.config.get_serve_settings) /slack/events answers 503.
    ``max_requests``: requests in flight at once, past which one is answered 503 (:class:`Busy`)."""
    bolt = bolt or build_app(settings, services)
    verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = None
        stop = threading.Event()
        if settings.outbox_interval_s > 0:
            task = asyncio.create_task(_retry_outbox(services, settings.outbox_interval_s, stop))
        yield
        if task is not None:
            # Cancelling the task cannot stop the thread a round runs in: the round ends after
            # the message in flight instead of sending the whole backlog (to a slow Slack).
            stop.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    api = FastAPI(
        title="labelbot",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # TrailingSlash serves the path instead
    )
    api.add_middleware(BodyLimit)
    api.add_middleware(TokenFirst, settings=settings)  # before BodyLimit
    api.add_middleware(SignatureWatch)  # logs why Slack's requests are refused (every server)
    if max_requests is not None:
        api.add_middleware(Busy, most=max_requests)
    traffic = HttpMetrics()
    health_watch, metrics_watch = DatabaseWatch("health check"), DatabaseWatch("metrics")
    # outermost but for TrailingSlash: it times and counts the answers of those above too
    # (401, 413, 408, 503)
    templates = RouteTemplates(
        lambda: [
            *api.openapi()["paths"],
            *(r.path for r in api.routes if isinstance(r, Route)),
        ]
    )
    api.add_middleware(RequestTimer, metrics=traffic, routes=templates)
    api.add_middleware(TrailingSlash)  # every middleware sees the path the router matches

    @api.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        if not slack:
            raise ConfigurationError(
                "this server runs without Slack (no SLACK_BOT_TOKEN or SLACK_SIGNING_SECRET "
                "set): it serves the REST API alone"
            )
        if await _ssl_check(request):
            # Slack's SSL check of a slash command's URL: answered as Bolt's SslCheck answers
            # it, before any signature check (it acts on nothing); refused, it would read as a
            # wrong signing secret in the log
            return Response(status_code=200)
        # The signature needs the body; its headers and the timestamp's age do not: most junk
        # is refused before any of its body is read (and so held).
        if not _signature_headers_fresh(verifier, request.headers):
            # closed: the unread body would otherwise hold it until the keep-alive timeout
            raise HTTPException(401, _unfresh_detail(request.headers), {"Connection": "close"})
        body = await request.body()
        if not _signed_by_slack(verifier, body, request.headers):
            raise HTTPException(401, UNSIGNED)
        try:
            bolt_request = to_bolt_request(request, body)
        except (ValueError, AttributeError, TypeError, KeyError):
            # Bolt parses the body as it builds the request: JSON (or a form's `payload`) that
            # does not parse, or parses to something other than an object, or a user, channel
            # or team that is a number or a boolean where Slack sends an object or an id.
            raise HTTPException(400, NOT_A_PAYLOAD, NO_RETRY) from None
        loop = asyncio.get_running_loop()
        bolt_response = await loop.run_in_executor(
            services.dispatch_executor, bolt.dispatch, bolt_request
        )
        if bolt_response.status == 404 and not _slack_kind(bolt_request.body):
            # Bolt's "unhandled request" for an object that is no Slack request at all (`{}`):
            # everything Slack sends has a type (events, interactivity) or a command.
            raise HTTPException(400, NOT_A_PAYLOAD, NO_RETRY)
        if bolt_response.status >= 500:
            # Bolt failed before any listener of ours (its authorization's auth.test with the
            # Web API unreachable, say): it has logged why, and answers 500 with no body.
            return _error(bolt_response.status, UNEXPECTED)
        if bolt_response.status >= 400 and not _json_body(bolt_response.body):
            # our own refusals of a signed request that Slack would not send (bot.app,
            # bot.listeners.shape): JSON like every other error, with the headers Bolt's
            # answer has (its body's type and length go: the JSON has its own)
            return _error(bolt_response.status, bolt_response.body, _bolt_headers(bolt_response))
        return to_starlette_response(bolt_response)

    @api.get(
        "/healthz",
        responses={
            200: {
                "model": HealthOut,
                "description": "The database answers (whatever Slack says of the bot token)",
            },
            503: {
                "model": HealthDown,
                "description": f"The database did not answer within {HEALTH_TIMEOUT_S:g} s",
            },
        },
    )
    async def healthz() -> JSONResponse:
        """A refused bot token answers 200 all the same (``slack`` says it): the token is every
        replica's, so a load balancer that took this one out for it would take them all out,
        and with them the REST API and Slack's own notice (app_uninstalled), for a fault no
        replica can fix; ``ok`` is whether this replica can serve at all (its database)."""

        def counts() -> tuple[int, int]:
            return messaging.outbox_size(services.ws), messaging.dead_count(services.ws)

        try:
            outbox, dead = await asyncio.wait_for(asyncio.to_thread(counts), HEALTH_TIMEOUT_S)
        except Exception as exc:  # a probe reports: any failure to query means "unavailable"
            if health_watch.due("probe"):  # a probe every few seconds: said once a minute
                log.warning(OUTAGE_LOG, "health check", _outage_reason(exc, HEALTH_TIMEOUT_S))
            return JSONResponse({"ok": False, "error": "database unavailable"}, status_code=503)
        health_watch.reached()
        said = _token_state(services) if slack else "off"
        body: dict[str, Any] = {"ok": True, "outbox": outbox, "dead": dead, "slack": said}
        connection = socket_mode.state()
        if connection is not None:  # the connection is news, not a failure: ok stays true
            body["socket_mode"] = connection
        return JSONResponse(body)

    # HEAD as well, for uptime checkers that probe so (the status and headers of a GET, no body)
    api.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)

    @api.get(
        METRICS_PATH,
        response_class=Response,
        dependencies=[Security(BEARER)],
        responses={
            200: {
                "description": "Prometheus text format (0.0.4): this process's HTTP requests "
                "and their durations, and the database's state (each project's counts, its "
                "model's version, age and accuracy; labelbot_database_up 0 when the database "
                "did not answer)",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            **_errors({401: f"No valid bearer token: {TOKEN_REQUIRED}"}),
            "default": {
                "model": ErrorOut,
                "description": f"Any other error (405, 500; 503 {BUSY_WHEN})",
            },
        },
    )
    async def metrics() -> Response:
        """For Prometheus: ``authorization: {credentials_file: ...}`` in the scrape config
        (the bearer token, as every path but /healthz and /slack/events)."""

        def state() -> tuple[list[ProjectGauges], int, int]:
            ws = services.ws
            return gauges.project_gauges(ws), messaging.outbox_size(ws), messaging.dead_count(ws)

        found: list[ProjectGauges] | None
        try:
            found, outbox, dead = await asyncio.wait_for(
                asyncio.to_thread(state), METRICS_TIMEOUT_S
            )
        except Exception as exc:  # the process's own figures are worth giving all the same
            if metrics_watch.due("scrape"):
                log.warning(OUTAGE_LOG, "metrics", _outage_reason(exc, METRICS_TIMEOUT_S))
            found, outbox, dead = None, 0, 0
        else:
            metrics_watch.reached()
        lines = render_state(
            found, outbox=outbox, dead=dead, slack=_token_state(services) if slack else None
        )
        activity = render_activity(jobs.ACTIVITY.snapshot())
        body = exposition([*lines, *traffic.render(), *activity])
        return Response(body, media_type=CONTENT_TYPE)

    api.include_router(_rest_router(services, deadline=settings.api_deadline_s))
    _answer_head(api.router)  # /metrics (/healthz has its own)

    @api.exception_handler(LabelbotError)
    async def labelbot_error(request: Request, exc: LabelbotError) -> JSONResponse:
        # the documented class a refinement belongs to (a damaged model file is NotFoundError):
        # clients branch on these names
        kind, status = next(((k, c) for k, c in STATUS.items() if isinstance(exc, k)),
                            (type(exc), 400))  # fmt: skip
        detail, headers = str(exc), None
        if isinstance(exc, DatabaseUnavailable):
            # an outage passes: say when to try again, as the Busy and export 503s do; the
            # driver's words, which name the database's host, go to the log only
            log.warning(UNAVAILABLE_LOG, request.method, route_path(request.scope), exc)
            detail, headers = UNAVAILABLE, {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)}
        return JSONResponse(
            {"error": kind.__name__, "detail": detail}, status_code=status, headers=headers
        )

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        why = _unparsed_body(exc)
        if why is not None:  # a body that is not JSON is a 422, as the schema says
            return _error(422, [{"type": "json_invalid", "loc": ["body"], "msg": why}])
        headers = exc.headers
        allow = (headers or {}).get("Allow", "")
        if exc.status_code == 405 and "GET" in allow.split(", ") and "HEAD" not in allow:
            # the GET route's refusal: its HEAD (_answer_head) is another route
            headers = {**(headers or {}), "Allow": f"{allow}, HEAD"}
        return _error(exc.status_code, exc.detail, headers)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Without pydantic's `input`: it echoes the request (a megabyte for 100,000 texts).
        problems = [{k: e[k] for k in ("type", "loc", "msg") if k in e} for e in exc.errors()]
        sent_as = _not_json(request.headers.get("content-type"))
        if sent_as is not None and any(tuple(p["loc"]) == ("body",) for p in problems):
            # FastAPI reads a body as JSON only when it says so; any other came to the model as
            # bytes, "Input should be a valid dictionary or object to extract fields from"
            problems = [{"type": "content_type", "loc": ["body"], "msg": NOT_JSON.format(sent_as)}]
        return _error(422, problems)

    @api.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Starlette still logs the traceback; the caller gets JSON like every other error.
        return _error(500, UNEXPECTED)

    return api


def _token_state(services: Services) -> str:
    """/healthz's ``slack``: what Slack last said of the bot token to this process, or that
    it has not answered (``TokenWatch.state``)."""
    watch = token_watch(services.client)
    return watch.state if watch is not None else "ok"


def _unparsed_body(exc: StarletteHTTPException) -> str | None:
    """Why FastAPI could not parse a JSON body, when ``exc`` is its 400 for that; else None.

    FastAPI answers a body json.loads refuses with a JSONDecodeError as a 422 (json_invalid),
    and any other failure of json.loads as a 400 raised from it: bytes that are not UTF-8 (nor
    UTF-16 or -32), nesting deeper than Python's recursion limit, an integer over Python's 4,300
    digits. None of them is JSON this API reads either. labelbot's own 400s (/slack/events')
    are raised without a cause.
    """
    cause = exc.__cause__
    if exc.status_code != 400 or not isinstance(cause, ValueError | RecursionError):
        return None
    if isinstance(cause, UnicodeDecodeError):
        return "JSON decode error: the body is not UTF-8"
    if isinstance(cause, RecursionError):
        return "JSON decode error: nested too deeply"
    if "digits" in str(cause):
        return "JSON decode error: a number with too many digits"
    return "JSON decode error"


class _Repeated(ValueError):
    """A JSON object names a field twice (the first one it repeats: ``args[0]``)."""


def _repeated_field(body: bytes) -> str | None:
    """The first field a JSON object in ``body`` names twice (at any depth), or None. ``body``
    is JSON FastAPI has parsed already (a dict: json keeps the last value of a repeated key)."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) != len(pairs):
            seen: set[str] = set()
            raise _Repeated(next(k for k, _ in pairs if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
        return found

    try:
        json.loads(body, object_pairs_hook=unique)
    except _Repeated as exc:
        return str(exc.args[0])
    return None


NOT_JSON = (
    "the body must be sent as JSON, with Content-Type: application/json; it came {} (curl's "
    "-d sends a form: add -H 'Content-Type: application/json', or use --json)"
)


def _not_json(content_type: str | None) -> str | None:
    """How a body was sent when FastAPI does not read it as JSON (``NOT_JSON``'s words): with
    no Content-Type, or one other than application/json or application/*+json; None when it
    was sent as JSON."""
    if not content_type:
        return "without a Content-Type"
    message = email.message.Message()  # as FastAPI parses it
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    if message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    ):
        return None
    return f"as {message.get_content_type()}"


def _error(status: int, detail: Any, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = {"error": HTTPStatus(status).phrase, "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


SSL_CHECK_MAX_BYTES = 1024  # Slack's ssl_check is a short form ("ssl_check=1&token=…")


async def _ssl_check(request: Request) -> bool:
    """Whether the request is Slack's SSL check: a short form whose ``ssl_check`` is 1 (Bolt's
    test, slack_bolt.middleware.ssl_check). Only a form that says it is short is read to find
    out; any other body stays unread until its signature headers pass."""
    headers = request.headers
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    size = headers.get("content-length", "")
    if kind != "application/x-www-form-urlencoded" or not size.isdigit():
        return False
    if int(size) > SSL_CHECK_MAX_BYTES:
        return False
    body = await request.body()  # kept by starlette: the signed path reads it again
    return parse_qs(body.decode("utf-8", "replace")).get("ssl_check") == ["1"]


def _signed_by_slack(verifier: SignatureVerifier, body: bytes, headers: Headers) -> bool:
    """Slack's signature check, done before anything parses the body."""
    try:
        return verifier.is_valid(
            body.decode("utf-8"),
            headers.get("x-slack-request-timestamp"),
            headers.get("x-slack-signature"),
        )
    except (ValueError, OverflowError):  # not UTF-8, a timestamp no integer: nothing signed
        return False


def _signature_headers_fresh(verifier: SignatureVerifier, headers: Headers) -> bool:
    """Slack's signature headers are there, and the timestamp is one Slack's check would take
    (``SLACK_MAX_AGE_S``, by the verifier's clock): what can be checked before the body."""
    stamp = signed_timestamp(headers)
    return stamp is not None and abs(verifier.clock.now() - stamp) <= SLACK_MAX_AGE_S


def _unfresh_detail(headers: Headers) -> str:
    """Why a request failed :func:`_signature_headers_fresh`: signed, with a timestamp out of
    Slack's window (the clock, when every request says so), or no Slack signature at all."""
    return CLOCK_SKEWED if signed_timestamp(headers) is not None else UNSIGNED


def _bolt_headers(response: BoltResponse) -> dict[str, str]:
    """The headers of Bolt's ``response`` but its body's, for an answer of another body; a 400,
    a refusal of a request Slack would not send, says NO_RETRY."""
    headers = {
        name: value  # Bolt's names are lower case
        for name, value in response.first_headers_without_set_cookie().items()
        if name not in ("content-type", "content-length")
    }
    if response.status == 400:
        headers[NO_RETRY_HEADER.lower()] = "1"
    return headers


def _json_body(body: str) -> bool:
    """Whether a Bolt response's body is a JSON object already."""
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


def _slack_kind(body: Mapping[str, Any]) -> str | None:
    """What a parsed Slack request is: its ``type`` or slash ``command``; None when neither."""
    kind = body.get("type") or body.get("command")
    return kind if isinstance(kind, str) and kind else None


def _token_ok(settings: SlackSettings, authorization: str | None, path: str) -> bool:
    """Whether ``authorization`` carries LABELBOT_API_TOKEN, or for ``METRICS_PATH``
    LABELBOT_METRICS_TOKEN (which opens nothing else)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # one or more spaces after the scheme (RFC 9110, 11.4), as FastAPI's HTTPBearer reads it
    token = token.strip()
    taken = [settings.api_token]
    if path == METRICS_PATH:
        taken.append(settings.metrics_token)
    # every token compared (no early exit): how long it takes says nothing of which one matched
    matches = [
        hmac.compare_digest(token.encode(), t.get_secret_value().encode()) for t in taken if t
    ]
    return any(matches)


class TokenFirst:
    """ASGI middleware: every path but ``PUBLIC_PATHS`` needs the bearer token, checked before
    the body is read.

    A route's dependencies run only after FastAPI has read and parsed the body, so checking the
    token there would let anyone make the server buffer a body of up to ``MAX_API_BODY``. The
    path checked is the one the router matches: a prefix test on ``scope["path"]`` let every
    /api route through unauthenticated under a root path.
    """

    def __init__(self, app: ASGIApp, *, settings: SlackSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and (path := route_path(scope)) not in PUBLIC_PATHS
            and not _token_ok(self.settings, Headers(scope=scope).get("authorization"), path)
        ):
            # answered before the body is read: close, or the unread body holds the connection
            # until the keep-alive timeout
            response = _error(
                401, TOKEN_REQUIRED, {"WWW-Authenticate": "Bearer", "Connection": "close"}
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class Busy:
    """ASGI middleware: past ``most`` requests in flight, a new one is answered at once with a
    JSON 503 and Retry-After, as every other error, without being read. ``/healthz`` is always
    let through: a load balancer that took a busy replica out would only send its load to the
    others. (uvicorn's own limit, which ``labelbot serve`` sets a little above this one, also
    counts idle keep-alive connections and answers plain text: it stays as the cap on open
    files.)"""

    def __init__(self, app: ASGIApp, *, most: int) -> None:
        self.app = app
        self.most = most
        self.in_flight = 0  # one event loop: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) == "/healthz":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.most:
            headers = {"Retry-After": str(BUSY_RETRY_AFTER_S), "Connection": "close"}
            await _error(503, BUSY, headers)(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class BodyLimit:
    """ASGI middleware: a body over its path's cap is refused before it is read (by its
    Content-Length) or as soon as it passes the cap (a chunked body): 413. A body that stalls
    (``BODY_READ_TIMEOUT_S``) or is not complete in ``BODY_TIMEOUT_S`` is cut off: 408, and the
    connection closed. A client that hangs up mid-body is logged in one line (uvicorn logged
    each with a 60-line traceback at ERROR: anyone could flood the log for free).

    Starlette's own limit (``max_body_size``) answers plain text when the Content-Length is over.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = MAX_API_BODY if route_path(scope).startswith("/api/") else MAX_SLACK_BODY
        too_large = f"the request body is over the {cap:,}-byte limit"
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > cap:
            await _error(413, too_large, {"Connection": "close"})(scope, receive, send)
            return
        received = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BODY_TIMEOUT_S
        complete = False

        async def receive_capped() -> Message:
            nonlocal received, complete
            if complete:  # after the body, an app may wait for the disconnect as long as it likes
                return await receive()
            wait = max(0.0, min(BODY_READ_TIMEOUT_S, deadline - loop.time()))
            try:
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:  # the app's read fails, and its HTTPException handler answers
                log.info("%s %s: %s", scope["method"], route_path(scope), TIMED_OUT)
                raise HTTPException(408, TIMED_OUT, {"Connection": "close"}) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            received += len(message.get("body", b""))
            if received > cap:  # as above
                raise HTTPException(413, too_large, {"Connection": "close"})
            return message

        try:
            await self.app(scope, receive_capped, send)
        except ClientDisconnect:  # raised by the app's read; there is no one left to answer
            log.info(
                "%s %s: the client hung up before the whole body came",
                scope["method"],
                route_path(scope),
            )


# Declared only, for /openapi.json: TokenFirst checks the token, before the body is read.
BEARER = HTTPBearer(scheme_name="LABELBOT_API_TOKEN", description=TOKEN_REQUIRED, auto_error=False)
NO_SUCH_PROJECT = "No project of that name"


def _errors(when: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status answered as ``ErrorOut``, and when."""
    return {status: {"model": ErrorOut, "description": why} for status, why in when.items()}


class TrailingSlash:
    """ASGI middleware, the outermost: a path with a trailing slash is served as the path
    without it (``/api/projects/`` as ``/api/projects``), by every middleware and route alike
    (the bearer token's check, the metrics' route template, a 404 for a path no route serves).

    Starlette's own answer was a 307 to the other path (FastAPI's ``redirect_slashes``, off
    here): curl without -L got no data, a POST had to be sent twice, and the Location named the
    host and scheme this server sees, not the proxy's. No route ends in a slash
    (tests/bot/test_api_slash_head.py checks), so none is lost."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = route_path(scope)
            trimmed = path.rstrip("/")
            if trimmed and trimmed != path:  # "/" stays: no route serves it
                full: str = scope["path"]
                scope = {**scope, "path": full[: len(full) - (len(path) - len(trimmed))]}
        await self.app(scope, receive, send)


def _answer_head(router: APIRouter) -> None:
    """Every GET route of ``router`` answers HEAD too, by the same endpoint: the GET's status
    and headers, no body (uvicorn sends none for a HEAD). Starlette's own routes do so,
    FastAPI's do not (fastapi/fastapi#1773), and curl -I, uptime checkers and proxies probe
    with HEAD. Left out of /openapi.json: HEAD is implied by GET (RFC 9110, 9.3.2), and its own
    operation would repeat the GET's operationId. A path with a HEAD route of its own keeps it.
    Call it once the router's routes are all added."""
    routes = [r for r in router.routes if isinstance(r, APIRoute)]
    answered = {r.path for r in routes if "HEAD" in (r.methods or ())}
    for route in routes:
        if "GET" not in (route.methods or ()) or route.path in answered:
            continue
        answered.add(route.path)
        router.add_api_route(
            route.path.removeprefix(router.prefix),
            route.endpoint,
            methods=["HEAD"],
            include_in_schema=False,
            response_model=route.response_model,
            response_class=route.response_class,
            status_code=route.status_code,
            # the router adds its own again
            dependencies=route.dependencies[len(router.dependencies) :],
            name=route.name,
        )


def _rest_router(services: Services, *, deadline: float) -> APIRouter:
    """The REST API; ``TokenFirst`` has checked the bearer token of every request. Each
    request waits for the database ``deadline`` seconds in all (:class:`DatabaseDeadline`)."""
    router = APIRouter(
        prefix="/api",
        dependencies=[Security(BEARER)],
        responses={
            **_errors({401: f"No valid bearer token: {TOKEN_REQUIRED}"}),
            "default": {
                "model": ErrorOut,
                "description": "Any other error (405; 408 for a body that stalls; 500; 503 "
                "DatabaseUnavailable with Retry-After when the database cannot be reached or "
                f"does not answer within LABELBOT_API_DEADLINE_SECONDS, or {BUSY_WHEN}) has the "
                "same shape",
            },
        },
    )
    ws = services.ws
    export_slots = ExportSlots()

    @router.get("/projects")
    async def list_projects() -> list[ProjectOut]:
        found = await DatabaseDeadline(deadline).run(projects.list_projects, ws)
        return [
            ProjectOut(name=p.name, description=p.description, channel=p.channel_id) for p in found
        ]

    @router.get(
        "/projects/{name}/status",
        response_model=None,  # the dict as it is: StatusOut only describes it
        responses={
            200: {"model": StatusOut, "description": "The JSON `labelbot status --json` prints"},
            **_errors({404: NO_SUCH_PROJECT}),
        },
    )
    async def project_status(name: str) -> dict[str, Any]:
        # `labelbot status --json`'s very JSON (one function): model.estimate says which
        # accuracy is the headline, model.file_problem and training what the rows cannot
        return await DatabaseDeadline(deadline).run(projects.status_report, ws, name)

    @router.post(
        "/projects/{name}/predict",
        responses=_errors(
            {
                404: f"{NO_SUCH_PROJECT}, or its active model's file is missing or damaged",
                409: "The project has no trained model yet: ask again once it has one",
                413: f"The body is over {MAX_API_BODY:,} bytes, or its texts over "
                f"{MAX_PREDICT_CHARS:,} characters in all",
                422: "A text the import would refuse, no texts or over "
                f"{MAX_TEXTS:,}, a body that is not JSON (or not sent as application/json), a "
                "field other than texts and top_k, a field named twice, a top_k out of its "
                "range",
                503: "The active model was trained on another encoder's embeddings "
                "(ConfigurationError); or the database cannot be reached or does not answer "
                "within LABELBOT_API_DEADLINE_SECONDS (DatabaseUnavailable, with Retry-After); "
                f"or {BUSY_WHEN}",
            }
        ),
    )
    async def predict(name: str, body: PredictIn, request: Request) -> PredictOut:
        # json.loads keeps a repeated field's last value: {"texts": ["a"], "texts": ["b"]}
        # answered for "b" alone; refused as import refuses such an object. The body as
        # FastAPI read it (Starlette keeps it), parsed again beside the event loop.
        twice = await run_in_threadpool(_repeated_field, await request.body())
        if twice is not None:
            raise RequestValidationError(
                [
                    {
                        "type": "duplicate_field",
                        "loc": ("body", twice),
                        "msg": f"the field {twice!r} appears twice in one object; keep one",
                    }
                ]
            )
        total = sum(map(len, body.texts))
        if total > MAX_PREDICT_CHARS:
            raise HTTPException(
                413,
                f"the texts have {total:,} characters in all, over the {MAX_PREDICT_CHARS:,} "
                "a request may have: send them in smaller batches",
            )
        texts, db = body.texts, DatabaseDeadline(deadline)
        # no model yet is a conflict (409, ask again later), no such project 404
        answering = await db.run(predicting.Answering, ws, name, top_k=body.top_k)
        stored = await db.run(answering.stored, texts)  # a pool text: as exported
        # encoding takes what it takes: not the database's time
        todo = [t for i, t in enumerate(texts) if i not in stored]
        fresh = await run_in_threadpool(answering.fresh, todo)
        notes = await db.run(answering.notes)
        return PredictOut(
            project=name,
            predictions=[
                PredictionOut(
                    text=p.text,
                    label=p.label,
                    confidence=p.confidence,
                    top=[LabelProbability(label=lb, probability=pr) for lb, pr in p.top],
                )
                for p in answering.combined(texts, stored, fresh)
            ],
            notes=notes,
            model_version=answering.version,
        )

    @router.get(
        "/projects/{name}/export",
        response_class=Response,
        responses={
            200: {
                "description": "Every example: JSON Lines, or CSV with a header row; UTF-8 "
                "(`charset=utf-8`), a download named after the project (Content-Disposition)",
                "content": {t: {"schema": {"type": "string"}} for t in MEDIA_TYPES.values()},
                "headers": EXPORT_HEADERS,
            },
            **_errors(
                {
                    404: NO_SUCH_PROJECT,
                    422: "An unknown format, spreadsheet_safe with JSONL, a spreadsheet_safe "
                    "that is no boolean, or format or spreadsheet_safe given twice",
                    503: f"{EXPORT_SLOTS} exports are streaming from this server already and "
                    f"none ended within {EXPORT_WAIT_S:g} s; or the database cannot be reached "
                    "or does not answer within LABELBOT_API_DEADLINE_SECONDS "
                    f"(DatabaseUnavailable); or {BUSY_WHEN}: retry after the Retry-After "
                    "seconds",
                }
            ),
        },
    )
    async def export(
        request: Request,
        name: str,
        format: Annotated[
            str,
            Query(
                description="jsonl or csv, in any case (as `labelbot export --format`)",
                json_schema_extra={"pattern": "^([Jj][Ss][Oo][Nn][Ll]|[Cc][Ss][Vv])$"},
            ),
        ] = "jsonl",
        spreadsheet_safe: Annotated[
            bool,
            Query(
                description="CSV only: put a ' before cells a spreadsheet would run as "
                "formulas, start with a byte order mark (for Excel) and end each row with a "
                "spreadsheet_safe column (true), which tells `labelbot import` to take the ' "
                "off again; true with format jsonl answers 422",
            ),
        ] = False,
    ) -> Response:
        """Every example as JSONL or CSV (the `labelbot export` format); ``spreadsheet_safe``
        (CSV only) puts a ' before cells a spreadsheet would run as formulas."""
        # FastAPI keeps a repeated parameter's last value: ?format=csv&format=jsonl answered
        # JSONL; refused as predict refuses a field named twice (which did the caller mean?)
        twice = [
            k for k in ("format", "spreadsheet_safe") if len(request.query_params.getlist(k)) > 1
        ]
        if twice:
            raise RequestValidationError(
                [
                    {
                        "type": "duplicate_field",
                        "loc": ("query", key),
                        "msg": f"the parameter {key!r} appears twice in the query; keep one",
                    }
                    for key in twice
                ]
            )
        fmt = exporting.check_format(format, spreadsheet_safe=spreadsheet_safe)
        media_type = f"{MEDIA_TYPES[fmt]}; charset=utf-8"
        headers = {"Content-Disposition": EXPORT_DISPOSITION.format(name=name, fmt=fmt)}
        if request.method == "HEAD":
            # what the GET would answer now, without reading the examples or waiting: its 503
            # while every slot is taken (an uptime checker's 200 then promised a download that
            # waits and is refused), else the project's look-up alone. It takes no slot
            # (nothing streams).
            if not export_slots.free():
                raise _exports_busy()
            await DatabaseDeadline(deadline).run(projects.get_project, ws, name)
            return StreamingResponse(iter(()), media_type=media_type, headers=headers)
        if not await export_slots.take(EXPORT_WAIT_S):
            raise _exports_busy()
        try:
            # sent as it is read (a large project is never whole in memory); a missing project
            # is a 404 before the first byte
            pieces = await DatabaseDeadline(deadline).run(
                exporting.export_stream,
                ws,
                name,
                fmt,
                spreadsheet_safe=spreadsheet_safe,
                bom=spreadsheet_safe,
            )
        except BaseException:
            await export_slots.give_back()
            raise
        return ExportResponse(pieces, media_type=media_type, headers=headers, slot=export_slots)

    _answer_head(router)
    return router


class ExportResponse(StreamingResponse):
    """An export's body: its database connection and its slot are given back as soon as the
    response ends, however it ends (sent whole, the client gone, or cut off after
    ``EXPORT_SEND_TIMEOUT_S`` without taking a piece).

    Starlette's StreamingResponse leaves the iterator of a response the client hung up on to
    the garbage collector: the export's read transaction, and its connection, stayed checked
    out until the next collection of cycles (and were then closed under it, with an "Exception
    ignored" traceback each)."""

    def __init__(
        self,
        pieces: Iterator[str],
        *,
        media_type: str,
        headers: Mapping[str, str],
        slot: ExportSlots,
    ) -> None:
        super().__init__(pieces, media_type=media_type, headers=headers)
        self._pieces = pieces
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_in_time(message: Message) -> None:
            async with asyncio.timeout(EXPORT_SEND_TIMEOUT_S):
                await send(message)

        try:
            await super().__call__(scope, receive, send_in_time)
        except TimeoutError:  # the client stopped reading: the connection is closed by uvicorn
            log.info(
                "%s: the client took no data for %gs", route_path(scope), EXPORT_SEND_TIMEOUT_S
            )
        finally:
            try:
                # no thread is in the iterator now (Starlette waits for its next()); closing it
                # ends the read transaction and returns the connection to the pool
                close = getattr(self._pieces, "close", None)
                if close is not None:
                    await asyncio.shield(run_in_threadpool(close))
            finally:
                await self._slot.give_back()


async def _retry_outbox(
    services: Services, interval: float, stop: threading.Event | None = None
) -> None:
    """Every ``interval`` seconds, send what Slack could not take before, until ``stop`` is set
    (a round under way ends after the message in flight). A database that cannot be reached is
    one WARNING line a minute while it lasts (not a traceback a round), and one line when it
    answers again; so is Slack taking no calls (the Courier's messaging.Reach)."""
    watch = DatabaseWatch("outbox")
    flush = services.courier.flush
    if stop is not None:
        flush = functools.partial(flush, stop=stop)
    while stop is None or not stop.is_set():
        await asyncio.sleep(interval)
        try:
            sent = await asyncio.to_thread(flush)
        except DatabaseUnavailable as exc:
            watch.failed("flush", exc)
            continue
        except Exception:  # keep retrying: one bad round must not end delivery for good
            log.exception("outbox flush failed")
            continue
        watch.reached()
        if sent:
            log.info("outbox: delivered %d queued message(s)", sent)
