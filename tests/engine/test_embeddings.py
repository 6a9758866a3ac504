"""The on-disk embedding cache and embed_texts, with the real encoder behind a call counter."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from engine.embeddings import EmbeddingCache, cache_for, embed_texts
from engine.encoders import Encoder
from storage.errors import InvalidInputError
from storage.hashing import content_hash


class CountingEncoder:
    """The real encoder, counting the texts it is asked to embed."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.texts: list[str] = []

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> npt.NDArray[np.float32]:
        self.texts.extend(texts)
        return self.inner.encode(texts, batch_size=batch_size, progress=progress)


@pytest.fixture
def counting(encoder: Encoder) -> CountingEncoder:
    return CountingEncoder(encoder)


@pytest.fixture
def cache(tmp_path: Path, encoder: Encoder) -> EmbeddingCache:
    return cache_for(tmp_path, encoder)


def unit_rows(n: int, dim: int = 8, seed: int = 0) -> npt.NDArray[np.float32]:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_cache_lives_under_the_encoder_name(tmp_path: Path, encoder: Encoder) -> None:
    assert cache_for(tmp_path, encoder).directory == tmp_path / "embeddings" / encoder.name


def test_store_then_lookup_round_trips_in_input_order(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "enc")
    vectors = unit_rows(3)
    cache.store(["a", "b", "c"], vectors)
    found, got = cache.lookup(["c", "zz", "a"])
    assert found.tolist() == [True, False, True]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, vectors[[2, 0]], atol=1e-3)  # float16 on disk
    assert len(cache) == 3


def test_a_second_instance_sees_stored_vectors(tmp_path: Path) -> None:
    writer, reader = EmbeddingCache(tmp_path, "enc"), EmbeddingCache(tmp_path, "enc")
    assert len(reader) == 0
    writer.store(["a"], unit_rows(1))
    writer.store(["b"], unit_rows(1, seed=1))
    found, _ = reader.lookup(["a", "b"])
    assert found.all() and len(reader) == 2


def test_storing_known_hashes_writes_nothing(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "enc")
    cache.store(["a", "b", "a"], unit_rows(3))
    cache.store(["a", "b"], unit_rows(2))
    assert len(list(cache.directory.glob("shard-*.npz"))) == 1


def test_corrupt_and_partial_shards_are_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = EmbeddingCache(tmp_path, "enc")
    cache.store(["good"], unit_rows(1))
    good = next(cache.directory.glob("shard-*.npz"))
    (cache.directory / "shard-truncated.npz").write_bytes(good.read_bytes()[:100])
    (cache.directory / "shard-garbage.npz").write_bytes(b"not a numpy file")
    with open(cache.directory / "shard-mismatch.npz", "wb") as fh:
        np.savez(fh, keys=np.array(["x", "y"]), vectors=unit_rows(1).astype(np.float16))
    (cache.directory / ".shard-inflight.npz.tmp").write_bytes(b"half written")
    with caplog.at_level(logging.WARNING, logger="engine.embeddings"):
        fresh = EmbeddingCache(tmp_path, "enc")
        found, _ = fresh.lookup(["good", "x"])
    assert found.tolist() == [True, False]
    assert sum("ignoring" in r.getMessage() for r in caplog.records) == 3


def test_store_rejects_mismatched_rows(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        EmbeddingCache(tmp_path, "enc").store(["a", "b"], unit_rows(1))


def test_embed_texts_without_cache_dedupes(counting: CountingEncoder) -> None:
    texts = ["refund please", "refund  please", "new card"]
    vectors = embed_texts(texts, encoder=counting)
    assert counting.texts == ["refund please", "new card"]  # same content hash: encoded once
    assert vectors.shape == (3, counting.dim)
    np.testing.assert_array_equal(vectors[0], vectors[1])


def test_reembedding_costs_no_encoder_call(
    counting: CountingEncoder, cache: EmbeddingCache
) -> None:
    texts = ["How do I top up by bank transfer?", "my card is blocked", "exchange rate fee"]
    first = embed_texts(texts, encoder=counting, cache=cache)
    assert len(counting.texts) == 3
    again = embed_texts(list(reversed(texts)), encoder=counting, cache=cache)
    assert len(counting.texts) == 3
    np.testing.assert_array_equal(again, first[::-1])  # identical whether cached or fresh
    # Another process's view: a new cache object on the same directory.
    other = EmbeddingCache(cache.directory.parent, counting.name)
    embed_texts(texts, encoder=counting, cache=other)
    assert len(counting.texts) == 3


def test_only_missing_texts_are_encoded_and_order_is_kept(
    counting: CountingEncoder, cache: EmbeddingCache
) -> None:
    embed_texts(["alpha text", "gamma text"], encoder=counting, cache=cache)
    counting.texts.clear()
    texts = ["gamma text", "beta text", "alpha text", "beta text"]
    vectors = embed_texts(texts, encoder=counting, cache=cache, progress=True)
    assert counting.texts == ["beta text"]
    direct = counting.inner.encode(texts)  # other batch neighbours: int8 moves a little
    assert (vectors * direct).sum(axis=1).min() > 0.98


def test_progress_off_a_terminal_writes_nothing(
    counting: CountingEncoder, cache: EmbeddingCache, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make demo > log`: the transient bar left a blank line in the log for each embedding
    (found by a fresh-clone audit); off a terminal there is no bar at all."""
    embed_texts(["one text", "two text"], encoder=counting, cache=cache, progress=True)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_precomputed_hashes_are_used_as_keys(
    counting: CountingEncoder, cache: EmbeddingCache
) -> None:
    texts = ["card declined at the shop"]
    embed_texts(texts, encoder=counting, cache=cache, hashes=[content_hash(texts[0])])
    found, _ = cache.lookup([content_hash(texts[0])])
    assert found.all()
    with pytest.raises(InvalidInputError):
        embed_texts(texts, encoder=counting, cache=cache, hashes=[])


def test_many_small_shards_are_merged_without_losing_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.embeddings

    monkeypatch.setattr(engine.embeddings, "MAX_SMALL_SHARDS", 3)
    cache = EmbeddingCache(tmp_path, "enc")
    vectors = unit_rows(10)
    for i in range(10):
        cache.store([f"k{i}"], vectors[i : i + 1])
    assert len(list(cache.directory.glob("shard-*.npz"))) <= 4
    found, got = EmbeddingCache(tmp_path, "enc").lookup([f"k{i}" for i in range(10)])
    assert found.all()
    np.testing.assert_allclose(got, vectors, atol=1e-3)


def test_an_interrupted_embedding_keeps_what_it_encoded(
    counting: CountingEncoder, cache: EmbeddingCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long import stopped part-way (Ctrl-C, a killed process) keeps the vectors written so
    far: the re-run encodes only the rest."""
    monkeypatch.setattr("engine.embeddings.CHECKPOINT_TEXTS", 4)
    texts = [f"question number {i} about my card" for i in range(10)]
    real = counting.encode

    def stopped_at_the_third_run(batch: Sequence[str], **kw):  # type: ignore[no-untyped-def]
        if len(counting.texts) >= 8:
            raise KeyboardInterrupt
        return real(batch, **kw)

    monkeypatch.setattr(counting, "encode", stopped_at_the_third_run)
    with pytest.raises(KeyboardInterrupt):
        embed_texts(texts, encoder=counting, cache=cache)
    monkeypatch.setattr(counting, "encode", real)
    counting.texts.clear()
    again = embed_texts(texts, encoder=counting, cache=cache)
    assert counting.texts == texts[8:]  # the first two runs of 4 were kept
    whole = embed_texts(texts, encoder=counting.inner)
    np.testing.assert_allclose(again, whole, atol=1e-2)
