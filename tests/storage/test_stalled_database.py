"""A PostgreSQL server that stops answering without closing the connection (a partition, a
frozen host) held a query for as long as the kernel retransmits (~15 minutes on Linux): every
connection labelbot makes now carries libpq's TCP keepalives and TCP_USER_TIMEOUT, which end
such a connection (and so the query, as a DatabaseUnavailable), but never a long query or
export on a server that is there."""

from __future__ import annotations

import pytest

from storage.db import make_engine
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.postgres

# what storage.db sets: an idle connection is given up after 30 s + 3 probes 10 s apart, one
# whose sent data goes unacknowledged after 30 s
TCP = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
       "keepalives_count": "3", "tcp_user_timeout": "30000"}  # fmt: skip


def _settings(url: str) -> dict[str, str]:
    """The libpq settings of a connection ``make_engine(url)`` makes."""
    engine = make_engine(url)
    try:
        connection = engine.raw_connection()
        try:
            dsn = connection.driver_connection.info.dsn  # type: ignore[union-attr]
        finally:
            connection.close()
    finally:
        engine.dispose()
    return dict(part.split("=", 1) for part in dsn.split())


def test_connections_give_up_on_a_server_that_stops_answering() -> None:
    got = _settings(POSTGRES_URL)
    assert {k: got.get(k) for k in TCP} == TCP
    assert "statement_timeout" not in got.get("options", "")  # a long export is no stall


def test_the_urls_own_tcp_settings_win() -> None:
    got = _settings(f"{POSTGRES_URL}?keepalives_idle=5&tcp_user_timeout=120000")
    assert got["keepalives_idle"] == "5" and got["tcp_user_timeout"] == "120000"
    assert got["keepalives_interval"] == TCP["keepalives_interval"]
