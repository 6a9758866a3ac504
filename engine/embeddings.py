"""The on-disk embedding cache, so a text is embedded once per encoder, ever.

Layout: ``<root>/<encoder name>/shard-<uuid>.npz``, each shard holding ``keys`` (content hashes)
and ``vectors`` (float16, one row per key). Shards are append-only and written to a temporary
file then renamed (``os.replace`` is atomic), so several processes can share a cache: a reader
sees a whole shard or none of it. Readers index every shard's keys and pick up new shards on each
call, but read a shard's vectors only when a lookup first needs them: a process that looks up one
project's texts (``labelbot status``) does not read every project's vectors.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from engine.encoders import Encoder
from storage.errors import InvalidInputError
from storage.hashing import content_hash

logger = logging.getLogger(__name__)

# Each store() of new texts adds a shard, so one-text predictions would pile up tiny files that
# every reader must open. Past this many small shards, store() merges them (and only them, so
# the cost stays bounded however large the cache grows).
SMALL_SHARD_ROWS = 4096
MAX_SMALL_SHARDS = 32
# New vectors are written to the cache every this many texts while a long embedding runs, so an
# interrupted import (Ctrl-C, a killed process) keeps what it encoded: the re-run starts there.
CHECKPOINT_TEXTS = SMALL_SHARD_ROWS
# The temporary file a shard is written to (".shard-<uuid hex>.npz.tmp"): a process killed
# while writing leaves it (engine.training.remove_leftovers)
TEMP_NAME = re.compile(r"\.shard-[0-9a-f]{32}\.npz\.tmp")

Vectors = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]


class EmbeddingCache:
    """Content hash -> vector for one encoder, stored as float16 shards in one directory.

    Thread-safe (Bolt runs listeners in threads that share one workspace's cache)."""

    def __init__(self, root: Path, encoder_name: str) -> None:
        self.directory = Path(root) / encoder_name
        self._names: list[str] = []  # shard number -> file name
        self._shards: list[npt.NDArray[np.float16] | None] = []  # None: vectors not read yet
        self._index: dict[str, tuple[int, int]] = {}  # hash -> (shard number, row)
        self._seen: set[str] = set()  # shard file names already indexed or rejected
        self._bad: set[str] = set()  # shards whose vectors turned out unreadable
        self._small: list[tuple[str, int]] = []  # (file name, shard number) of small shards
        self._generation = 0  # bumped when the index is rebuilt (shard numbers change)
        self._lock = threading.RLock()
        self.dim: int | None = None

    def lookup(self, hashes: Sequence[str]) -> tuple[Mask, Vectors]:
        """(found mask of len(hashes), float32 vectors of the found ones, in input order)."""
        with self._lock:
            self._refresh()
            while True:
                places = [self._index.get(h) for h in hashes]
                unread = sorted({p[0] for p in places if p and self._shards[p[0]] is None})
                generation = self._generation
                for number in unread:
                    self._read_vectors(number)
                    if self._generation != generation:
                        break  # the index was rebuilt: look the hashes up again
                else:
                    break
            found = np.array([p is not None for p in places], dtype=bool)
            hits = [p for p in places if p is not None]
            out = np.empty((len(hits), self.dim or 0), dtype=np.float32)
            if hits:
                shard_of = np.array([s for s, _ in hits])
                row_of = np.array([r for _, r in hits])
                for shard in np.unique(shard_of):
                    sel = shard_of == shard
                    rows = self._shards[shard]
                    assert rows is not None  # read above
                    out[sel] = rows[row_of[sel]]
            return found, out

    def count_missing(self, hashes: Sequence[str]) -> int:
        """How many of ``hashes`` have no vector here (no vectors read, unlike lookup)."""
        with self._lock:
            self._refresh()
            return sum(1 for h in hashes if h not in self._index)

    def store(self, hashes: Sequence[str], vectors: npt.ArrayLike) -> None:
        """Add vectors for hashes not cached yet, as one new shard (no write if all are known)."""
        array = np.asarray(vectors)
        if array.ndim != 2 or array.shape[0] != len(hashes):
            raise InvalidInputError(
                f"store() needs one vector row per hash: {len(hashes)} hashes, shape {array.shape}"
            )
        with self._lock:
            if self.dim is not None and array.shape[1] != self.dim:
                raise InvalidInputError(
                    f"vectors of dim {array.shape[1]} for cache {self.directory} of dim {self.dim}"
                )
            self._refresh()
            new: dict[str, int] = {}
            for row, key in enumerate(hashes):
                if key not in self._index and key not in new:
                    new[key] = row
            if not new:
                return
            keys = np.array(list(new), dtype=str)
            rows = array[list(new.values())].astype(np.float16)
            self._write_shard(keys, rows)
            if len(self._small) > MAX_SMALL_SHARDS:
                self._merge_small_shards()

    def _write_shard(
        self, keys: npt.NDArray[np.str_], rows: npt.NDArray[np.float16], *, repoint: bool = False
    ) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"shard-{uuid.uuid4().hex}.npz"
        tmp = self.directory / f".{name}.tmp"
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=keys, vectors=rows)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.directory / name)
        except BaseException:  # a full disk, Ctrl-C; only a killed process leaves it behind
            tmp.unlink(missing_ok=True)
            raise
        self._add_shard(name, keys, rows, dim=int(rows.shape[1]), repoint=repoint)

    def _merge_small_shards(self) -> None:
        """Rewrite the small shards as one, then delete them: never a moment without the data."""
        merged = list(self._small)
        numbers = {n for _, n in merged}
        keys = [key for key, (shard, _) in self._index.items() if shard in numbers]
        generation = self._generation
        rows = self.lookup(keys)[1] if keys else None
        if self._generation != generation:
            return  # one vanished: another process merged them, and the index was read again
        self._small = [s for s in self._small if s not in merged]  # lookup may have found more
        if keys and rows is not None:
            self._write_shard(np.array(keys, dtype=str), rows.astype(np.float16), repoint=True)
        for number in numbers:  # every key now points into the merged shard
            self._shards[number] = np.empty((0, self.dim or 0), dtype=np.float16)
        for name, _ in merged:
            # Another process may have merged (and deleted) the same shard already.
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()

    def __len__(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._index)

    def vector_dim(self) -> int | None:
        """The size of the cached vectors (None while there are none)."""
        with self._lock:
            self._refresh()
            return self.dim

    def _refresh(self, held: dict[str, npt.NDArray[np.float16]] | None = None) -> None:
        """Index the keys of shards written since the last call (by this or another process);
        their vectors are read on the first lookup that needs them (``held``: vectors already
        read, by file name)."""
        if not self.directory.is_dir():
            return
        names = sorted(
            entry.name
            for entry in os.scandir(self.directory)
            if entry.name.startswith("shard-")
            and entry.name.endswith(".npz")
            and entry.name not in self._seen
        )
        for name in names:
            self._seen.add(name)
            try:
                with np.load(self.directory / name, allow_pickle=False) as data:
                    keys = data["keys"]  # an npz member is read when accessed: not the vectors
                    shape = _member_shape(data.zip, "vectors.npy")
            except FileNotFoundError:
                continue  # merged into another shard by a writer since we listed the directory
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                logger.warning("ignoring unreadable embedding shard %s: %s", name, exc)
                continue
            if len(shape) != 2 or len(keys) != shape[0] or (self.dim and shape[1] != self.dim):
                logger.warning(
                    "ignoring embedding shard %s: %d keys, vectors %s", name, len(keys), shape
                )
                continue
            self._add_shard(name, keys, (held or {}).get(name), dim=shape[1])

    def _read_vectors(self, number: int) -> None:
        """Read shard ``number``'s vectors; if its file is gone (another process merged it into
        a new shard) or unreadable, index every shard again."""
        name = self._names[number]
        try:
            with np.load(self.directory / name, allow_pickle=False) as data:
                rows = data["vectors"]
        except FileNotFoundError:
            self._rebuild()
            return
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            logger.warning("ignoring unreadable embedding shard %s: %s", name, exc)
            self._bad.add(name)
            self._rebuild()
            return
        self._shards[number] = rows.astype(np.float16, copy=False)

    def _rebuild(self) -> None:
        """Index the shards on disk from scratch, keeping the vectors already read."""
        held = {
            name: rows
            for name, rows in zip(self._names, self._shards, strict=True)
            if rows is not None
        }
        self._names, self._shards, self._index, self._small = [], [], {}, []
        self._seen = set(self._bad)
        self._generation += 1
        self._refresh(held)

    def _add_shard(
        self,
        name: str,
        keys: npt.NDArray[np.str_],
        rows: npt.NDArray[np.float16] | None,
        *,
        dim: int,
        repoint: bool = False,
    ) -> None:
        self._seen.add(name)
        number = len(self._shards)
        self._names.append(name)
        self._shards.append(rows)
        if len(keys) < SMALL_SHARD_ROWS:
            self._small.append((name, number))
        self.dim = dim
        for row, key in enumerate(keys.tolist()):
            if repoint:
                self._index[key] = (number, row)
            else:
                self._index.setdefault(key, (number, row))


def _member_shape(archive: zipfile.ZipFile, member: str) -> tuple[int, ...]:
    """The shape of an .npy member of an .npz, from its header alone (its data is not read)."""
    with archive.open(member) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, _ = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, _ = np.lib.format.read_array_header_2_0(fh)
    return tuple(int(n) for n in shape)


def cache_for(data_dir: Path, encoder: Encoder) -> EmbeddingCache:
    """The shared on-disk cache for ``encoder``: ``<data_dir>/embeddings/<encoder.name>``."""
    return EmbeddingCache(Path(data_dir) / "embeddings", encoder.name)


def embed_texts(
    texts: Sequence[str],
    *,
    encoder: Encoder,
    cache: EmbeddingCache | None = None,
    hashes: Sequence[str] | None = None,
    progress: bool = False,
    batch_size: int = 64,
    persist: bool = True,
) -> Vectors:
    """Embeddings of ``texts`` (float32, input order), encoding only what the cache lacks.

    Identical texts (same content hash) are encoded once. With a cache, freshly computed vectors
    are returned after the same float16 round trip as cached ones, so a text's vector does not
    depend on whether it was a cache hit. ``persist=False`` reads the cache but adds nothing to
    it: for texts seen once (predictions), which would grow it without bound.
    """
    if hashes is None:
        hashes = [content_hash(t) for t in texts]
    elif len(hashes) != len(texts):
        raise InvalidInputError(f"{len(texts)} texts but {len(hashes)} hashes")
    first: dict[str, int] = {}
    for i, key in enumerate(hashes):
        first.setdefault(key, i)
    unique = list(first)
    slot = {key: n for n, key in enumerate(unique)}
    inverse = np.array([slot[k] for k in hashes], dtype=np.intp)

    vectors = np.empty((len(unique), encoder.dim), dtype=np.float32)
    missing = np.ones(len(unique), dtype=bool)
    if cache is not None and unique:
        found, cached = cache.lookup(unique)
        if found.any():
            vectors[found] = cached
        missing = ~found
    todo = np.flatnonzero(missing)
    if len(todo):
        todo_texts = [texts[first[unique[i]]] for i in todo]
        todo_keys = [unique[i] for i in todo]
        store = cache.store if cache is not None and persist else None
        fresh = _encode(
            encoder, todo_texts, todo_keys, batch_size=batch_size, progress=progress, store=store
        )
        if cache is not None:
            fresh = fresh.astype(np.float16).astype(np.float32)
        vectors[todo] = fresh
    return vectors[inverse]


def _encode(
    encoder: Encoder,
    texts: list[str],
    keys: list[str],
    *,
    batch_size: int,
    progress: bool,
    store: Callable[[Sequence[str], Vectors], None] | None,
) -> Vectors:
    """Encode ``texts`` (one progress bar for all); with ``store``, hand each run of
    ``CHECKPOINT_TEXTS`` vectors to it as soon as it is encoded."""
    step = CHECKPOINT_TEXTS if store is not None else max(len(texts), 1)
    with _progress(encoder.name, len(texts), enabled=progress) as advance:
        parts = []
        for start in range(0, len(texts), step):
            part = encoder.encode(
                texts[start : start + step], batch_size=batch_size, progress=advance
            )
            if store is not None:
                store(keys[start : start + step], part)
            parts.append(part)
    return np.concatenate(parts) if parts else np.empty((0, encoder.dim), dtype=np.float32)


@contextlib.contextmanager
def _progress(name: str, total: int, *, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    if not console.is_terminal:  # a log or a pipe: a bar there is only a blank line
        yield None
        return
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"Embedding with {name}", total=total)
        yield lambda k: bar.advance(task, k)
