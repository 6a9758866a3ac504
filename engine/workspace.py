"""The workspace: settings, database and lazily loaded encoder, shared by every service."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.engine import Engine

from engine.config import Settings, get_settings
from storage.db import NewerSchema, SchemaChange, make_engine, upgrade

if TYPE_CHECKING:
    from engine.embeddings import EmbeddingCache
    from engine.encoders import Encoder


# Entries kept in a workspace's memo. Every retrain added its model (a few hundred KB for a
# small project; bench/serve_load.py: 10 retrains, +10 entries, +3.5 MB) and none ever left, so a
# long-running `labelbot serve` grew with every model it trained or loaded. Everything kept is
# read again from its file (a model, a pool graph) or recomputed when it is gone.
MEMO_LIMIT = 64
# ... and the bytes of the arrays they hold, each array counted once (a model trained in this
# process shares its pool's vectors with the pool graph). A blend model holds its pool's
# label-spreading distributions (n x C) and, read from its file, its own copy of the pool's
# vectors (n x 384): `labelbot serve` answering predictions for a project of 100,000 examples
# kept 154 MB more after every retrain (bench/memo_memory.py: 1.85 GB after 12, so ~10 GB after
# 64; now 0.93 GB from the 6th on). The newest entry stays whatever its size.
MEMO_BYTES = 1 << 30


def footprint(values: Iterable[Any]) -> int:
    """Bytes of the numpy arrays (and scipy sparse matrices' arrays) held by ``values``, through
    dataclass fields, tuples, lists and dict values, each array counted once."""
    seen: dict[int, int] = {}
    for value in values:
        _arrays(value, seen, depth=0)
    return sum(seen.values())


def _arrays(value: Any, seen: dict[int, int], *, depth: int) -> None:
    if isinstance(value, np.ndarray):
        base = value
        while isinstance(base.base, np.ndarray):  # a view holds its base's memory
            base = base.base
        seen[id(base)] = base.nbytes
        return
    if depth > 3 or isinstance(value, str | bytes | int | float):
        return
    if hasattr(value, "indptr") and hasattr(value, "data"):  # scipy.sparse CSR/CSC
        for part in (value.data, value.indices, value.indptr):
            _arrays(part, seen, depth=depth + 1)
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts: Any = (getattr(value, f.name) for f in dataclasses.fields(value))
    elif isinstance(value, tuple | list):
        parts = value
    elif isinstance(value, dict):
        parts = value.values()
    else:
        return
    for part in parts:
        _arrays(part, seen, depth=depth + 1)


class Memo(dict[Any, Any]):
    """A dict that keeps at most ``limit`` entries holding at most ``max_bytes`` of arrays
    (:func:`footprint`): setting a key, or reading it with ``get``, makes it the newest, and
    the oldest go beyond either bound (the newest stays, however large). Its views are
    copies, taken under a lock: a thread may iterate it while another sets a key (a plain dict
    raises "changed size during iteration")."""

    def __init__(
        self,
        items: Mapping[Any, Any] | None = None,
        *,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        super().__init__()
        self.limit = MEMO_LIMIT if limit is None else limit
        self.max_bytes = MEMO_BYTES if max_bytes is None else max_bytes
        self._lock = threading.RLock()
        for key, value in (items or {}).items():
            self[key] = value

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._lock:
            super().pop(key, None)  # set again: the newest
            super().__setitem__(key, value)
            while len(self) > self.limit:
                super().__delitem__(next(super().__iter__()))
            while len(self) > 1 and footprint(super().values()) > self.max_bytes:
                super().__delitem__(next(super().__iter__()))

    def get(self, key: Any, default: Any = None) -> Any:
        """The entry, made the newest (the oldest go first: a pool graph read at every retrain
        stays, older models go)."""
        with self._lock:
            if not super().__contains__(key):
                return default
            value = super().pop(key)
            super().__setitem__(key, value)
            return value

    @property
    def nbytes(self) -> int:
        """The bytes of the arrays its entries hold, each counted once."""
        with self._lock:
            return footprint(list(super().values()))

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            return iter(list(super().keys()))

    def keys(self) -> list[Any]:  # type: ignore[override]
        with self._lock:
            return list(super().keys())

    def values(self) -> list[Any]:  # type: ignore[override]
        with self._lock:
            return list(super().values())

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        with self._lock:
            return list(super().items())


@dataclass
class Workspace:
    """Everything a service needs; build it once per process with :meth:`open`."""

    settings: Settings
    db: Engine
    _encoder: Encoder | None = None
    _cache: EmbeddingCache | None = None
    # In-process memo (pool graphs, loaded models) keyed by what makes them valid; bounded
    # (MEMO_LIMIT), also when code assigns it a new dict (``ws.memo = {...}``).
    _memo: Memo = field(default_factory=Memo, repr=False)
    # This process's small bookkeeping that must outlive the memo's evictions: when a training
    # last failed (the scheduler waits it out) and when planner statistics were refreshed. In
    # the memo, one large model or pool graph evicted them, and a failing training was tried
    # again at every poll, reading and embedding the whole pool each time. Small values only.
    notes: dict[Any, Any] = field(default_factory=dict, repr=False)
    # What :meth:`open` did to the schema (None: nothing), for the edges to say it: after an
    # upgrade, older labelbot releases can no longer open the database; a NewerSchema is one a
    # newer labelbot only added to, which this one runs on as it is.
    schema_change: SchemaChange | NewerSchema | None = None

    @property
    def memo(self) -> Memo:
        return self._memo

    @memo.setter
    def memo(self, value: Mapping[Any, Any]) -> None:
        self._memo = Memo(value)

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        schema: str | None = None,
        migrate: bool = True,
        encoder: Encoder | None = None,
    ) -> Workspace:
        """Connect to the database (bringing its schema up to date, what changed kept in
        ``schema_change``) and return a workspace. A schema newer than this labelbot's is
        refused (ConfigurationError) unless the newer labelbot marked it as one this labelbot
        can run on (storage.db.upgrade's ``run_on_newer``)."""
        settings = settings or get_settings()
        db = make_engine(settings.database_url, schema=schema)
        change = upgrade(db, run_on_newer=True) if migrate else None
        return cls(settings=settings, db=db, _encoder=encoder, schema_change=change)

    @property
    def encoder(self) -> Encoder:
        """The configured encoder (LABELBOT_ENCODER). Its model is loaded only when a text is
        not in the embedding cache: its name and size are known without it."""
        if self._encoder is None:
            from engine.encoders import LazyEncoder

            self._encoder = LazyEncoder(self.settings.encoder, known_dim=self._cached_dim)
        return self._encoder

    def _cached_dim(self) -> int | None:
        """The size of the vectors in the embedding cache (None while it holds none)."""
        return self.cache.vector_dim()

    @property
    def cache(self) -> EmbeddingCache:
        if self._cache is None:
            from engine.embeddings import cache_for

            self._cache = cache_for(self.settings.data_dir, self.encoder)
        return self._cache

    def embed(
        self,
        texts: Sequence[str],
        *,
        hashes: Sequence[str] | None = None,
        progress: bool = False,
        persist: bool = True,
    ) -> np.ndarray:
        """Embeddings of ``texts`` (float32, unit rows), computed once and cached on disk.

        ``persist=False`` for texts that are not the project's (predictions of new text): cached
        vectors are used, but new ones are not kept, so callers cannot grow the cache for good.
        """
        from engine.embeddings import embed_texts

        return embed_texts(
            texts,
            encoder=self.encoder,
            cache=self.cache,
            hashes=hashes,
            progress=progress,
            persist=persist,
        )

    def model_dir(self, project_name: str) -> Path:
        path = self.settings.models_root / project_name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def close(self) -> None:
        self.db.dispose()
