"""Cut a stream of feed entries into parts: Atom feeds of at most ``limit`` bytes, each valid on its own.

An asynchronous Batch GET (``batch.services_bulk_jobs``) writes each range of usage points through
here. Entries come per usage point (its id and its entries, from ``batch.feed_entries``); a part is
closed before the entry that would take it past ``limit``. A part never refers to what only
another part holds: a shared resource (LocalTimeParameters, ReadingType) is written again in each
part that needs it, and a usage point cut across two parts has its UsagePoint and MeterReading
entries written again at the top of the second, so every part reads alone. Memory is one entry plus
the structural entries of the current usage point, whatever the size of the range.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from uuid import UUID

from custodian.espi import writer

FOOTER = b"</feed>\n"
# Entries a later entry of the same usage point refers to (its place in the tree): repeated after a cut.
STRUCTURAL_KINDS = frozenset({"UsagePoint", "LocalTimeParameters", "MeterReading", "ReadingType"})


class PartTooLarge(Exception):
    """One entry (with what it needs) does not fit in a part of ``limit`` bytes."""


@dataclass
class WrittenPart:
    """A part written to ``path``: its sequence number in the range, size, digest and usage points."""

    seq: int
    path: Path
    bytes: int
    sha256: str
    usage_point_ids: set[int] = field(default_factory=set)


def entry_kind(entry: writer.AtomEntry) -> str:
    """Return the ESPI kind of an entry, from the type of its self link (``espi-entry/Kind``)."""
    for link in entry.links:
        if link.rel == "self":
            return (link.type or "").rsplit("/", 1)[-1]
    return ""


@dataclass
class _OpenPart:
    seq: int
    path: Path
    handle: BinaryIO
    head_size: int
    size: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    written: set[UUID] = field(default_factory=set)
    usage_point_ids: set[int] = field(default_factory=set)

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def fits(self, size: int, limit: int) -> bool:
        return self.size + size + len(FOOTER) <= limit

    @property
    def empty(self) -> bool:
        return self.size == self.head_size


def write_parts(
    *,
    units: Iterable[tuple[int, Iterable[writer.AtomEntry]]],
    head: Callable[[int], bytes],
    limit: int,
    directory: Path,
) -> list[WrittenPart]:
    """Write ``units`` (usage point id, its entries) as parts under ``directory``; return them in order.

    ``head(seq)`` is the feed's opening (declaration, ``<feed>``, id, title, updated, links) of part
    ``seq`` (1-based). An empty input still gives one (empty, valid) part.
    """
    parts: list[WrittenPart] = []
    current: _OpenPart | None = None

    def open_part() -> _OpenPart:
        seq = len(parts) + 1
        path = directory / f"{seq:05d}.xml"
        opening = head(seq)
        part = _OpenPart(seq=seq, path=path, handle=path.open("wb"), head_size=len(opening))
        part.write(opening)
        if not part.fits(0, limit):
            raise PartTooLarge(f"a part of {limit} bytes cannot hold even the feed's opening")
        return part

    def close_part(part: _OpenPart) -> None:
        part.write(FOOTER)
        part.handle.close()
        parts.append(
            WrittenPart(
                seq=part.seq,
                path=part.path,
                bytes=part.size,
                sha256=part.digest.hexdigest(),
                usage_point_ids=part.usage_point_ids,
            )
        )

    try:
        for usage_point_id, entries in units:
            structural: list[tuple[UUID, bytes]] = []
            for entry in entries:
                data = b"".join(writer.entry_chunks(entry))
                if entry_kind(entry) in STRUCTURAL_KINDS:
                    structural.append((entry.uuid, data))
                if current is None:
                    current = open_part()
                if entry.uuid in current.written:
                    continue  # a shared resource this part already holds
                if not current.fits(len(data), limit) and not current.empty:
                    close_part(current)
                    current = open_part()
                    for uuid, earlier in structural:
                        if uuid != entry.uuid and uuid not in current.written:
                            current.write(earlier)
                            current.written.add(uuid)
                if not current.fits(len(data), limit):
                    raise PartTooLarge(f"an entry of {len(data)} bytes does not fit in a part of {limit} bytes")
                current.write(data)
                current.written.add(entry.uuid)
                current.usage_point_ids.add(usage_point_id)
        if current is None:
            current = open_part()
        close_part(current)
        current = None
    finally:
        if current is not None:
            current.handle.close()
    return parts
