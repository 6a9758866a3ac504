"""Shared fixtures: the real encoder and an embedding cache that live for the whole test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def encoder():  # type: ignore[no-untyped-def]
    """The real packaged MiniLM encoder, loaded once per test session."""
    from engine.encoders import get_encoder

    return get_encoder()


@pytest.fixture(scope="session")
def embedding_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One on-disk embedding cache for the session, so each text is embedded once."""
    yield tmp_path_factory.mktemp("embeddings")


# --- Databases: every storage test runs against real SQLite and real PostgreSQL. ---------------

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_schema_engine(name: str):  # type: ignore[no-untyped-def]
    """A fresh PostgreSQL schema for one test; fails loudly (never skips) if the server is down."""
    import sqlalchemy as sa

    from storage.db import make_engine

    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc.orig}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect 15 main start`, or point TEST_POSTGRES_URL "
            "at a server.",
            pytrace=False,
        )
    return admin, make_engine(POSTGRES_URL, schema=name)


@contextmanager
def empty_database(kind: str, path: Path) -> Iterator[tuple[str, str | None, Any]]:
    """(url, schema, engine) of a database with no tables yet: the SQLite file ``path`` ("sqlite"),
    or a fresh PostgreSQL schema ("postgres"), dropped afterwards; the engine disposed of."""
    import uuid

    import sqlalchemy as sa

    from storage.db import make_engine

    if kind == "sqlite":
        url, schema, admin = f"sqlite:///{path}", None, None
        engine = make_engine(url)
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        url = POSTGRES_URL
        admin, engine = _postgres_schema_engine(schema)
    try:
        yield url, schema, engine
    finally:
        engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One empty SQLite database migrated to head, made once per session; each test gets a copy
    (a file copy takes a millisecond, the 16 migrations about 0.2 s)."""
    from storage.db import make_engine, upgrade

    path = tmp_path_factory.mktemp("template") / "labelbot.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection closed: the WAL is checkpointed into the file
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert not leftovers, f"the template database left {leftovers} beside it"
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url_and_schema(  # type: ignore[no-untyped-def]
    request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite_template: Path
):
    """(url, schema) of an empty, migrated database: SQLite in tmp_path, or a PostgreSQL schema."""
    import shutil
    import uuid

    import sqlalchemy as sa

    from storage.db import upgrade

    if request.param == "sqlite":
        path = tmp_path / "labelbot.db"
        shutil.copyfile(migrated_sqlite_template, path)
        yield f"sqlite:///{path}", None
        return
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin, engine = _postgres_schema_engine(name)
    upgrade(engine)
    engine.dispose()
    yield POSTGRES_URL, name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
    admin.dispose()


@pytest.fixture
def db(db_url_and_schema):  # type: ignore[no-untyped-def]
    """A migrated SQLAlchemy engine on SQLite and on PostgreSQL (parametrized)."""
    from storage.db import make_engine

    url, schema = db_url_and_schema
    engine = make_engine(url, schema=schema)
    yield engine
    engine.dispose()


@pytest.fixture
def ws(db_url_and_schema, encoder, embedding_cache_dir):  # type: ignore[no-untyped-def]
    """A workspace on a fresh database (SQLite and PostgreSQL) with the session's encoder/cache."""
    from engine.config import Settings
    from engine.workspace import Workspace

    url, schema = db_url_and_schema
    settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=embedding_cache_dir)
    workspace = Workspace.open(settings, schema=schema, encoder=encoder)
    yield workspace
    workspace.close()


@pytest.fixture
def replica(ws, db_url_and_schema, encoder):  # type: ignore[no-untyped-def]
    """A second process on ``ws``'s database (its own engine and connection pool)."""
    from engine.workspace import Workspace

    _, schema = db_url_and_schema
    other = Workspace.open(ws.settings, schema=schema, encoder=encoder, migrate=False)
    yield other
    other.close()


BANKING_SLICE_LABELS = ("card_arrival", "age_limit", "atm_support", "change_pin", "exchange_rate")


@pytest.fixture(scope="session")
def banking_slice() -> list[tuple[str, str]]:
    """(text, label) rows of 5 well-separated Banking77 intents, 30 each (150 rows)."""
    import csv

    from engine.datasets import dataset_path

    per_label: dict[str, list[tuple[str, str]]] = {k: [] for k in BANKING_SLICE_LABELS}
    with dataset_path("banking77", "train").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            bucket = per_label.get(row["label"])
            if bucket is not None and len(bucket) < 30:
                bucket.append((row["text"], row["label"]))
    rows = [r for i in range(30) for k in BANKING_SLICE_LABELS for r in [per_label[k][i]]]
    return rows


@pytest.fixture(scope="session")
def soak() -> Any:
    """bench/soak.py as a module (bench/ is no package): its recording Slack and its checks,
    for the tests that hold the soak's checks to what they promise."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parent.parent / "bench" / "soak.py"
    spec = importlib.util.spec_from_file_location("bench_soak", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module
