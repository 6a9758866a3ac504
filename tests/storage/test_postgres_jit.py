"""labelbot's PostgreSQL sessions run with JIT compilation off (it spent 0.8 s compiling a 1.1 s
click query at 50,000 examples), and the schema pinned in the connection's options and a
PGOPTIONS setting still apply."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from storage.db import make_engine
from tests.conftest import POSTGRES_URL, _postgres_schema_engine

pytestmark = pytest.mark.postgres


def test_sessions_run_without_jit_and_keep_their_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=4321")
    schema = f"jit_{uuid.uuid4().hex[:12]}"
    admin, engine = _postgres_schema_engine(schema)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW jit")).scalar() == "off"
            assert conn.execute(sa.text("SHOW search_path")).scalar() == schema
        plain = make_engine(POSTGRES_URL)
        with plain.connect() as conn:
            assert conn.execute(sa.text("SHOW jit")).scalar() == "off"
            assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "4321ms"
            conn.execute(sa.text("SELECT 1"))  # the connection is usable in a transaction
        plain.dispose()
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
