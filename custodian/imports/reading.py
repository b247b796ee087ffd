"""Read a feed for the import: bytes, a path or a stream, counted as it is read, entry by entry."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from custodian.espi.content import BlockReadings
from custodian.espi.parser import Entry, EntrySelector, iter_entries
from custodian.espi.validate import EntryValidator


@dataclass(slots=True)
class ImportProgress:
    entries: int
    readings: int
    bytes_read: int
    phase: str


class CountingReader:
    def __init__(self, source: Any) -> None:
        self._source = source
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        self.count += len(chunk)
        return chunk


@dataclass(slots=True)
class Opened:
    reader: Any
    counter: CountingReader | None
    size: int


def open_source(source: Any) -> Iterator[Opened]:
    """Yield a counting reader over bytes, a path, or a seekable binary stream (rewound for reuse)."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield Opened(reader=bytes(source), counter=None, size=len(source))
        return
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            counter = CountingReader(handle)
            yield Opened(reader=counter, counter=counter, size=os.fstat(handle.fileno()).st_size)
        return
    if hasattr(source, "seek"):
        source.seek(0)
    counter = CountingReader(source)
    yield Opened(reader=counter, counter=counter, size=getattr(source, "size", 0) or 0)


def read_entries(
    source: Any,
    *,
    lenient: bool,
    max_bytes: int | None,
    validator: EntryValidator | None,
    select: EntrySelector | None = None,
    block_readings: BlockReadings = True,
) -> Iterator[tuple[Entry, Opened]]:
    for opened in open_source(source):
        for entry in iter_entries(
            opened.reader,
            max_bytes=max_bytes,
            lenient=lenient,
            validator=validator,
            select=select,
            block_readings=block_readings,
        ):
            yield entry, opened


def intern(value: str | None) -> str | None:
    # Plans are kept for every entry of a feed: kinds and usage point / meter reading ids repeat.
    return sys.intern(value) if value is not None else None
