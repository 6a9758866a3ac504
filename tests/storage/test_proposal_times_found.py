"""Migration 0017 adds proposals.times_found: rows recorded before keep every one of their
columns and count as found twice (the bot posts what it had not posted yet, as it did), and a
SQLite table keeps its AUTOINCREMENT (a plain ADD COLUMN, no rebuild)."""

from __future__ import annotations

import sqlalchemy as sa

from storage.db import upgrade
from tests.storage.test_migrations import _downgrade_to_base, _fill_every_table


def test_0017_keeps_every_proposal_and_counts_it_found_twice(db: sa.Engine) -> None:
    _downgrade_to_base(db)
    upgrade(db, "0016")
    _fill_every_table(db)
    with db.connect() as conn:
        before = [dict(r) for r in conn.execute(sa.text("SELECT * FROM proposals")).mappings()]
    assert before
    upgrade(db)
    with db.connect() as conn:
        after = [dict(r) for r in conn.execute(sa.text("SELECT * FROM proposals")).mappings()]
        if db.dialect.name == "sqlite":
            sql = conn.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'proposals'")
            ).scalar_one()
            assert "AUTOINCREMENT" in sql.upper()
    assert [r.pop("times_found") for r in after] == [2] * len(before)
    assert after == before
