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
