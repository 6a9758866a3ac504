"""An operator installing labelbot for their team and getting its configuration wrong: each
mistake is told plainly, once, with what to fix, by the real `labelbot serve` (uvicorn given a
real loopback server in its place) against the fake Slack Web API."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from starlette.datastructures import Headers
from typer.testing import CliRunner, Result

from bot.api import UNSIGNED
from bot.cli import app
from bot.delivery import TokenWatch
from bot.listeners.members import WrongInstallWatch
from bot.scheduling import digest_sender
from bot.signature_watch import SignatureWatch
from bot.slack_errors import BOT_SCOPES, SCOPE_FIX, scope_advice
from engine import jobs
from storage.models import utcnow
from tests.bot.conftest import BOT_TOKEN, PROJECT, SIGNING_SECRET, Bot
from tests.fakes import payloads
from tests.fakes.server import ServerThread
from tests.fakes.signing import sign, signed_event, signed_slash_command
from tests.fakes.slack_api import FakeSlackAPI, Params

ROOT = Path(__file__).resolve().parents[2]
Requests = Callable[[httpx.Client], Any]


@pytest.fixture
def env(tmp_path: Path, slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """`serve`'s environment as README's 'Set up in Slack' has the operator set it, on a fresh
    SQLite database that `labelbot init` never saw."""
    from engine.config import get_settings

    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'team.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LABELBOT_OUTBOX_INTERVAL", "0")
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", slack_api.api_url)
    for name in ("SLACK_APP_TOKEN", "LABELBOT_API_TOKEN", "LABELBOT_ENCODER"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def serve(env: pytest.MonkeyPatch, requests: Requests | None = None) -> tuple[Result, Any]:
    """`labelbot serve`, with uvicorn.run serving what it was given on a real loopback server
    while ``requests`` runs against it: the CLI's result and what ``requests`` returned."""
    seen: dict[str, Any] = {}

    def run(api: Any, **_: Any) -> None:
        with ServerThread(api) as server, httpx.Client(base_url=server.url) as http:
            seen["answer"] = requests(http) if requests else None

    env.setattr("uvicorn.run", run)
    result = CliRunner().invoke(app, ["serve", "--no-scheduler"])
    return result, seen.get("answer")


def watch_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.signature_watch"]


def post_signed(http: httpx.Client, secret: str, *, age: int = 0) -> int:
    signed = sign(secret, "{}", "application/json", timestamp=int(time.time()) - age)
    return http.post("/slack/events", content=signed.body, headers=signed.headers).status_code


# --- the signing secret and the server's clock ---------------------------------------------------


def test_a_wrong_signing_secret_is_logged_once_naming_the_variable(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    result, statuses = serve(env, lambda http: [post_signed(http, "not-the-secret")
                                                for _ in range(5)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert statuses == [401] * 5
    [line] = watch_lines(caplog)  # once, not once per request
    assert "signature does not match SLACK_SIGNING_SECRET" in line
    assert "Basic Information" in line and "clock" not in line


def test_stale_timestamps_are_told_apart_from_a_wrong_secret(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    def requests(http: httpx.Client) -> list[int]:
        junk = http.post("/slack/events", content=b"{}").status_code  # no Slack headers
        return [junk] + [post_signed(http, SIGNING_SECRET, age=600) for _ in range(3)]

    result, statuses = serve(env, requests)
    assert result.exit_code == 0, result.output
    assert statuses == [401] * 4
    [line] = watch_lines(caplog)  # the unsigned junk is nobody's misconfiguration
    assert "behind this server's clock" in line and "NTP" in line
    assert "SLACK_SIGNING_SECRET" not in line


def test_the_signature_log_repeats_after_its_interval_with_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    now = [0.0]
    watch = SignatureWatch(app=None, repeat_after=600, monotonic=lambda: now[0])  # type: ignore[arg-type]
    signed = sign("not-the-secret", "{}", "application/json").headers
    for second in (0, 10, 20, 599, 600):
        now[0] = second
        watch.refused(Headers({name.lower(): value for name, value in signed.items()}))
    assert [line.split(" signed")[0] for line in watch_lines(caplog)] == [
        "refused 1",
        "refused 4",  # the three held back and this one
    ]


# --- Slack's tokens pasted in the wrong place ----------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("SLACK_BOT_TOKEN", "xapp-1-A0123-4567-abcdef", "it belongs in SLACK_APP_TOKEN"),
        ("SLACK_BOT_TOKEN", "xoxp-1111-2222-abcdef", "is a user token"),
        ("SLACK_BOT_TOKEN", '"xoxb-1111-2222-abcdef"', "has quotes around it"),
        ("SLACK_BOT_TOKEN", "xoxb-1111 xoxb-2222-abcdef", "holds spaces"),
        ("SLACK_BOT_TOKEN", "1111-2222-abcdef", "is not a Slack bot token"),
        ("SLACK_APP_TOKEN", "xoxb-1111-2222-abcdef", "it belongs in SLACK_BOT_TOKEN"),
        ("SLACK_SIGNING_SECRET", "xoxb-1111-2222-abcdef", "not the signing secret"),
    ],
)
def test_a_credential_in_the_wrong_variable_is_refused_before_serving(
    env: pytest.MonkeyPatch, slack_api: FakeSlackAPI, variable: str, value: str, said: str
) -> None:
    env.setenv(variable, value)
    result, _ = serve(env)
    assert result.exit_code == 6, result.output
    assert result.output.startswith(f"error: {variable}: ") and said in result.output
    assert "1111" not in result.output  # the value itself is never shown
    assert not slack_api.calls()  # refused before anything asks Slack


def test_whitespace_around_a_pasted_token_is_dropped(
    env: pytest.MonkeyPatch, slack_api: FakeSlackAPI
) -> None:
    env.setenv("SLACK_BOT_TOKEN", f" {BOT_TOKEN}\n")
    env.setenv("SLACK_SIGNING_SECRET", f"{SIGNING_SECRET}\n")
    result, status = serve(env, lambda http: post_signed(http, SIGNING_SECRET))
    assert result.exit_code == 0, result.output
    assert status == 400  # signed with the secret as pasted: past the check, "{}" is no payload
    checks = slack_api.calls("auth.test")  # at start, and Bolt's for the request
    assert checks and {c.headers["authorization"] for c in checks} == {f"Bearer {BOT_TOKEN}"}
    assert "Slack: bot @labelbot" in result.output


# --- what Slack says of the token at start-up -----------------------------------------------------


def test_serve_names_the_bot_and_its_workspace_at_start(env: pytest.MonkeyPatch) -> None:
    result, _ = serve(env)
    assert result.exit_code == 0, result.output
    assert "Slack: bot @labelbot (UBOT) in workspace Labelbot Test (T111" in result.output


def test_a_revoked_token_at_start_is_said_and_serving_goes_on(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env.setenv("SLACK_BOT_TOKEN", "xoxb-revoked-long-ago")
    result, health = serve(env, lambda http: http.get("/healthz").json())
    assert result.exit_code == 0, result.output
    assert "warning: Slack refused SLACK_BOT_TOKEN (invalid_auth): serving anyway" in result.output
    # /healthz tells the monitoring before any Slack request came
    assert health == {"ok": True, "outbox": 0, "dead": 0, "slack": "invalid_auth"}
    assert any("update SLACK_BOT_TOKEN" in r.getMessage() for r in caplog.records)


def test_slack_out_of_reach_at_start_is_said_and_serving_goes_on(
    env: pytest.MonkeyPatch, slack_api: FakeSlackAPI
) -> None:
    url = slack_api.api_url
    slack_api.stop()
    env.setenv("SLACK_API_URL", url)
    result, health = serve(env, lambda http: http.get("/healthz").status_code)
    assert result.exit_code == 0, result.output
    assert f"warning: Slack's Web API at {url} did not answer" in result.output
    assert health == 200


class ScopedSlack(FakeSlackAPI):
    """The fake Web API, saying which scopes the token has (``x-oauth-scopes``), as Slack does."""

    def __init__(self, scopes: list[str], **kw: Any) -> None:
        super().__init__(**kw)
        self.scopes = scopes

    def _handle(
        self, method: str, params: Params, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        status, out, answer = super()._handle(method, params, headers, body)
        return status, {**out, "x-oauth-scopes": ",".join(self.scopes)}, answer


def test_a_scope_the_app_lacks_is_named_at_start(env: pytest.MonkeyPatch) -> None:
    granted = [s for s in BOT_SCOPES if s not in ("files:write", "users:read")]
    slack = ScopedSlack(granted, token=BOT_TOKEN)
    with slack:
        env.setenv("SLACK_API_URL", slack.api_url)
        result, _ = serve(env)
        slack.scopes = [*BOT_SCOPES, "chat:write.public"]
        complete, _ = serve(env)
    assert result.exit_code == 0, result.output
    assert "warning: the Slack app lacks the scopes users:read, files:write:" in result.output
    assert "OAuth & Permissions" in result.output and "reinstall" in result.output
    assert "Slack: bot @labelbot" in complete.output  # checked, and nothing lacking
    assert complete.exit_code == 0 and "lacks the scope" not in complete.output


def test_the_scopes_checked_are_the_manifests() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)


def test_missing_scope_advice_names_the_scope(slack_api: FakeSlackAPI) -> None:
    slack_api.fail_next("chat.postMessage", error="missing_scope", needed="files:write")
    slack_api.fail_next("chat.postMessage", error="missing_scope")
    client = WebClient(token=BOT_TOKEN, base_url=slack_api.api_url)
    advice = []
    for _ in range(2):
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel="C1", text="hi")
        advice.append(scope_advice(refused.value))
    named, unnamed = advice
    assert named is not None and "lacks the scope files:write" in named and "reinstall" in named
    assert unnamed is not None and "lacks a scope it needs (Slack did not say which)" in unnamed
    assert scope_advice(ValueError("missing_scope")) is None


# --- the database, the data directory, the encoder ---------------------------------------------


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgres://ops:hunter2@db.internal/labelbot",
         "write postgresql+psycopg://ops:***@db.internal/labelbot"),
        ("postgresql+psycopg2://ops:hunter2@db.internal/labelbot",
         "labelbot uses psycopg 3, write postgresql+psycopg://ops:***@db.internal/labelbot"),
        ("sqlite://team.db", "three slashes before a relative path (sqlite:///team.db)"),
        ("team.db", "is not a database URL: 'team.db': write one such as sqlite:///labelbot.db"),
    ],
)  # fmt: skip
def test_a_mistyped_database_url_is_one_line_with_the_fix(
    env: pytest.MonkeyPatch, tmp_path: Path, url: str, said: str
) -> None:
    env.setenv("DATABASE_URL", url)
    result, _ = serve(env)
    assert result.exit_code == 6, result.output
    assert result.output.startswith("error: DATABASE_URL") and said in result.output
    assert "hunter2" not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "team.db").exists()


def test_a_data_dir_that_cannot_be_made_stops_serve_before_anything_opens(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("x")
    env.setenv("LABELBOT_DATA_DIR", str(tmp_path / "a-file" / "data"))
    result, _ = serve(env)
    assert result.exit_code == 6, result.output
    assert result.output.startswith("error: LABELBOT_DATA_DIR ")
    assert "cannot be created (Not a directory)" in result.output
    assert not (tmp_path / "team.db").exists()


def test_a_models_dir_that_cannot_be_made_stops_serve_too(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("x")
    env.setenv("LABELBOT_MODELS_DIR", str(tmp_path / "a-file" / "models"))
    result, _ = serve(env)
    assert result.exit_code == 6, result.output
    assert result.output.startswith("error: LABELBOT_MODELS_DIR ")
    assert "cannot be created (Not a directory)" in result.output
    assert not (tmp_path / "team.db").exists()


def test_an_unknown_encoder_is_warned_at_start(env: pytest.MonkeyPatch) -> None:
    env.setenv("LABELBOT_ENCODER", "no-such-org/no-such-model")
    result, _ = serve(env)
    assert result.exit_code == 0, result.output
    assert "warning: LABELBOT_ENCODER 'no-such-org/no-such-model' is neither" in result.output
    env.setenv("LABELBOT_ENCODER", "all-MiniLM-L6-v2")  # the bundled one: nothing to say
    bundled, _ = serve(env)
    assert "Slack: bot @labelbot" in bundled.output and "LABELBOT_ENCODER" not in bundled.output


# --- the REST API's token -------------------------------------------------------------------------


def test_serve_says_the_rest_api_is_off_without_its_token(env: pytest.MonkeyPatch) -> None:
    result, status = serve(env, lambda http: http.get("/api/projects").status_code)
    assert result.exit_code == 0, result.output
    assert "REST API off (LABELBOT_API_TOKEN not set)" in result.output
    assert status == 401


def test_a_short_api_token_is_warned_about(env: pytest.MonkeyPatch) -> None:
    env.setenv("LABELBOT_API_TOKEN", "secret")
    result, answer = serve(
        env, lambda http: http.get("/api/projects", headers={"Authorization": "Bearer secret"})
    )
    assert result.exit_code == 0, result.output
    assert "warning: LABELBOT_API_TOKEN is 6 characters" in result.output
    assert "secrets.token_urlsafe(32)" in result.output
    assert answer.status_code == 200  # still served: a warning, not a refusal
    env.setenv("LABELBOT_API_TOKEN", "k" * 40)
    strong, _ = serve(env)
    assert "Slack: bot @labelbot" in strong.output and "LABELBOT_API_TOKEN" not in strong.output


def test_an_app_token_slack_refuses_is_one_line_not_a_traceback(
    env: pytest.MonkeyPatch, slack_api: FakeSlackAPI
) -> None:
    env.setenv("SLACK_APP_TOKEN", "xapp-1-A0123-revoked")
    result, _ = serve(env)
    assert result.exit_code == 6, result.output
    assert isinstance(result.exception, SystemExit)
    assert "error: Slack refused SLACK_APP_TOKEN (invalid_auth) when connecting in Socket Mode" in (
        result.output
    )
    assert "connections:write" in result.output and "revoked" not in result.output
    assert slack_api.calls("apps.connections.open")


def test_slack_variables_set_empty_count_as_not_set(
    env: pytest.MonkeyPatch, slack_api: FakeSlackAPI
) -> None:
    """As a compose file or an EnvironmentFile leaves them (`SLACK_BOT_TOKEN=`): with the API
    token set, the REST API alone, as when they are not set at all."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        env.setenv(name, "")
    env.setenv("LABELBOT_API_TOKEN", "k" * 40)
    result, status = serve(env, lambda http: http.post("/slack/events", content=b"{}").status_code)
    assert result.exit_code == 0, result.output
    assert "Slack off (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET not set)" in result.output
    assert status == 503 and not slack_api.calls()
    env.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)  # one set: Slack was meant, the other is named
    result, _ = serve(env)
    assert result.exit_code == 6 and "SLACK_SIGNING_SECRET: is empty" in result.output


# --- follow-ups: the clock in the 401, scopes outside requests, another workspace's token -------


def test_a_signed_request_out_of_the_clocks_window_is_answered_so(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """Every server (create_api) says it: the 401's detail, and SignatureWatch's log line."""
    caplog.set_level(logging.WARNING)
    http = bot.slack.http
    stale = sign(SIGNING_SECRET, "{}", "application/json", timestamp=int(time.time()) - 600)
    wrong = sign("not-the-secret", "{}", "application/json")
    word = {**wrong.headers, "X-Slack-Request-Timestamp": "yesterday"}
    answers = [
        http.post("/slack/events", content=stale.body, headers=stale.headers),
        http.post("/slack/events", content=b"{}"),  # no Slack headers at all
        http.post("/slack/events", content=wrong.body, headers=wrong.headers),
        http.post("/slack/events", content=wrong.body, headers=word),
    ]
    assert [a.status_code for a in answers] == [401] * 4
    skewed, *unsigned = [a.json()["detail"] for a in answers]
    assert skewed == (
        "the request's timestamp is more than 5 minutes from this server's clock (Slack's are "
        "accepted within 5 minutes): check this server's clock (NTP)"
    )
    assert unsigned == [UNSIGNED] * 3
    lines = watch_lines(caplog)  # the bot fixture's server has the watch: no serve wrap needed
    assert len(lines) == 2
    assert "behind this server's clock" in lines[0]
    assert "signature does not match SLACK_SIGNING_SECRET" in lines[1]


def _scope_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "bot.delivery"
        and r.levelno == logging.ERROR
        and "missing_scope" in r.getMessage()
    ]


def test_a_missing_scope_outside_any_request_is_logged_once_an_hour_per_scope(
    slack_api: FakeSlackAPI, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    watch = TokenWatch(clock=lambda: now[0])
    client = WebClient(token=BOT_TOKEN, base_url=slack_api.api_url, retry_handlers=[watch])
    calls = [(0, "files:write"), (10, "files:write"), (20, "users:read"), (30, None),
             (3700, "files:write")]  # fmt: skip
    for second, needed in calls:
        now[0] = second
        slack_api.fail_next("chat.postMessage", error="missing_scope", needed=needed)
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel="C1", text="hi")
        client.chat_postMessage(channel="C1", text="hi")  # an ok answer clears nothing
    lines = _scope_errors(caplog)
    assert [line.split(": ")[1] for line in lines] == [
        "the Slack app lacks the scope files:write",
        "the Slack app lacks the scope users:read",
        "the Slack app lacks a scope it needs (Slack did not say which)",
        "the Slack app lacks the scope files:write",  # an hour on
    ]
    assert all(line.startswith("Slack refused chat.postMessage (missing_scope)") for line in lines)
    assert all(line.endswith(SCOPE_FIX) for line in lines)
    assert watch.problem is None  # the token itself is fine


def test_a_digest_refused_for_a_scope_names_the_scope(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    bot.api.fail_next("chat.postMessage", error="missing_scope", needed="chat:write")
    sent = jobs.digest_cycle(bot.ws, digest_sender(bot.services), now=utcnow() + timedelta(days=8))
    assert sent == [PROJECT]  # no retry would mend it: counted as sent, as before
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.scheduling"]
    assert line == (
        f"digest for {PROJECT} not posted: Slack said missing_scope: the Slack app lacks the "
        f"scope chat:write: {SCOPE_FIX}"
    )
    [logged] = _scope_errors(caplog)  # and the client's TokenWatch, as for any call
    assert "the scope chat:write" in logged


def _wrong_install_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "bot.listeners.members" and r.levelno == logging.WARNING
    ]


def test_requests_for_another_workspace_than_the_tokens_are_told_to_the_operator(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """SLACK_BOT_TOKEN is T111's install while Slack sends T999's requests here (the app's
    Request URL, the token from another install): everyone is refused, the log says why."""
    caplog.set_level(logging.INFO)
    user = "U0THEIRS"
    for _ in range(3):
        form = payloads.slash_command(user, "", "C0THEIRS", response_url=bot.api.response_url(user))
        form.update(team_id="T999", user_team="T999")
        assert bot.slack.post(signed_slash_command(SIGNING_SECRET, form)).status_code == 200
        bot.settle()
    assert _wrong_install_lines(caplog) == [  # once, not once per request
        "a request from workspace T999 while SLACK_BOT_TOKEN is T111's: if every request says "
        "so, the token is another workspace's install: install the app to T999 and use that "
        "token"
    ]
    assert len(bot.slack.ephemerals(user)) == 3  # still refused, as before


def test_a_slack_connect_channel_is_no_wrong_install(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for shared in (True, False):
        envelope = payloads.event_callback(
            payloads.message_event("C0SHARED", "U0THEIRS", "hello", "1700000000.000100")
        )
        envelope["event"]["user_team"] = "T999"
        envelope["team_id"] = "T999"
        envelope["authorizations"][0]["team_id"] = "T999"
        envelope["is_ext_shared_channel"] = shared
        assert bot.slack.post(signed_event(SIGNING_SECRET, envelope)).status_code == 200
        bot.settle()
        assert len(_wrong_install_lines(caplog)) == (0 if shared else 1), shared


def test_the_wrong_install_warning_repeats_after_ten_minutes_per_workspace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    watch = WrongInstallWatch(clock=lambda: now[0])
    for second, team in ((0, "T999"), (10, "T999"), (20, "T888"), (599, "T999"), (600, "T999")):
        now[0] = second
        watch.seen(team=team, home_team="T111")
    assert [line.split(" while")[0] for line in _wrong_install_lines(caplog)] == [
        "a request from workspace T999",
        "a request from workspace T888",
        "a request from workspace T999",
    ]
