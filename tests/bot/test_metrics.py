"""GET /metrics, scraped as Prometheus would: each figure read back from the text format and
compared with what the database and the requests really were."""

from __future__ import annotations

import itertools
import re
import socket
from datetime import UTC

import pytest

from bot import metrics as bot_metrics
from engine import projects, training
from engine.gauges import ProjectGauges
from storage.db import make_engine
from tests.bot.conftest import API_TOKEN, PROJECT, Bot, train_bank

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
# name{labels} value, as the text format 0.0.4 writes a sample
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def scrape(bot: Bot) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of one scrape; checks that each has a HELP and TYPE line first."""
    answer = bot.slack.http.get("/metrics", headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == bot_metrics.CONTENT_TYPE
    described: set[str] = set()
    samples = {}
    for line in answer.text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            described.add(line.split()[2])
            continue
        found = SAMPLE.match(line)
        assert found is not None, line
        name, labels, value = found.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in described or family in described, line
        pairs = frozenset((k, _unescape(v)) for k, v in LABEL.findall(labels or ""))
        samples[(name, pairs)] = float(value)
    return samples


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples[(name, frozenset(labels.items()))]


def test_metrics_needs_the_token(bot: Bot) -> None:
    assert bot.slack.http.get("/metrics").status_code == 401
    wrong = bot.slack.http.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_the_project_figures_are_the_databases(bot: Bot, bank: dict[str, str]) -> None:
    before = scrape(bot)
    status = projects.project_status(bot.ws, PROJECT)
    assert value(before, "labelbot_database_up") == 1
    assert value(before, "labelbot_project_examples", project=PROJECT) == status["examples"]
    assert value(before, "labelbot_project_annotations", project=PROJECT) == 0
    assert value(before, "labelbot_project_queue_examples", project=PROJECT) == status["queue"]
    assert not any(name.startswith("labelbot_model_") for name, _ in before)  # no model yet
    train_bank(bot, bank, labels=30)
    after = scrape(bot)
    status = projects.project_status(bot.ws, PROJECT)
    assert value(after, "labelbot_project_annotations", project=PROJECT) == 30
    assert value(after, "labelbot_project_annotated_examples", project=PROJECT) == 30
    assert value(after, "labelbot_project_queue_examples", project=PROJECT) == status["queue"]
    assert status["queue"] < value(before, "labelbot_project_queue_examples", project=PROJECT)
    run = training.active_model(bot.ws, PROJECT)
    assert run is not None
    assert value(after, "labelbot_model_version", project=PROJECT) == run[0].version == 1
    # audit labels are held out of training
    assert value(after, "labelbot_model_training_labels", project=PROJECT) == run[0].n_labels
    assert 0 < run[0].n_labels <= 30
    trained = run[0].created_at.replace(tzinfo=run[0].created_at.tzinfo or UTC)
    stamp = value(after, "labelbot_model_trained_timestamp_seconds", project=PROJECT)
    assert abs(stamp - trained.timestamp()) < 1e-3
    # the headline `labelbot status` gives, and which estimate it is
    headline = projects.status_report(bot.ws, PROJECT)["model"]["estimate"]["headline"]
    source = headline["source"]
    accuracy = value(after, "labelbot_model_accuracy", project=PROJECT, source=source)
    assert accuracy == pytest.approx(headline["accuracy"])
    assert value(after, "labelbot_outbox_messages") == 0


def test_label_values_are_escaped() -> None:
    """Project names are plain today (letters, digits, _ - .); the format's escapes are kept
    all the same, so a value can never end its label early or start a new sample."""
    odd = 'a "b" \\ c\nd'
    gauges = ProjectGauges(odd, 3, 1, 1, 2, 0, 0, None)
    text = bot_metrics.exposition(bot_metrics.render_state([gauges], outbox=0, dead=0, slack=None))
    (line,) = [ln for ln in text.splitlines() if ln.startswith("labelbot_project_examples{")]
    name, labels, number = SAMPLE.match(line).groups()  # type: ignore[union-attr]
    assert dict((k, _unescape(v)) for k, v in LABEL.findall(labels)) == {"project": odd}
    assert number == "3"


def test_requests_are_counted_and_timed_by_route_template(bot: Bot, bank: dict[str, str]) -> None:
    http = bot.slack.http
    for name in (PROJECT, "nope", "other"):
        http.get(f"/api/projects/{name}/status", headers=AUTH)
    http.get("/api/projects", headers={"Authorization": "Bearer nope"})  # TokenFirst's 401
    http.get("/no/such/path", headers=AUTH)
    assert bot.slack.command("U0ALICE", "help").status_code == 200
    samples = scrape(bot)
    count = "labelbot_http_requests_total"
    status_route = "/api/projects/{name}/status"
    assert value(samples, count, route=status_route, method="GET", status="200") == 1
    assert value(samples, count, route=status_route, method="GET", status="404") == 2
    assert value(samples, count, route="/api/projects", method="GET", status="401") == 1
    assert value(samples, count, route="other", method="GET", status="404") == 1
    assert value(samples, count, route="/slack/events", method="POST", status="200") == 1
    # no series per project name or per junk path
    assert not any("nope" in str(labels) for _, labels in samples)
    duration = "labelbot_http_request_duration_seconds"
    n = value(samples, f"{duration}_count", route=status_route)
    assert n == 3
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in samples.items()
        if name == f"{duration}_bucket" and dict(labels)["route"] == status_route
    )
    assert [le for le, _ in buckets][-1] == float("inf") and buckets[-1][1] == n
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(buckets))  # cumulative
    assert 3.0 in [le for le, _ in buckets]  # Slack's ack deadline is a bucket bound
    assert value(samples, f"{duration}_sum", route=status_route) > 0


def test_without_the_database_the_process_figures_still_come(bot: Bot) -> None:
    bot.slack.http.get("/api/projects", headers=AUTH)
    with socket.socket() as closed:  # a port nobody listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bot.ws, "db", make_engine(f"postgresql+psycopg://x@127.0.0.1:{port}/x"))
        samples = scrape(bot)
    assert value(samples, "labelbot_database_up") == 0
    assert not any(name.startswith("labelbot_project_") for name, _ in samples)
    count = "labelbot_http_requests_total"
    assert value(samples, count, route="/api/projects", method="GET", status="200") == 1


def test_a_refused_bot_token_reads_zero(bot: Bot) -> None:
    fresh = scrape(bot)  # no call yet: nothing refused, nothing answered
    assert value(fresh, "labelbot_slack_token_ok") == 1
    assert value(fresh, "labelbot_slack_reachable") == 0
    bot.services.client.auth_test()
    assert value(scrape(bot), "labelbot_slack_reachable") == 1
    bot.api.token = "xoxb-rotated"  # the app reinstalled: SLACK_BOT_TOKEN is the old token
    bot.slack.command("U0ALICE")
    bot.settle()
    assert value(scrape(bot), "labelbot_slack_token_ok") == 0


def test_a_metrics_token_opens_metrics_and_nothing_else(bot: Bot) -> None:
    """Prometheus holding LABELBOT_API_TOKEN held the key to every project's data;
    LABELBOT_METRICS_TOKEN is a token for /metrics alone."""
    import httpx

    from bot.api import create_api
    from tests.bot.conftest import slack_settings
    from tests.fakes.server import ServerThread

    metrics_token = "metrics-only-" + "m" * 32
    settings = slack_settings(
        str(bot.ws.settings.database_url),
        bot.api.api_url,
        bot.ws.settings.data_dir,
        LABELBOT_METRICS_TOKEN=f" {metrics_token} ",  # spaces dropped, as the API token's
    )
    only = {"Authorization": f"Bearer {metrics_token}"}
    with (
        ServerThread(create_api(settings, bot.services)) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        scraped = http.get("/metrics", headers=only)
        assert scraped.status_code == 200 and "labelbot_database_up 1" in scraped.text
        assert http.get("/metrics", headers=AUTH).status_code == 200  # the API token too
        for path in ("/api/projects", f"/api/projects/{PROJECT}/export", "/openapi.json"):
            assert http.get(path, headers=only).status_code == 401, path
        assert http.get("/api/projects", headers=AUTH).status_code == 200
        wrong = {"Authorization": f"Bearer {metrics_token}x"}
        assert http.get("/metrics", headers=wrong).status_code == 401
    assert bot.slack.http.get("/metrics", headers=only).status_code == 401  # not set there
