"""The workspace: settings, database and lazily loaded encoder, shared by every service."""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass
class Workspace:
    """Everything a service needs; build it once per process with :meth:`open`."""

    settings: Settings
    db: Engine
    _encoder: Encoder | None = None
    _cache: EmbeddingCache | None = None
    # In-process memo (pool graphs, loaded models) keyed by what makes them valid.
    memo: dict[Any, Any] = field(default_factory=dict)

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
