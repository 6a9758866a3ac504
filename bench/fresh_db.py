"""A workspace on a fresh database for a bench: a SQLite file in a temporary folder, or a new
PostgreSQL schema (``TEST_POSTGRES_URL``, as the tests use) dropped afterwards."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def fresh_workspace(db: str) -> Iterator[tuple[Any, Path]]:
    """(workspace, its temporary data folder) on a fresh ``db``: "sqlite" or "postgres"."""
    import sqlalchemy as sa

    from engine.config import Settings
    from engine.workspace import Workspace

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        schema = admin = None
        if db == "sqlite":
            url = f"sqlite:///{tmp / 'bench.db'}"
        else:
            url, schema = POSTGRES_URL, f"bench_{uuid.uuid4().hex[:12]}"
            admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        ws = Workspace.open(Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=tmp), schema=schema)
        try:
            yield ws, tmp
        finally:
            ws.close()
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
