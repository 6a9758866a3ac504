"""Migration 0021 gives the calls pending in the outbox at the upgrade their lane (a post its
conversation, an edit its message), so that a rolling upgrade keeps their order too; what is
done with keeps none. Its downgrade takes the two columns away again. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.db import downgrade, upgrade
from tests.conftest import empty_database

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ROWS = [
    # (method, payload, message_key, status): the lane 0021 gives it
    ("chat.postMessage", {"channel": "C1", "text": "a"}, None, "pending", "C1"),
    ("chat.postMessage", {"channel": "U1", "text": "b"}, None, "pending", "U1"),
    ("chat.update", {"channel": "D1", "ts": "1.0", "text": "c"}, "D1:1.0", "pending", "D1:1.0"),
    ("chat.postMessage", {"channel": "C1", "text": "d"}, None, "sent", None),
    ("views.publish", {"user_id": "U1"}, None, "pending", None),
]


@pytest.mark.parametrize("kind", KINDS)
def test_0021_gives_the_pending_calls_their_lane(kind: str, tmp_path: Path) -> None:
    with empty_database(kind, tmp_path / "lanes.db") as (_, _, engine):
        upgrade(engine, "0020")
        with engine.begin() as conn:
            for method, payload, key, status, _ in ROWS:
                conn.execute(
                    sa.text(
                        "INSERT INTO outbox (method, payload, message_key, status, attempts, "
                        "created_at, next_attempt_at) VALUES (:m, :p, :k, :s, 0, "
                        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    ),
                    {"m": method, "p": json.dumps(payload), "k": key, "s": status},
                )
        upgrade(engine)
        with engine.connect() as conn:
            lanes = conn.execute(sa.text("SELECT lane, claimed_until FROM outbox ORDER BY id"))
            assert [tuple(row) for row in lanes] == [(row[-1], None) for row in ROWS]
        downgrade(engine, "0020")
        columns = {c["name"] for c in sa.inspect(engine).get_columns("outbox")}
        assert "lane" not in columns and "claimed_until" not in columns
        indexes = {i["name"] for i in sa.inspect(engine).get_indexes("outbox")}
        assert "ix_outbox_lane_status" not in indexes
        upgrade(engine)
