"""Secrets as an operator sets them, through the real `labelbot serve`, `init` and `project
list`: a LABELBOT_API_TOKEN as a .env line keeps it (a space after it, quotes around it) works
or is refused naming the variable, like Slack's credentials; a database password given as the
URL's query parameter (libpq takes ``?password=``) is never printed."""

# ruff: noqa: F811 (the fixtures imported below are parameters of the tests)
from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from engine.config import Settings
from storage.db import masked_url
from tests.bot.test_cli_db_copy import pg_url  # noqa: F401 (a fixture)
from tests.bot.test_operator_mistakes import env  # noqa: F401 (a fixture: serve's environment)
from tests.fakes.server import ServerThread

TOKEN = "abcdefghijklmnopqrstuvwxyz123456"  # 32 characters: nothing to warn about
SECRET = "S3CRETPW"


def without_slack(env: pytest.MonkeyPatch) -> None:
    """The REST API alone: neither Slack credential set."""
    env.delenv("SLACK_BOT_TOKEN")
    env.delenv("SLACK_SIGNING_SECRET")


def serve(env: pytest.MonkeyPatch, *, auth: str | None = None) -> tuple[Result, int | None]:
    """`labelbot serve` on a real loopback server: the CLI's result and the status of
    GET /api/projects sent with ``Authorization: auth``."""
    seen: dict[str, Any] = {}

    def run(api: Any, **_: Any) -> None:
        with ServerThread(api) as server:
            headers = {"Authorization": auth} if auth is not None else {}
            seen["status"] = httpx.get(f"{server.url}/api/projects", headers=headers).status_code

    env.setattr("uvicorn.run", run)
    return CliRunner().invoke(app, ["serve", "--no-scheduler"]), seen.get("status")


# --- LABELBOT_API_TOKEN ---------------------------------------------------------------------------

SLACK = pytest.mark.parametrize("slack", [True, False], ids=["with-slack", "rest-only"])


@SLACK
@pytest.mark.parametrize("given", [f"{TOKEN} ", f" {TOKEN}\n", f"\t{TOKEN}  "])
def test_whitespace_around_the_api_token_is_dropped(
    env: pytest.MonkeyPatch, slack: bool, given: str
) -> None:
    """A `docker --env-file` or .env line keeps a space after the value; HTTP drops it from a
    header, so no client could send it: every client was refused, and serve advised a longer
    token."""
    if not slack:
        without_slack(env)
    env.setenv("LABELBOT_API_TOKEN", given)
    result, status = serve(env, auth=f"Bearer {TOKEN}")
    assert result.exit_code == 0, result.output
    assert status == 200
    assert "LABELBOT_API_TOKEN" not in result.output and "warning" not in result.output


@SLACK
@pytest.mark.parametrize("given", [f'"{TOKEN}"', f"'{TOKEN}'", f"“{TOKEN}”", f' "{TOKEN}" '])
def test_quotes_around_the_api_token_are_refused_naming_it(
    env: pytest.MonkeyPatch, slack: bool, given: str
) -> None:
    """A systemd EnvironmentFile or `docker --env-file` keeps quotes: the token worked only for
    a client that sent them too, and nothing said so."""
    if not slack:
        without_slack(env)
    env.setenv("LABELBOT_API_TOKEN", given)
    result, status = serve(env, auth=f"Bearer {TOKEN}")
    assert result.exit_code == 6, result.output
    assert result.output.startswith("error: LABELBOT_API_TOKEN: has quotes around it: remove them")
    assert TOKEN not in result.output and status is None  # never served


@pytest.mark.parametrize("given", [f"{TOKEN[:16]}\n{TOKEN[16:]}", f"{TOKEN}é"])
def test_an_api_token_no_header_can_carry_is_refused(env: pytest.MonkeyPatch, given: str) -> None:
    env.setenv("LABELBOT_API_TOKEN", given)
    result, status = serve(env)
    assert result.exit_code == 6, result.output
    assert "LABELBOT_API_TOKEN: holds a character an HTTP header cannot carry" in result.output
    assert TOKEN[:16] not in result.output and status is None


def test_an_api_token_of_spaces_is_not_set(env: pytest.MonkeyPatch) -> None:
    env.setenv("LABELBOT_API_TOKEN", "   ")
    result, status = serve(env, auth="Bearer")
    assert result.exit_code == 0, result.output
    assert "REST API off (LABELBOT_API_TOKEN not set)" in result.output and status == 401
    without_slack(env)  # nothing to serve then: said as when it is not set at all
    alone, _ = serve(env)
    assert alone.exit_code == 6
    assert "to serve the REST API alone, without Slack, set LABELBOT_API_TOKEN" in " ".join(
        alone.output.split()
    )


def test_a_short_api_token_is_still_warned_about_by_its_length(env: pytest.MonkeyPatch) -> None:
    env.setenv("LABELBOT_API_TOKEN", " short ")
    result, status = serve(env, auth="Bearer short")
    assert result.exit_code == 0, result.output
    assert "warning: LABELBOT_API_TOKEN is 5 characters" in result.output and status == 200
    assert "spaces" not in result.output


# --- a password in DATABASE_URL's query -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://u@h/db?password={SECRET}", "postgresql://u@h/db?password=***"),
        (
            f"postgresql://u@h:notaport/db?sslmode=require&PassWord={SECRET}&sslpassword={SECRET}",
            "postgresql://u@h:notaport/db?sslmode=require&PassWord=***&sslpassword=***",
        ),
        (f"postgresql://u@h/db?pass%77ord={SECRET}", "postgresql://u@h/db?pass%77ord=***"),
        (f"postgresql://u@h/db?password=a@b:{SECRET}#x", "postgresql://u@h/db?password=***"),
        (f"postgresql://u:{SECRET}@h/db?password={SECRET}", "postgresql://u:***@h/db?password=***"),
        (f"sqlite:///x.db?password={SECRET}", "sqlite:///x.db?password=***"),
        ("postgresql://u@h/db?passfile=/etc/pgpass", "postgresql://u@h/db?passfile=/etc/pgpass"),
    ],
)
def test_masked_url_hides_a_password_in_the_query(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_database_shown_hides_a_password_in_the_query(tmp_path: Path) -> None:
    pg = Settings(DATABASE_URL=f"postgresql+psycopg://u@h:5432/db?sslpassword={SECRET}")
    assert pg.database_shown() == "postgresql+psycopg://u@h:5432/db?sslpassword=***"
    lite = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}?Password={SECRET}")
    assert lite.database_shown() == f"sqlite:///{tmp_path / 'x.db'}?Password=***"


def said(args: list[str]) -> str:
    from engine.config import get_settings

    get_settings.cache_clear()  # DATABASE_URL as set now
    return CliRunner().invoke(app, args).output


@pytest.mark.postgres
def test_a_query_password_is_never_printed(env: pytest.MonkeyPatch, pg_url: str) -> None:
    """`init`, `project list` and serve's start-up line name the database; the errors for a
    URL that does not parse, or spelled postgres://, quote it."""
    without_slack(env)
    env.setenv("LABELBOT_API_TOKEN", TOKEN)
    env.setenv("DATABASE_URL", f"{pg_url}&password={SECRET}")
    ready = said(["init"])
    assert "database ready: postgresql+psycopg://" in ready and "password=***" in ready
    listed = said(["project", "list"])
    assert "no projects yet in postgresql+psycopg://" in listed and "password=***" in listed
    served, status = serve(env, auth=f"Bearer {TOKEN}")
    assert status == 200 and "password=***" in served.output
    env.setenv("DATABASE_URL", f"postgresql://bob@127.0.0.1:notaport/x?password={SECRET}")
    invalid = said(["project", "list"])
    assert "not a valid database URL" in invalid and "password=***" in invalid
    env.setenv("DATABASE_URL", f"postgres://bob@127.0.0.1:5432/x?password={SECRET}")
    heroku = said(["project", "list"])
    assert "starts with postgres://" in heroku and "password=***" in heroku
    for output in (ready, listed, served.output, invalid, heroku):
        assert SECRET not in output, output


@pytest.mark.filterwarnings("ignore:Query string argument")  # pysqlite ignores it
def test_a_query_password_of_a_sqlite_url_is_never_printed(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'team.db'}?password={SECRET}")
    ready = said(["init"])
    listed = said(["project", "list"])
    assert "database ready: sqlite:///" in ready and "no projects yet in sqlite:///" in listed
    for output in (ready, listed):
        assert "password=***" in output and SECRET not in output, output
    env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing.db'}?password={SECRET}")
    missing = said(["project", "list"])  # a file that is not there is named, not created
    assert "no database at" in missing and "password=***" in missing and SECRET not in missing
