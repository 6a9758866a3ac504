"""``persist=False``: texts seen once (predictions) use the cache but never grow it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.embeddings import cache_for, embed_texts
from engine.encoders import Encoder
from tests.engine.test_embeddings import CountingEncoder


def test_a_transient_text_reads_the_cache_and_adds_nothing(
    tmp_path: Path, encoder: Encoder
) -> None:
    cache = cache_for(tmp_path, encoder)
    known = embed_texts(["my card has not arrived"], encoder=encoder, cache=cache)
    shards = sorted(cache.directory.iterdir())
    counting = CountingEncoder(encoder)
    both = embed_texts(
        ["my card has not arrived", "how old must I be?"],
        encoder=counting,
        cache=cache,
        persist=False,
    )
    assert sorted(cache.directory.iterdir()) == shards and len(cache) == 1
    assert counting.texts == ["how old must I be?"]  # the known text came from the cache
    np.testing.assert_array_equal(both[0], known[0])
    # the same vector as once it is cached: a prediction does not depend on the cache
    cached = embed_texts(["how old must I be?"], encoder=encoder, cache=cache)
    np.testing.assert_array_equal(both[1], cached[0])
