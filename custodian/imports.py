"""Import Green Button feeds into the database in two steps: plan, then apply.

``import_plan`` streams the feed once and decides, per entry, where it would go and whether it can
(``EntryPlan``). ``import_apply`` writes the entries the caller accepts (replayed from the plan's
spool, or read again from the same bytes), all in one transaction, upserting by ``uuid`` within the
owner: a resource never moves to another usage point or customer. The batch POST filter reuses
both steps with its own :class:`UsagePointResolver` (grants instead of a customer).

Interval readings are stored packed in their block's row (``custodian.readings``); a block uploaded
again replaces its readings. On PostgreSQL new rows are queued and inserted in bulk (blocks with
``COPY``, see :class:`_RowQueue`); other databases write row by row.
"""

from __future__ import annotations

import gc
import os
import pickle  # noqa: S403 - only for the plan's own spool file, written and read by this process
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import IO, Any, Protocol
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from custodian.espi import content as espi_content
from custodian.espi.errors import EspiError
from custodian.espi.hrefs import href_ids
from custodian.espi.parser import Entry, EntrySelector, iter_entries
from custodian.espi.validate import EntryValidator
from custodian.models import (
    AuditEvent,
    ElectricPowerQualitySummary,
    IntervalBlock,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    RetailCustomer,
    UsagePoint,
    UsageSummary,
    new_public_id,
)
from custodian.readings import ReadingsInvalid, readings_pack
from custodian.services import audit_record

OK = "ok"
INVALID = "invalid"
CONFLICT = "conflict"
DUPLICATE = "duplicate"
UNSUPPORTED = "unsupported"
NOT_GRANTED = "not_granted"

_SHARED = {"ReadingType", "LocalTimeParameters"}
_FLUSH_BLOCKS = 1000  # about 4 MB of packed readings
SPOOL_MEMORY_BUDGET = 16 << 20  # bytes of entries an EntrySpool holds in memory before it writes to disk


class ImportFailed(Exception):
    """The feed as a whole cannot be imported (unreadable, or changed between plan and apply)."""


@dataclass(slots=True)
class UsagePointTarget:
    """Where entries naming one file-local ``UsagePoint/{ref}`` go in this import."""

    ref: str
    usage_point_id: int | None = None  # an existing usage point
    create: bool = False  # a new usage point, made from the feed's UsagePoint entry
    uuid: UUID | None = None  # the uuid of the feed's UsagePoint entry for this ref, if any


class UsagePointResolver(Protocol):
    """Decide which of our usage points a file-local usage point id means, and who may be written."""

    def resolve(self, *, ref: str, declared_uuid: UUID | None) -> UsagePointTarget | None:
        """Return the target for a ref the database does not already know by uuid; None if not allowed."""

    def allows(self, *, usage_point_id: int) -> bool:
        """Return whether this import may write under an existing usage point."""


class CustomerUsagePoints:
    """A customer's import: refs that are the customer's public ids map to them; others become new usage points.

    The mapping is per import: ``5446AF3F`` in a file gets a fresh random public id of ours.
    """

    def __init__(self, customer: RetailCustomer) -> None:
        self.customer = customer
        self._owned = dict(UsagePoint.objects.filter(customer=customer).values_list("public_id", "id"))
        self._owned_ids = set(self._owned.values())

    def resolve(self, *, ref: str, declared_uuid: UUID | None) -> UsagePointTarget | None:
        if declared_uuid is None and ref in self._owned:
            return UsagePointTarget(ref=ref, usage_point_id=self._owned[ref])
        if declared_uuid is not None:
            return UsagePointTarget(ref=ref, create=True, uuid=declared_uuid)
        return None

    def allows(self, *, usage_point_id: int) -> bool:
        return (
            usage_point_id in self._owned_ids
            or UsagePoint.objects.filter(pk=usage_point_id, customer=self.customer).exists()
        )


@dataclass(slots=True)
class EntryPlan:
    """What the import would do with one entry; no readings are kept."""

    index: int
    line: int
    atom_id: str
    kind: str | None
    uuid: UUID | None
    status: str = OK
    reason: str = ""
    usage_point_ref: str | None = None
    usage_point_id: int | None = None  # our usage point, when it exists already
    creates_usage_point: bool = False
    meter_reading_ref: str | None = None
    meter_reading_uuid: UUID | None = None  # IntervalBlock: its parent
    reading_type_uuid: UUID | None = None  # MeterReading: its ReadingType
    local_time_parameters_uuid: UUID | None = None  # UsagePoint: its LocalTimeParameters
    existing_id: int | None = None  # the row that already has this uuid
    readings: int = 0
    warnings: list[str] = field(default_factory=list)
    # file-local ids, resolved after the whole feed has been seen
    _self_ref: str | None = None
    _rt_ref: str | None = None
    _ltp_ref: str | None = None

    def reject(self, status: str, reason: str) -> None:
        """Mark the entry rejected, keeping the first reason."""
        if self.status == OK:
            self.status, self.reason = status, reason

    def describe(self) -> str:
        """Return a one-line human description: which entry, and why it is rejected."""
        return f"entry #{self.index} ({self.atom_id or 'no id'}, line {self.line}, {self.kind or 'no content'}): {self.status}: {self.reason}"


@dataclass(slots=True)
class _PackedBlock:
    """An IntervalBlock's content as the plan spools it: its readings packed for storage (``custodian.readings``)."""

    start: int | None
    duration: int | None
    readings: str
    reading_count: int


def _pack_block(content: Any) -> _PackedBlock:
    """Return the block's content with its readings packed; ReadingsInvalid if they cannot be stored."""
    if isinstance(content, _PackedBlock):
        return content
    packed, count = readings_pack(content.readings)
    return _PackedBlock(start=content.start, duration=content.duration, readings=packed, reading_count=count)


class EntrySpool:
    """The entries read by the plan pass, kept for the apply: the feed is parsed once, not twice.

    ``import_plan(spool=True)`` keeps every entry whose content it read (the reader's ``Entry``, an
    IntervalBlock's readings packed) in memory up to ``memory_budget`` bytes (estimated), and pickles
    the rest into an anonymous temporary file; ``import_apply`` then replays the accepted ones instead
    of parsing the source again. So a feed of any size is held with bounded memory, and an ordinary
    one costs no disk round trip. The file is unlinked from the start (no other process can open
    it) and only this process writes and reads it.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None, *, memory_budget: int | None = None) -> None:
        # Overflow goes to ``directory`` (default: the system's temporary directory), on disk.
        self._directory = directory
        self._budget = SPOOL_MEMORY_BUDGET if memory_budget is None else memory_budget
        self._held = 0
        self._memory: dict[int, Entry] = {}
        self._file: Any = None
        self._offsets: dict[int, int] = {}

    @staticmethod
    def _footprint(entry: Entry) -> int:
        content = entry.content
        size = 1024 + len(entry.content_xml or b"")
        if isinstance(content, _PackedBlock):
            size += len(content.readings)
        elif isinstance(content, espi_content.IntervalBlockContent):
            size += 128 * len(content.readings)
        return size

    def add(self, entry: Entry) -> None:
        size = self._footprint(entry)
        if self._file is None and self._held + size <= self._budget:
            self._memory[entry.index] = entry
            self._held += size
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(dir=self._directory)  # noqa: SIM115 - closed by close()
        self._offsets[entry.index] = self._file.tell()
        pickle.dump(entry, self._file, protocol=pickle.HIGHEST_PROTOCOL)

    def __contains__(self, index: object) -> bool:
        return index in self._memory or index in self._offsets

    def entries(self, indexes: Iterable[int]) -> Iterator[Entry]:
        """Yield the spooled entries of ``indexes`` in feed order."""
        if self._file is not None:
            self._file.flush()
        for index in sorted(indexes):
            held = self._memory.pop(index, None)
            if held is not None:
                yield held
                continue
            self._file.seek(self._offsets[index])
            yield pickle.load(self._file)  # noqa: S301 - our own spool file, see the class docstring

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory = {}
        self._offsets = {}


@dataclass(slots=True)
class ImportPlan:
    entries: list[EntryPlan]
    usage_points: dict[str, UsagePointTarget]
    lenient: bool
    bytes_read: int = 0
    spool: EntrySpool | None = None  # import_plan(spool=True): what the apply reads instead of the source

    def close(self) -> None:
        """Drop the spool, if any (the apply does it itself; call it when a plan is not applied)."""
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    @property
    def ok_indexes(self) -> set[int]:
        return {plan.index for plan in self.entries if plan.status == OK}

    @property
    def rejected(self) -> list[EntryPlan]:
        return [plan for plan in self.entries if plan.status != OK]

    @property
    def readings(self) -> int:
        return sum(plan.readings for plan in self.entries)


@dataclass(slots=True)
class ImportProgress:
    entries: int
    readings: int
    bytes_read: int
    phase: str


@dataclass(slots=True)
class ImportResult:
    created: dict[str, int]
    updated: dict[str, int]
    readings: int
    usage_point_ids: list[int]


class _CountingReader:
    def __init__(self, source: Any) -> None:
        self._source = source
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        self.count += len(chunk)
        return chunk


@dataclass(slots=True)
class _Opened:
    reader: Any
    counter: _CountingReader | None
    size: int


def _open(source: Any) -> Iterator[_Opened]:
    """Yield a counting reader over bytes, a path, or a seekable binary stream (rewound for reuse)."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield _Opened(reader=bytes(source), counter=None, size=len(source))
        return
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            counter = _CountingReader(handle)
            yield _Opened(reader=counter, counter=counter, size=os.fstat(handle.fileno()).st_size)
        return
    if hasattr(source, "seek"):
        source.seek(0)
    counter = _CountingReader(source)
    yield _Opened(reader=counter, counter=counter, size=getattr(source, "size", 0) or 0)


def _entries(
    source: Any,
    *,
    lenient: bool,
    max_bytes: int | None,
    validator: EntryValidator | None,
    select: EntrySelector | None = None,
    block_readings: bool = True,
) -> Iterator[tuple[Entry, _Opened]]:
    for opened in _open(source):
        for entry in iter_entries(
            opened.reader,
            max_bytes=max_bytes,
            lenient=lenient,
            validator=validator,
            select=select,
            block_readings=block_readings,
        ):
            yield entry, opened


def _intern(value: str | None) -> str | None:
    # Plans are kept for every entry of a feed: kinds and usage point / meter reading ids repeat.
    return sys.intern(value) if value is not None else None


def _plan_entry(entry: Entry, seen: set[UUID]) -> EntryPlan:
    plan = EntryPlan(
        index=entry.index, line=entry.line, atom_id=entry.atom_id, kind=_intern(entry.kind), uuid=entry.uuid
    )
    if entry.kind is None or not entry.is_espi or entry.kind not in espi_content.SUPPORTED_KINDS:
        plan.reject(UNSUPPORTED, f"{entry.kind or 'an entry without content'} cannot be imported")
    if entry.uuid is None:
        plan.reject(INVALID, "; ".join(entry.problems) or "no urn:uuid atom:id")
    elif entry.uuid in seen:
        plan.reject(DUPLICATE, "the same id appears earlier in this feed")
    else:
        seen.add(entry.uuid)
    if entry.schema_errors:
        plan.reject(INVALID, "schema: " + entry.schema_errors[0])
    hard = [p for p in entry.problems if not p.startswith("lenient:")]
    if hard:
        plan.reject(INVALID, "; ".join(hard))
    plan.warnings = [p for p in entry.problems if p.startswith("lenient:")]
    if entry.skipped:
        plan.reject(NOT_GRANTED, "not selected for this import")
    if entry.content is None and plan.status == OK:
        plan.reject(INVALID, "the content could not be read")
    ids = href_ids(entry.up_href)
    ids.update(href_ids(entry.self_href))
    plan.usage_point_ref = _intern(ids.get("UsagePoint"))
    if entry.kind == "IntervalBlock":
        plan.meter_reading_ref = _intern(ids.get("MeterReading"))
        block = entry.content
        if isinstance(block, espi_content.IntervalBlockSummary):
            plan.readings = block.reading_count
            if block.duplicate_starts:
                plan.reject(INVALID, "two readings of the block have the same start")
            elif block.earliest_start is not None and block.earliest_start < 0:
                plan.reject(INVALID, "a reading starts before 1970")
        elif block is not None:
            # Read in full only for the spool, where packing them checks them (import_plan).
            plan.readings = len(block.readings)
        if block is not None and (block.start is None or block.duration is None):
            plan.reject(INVALID, "the block has no interval")
    elif entry.kind in _SHARED:
        plan._self_ref = ids.get(entry.kind)
    elif entry.kind == "MeterReading":
        plan.meter_reading_ref = ids.get("MeterReading")
        for href in entry.related_hrefs:
            plan._rt_ref = href_ids(href).get("ReadingType") or plan._rt_ref
    elif entry.kind == "UsagePoint":
        for href in entry.related_hrefs:
            plan._ltp_ref = href_ids(href).get("LocalTimeParameters") or plan._ltp_ref
    if plan.status == OK and entry.kind != "UsagePoint" and entry.kind not in _SHARED and not plan.usage_point_ref:
        plan.reject(INVALID, "no UsagePoint/{id} in the self or up href to place the entry")
    return plan


_MODELS: dict[str, Any] = {
    "UsagePoint": UsagePoint,
    "MeterReading": MeterReading,
    "ReadingType": ReadingType,
    "IntervalBlock": IntervalBlock,
    "LocalTimeParameters": LocalTimeParameters,
    "UsageSummary": UsageSummary,
    "ElectricPowerUsageSummary": UsageSummary,
    "ElectricPowerQualitySummary": ElectricPowerQualitySummary,
}


def _existing(plans: list[EntryPlan]) -> dict[UUID, tuple[str, int, int | None, int | None]]:
    """Return uuid -> (model kind, pk, usage point id, meter reading id) for uuids already stored."""
    by_model: dict[Any, list[UUID]] = {}
    for plan in plans:
        if plan.uuid is not None and plan.kind in _MODELS:
            by_model.setdefault(_MODELS[plan.kind], []).append(plan.uuid)
    found: dict[UUID, tuple[str, int, int | None, int | None]] = {}
    for model, uuids in by_model.items():
        for start in range(0, len(uuids), 1000):
            chunk = uuids[start : start + 1000]
            if model is IntervalBlock:
                rows = model.objects.filter(uuid__in=chunk).values_list(
                    "uuid", "pk", "meter_reading__usage_point_id", "meter_reading_id"
                )
            elif model is UsagePoint:
                rows = ((u, pk, pk, None) for u, pk in model.objects.filter(uuid__in=chunk).values_list("uuid", "pk"))
            elif model in (ReadingType, LocalTimeParameters):
                rows = ((u, pk, None, None) for u, pk in model.objects.filter(uuid__in=chunk).values_list("uuid", "pk"))
            else:
                rows = (
                    (u, pk, up, None)
                    for u, pk, up in model.objects.filter(uuid__in=chunk).values_list("uuid", "pk", "usage_point_id")
                )
            for u, pk, up, mr in rows:
                found[u] = (model.__name__, pk, up, mr)
    # Also every stored uuid of another kind collides (a uuid is unique across the portal).
    return found


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a feed is read (reference counting still frees everything).

    Reading a feed allocates millions of short-lived, acyclic objects (reading tuples, strings) while
    the plan's entries accumulate; the collector would otherwise walk the growing plan again and again.
    The pause is process-wide (``gc`` has no other kind): with threaded workers, other requests of the
    process run without cyclic collection meanwhile, which delays it and breaks nothing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def import_plan(
    *,
    source: bytes | str | os.PathLike[str] | IO[bytes],
    resolver: UsagePointResolver,
    lenient: bool = False,
    max_bytes: int | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    select: EntrySelector | None = None,
    spool: bool | str | os.PathLike[str] = False,
) -> ImportPlan:
    """Stream the feed once and plan every entry; raise EspiError if the feed itself is refused.

    ``select`` (see ``iter_entries``) lets a caller skip entries it will reject from their hrefs
    alone; they are planned ``not_granted`` without parsing or validating their content.
    ``spool=True`` (or a directory for the spool file) keeps the entries read here in an
    :class:`EntrySpool` (``plan.spool``) that ``import_apply`` replays instead of parsing the source
    again; close the plan if it is not applied.
    """
    validator = EntryValidator()
    plans: list[EntryPlan] = []
    seen: set[UUID] = set()
    readings = 0
    bytes_read = 0
    # Every entry is schema-validated here, so without a spool blocks are only summarised (count,
    # duplicate starts): the XSD checks the types of every reading field; apply reads the readings.
    # With a spool the readings are read here, once, for the apply.
    entries = _entries(
        source, lenient=lenient, max_bytes=max_bytes, validator=validator, select=select, block_readings=bool(spool)
    )
    spooled = EntrySpool(None if spool is True else spool) if spool else None
    try:
        with _collector_paused():
            for entry, opened in entries:
                plan = _plan_entry(entry, seen)
                plans.append(plan)
                if spooled is not None and not entry.skipped:
                    if plan.status == OK and isinstance(entry.content, espi_content.IntervalBlockContent):
                        # Spooled packed, as the apply stores it: a string pickles far faster than tuples.
                        try:
                            entry.content = _pack_block(entry.content)
                        except ReadingsInvalid as exc:
                            plan.reject(INVALID, str(exc))
                    spooled.add(entry)
                readings += plan.readings
                bytes_read = opened.counter.count if opened.counter else opened.size
                if progress and entry.index % 500 == 0:
                    progress(ImportProgress(entries=len(plans), readings=readings, bytes_read=bytes_read, phase="plan"))
        plan = ImportPlan(entries=plans, usage_points={}, lenient=lenient, bytes_read=bytes_read, spool=spooled)
        _resolve(plan, resolver)
    except BaseException:
        if spooled is not None:
            spooled.close()
        raise
    if progress:
        progress(ImportProgress(entries=len(plans), readings=readings, bytes_read=bytes_read, phase="planned"))
    return plan


def _resolve(plan: ImportPlan, resolver: UsagePointResolver) -> None:
    """Place every entry: file-local ids to uuids, uuids to stored rows, usage points to targets."""
    plans = plan.entries
    existing = _existing(plans)
    declared: dict[str, UUID] = {}
    mr_by_ref: dict[tuple[str | None, str], UUID] = {}
    shared_by_ref: dict[tuple[str, str], UUID] = {}
    for p in plans:
        if p.status != OK or p.uuid is None:
            continue
        if p.kind == "UsagePoint" and p.usage_point_ref:
            declared.setdefault(p.usage_point_ref, p.uuid)
        elif p.kind == "MeterReading" and p.meter_reading_ref:
            mr_by_ref[(p.usage_point_ref, p.meter_reading_ref)] = p.uuid
        elif p.kind in _SHARED and p._self_ref:
            shared_by_ref[(p.kind, p._self_ref)] = p.uuid

    # Usage point targets: a stored uuid wins, then the resolver decides.
    for ref in {p.usage_point_ref for p in plans if p.usage_point_ref}:
        declared_uuid = declared.get(ref)
        stored = existing.get(declared_uuid) if declared_uuid else None
        if stored and stored[0] == "UsagePoint":
            # Another owner's usage point is no target at all: its children must not follow it there.
            allowed = resolver.allows(usage_point_id=stored[1])
            target = UsagePointTarget(ref=ref, usage_point_id=stored[1], uuid=declared_uuid) if allowed else None
        else:
            target = resolver.resolve(ref=ref, declared_uuid=declared_uuid)
        if target is not None:
            plan.usage_points[ref] = target

    for p in plans:
        if p.status != OK:
            continue
        stored = existing.get(p.uuid) if p.uuid else None
        if stored and stored[0] != _MODELS[p.kind].__name__:
            p.reject(CONFLICT, f"this id already belongs to a {stored[0]}")
            continue
        if stored:
            p.existing_id = stored[1]
        if p.kind in _SHARED:
            if stored and not _shared_only_under(p.kind, stored[1], resolver):
                p.reject(CONFLICT, f"this {p.kind} is shared with data outside this import and cannot be changed")
            continue
        target = plan.usage_points.get(p.usage_point_ref) if p.usage_point_ref else None
        if p.kind == "UsagePoint":
            if stored:
                p.usage_point_id = stored[1]
                if not resolver.allows(usage_point_id=stored[1]):
                    p.reject(CONFLICT, "this usage point belongs to another owner")
            elif target is None or (target.usage_point_id is None and not target.create):
                p.reject(NOT_GRANTED, f"usage point {p.usage_point_ref!r} is unknown or not yours")
            else:
                p.usage_point_id = target.usage_point_id
                p.creates_usage_point = target.create
            if p._ltp_ref:
                p.local_time_parameters_uuid = shared_by_ref.get(("LocalTimeParameters", p._ltp_ref))
            continue
        # Usage-point-owned resources.
        if target is None:
            if stored and stored[2] is not None:
                p.reject(CONFLICT, "this id already belongs to a resource under another usage point")
            else:
                p.reject(NOT_GRANTED, f"usage point {p.usage_point_ref!r} is unknown or not yours")
            continue
        p.usage_point_id = target.usage_point_id
        p.creates_usage_point = target.create
        if stored and (target.usage_point_id is None or stored[2] != target.usage_point_id):
            p.reject(CONFLICT, "this id already belongs to a resource under another usage point")
            continue
        if stored and not resolver.allows(usage_point_id=stored[2]):
            p.reject(CONFLICT, "this id belongs to another owner")
            continue
        if p.kind == "MeterReading" and p._rt_ref:
            p.reading_type_uuid = shared_by_ref.get(("ReadingType", p._rt_ref))
            if p.reading_type_uuid is None:
                p.warnings.append(f"ReadingType {p._rt_ref!r} is not in this feed; left unset")
        elif p.kind == "IntervalBlock":
            p.meter_reading_uuid = mr_by_ref.get((p.usage_point_ref, p.meter_reading_ref or ""))
            if p.meter_reading_uuid is None and target.usage_point_id is not None and p.meter_reading_ref:
                row = (
                    MeterReading.objects.filter(usage_point_id=target.usage_point_id, public_id=p.meter_reading_ref)
                    .values_list("uuid", flat=True)
                    .first()
                )
                p.meter_reading_uuid = row
            if p.meter_reading_uuid is None and stored and stored[3] is not None:
                p.meter_reading_uuid = MeterReading.objects.filter(pk=stored[3]).values_list("uuid", flat=True).first()
            if p.meter_reading_uuid is None:
                p.reject(INVALID, f"its MeterReading {p.meter_reading_ref!r} is neither in this feed nor stored")
    # A block is only as good as its meter reading.
    bad_mrs = {p.uuid for p in plans if p.kind == "MeterReading" and p.status != OK}
    for p in plans:
        if p.kind == "IntervalBlock" and p.status == OK and p.meter_reading_uuid in bad_mrs:
            p.reject(INVALID, "its MeterReading entry is rejected")


def _shared_only_under(kind: str, pk: int, resolver: UsagePointResolver) -> bool:
    if kind == "ReadingType":
        users = MeterReading.objects.filter(reading_type_id=pk).values_list("usage_point_id", flat=True).distinct()
    else:
        users = UsagePoint.objects.filter(local_time_parameters_id=pk).values_list("pk", flat=True)
    return all(resolver.allows(usage_point_id=up) for up in users.iterator())


# ---- apply --------------------------------------------------------------------------------------


class _RowQueue:
    """Write an import's new rows in bulk on PostgreSQL.

    New usage points, meter readings and interval blocks (each block with its packed readings, the
    volume of any first import) get ids taken ahead from their tables' identity sequences and are
    queued; a flush inserts them together: blocks with one ``COPY``, the others with one bulk INSERT
    per model. UPDATEs of rows that exist already are queued too and run after the inserts (the owner
    filter of each makes it a no-op, and the import fail, if the row moved since the plan). The queue
    is flushed before any other query on the connection (``before_query``, an execute wrapper), so
    every query sees what the import wrote before it; every ``_FLUSH_BLOCKS`` blocks, so memory stays
    flat; and at the end. Other databases write row by row (``batched`` is False).
    """

    _block_columns = (
        "id",
        "public_id",
        "uuid",
        "title",
        "published",
        "updated",
        "start",
        "duration",
        "meter_reading_id",
        "readings",
        "reading_count",
    )

    def __init__(self) -> None:
        self.batched = False  # set by start(), inside the import's transaction
        self._blocks: list[tuple[Any, ...]] = []  # new block rows not yet inserted
        self._objects: dict[Any, list[Any]] = {}  # model -> new rows (usage points, meter readings) not yet inserted
        self._pools: dict[Any, list[int]] = {}  # model -> ids taken from its sequence, not used yet
        self._updates: list[tuple[Any, int, dict[str, Any], dict[str, Any], str]] = []
        self._flushing = False

    def start(self) -> None:
        """Call inside the transaction: batch on PostgreSQL."""
        self.batched = connection.vendor == "postgresql"

    def new_id(self, model: Any) -> int:
        """Return an id for a new row of ``model`` from its identity sequence (taken ahead, 512 or 64 at a time)."""
        pool = self._pools.setdefault(model, [])
        if not pool:
            self.flush()
            table = connection.ops.quote_name(model._meta.db_table)
            with connection.cursor() as cursor:
                cursor.cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [table, 512 if model is IntervalBlock else 64],
                )
                pool.extend(row[0] for row in reversed(cursor.cursor.fetchall()))
        return pool.pop()

    def add_object(self, obj: Any) -> None:
        """Queue a new model instance (its pk from ``new_id``)."""
        self._objects.setdefault(type(obj), []).append(obj)

    def add_update(self, model: Any, pk: int, owner: dict[str, Any], fields: dict[str, Any], what: str) -> None:
        """Queue ``UPDATE model SET fields WHERE pk AND owner``."""
        self._updates.append((model, pk, owner, fields, what))

    def add_new_block(self, row: tuple[Any, ...]) -> None:
        """Queue a new block's row (``_block_columns``, its id from ``new_id``)."""
        self._blocks.append(row)
        if len(self._blocks) >= _FLUSH_BLOCKS:
            self.flush()

    def flush(self) -> None:
        """Insert the queued rows (objects, then blocks), then run the queued updates."""
        if self._flushing:
            return  # the queries below go through before_query
        self._flushing = True
        try:
            objects, self._objects = self._objects, {}
            for model, objs in objects.items():
                model.objects.bulk_create(objs, batch_size=500)
            if self._blocks:
                blocks, self._blocks = self._blocks, []
                table = connection.ops.quote_name(IntervalBlock._meta.db_table)
                columns = ", ".join(self._block_columns)
                with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # noqa: S608 - fixed names
                    for row in blocks:
                        copy.write_row(row)
            updates, self._updates = self._updates, []
            self._run_updates(updates)
        finally:
            self._flushing = False

    @staticmethod
    def _run_updates(updates: list[tuple[Any, int, dict[str, Any], dict[str, Any], str]]) -> None:
        """Run queued updates, one ``executemany`` (a single round trip) per model and set of columns.

        Each UPDATE matches the row's id and its planned owner, so a row that moved since the plan
        is not updated and the import fails.
        """
        # One update per row, later fields over earlier ones (as running them in order would leave it).
        latest: dict[tuple[Any, int], tuple[Any, int, dict[str, Any], dict[str, Any], str]] = {}
        for model, pk, owner, fields, what in updates:
            earlier = latest.get((model, pk))
            latest[(model, pk)] = (model, pk, owner, {**earlier[3], **fields} if earlier else fields, what)
        groups: dict[tuple[Any, tuple[str, ...], tuple[str, ...]], list[tuple[list[Any], str]]] = {}
        for model, pk, owner, fields, what in latest.values():
            meta = model._meta
            owner_columns = {meta.get_field(name).column: getattr(v, "pk", v) for name, v in owner.items()}
            key = (model, tuple(sorted(fields)), tuple(sorted(owner_columns)))
            values = [meta.get_field(name).get_db_prep_save(fields[name], connection) for name in key[1]]
            groups.setdefault(key, []).append(([*values, pk, *(owner_columns[c] for c in key[2])], what))
        quote = connection.ops.quote_name
        for (model, names, owner_columns), rows in groups.items():
            meta = model._meta
            assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in names)
            conditions = "".join(f" AND {quote(column)} = %s" for column in owner_columns)
            sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s{conditions}"  # noqa: S608 - names from the model
            with connection.cursor() as cursor:
                cursor.executemany(sql, [params for params, _what in rows])
                updated = cursor.rowcount
            if updated != len(rows):
                moved = _moved(model, names, owner_columns, rows)
                raise ImportFailed(f"{moved}: the stored resource changed owner during the import")

    def abort(self) -> None:
        """On an error: drop what is queued (the transaction rolls back what was written)."""
        self._blocks = []
        self._objects = {}
        self._updates = []

    def before_query(self, execute: Any, sql: Any, params: Any, many: bool, context: Any) -> Any:
        """Execute wrapper: any ORM query first flushes the queue."""
        self.flush()
        return execute(sql, params, many, context)


def _moved(
    model: Any, names: tuple[str, ...], owner_columns: tuple[str, ...], rows: list[tuple[list[Any], str]]
) -> str:
    """Return the description of the first queued update whose row is gone or has another owner now."""
    width = len(names)
    expected = {params[width]: tuple(params[width + 1 :]) for params, _what in rows}
    stored = {
        row[0]: tuple(row[1:]) for row in model.objects.filter(pk__in=list(expected)).values_list("pk", *owner_columns)
    }
    return next((what for params, what in rows if stored.get(params[width]) != expected[params[width]]), rows[0][1])


def _stamp(entry: Entry) -> dict[str, Any]:
    now = timezone.now()
    return {"title": entry.title[:256], "published": entry.published or now, "updated": entry.updated or now}


class _Applier:
    def __init__(self, plan: ImportPlan, customer: RetailCustomer | None) -> None:
        self.plan = plan
        self.customer = customer
        self.ids: dict[UUID, int] = {}  # uuid -> pk of rows written or ensured in this import
        self.created: dict[str, int] = {}
        self.updated: dict[str, int] = {}
        self.queue = _RowQueue()
        self.readings = 0  # readings written (or queued) by this import
        self.new_usage_points: dict[str, int] = {}
        self.fk_reading_type: list[tuple[int, UUID]] = []
        self.fk_ltp: list[tuple[int, UUID]] = []

    def _count(self, kind: str, created: bool) -> None:
        bucket = self.created if created else self.updated
        bucket[kind] = bucket.get(kind, 0) + 1

    def usage_point_id(self, p: EntryPlan, fields: dict[str, Any] | None = None) -> int:
        """Return our usage point for the entry, creating it (with ``fields``, if given) the first time."""
        if p.usage_point_id is not None:
            return p.usage_point_id
        ref = p.usage_point_ref or ""
        if ref not in self.new_usage_points:
            target = self.plan.usage_points[ref]
            if self.customer is None:
                raise ImportFailed("creating usage points needs a customer")
            up = UsagePoint(customer=self.customer, uuid=target.uuid, **(fields or {"title": ""}))
            if self.queue.batched:
                # Inserted with the queue's next flush (in one bulk INSERT with the others).
                up.pk = self.queue.new_id(UsagePoint)
                self.queue.add_object(up)
            else:
                up.save(force_insert=True)
            self.new_usage_points[ref] = up.pk
            self.ids[up.uuid] = up.pk
            self._count("UsagePoint", True)
        return self.new_usage_points[ref]

    def _upsert(self, model: Any, p: EntryPlan, fields: dict[str, Any], owner: dict[str, Any]) -> int:
        pk = p.existing_id or self.ids.get(p.uuid)
        fresh = p.creates_usage_point and model is UsagePoint
        if pk is not None:
            if self.queue.batched:
                # Run with the queue's next flush, after the inserts queued before it.
                self.queue.add_update(model, pk, owner, fields, p.describe())
            elif not model.objects.filter(pk=pk, **owner).update(**fields):
                # The owner filter makes the update a no-op if the row moved since the plan.
                raise ImportFailed(f"{p.describe()}: the stored resource changed owner during the import")
            if not fresh:
                self._count(p.kind or "", False)
        elif model is MeterReading and self.queue.batched:
            # Inserted with the queue's next flush (in one bulk INSERT with the others).
            pk = self.queue.new_id(model)
            self.queue.add_object(model(pk=pk, uuid=p.uuid, **owner, **fields))
            self._count(p.kind or "", True)
        else:
            pk = model.objects.create(uuid=p.uuid, **owner, **fields).pk
            self._count(p.kind or "", True)
        self.ids[p.uuid] = pk
        return pk

    def meter_reading_id(self, uuid: UUID, usage_point_id: int) -> int:
        if uuid in self.ids:
            return self.ids[uuid]
        row = MeterReading.objects.filter(uuid=uuid, usage_point_id=usage_point_id).values_list("pk", flat=True).first()
        if row is None:
            # The block came before its meter reading entry: create it now, the entry fills it later.
            row = MeterReading.objects.create(uuid=uuid, usage_point_id=usage_point_id).pk
            self._count("MeterReading", True)
        self.ids[uuid] = row
        return row

    def apply(self, p: EntryPlan, entry: Entry) -> None:
        kind, content = entry.kind, entry.content
        stamp = _stamp(entry)
        if kind == "UsagePoint":
            fields = {
                **stamp,
                "service_kind": content.service_kind or 0,
                "status": content.status,
                "content": (entry.content_xml or b"").decode(),
            }
            if p.creates_usage_point:
                ref = p.usage_point_ref or ""
                if ref not in self.new_usage_points and self.plan.usage_points[ref].uuid == p.uuid:
                    # First sight of this usage point: one INSERT with its fields, no UPDATE after.
                    pk = self.usage_point_id(p, fields)
                    if p.local_time_parameters_uuid:
                        self.fk_ltp.append((pk, p.local_time_parameters_uuid))
                    return
                # The row may exist already (an earlier entry needed it): this entry fills it in.
                p.existing_id = self.usage_point_id(p)
            owner = {"customer": self.customer} if self.customer else {}
            if p.existing_id is None and not owner:
                raise ImportFailed(f"{p.describe()}: creating usage points needs a customer")
            pk = self._upsert(UsagePoint, p, fields, owner)
            if p.usage_point_ref:
                self.new_usage_points.setdefault(p.usage_point_ref, pk)
            if p.local_time_parameters_uuid:
                self.fk_ltp.append((pk, p.local_time_parameters_uuid))
        elif kind == "LocalTimeParameters":
            self._upsert(
                LocalTimeParameters,
                p,
                {
                    **stamp,
                    "dst_end_rule": content.dst_end_rule,
                    "dst_offset": content.dst_offset,
                    "dst_start_rule": content.dst_start_rule,
                    "tz_offset": content.tz_offset,
                },
                {},
            )
        elif kind == "ReadingType":
            fields = {name: getattr(content, name) for name in espi_content.ReadingTypeContent.__slots__}
            self._upsert(ReadingType, p, {**stamp, **fields, "content": (entry.content_xml or b"").decode()}, {})
        elif kind == "MeterReading":
            up = self.usage_point_id(p)
            rt = self.ids.get(p.reading_type_uuid) if p.reading_type_uuid else None
            # A ReadingType this import wrote already is set right away; others are resolved in finish().
            fields = {**stamp, "reading_type_id": rt} if rt else stamp
            pk = self._upsert(MeterReading, p, fields, {"usage_point_id": up})
            if p.reading_type_uuid and not rt:
                self.fk_reading_type.append((pk, p.reading_type_uuid))
        elif kind == "IntervalBlock":
            if not isinstance(content, espi_content.IntervalBlockContent | _PackedBlock):
                raise ImportFailed(f"the feed changed between plan and apply (entry #{entry.index})")
            try:
                block = _pack_block(content)
            except ReadingsInvalid as exc:
                raise ImportFailed(f"{p.describe()}: {exc}") from None
            up = self.usage_point_id(p)
            mr = self.meter_reading_id(p.meter_reading_uuid, up)
            self.readings += block.reading_count
            if self.queue.batched and p.existing_id is None and p.uuid not in self.ids:
                self.queue.add_new_block(
                    (
                        self.queue.new_id(IntervalBlock),
                        new_public_id(),
                        p.uuid,
                        stamp["title"],
                        stamp["published"],
                        stamp["updated"],
                        block.start,
                        block.duration,
                        mr,
                        block.readings,
                        block.reading_count,
                    )
                )
                # Not kept in self.ids: nothing refers to a block, and the plan admits each uuid once
                # (the uuid's unique constraint would refuse a second row anyway).
                self._count("IntervalBlock", True)
                return
            # A block uploaded again replaces its readings, as the resource it is.
            self._upsert(
                IntervalBlock,
                p,
                {
                    **stamp,
                    "start": block.start,
                    "duration": block.duration,
                    "readings": block.readings,
                    "reading_count": block.reading_count,
                },
                {"meter_reading_id": mr},
            )
        elif kind in ("UsageSummary", "ElectricPowerUsageSummary"):
            up = self.usage_point_id(p)
            self._upsert(
                UsageSummary,
                p,
                {
                    **stamp,
                    "kind": kind,
                    "billing_period_start": content.billing_period_start,
                    "billing_period_duration": content.billing_period_duration,
                    "status_time_stamp": content.status_time_stamp,
                    "content": (entry.content_xml or b"").decode(),
                },
                {"usage_point_id": up},
            )
        elif kind == "ElectricPowerQualitySummary":
            up = self.usage_point_id(p)
            self._upsert(
                ElectricPowerQualitySummary,
                p,
                {
                    **stamp,
                    "summary_interval_start": content.summary_interval_start,
                    "summary_interval_duration": content.summary_interval_duration,
                    "content": (entry.content_xml or b"").decode(),
                },
                {"usage_point_id": up},
            )

    def finish(self) -> None:
        self.queue.flush()
        # One UPDATE per shared resource (and 500 rows), not one per meter reading / usage point.
        for rt_uuid, pks in _grouped(self.fk_reading_type).items():
            rt = self.ids.get(rt_uuid) or ReadingType.objects.filter(uuid=rt_uuid).values_list("pk", flat=True).first()
            if rt:
                for start in range(0, len(pks), 500):
                    MeterReading.objects.filter(pk__in=pks[start : start + 500]).update(reading_type_id=rt)
        for ltp_uuid, pks in _grouped(self.fk_ltp).items():
            ltp = (
                self.ids.get(ltp_uuid)
                or LocalTimeParameters.objects.filter(uuid=ltp_uuid).values_list("pk", flat=True).first()
            )
            if ltp:
                for start in range(0, len(pks), 500):
                    UsagePoint.objects.filter(pk__in=pks[start : start + 500]).update(local_time_parameters_id=ltp)


def _grouped(pairs: list[tuple[int, UUID]]) -> dict[UUID, list[int]]:
    """Return uuid -> pks from (pk, uuid) pairs."""
    out: dict[UUID, list[int]] = {}
    for pk, uuid in pairs:
        out.setdefault(uuid, []).append(pk)
    return out


def _apply_entries(
    source: Any,
    plan: ImportPlan,
    accepted: set[int],
    applier: _Applier,
    max_bytes: int | None,
    progress: Callable[[ImportProgress], None] | None,
) -> int:
    """Read the feed again (or replay the plan's spool) and apply the accepted entries; return how many."""
    by_index = {p.index: p for p in plan.entries}
    accepted_ids = {by_index[index].atom_id for index in accepted}

    def select(kind: str, atom_id: str, links: Any) -> bool:
        # Only accepted entries need their content parsed again.
        return atom_id in accepted_ids

    stream: Iterable[tuple[Entry, _Opened | None]]
    if plan.spool is not None:
        missing = [index for index in accepted if index not in plan.spool]
        if missing:
            raise ImportFailed(f"entry #{min(missing)} was not read by the plan")
        stream = ((entry, None) for entry in plan.spool.entries(accepted))
    else:
        stream = _entries(source, lenient=plan.lenient, max_bytes=max_bytes, validator=None, select=select)
    entries = 0
    try:
        for entry, opened in stream:
            p = by_index.get(entry.index)
            if p is None or p.uuid != entry.uuid or p.kind != entry.kind:
                raise ImportFailed(f"the feed changed between plan and apply (entry #{entry.index})")
            if entry.index in accepted:
                applier.apply(p, entry)
                entries += 1
                if progress and entries % 500 == 0:
                    if opened is None:
                        read = plan.bytes_read
                    else:
                        read = opened.counter.count if opened.counter else opened.size
                    progress(ImportProgress(entries=entries, readings=applier.readings, bytes_read=read, phase="apply"))
    except EspiError as exc:
        raise ImportFailed(f"the feed could not be read again: {exc}") from exc
    return entries


def import_apply(
    *,
    source: bytes | str | os.PathLike[str] | IO[bytes],
    plan: ImportPlan,
    accept: Iterable[int],
    customer: RetailCustomer | None = None,
    actor: Any = None,
    actor_client: Any = None,
    max_bytes: int | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    audit_action: str = AuditEvent.Action.DATA_IMPORTED,
) -> ImportResult:
    """Write the accepted entries of a planned feed in one transaction; all or nothing.

    ``customer`` owns usage points the import creates (a customer import); the batch filter passes
    only existing usage points and may leave it None. Only entries planned ``ok`` can be accepted.
    A plan made with ``spool=True`` is applied from its spool (``source`` is not read again) and
    closed afterwards.
    """
    try:
        return _import_apply(
            source=source,
            plan=plan,
            accept=accept,
            customer=customer,
            actor=actor,
            actor_client=actor_client,
            max_bytes=max_bytes,
            progress=progress,
            audit_action=audit_action,
        )
    finally:
        plan.close()


def _import_apply(
    *,
    source: Any,
    plan: ImportPlan,
    accept: Iterable[int],
    customer: RetailCustomer | None,
    actor: Any,
    actor_client: Any,
    max_bytes: int | None,
    progress: Callable[[ImportProgress], None] | None,
    audit_action: str,
) -> ImportResult:
    accepted = set(accept)
    by_index = {p.index: p for p in plan.entries}
    for index in accepted:
        if index not in by_index or by_index[index].status != OK:
            raise ImportFailed(f"entry #{index} was not planned as importable")
    applier = _Applier(plan, customer)

    with transaction.atomic():
        queue = applier.queue
        queue.start()
        try:
            # Any other query first flushes the rows queued for bulk insertion.
            with connection.execute_wrapper(queue.before_query) if queue.batched else nullcontext():
                entries = _apply_entries(source, plan, accepted, applier, max_bytes, progress)
                applier.finish()
        except BaseException:
            queue.abort()
            raise
        usage_point_ids = sorted(
            {p.usage_point_id for p in plan.entries if p.usage_point_id} | set(applier.new_usage_points.values())
        )
        audit_record(
            action=audit_action,
            actor_user=actor,
            actor_client=actor_client,
            customer=customer,
            object_type="Feed",
            summary=f"Imported {entries} entries and {applier.readings} readings",
            detail={
                "entries": entries,
                "readings": applier.readings,
                "created": applier.created,
                "updated": applier.updated,
                "rejected": [
                    {"index": p.index, "id": p.atom_id, "status": p.status, "reason": p.reason} for p in plan.rejected
                ][:100],
                "usage_points": usage_point_ids[:100],
            },
        )
    if progress:
        progress(ImportProgress(entries=entries, readings=applier.readings, bytes_read=plan.bytes_read, phase="done"))
    return ImportResult(
        created=applier.created, updated=applier.updated, readings=applier.readings, usage_point_ids=usage_point_ids
    )


def customer_feed_import(
    *,
    customer: RetailCustomer,
    source: bytes | str | os.PathLike[str] | IO[bytes],
    lenient: bool = False,
    actor: Any = None,
    max_bytes: int | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
) -> tuple[ImportPlan, ImportResult | None]:
    """Import a Green Button file for a customer, all or nothing: any rejected entry imports nothing.

    Returns the plan and, if every entry was importable, the result. Raises EspiError for a feed the
    reader refuses as a whole.
    """
    # One parse: the plan spools what it read and the apply replays it (the file cannot change between).
    plan = import_plan(
        source=source,
        resolver=CustomerUsagePoints(customer),
        lenient=lenient,
        max_bytes=max_bytes,
        progress=progress,
        spool=True,
    )
    if plan.rejected or not plan.entries:
        plan.close()
        return plan, None
    result = import_apply(
        source=source,
        plan=plan,
        accept=plan.ok_indexes,
        customer=customer,
        actor=actor,
        max_bytes=max_bytes,
        progress=progress,
    )
    return plan, result
