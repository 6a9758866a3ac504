"""A DATABASE_URL that does not parse is named in the error, without its password."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from storage.db import make_engine, masked_url
from storage.errors import ConfigurationError

# The usual reason a URL does not parse: a password with an unescaped ":", "@", "/" or "#".
BROKEN = [
    "postgresql+psycopg://alice:PW-SECRET@127.0.0.1:notaport/db",
    "postgresql+psycopg://alice:PW:SECRET@127.0.0.1:notaport/db",
    "postgresql+psycopg://alice:PW@SECRET@db.example:port/db",
    # this one parses (the port is a number): the "@" then leaves "SECRET@127.0.0.1" as the
    # host name, which a "cannot connect" message would print
    "postgresql+psycopg://alice:PW@SECRET@127.0.0.1:5432/db",
]


@pytest.mark.parametrize("url", BROKEN)
def test_an_invalid_url_is_named_without_its_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_engine(url)
    message = str(caught.value)
    assert "SECRET" not in message
    assert "not a valid database URL" in message and "postgresql+psycopg://alice:***@" in message


def test_the_cli_prints_it_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.config import get_settings

    monkeypatch.setenv("DATABASE_URL", BROKEN[0])
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["status", "demo"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert "not a valid database URL" in result.output, result.output
    assert "SECRET" not in result.output and "127.0.0.1:notaport/db" in result.output


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://a:p@ss/w:rd@h/db", "postgresql://a:***@h/db"),
        ("postgresql://alice@h/db", "postgresql://alice@h/db"),  # no password: as it is
        ("postgresql://:pw@h/db", "postgresql://:***@h/db"),
        ("alice:pw@h/db", "alice:***@h/db"),  # no scheme
        ("sqlite:///data/labelbot.db", "sqlite:///data/labelbot.db"),
    ],
)
def test_masked_url(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_a_url_with_an_unescaped_at_never_reaches_a_connect_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URL parses (as user "alice", password "PW", host "SECRET@127.0.0.1"), so without a
    check it got as far as connecting, and "cannot connect ... at SECRET@127.0.0.1:5432" and
    the driver's "failed to resolve host 'SECRET@127.0.0.1'" printed the rest of the password."""
    from engine.config import get_settings

    monkeypatch.setenv("DATABASE_URL", BROKEN[3])
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        for args in (["project", "list"], ["db", "copy", "--to", f"sqlite:///{tmp_path}/c.db"]):
            result = CliRunner().invoke(app, args)
            assert result.exit_code != 0, args
            assert "SECRET" not in result.output, result.output
            assert "%40" in result.output, result.output
    finally:
        get_settings.cache_clear()
