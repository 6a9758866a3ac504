"""``GET /metrics``: what Prometheus (or any scraper of its text format) reads from a replica.

Two kinds of figures, told apart by their names' meaning, not their source:

- this process's HTTP traffic (``labelbot_http_*``): requests by route template, method and
  status, and how long each took: for ``/slack/events`` that is how long Slack waited for its
  ack, which must stay under Slack's 3 seconds (a bucket ends at 3). Each replica counts its
  own, as Prometheus expects (it sums them);
- the database's state (``labelbot_project_*``, ``labelbot_model_*``, ``labelbot_outbox_*``),
  the same whichever replica answers: each project's examples, labels, queue, open flags and
  proposals, and its active model's version, age, training labels and headline accuracy
  (engine.gauges). When the database does not answer, ``labelbot_database_up`` is 0 and the
  process's own figures are still given.

Text exposition format 0.0.4: https://prometheus.io/docs/instrumenting/exposition_formats/
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.delivery import UNREACHABLE, UNVERIFIED
from engine.gauges import ProjectGauges
from engine.jobs import RETRAIN_BUCKETS, ActivitySnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# seconds; 3.0 is Slack's deadline for an ack (a request answered later is retried by Slack)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"  # a path no route serves, or a method no client should send: one series each


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if isinstance(value, int) or (math.isfinite(value) and value == int(value)):
        return str(int(value))
    return repr(float(value))


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    count: int = 0


class HttpMetrics:
    """This process's requests: counts by (route, method, status), durations by route."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = {}
        self._durations: dict[str, _Histogram] = {}

    def observe(self, *, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method if method in METHODS else OTHER, str(status))
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            histogram = self._durations.setdefault(route, _Histogram())
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    histogram.buckets[i] += 1
            histogram.total += seconds
            histogram.count += 1

    def render(self) -> list[str]:
        with self._lock:
            counts = sorted(self._counts.items())
            durations = sorted(
                (route, _Histogram(list(h.buckets), h.total, h.count))
                for route, h in self._durations.items()
            )
        lines = [
            "# HELP labelbot_http_requests_total HTTP requests this process answered.",
            "# TYPE labelbot_http_requests_total counter",
        ]
        for (route, method, status), n in counts:
            lines.append(
                f"labelbot_http_requests_total{_labels(route=route, method=method, status=status)}"
                f" {n}"
            )
        lines += [
            "# HELP labelbot_http_request_duration_seconds How long this process took to "
            "answer (for /slack/events, Slack's wait for its ack: keep it under 3 s).",
            "# TYPE labelbot_http_request_duration_seconds histogram",
        ]
        name = "labelbot_http_request_duration_seconds"
        for route, h in durations:
            for bound, n in zip(BUCKETS, h.buckets, strict=True):
                lines.append(f"{name}_bucket{_labels(route=route, le=_number(bound))} {n}")
            lines.append(f"{name}_bucket{_labels(route=route, le='+Inf')} {h.count}")
            lines.append(f"{name}_sum{_labels(route=route)} {_number(h.total)}")
            lines.append(f"{name}_count{_labels(route=route)} {h.count}")
        return lines


def route_path(scope: Scope) -> str:
    """The path the router matches (as Starlette's own get_route_path): served under a root
    path (uvicorn --root-path, behind a path-prefix proxy), ``scope["path"]`` starts with it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


class RouteTemplates:
    """The route template a request path belongs to ("/api/projects/{name}/predict"), so that
    a series is per route, not per project name or junk path; ``OTHER`` for none. A request
    the router served says its route (``scope["route"]``); one answered before routing (the
    bearer token's 401, a body's 413) is matched against every template the app serves,
    compiled on first use (``templates`` is called then, once the routes are all added)."""

    def __init__(self, templates: Callable[[], Iterable[str]]) -> None:
        self._templates = templates
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None

    def __call__(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None and isinstance(getattr(route, "path", None), str):
            return str(route.path)
        if self._compiled is None:
            self._compiled = [(compile_path(t)[0], t) for t in dict.fromkeys(self._templates())]
        path = route_path(scope)
        return next((t for regex, t in self._compiled if regex.fullmatch(path)), OTHER)


class RequestTimer:
    """ASGI middleware, the outermost: times every HTTP request to its last byte and counts it
    by its route template, method and status (500 when the app raised before answering)."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics, routes: RouteTemplates) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_seen)
        finally:
            self.metrics.observe(
                route=self.routes(scope),
                method=str(scope.get("method", "")),
                status=status,
                seconds=time.perf_counter() - started,
            )


def _timestamp(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _gauge(name: str, help_text: str, rows: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    lines += [f"{name}{_labels(**labels)} {_number(value)}" for labels, value in rows]
    return lines


PROJECT_GAUGES: tuple[tuple[str, str, Callable[[ProjectGauges], int]], ...] = (
    ("labelbot_project_examples", "Examples in the project.", lambda p: p.examples),
    (
        "labelbot_project_annotated_examples",
        "Examples with a live label that counts (status's labeled).",
        lambda p: p.annotated,
    ),
    ("labelbot_project_annotations", "Live (not retracted) labels.", lambda p: p.annotations),
    (
        "labelbot_project_queue_examples",
        "Examples free to hand out to a labeler.",
        lambda p: p.queue,
    ),
    ("labelbot_project_open_flags", "Flags no one has resolved.", lambda p: p.open_flags),
    (
        "labelbot_project_open_proposals",
        "Taxonomy proposals awaiting an admin.",
        lambda p: p.open_proposals,
    ),
)


def render_state(
    projects: list[ProjectGauges] | None, *, outbox: int, dead: int, slack: str | None
) -> list[str]:
    """The database's figures (``projects`` None: the database did not answer) and what Slack
    last said of the bot token to this process (``slack`` None: this server runs without it)."""
    lines = _gauge(
        "labelbot_database_up",
        "Whether the database answered this scrape.",
        [({}, 0 if projects is None else 1)],
    )
    if slack is not None:
        lines += _gauge(
            "labelbot_slack_token_ok",
            "Whether Slack took the bot token when this process last used it (0: reinstall "
            "the app or update SLACK_BOT_TOKEN; /healthz says the error).",
            [({}, 0 if slack not in ("ok", UNVERIFIED, UNREACHABLE) else 1)],
        )
        lines += _gauge(
            "labelbot_slack_reachable",
            "Whether this process's last call to Slack's Web API got an answer (0 before its "
            "first, and while Slack cannot be reached).",
            [({}, 0 if slack in (UNVERIFIED, UNREACHABLE) else 1)],
        )
    if projects is None:
        return lines
    lines += _gauge("labelbot_outbox_messages", "Messages waiting for Slack.", [({}, outbox)])
    lines += _gauge(
        "labelbot_outbox_dead_messages",
        "Messages given up in the last 24 hours.",
        [({}, dead)],
    )
    for name, help_text, read in PROJECT_GAUGES:
        lines += _gauge(name, help_text, [({"project": p.name}, read(p)) for p in projects])
    modeled = [(p.name, p.model) for p in projects if p.model is not None]
    model_rows: list[tuple[str, str, list[tuple[dict[str, str], float]]]] = [
        (
            "labelbot_model_version",
            "The version of the model that answers.",
            [({"project": n}, m.version) for n, m in modeled],
        ),
        (
            "labelbot_model_trained_timestamp_seconds",
            "When the model that answers was trained (Unix time).",
            [({"project": n}, _timestamp(m.trained_at)) for n, m in modeled],
        ),
        (
            "labelbot_model_training_labels",
            "The labels the model that answers was trained on.",
            [({"project": n}, m.labels) for n, m in modeled],
        ),
        (
            "labelbot_model_accuracy",
            'The headline accuracy of the model that answers: source="audit" on random audit '
            'labels it never trained on (unbiased), else source="cv", cross-validated on its '
            "training labels (reads low when the queue chose them).",
            [
                ({"project": n, "source": str(m.source)}, m.accuracy)
                for n, m in modeled
                if m.accuracy is not None
            ],
        ),
    ]
    for name, help_text, rows in model_rows:
        lines += _gauge(name, help_text, rows)
    return lines


def render_activity(activity: ActivitySnapshot) -> list[str]:
    """This process's scheduler (engine.jobs.ACTIVITY): retrains that failed by project, how
    long retrains took, and when each job last ended without an error. Per process, as the HTTP
    figures: a process that runs no scheduler (`serve --no-scheduler`) has none to give."""
    lines = [
        "# HELP labelbot_retrain_failures_total Scheduled retrains that failed in this process "
        "(`labelbot status` says why).",
        "# TYPE labelbot_retrain_failures_total counter",
    ]
    lines += [
        f"labelbot_retrain_failures_total{_labels(project=project)} {n}"
        for project, n in sorted(activity.failures.items())
    ]
    name = "labelbot_retrain_duration_seconds"
    lines += [
        f"# HELP {name} How long this process's scheduled retrains took (failed ones too).",
        f"# TYPE {name} histogram",
    ]
    for bound, n in zip(RETRAIN_BUCKETS, activity.buckets, strict=True):
        lines.append(f"{name}_bucket{_labels(le=_number(bound))} {n}")
    lines.append(f"{name}_bucket{_labels(le='+Inf')} {activity.duration_count}")
    lines.append(f"{name}_sum {_number(activity.duration_sum)}")
    lines.append(f"{name}_count {activity.duration_count}")
    lines += _gauge(
        "labelbot_scheduler_job_last_success_timestamp_seconds",
        "When a run of this scheduler job last ended without an error in this process (Unix "
        "time): retrain, proposals, reviews, tidy (hourly), digests.",
        [({"job": job}, when) for job, when in sorted(activity.last_success.items())],
    )
    return lines


def exposition(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"
