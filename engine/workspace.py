"""The workspace: settings, database and lazily loaded encoder, shared by every service."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.engine import Engine

from engine.config import Settings, get_settings
from storage.db import make_engine, upgrade

if TYPE_CHECKING:
    from engine.embeddings import EmbeddingCache
    from engine.encoders import Encoder


# Entries kept in a workspace's memo. Every retrain added its model (a few hundred KB for a
# small project; bench/serve_load.py: 10 retrains, +10 entries, +3.5 MB) and none ever left, so a
# long-running `labelbot serve` grew with every model it trained or loaded. Everything kept is
# read again from its file (a model, a pool graph) or recomputed when it is gone.
MEMO_LIMIT = 64


class Memo(dict[Any, Any]):
    """A dict that keeps at most ``limit`` entries: setting a key makes it the newest, and the
    oldest go beyond the limit. Its views are copies, taken under a lock: a thread may iterate
    it while another sets a key (a plain dict raises "changed size during iteration")."""

    def __init__(self, items: Mapping[Any, Any] | None = None, *, limit: int | None = None) -> None:
        super().__init__()
        self.limit = MEMO_LIMIT if limit is None else limit
        self._lock = threading.RLock()
        for key, value in (items or {}).items():
            self[key] = value

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._lock:
            super().pop(key, None)  # set again: the newest
            super().__setitem__(key, value)
            while len(self) > self.limit:
                super().__delitem__(next(super().__iter__()))

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
        """Connect to the database (bringing its schema up to date) and return a workspace."""
        settings = settings or get_settings()
        db = make_engine(settings.database_url, schema=schema)
        if migrate:
            upgrade(db)
        return cls(settings=settings, db=db, _encoder=encoder)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            from engine.encoders import get_encoder

            self._encoder = get_encoder(self.settings.encoder)
        return self._encoder

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
        path = self.settings.data_dir / "models" / project_name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def close(self) -> None:
        self.db.dispose()
