"""The plan's spool: the entries read once by the plan, kept (in memory, then on disk) for the apply."""

from __future__ import annotations

import os
import pickle  # noqa: S403 - only for the plan's own spool file, written and read by this process
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from custodian.espi import content as espi_content
from custodian.espi.parser import Entry, Link
from custodian.readings import readings_pack, readings_pack_text

SPOOL_MEMORY_BUDGET = 16 << 20  # bytes of entries an EntrySpool holds in memory before it writes to disk


@dataclass(slots=True)
class PackedBlock:
    """An IntervalBlock's content as the plan spools it: its readings packed for storage (``custodian.readings``)."""

    start: int | None
    duration: int | None
    readings: str
    reading_count: int


def pack_block(content: Any) -> PackedBlock:
    """Return the block's content with its readings packed; ReadingsInvalid if they cannot be stored."""
    if isinstance(content, PackedBlock):
        return content
    if isinstance(content, espi_content.IntervalBlockText):
        packed, count = readings_pack_text(content.columns, content.reading_count)
    else:
        packed, count = readings_pack(content.readings)
    return PackedBlock(start=content.start, duration=content.duration, readings=packed, reading_count=count)


class EntrySpool:
    """The entries read by the plan pass, kept for the apply: the feed is parsed once, not twice.

    ``import_plan(spool=True)`` keeps every entry whose content it read (the reader's ``Entry``, an
    IntervalBlock's readings packed) in memory up to ``memory_budget`` bytes (estimated), and pickles
    the rest into an anonymous temporary file, each behind a small header (its index and length) so
    the replay skips what it does not want without unpickling it and nothing per entry stays in
    memory; ``import_apply`` then replays the accepted ones, in feed order, instead of parsing the
    source again. So a feed of any size is held with bounded memory, and an ordinary one costs no
    disk round trip. The file is unlinked from the start (no other process can open it) and only
    this process writes and reads it.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None, *, memory_budget: int | None = None) -> None:
        # Overflow goes to ``directory`` (default: the system's temporary directory), on disk.
        self._directory = directory
        self._budget = SPOOL_MEMORY_BUDGET if memory_budget is None else memory_budget
        self._held = 0
        self._memory: dict[int, Entry] = {}
        self._file: Any = None
        self.on_disk = 0  # entries written to the file

    @staticmethod
    def _footprint(entry: Entry) -> int:
        content = entry.content
        size = 1024 + len(entry.content_xml or b"")
        if isinstance(content, PackedBlock):
            size += len(content.readings)
        elif isinstance(content, espi_content.IntervalBlockContent):
            size += 128 * len(content.readings)
        elif isinstance(content, espi_content.IntervalBlockText):
            size += 128 * content.reading_count
        return size

    def add(self, entry: Entry) -> None:
        """Keep one entry; entries are added in feed order."""
        size = self._footprint(entry)
        if self._file is None and self._held + size <= self._budget:
            self._memory[entry.index] = entry
            self._held += size
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(dir=self._directory)  # noqa: SIM115 - closed by close()
        data = pickle.dumps(_entry_values(entry), protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(_HEADER.pack(entry.index, len(data)))
        self._file.write(data)
        self.on_disk += 1

    def entries(self, wanted: Callable[[int], bool]) -> Iterator[Entry]:
        """Yield the spooled entries whose index is ``wanted``, in feed order (each once: the replay consumes them)."""
        memory, self._memory = self._memory, {}
        for index, held in memory.items():
            if wanted(index):
                yield held
        del memory
        if self._file is None:
            return
        self._file.flush()
        self._file.seek(0)
        read = self._file.read
        while header := read(_HEADER.size):
            index, length = _HEADER.unpack(header)
            if wanted(index):
                yield _entry_from_values(pickle.loads(read(length)))  # noqa: S301 - our own spool file, see the class docstring
            else:
                self._file.seek(length, os.SEEK_CUR)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory = {}


_HEADER = struct.Struct("<QQ")  # a spooled entry's index and the length of its pickle


def _entry_values(entry: Entry) -> tuple[Any, ...]:
    """Return an entry as plain values (uuid as bytes, links and a packed block as tuples): pickled several times faster."""
    content = entry.content
    if isinstance(content, PackedBlock):
        content = (content.start, content.duration, content.readings, content.reading_count)
        packed = True
    else:
        packed = False
    return (
        entry.index,
        entry.line,
        entry.atom_id,
        entry.uuid.bytes if entry.uuid is not None else None,
        entry.title,
        entry.published,
        entry.updated,
        tuple((link.rel, link.href, link.type) for link in entry.links),
        entry.kind,
        entry.namespace,
        packed,
        content,
        entry.content_xml,
        entry.problems,
        entry.schema_errors,
        entry.skipped,
        entry.fingerprint,
    )


def _entry_from_values(values: tuple[Any, ...]) -> Entry:
    """Return the entry :func:`_entry_values` gave the values of."""
    (index, line, atom_id, uuid, title, published, updated, links, kind, namespace, packed, content, *rest) = values
    content_xml, problems, schema_errors, skipped, fingerprint = rest
    return Entry(
        index=index,
        line=line,
        atom_id=atom_id,
        uuid=UUID(bytes=uuid) if uuid is not None else None,
        title=title,
        published=published,
        updated=updated,
        links=tuple(Link(rel, href, link_type) for rel, href, link_type in links),
        kind=kind,
        namespace=namespace,
        content=PackedBlock(*content) if packed else content,
        content_xml=content_xml,
        problems=problems,
        schema_errors=schema_errors,
        skipped=skipped,
        fingerprint=fingerprint,
    )
