"""The embedding cache reads a shard's vectors only when a lookup needs them (its keys are
indexed at once), and keeps finding them when another process merges that shard away."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.embeddings import EmbeddingCache
from tests.engine.test_embeddings import unit_rows


def _read(cache: EmbeddingCache) -> set[str]:
    """The keys whose shard's vectors this cache has read."""
    return {k for k, (shard, _) in cache._index.items() if cache._shards[shard] is not None}


def _two_shards(tmp_path: Path) -> EmbeddingCache:
    writer = EmbeddingCache(tmp_path, "enc")
    writer.store(["a", "b"], unit_rows(2))
    writer.store(["x", "y"], unit_rows(2, seed=1))
    return EmbeddingCache(tmp_path, "enc")


def _small_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> tuple[np.ndarray, EmbeddingCache]:
    """``n`` vectors, the first three stored one a shard ("k0".."k2") by the returned writer;
    a fourth small shard merges them all."""
    import engine.embeddings

    monkeypatch.setattr(engine.embeddings, "MAX_SMALL_SHARDS", 3)
    vectors = unit_rows(n)
    writer = EmbeddingCache(tmp_path, "enc")
    for i in range(3):
        writer.store([f"k{i}"], vectors[i : i + 1])
    return vectors, writer


def _finds_all(cache: EmbeddingCache, vectors: np.ndarray) -> None:
    """The cache finds "k0", "k1", ... as ``vectors``."""
    found, got = cache.lookup([f"k{i}" for i in range(len(vectors))])
    assert found.all()
    np.testing.assert_allclose(got, vectors, atol=1e-3)


def test_indexing_reads_no_vectors(tmp_path: Path) -> None:
    reader = _two_shards(tmp_path)
    assert len(reader) == 4 and reader.vector_dim() == 8
    assert reader.count_missing(["a", "x", "zz"]) == 1
    assert _read(reader) == set()


def test_a_lookup_reads_only_the_shards_it_needs(tmp_path: Path) -> None:
    reader = _two_shards(tmp_path)
    found, got = reader.lookup(["b", "zz"])
    assert found.tolist() == [True, False]
    np.testing.assert_allclose(got, unit_rows(2)[[1]], atol=1e-3)
    assert _read(reader) == {"a", "b"}
    found, got = reader.lookup(["y", "a"])
    assert found.all()
    np.testing.assert_allclose(got, np.stack([unit_rows(2, seed=1)[1], unit_rows(2)[0]]), atol=1e-3)
    assert _read(reader) == {"a", "b", "x", "y"}


def test_a_shard_merged_away_by_another_process_is_found_in_the_merged_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors, writer = _small_shards(tmp_path, monkeypatch, 5)
    reader = EmbeddingCache(tmp_path, "enc")
    assert len(reader) == 3 and _read(reader) == set()  # indexed, no vectors read
    before = set(p.name for p in writer.directory.glob("shard-*.npz"))
    writer.store(["k3"], vectors[3:4])  # the 4th small shard: the writer merges them all
    assert not before & {p.name for p in writer.directory.glob("shard-*.npz")}
    _finds_all(reader, vectors[:4])
    # and the reader, merging the small shards the writer merged already, loses nothing
    reader.store(["k4"], vectors[4:5])
    for cache in (reader, EmbeddingCache(tmp_path, "enc")):
        _finds_all(cache, vectors)


def test_a_merge_whose_shards_vanished_meanwhile_leaves_the_others_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors, writer = _small_shards(tmp_path, monkeypatch, 6)
    first, second = EmbeddingCache(tmp_path, "enc"), EmbeddingCache(tmp_path, "enc")
    assert len(first) == len(second) == 3  # indexed, no vectors read
    second.store(["k3"], vectors[3:4])  # second merges the four small shards
    first.store(["k4"], vectors[4:5])  # first's merge finds three of its shards gone
    assert first._generation == 1  # so it read the index again, and left the merge be
    first.store(["k5"], vectors[5:6])
    for cache in (first, second, writer, EmbeddingCache(tmp_path, "enc")):
        _finds_all(cache, vectors)


def test_unreadable_vectors_are_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = EmbeddingCache(tmp_path, "enc")
    cache.directory.mkdir(parents=True)
    vectors = unit_rows(1000)  # more than one read of the member: its header reads fine
    keys = np.array(["a", "b", *(f"k{i}" for i in range(998))])
    with open(cache.directory / "shard-0-broken.npz", "wb") as fh:
        np.savez(fh, keys=keys, vectors=vectors.astype(np.float16))
    with open(cache.directory / "shard-1-copy.npz", "wb") as fh:  # "a" is stored twice
        np.savez(fh, keys=np.array(["a"]), vectors=vectors[:1].astype(np.float16))
    broken = cache.directory / "shard-0-broken.npz"
    with zipfile.ZipFile(broken) as archive:  # the vectors' last bytes, not their header
        info = archive.getinfo("vectors.npy")
    data = bytearray(broken.read_bytes())
    end = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size
    data[end - 4 : end] = b"\xff\xff\xff\xff"
    broken.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="engine.embeddings"):
        assert len(cache) == 1000  # the keys read fine
        found, got = cache.lookup(["a", "b"])
    assert found.tolist() == [True, False]  # "a" from the other shard
    np.testing.assert_allclose(got, vectors[:1], atol=1e-3)
    assert sum("unreadable" in r.getMessage() for r in caplog.records) == 1
    cache.store(["b"], vectors[1:2])  # stored again, in a new shard
    found, got = EmbeddingCache(tmp_path, "enc").lookup(["b"])
    assert found.all()
    np.testing.assert_allclose(got, vectors[1:2], atol=1e-3)
