"""Per-entry state of an import with memory bounded by a constant: the plan's entries in chunks, the ids seen.

A feed of N entries needs N entry plans and N ids for the duplicate rule. Both are held in memory up
to a fixed number of entries and on disk beyond it, in anonymous temporary files (unlinked from the
start, written and read by this process only):

* :class:`ChunkStore` keeps items in chunks of :data:`CHUNK` in feed order; chunks past the first
  :data:`PLAN_MEMORY_ENTRIES` items go to disk as one pickle each (of plain tuples, see ``pack``).
  Passes over the store go chunk by chunk (:meth:`ChunkStore.chunks`): a chunk read from disk is
  written back when the pass leaves it, so an item changed in a pass stays changed. Hold no item
  past its chunk; what a later chunk needs is carried in small sets, never in references.
* :class:`SeenIds` answers "did this id appear earlier in the feed": a set up to
  :data:`SEEN_MEMORY_IDS` ids, then a temporary SQLite table with the ids as its key.
"""

from __future__ import annotations

import gc
import os
import pickle  # noqa: S403 - only for this process's own temporary files
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar
from uuid import UUID

T = TypeVar("T")

CHUNK = 2048  # items per chunk
PLAN_MEMORY_ENTRIES = 16 * CHUNK  # items held in memory (about 20 MB of entry plans); the rest go to disk
SEEN_MEMORY_IDS = 50_000  # ids held in a set; beyond it, in a temporary SQLite table


class ChunkStore(Generic[T]):
    """Items in feed order, the first ``memory_items`` in memory and the rest in chunks on disk."""

    def __init__(
        self,
        *,
        pack: Callable[[T], Any],
        unpack: Callable[[Any], T],
        directory: str | os.PathLike[str] | None = None,
        memory_items: int | None = None,
        live: Callable[[T], bool] | None = None,
    ) -> None:
        self._pack = pack
        self._unpack = unpack
        self._live = live
        self._live_counts: dict[int, int] = {}  # chunk on disk -> its live items (``live``)
        self._directory = directory
        self._memory_items = PLAN_MEMORY_ENTRIES if memory_items is None else memory_items
        self._chunks: list[list[T] | None] = []  # None: on disk, at self._slots[i]
        self._slots: dict[int, tuple[int, int, int]] = {}  # chunk -> (offset, length, capacity)
        self._file: Any = None
        self._end = 0
        self._count = 0
        self._in_memory = 0

    def __len__(self) -> int:
        return self._count

    @property
    def chunks_on_disk(self) -> int:
        return len(self._slots)

    def append(self, item: T) -> None:
        last = self._chunks[-1] if self._chunks else None
        if last is None or len(last) >= CHUNK:
            if last is not None and self._in_memory > self._memory_items:
                self._spill(len(self._chunks) - 1, last)
            last = []
            self._chunks.append(last)
        last.append(item)
        self._count += 1
        self._in_memory += 1

    def _spill(self, number: int, chunk: list[T]) -> None:
        self._chunks[number] = None
        self._in_memory -= len(chunk)
        self._write(number, chunk)

    def _write(self, number: int, chunk: list[T]) -> None:
        if self._live is not None:
            self._live_counts[number] = sum(1 for item in chunk if self._live(item))
        data = pickle.dumps([self._pack(item) for item in chunk], protocol=pickle.HIGHEST_PROTOCOL)
        if self._file is None:
            self._file = tempfile.TemporaryFile(dir=self._directory)  # noqa: SIM115 - closed with the store
        slot = self._slots.get(number)
        if slot is not None and len(data) <= slot[2]:
            offset, capacity = slot[0], slot[2]
        else:
            # A new place, with room to grow: a pass changes a few fields of each item.
            offset, capacity = self._end, len(data) + len(data) // 2
            self._end += capacity
        self._file.seek(offset)
        self._file.write(data)
        self._slots[number] = (offset, len(data), capacity)

    def _read(self, number: int) -> list[T]:
        offset, length, _capacity = self._slots[number]
        self._file.seek(offset)
        # Thousands of new acyclic objects: the cyclic collector would only walk them (see plan._collector_paused).
        enabled = gc.isenabled()
        gc.disable()
        try:
            return [self._unpack(packed) for packed in pickle.loads(self._file.read(length))]  # noqa: S301 - our own file
        finally:
            if enabled:
                gc.enable()

    def chunks(self, *, write: bool = True, live_only: bool = False) -> Iterator[list[T]]:
        """Yield the items chunk by chunk, in feed order; chunks read from disk are written back (unless ``write=False``).

        ``live_only``: skip the chunks on disk that hold no live item (the store's ``live``), for a pass
        that reads and changes live items only (an import's entries still planned importable).
        """
        for number, held in enumerate(self._chunks):
            if held is not None:
                yield held
                continue
            if live_only and self._live_counts.get(number, 1) == 0:
                continue
            chunk = self._read(number)
            yield chunk
            if write:
                self._write(number, chunk)
            del chunk

    def __iter__(self) -> Iterator[T]:
        """Yield every item; changes made to an item before the next chunk is reached are kept."""
        for chunk in self.chunks():
            yield from chunk

    def scan(self) -> Iterator[T]:
        """Yield every item for reading only: changes to items of chunks on disk are not kept."""
        for chunk in self.chunks(write=False):
            yield from chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._chunks, self._slots, self._count = [], {}, 0

    def __del__(self) -> None:
        if self._file is not None:
            self._file.close()


class SeenIds:
    """The ids already seen in a feed (the duplicate rule), in memory up to a bound and on disk beyond it."""

    def __init__(self, *, memory_ids: int | None = None) -> None:
        self._memory_ids = SEEN_MEMORY_IDS if memory_ids is None else memory_ids
        self._held: set[int] = set()
        self._db: sqlite3.Connection | None = None

    def add(self, uuid: UUID) -> bool:
        """Remember ``uuid``; return whether it was seen before."""
        if self._db is not None:
            return self._db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (uuid.bytes,)).rowcount == 0
        key = uuid.int
        if key in self._held:
            return True
        self._held.add(key)
        if len(self._held) > self._memory_ids:
            self._spill()
        return False

    def _spill(self) -> None:
        # "" is SQLite's private temporary database: on disk, deleted when the connection closes.
        db = sqlite3.connect("", isolation_level=None)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-4096")  # KiB: the page cache stays small
        db.execute("CREATE TABLE seen (id BLOB PRIMARY KEY) WITHOUT ROWID")
        db.execute("BEGIN")
        db.executemany("INSERT INTO seen VALUES (?)", ((key.to_bytes(16, "big"),) for key in self._held))
        self._held = set()
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._held = set()
