"""Plan an import: stream the feed once and decide, per entry, where it would go and whether it can.

``import_plan`` reads every entry (``custodian.imports.reading``), checks it on its own
(:func:`_plan_entry`) and then places it (:func:`_resolve`): file-local ids to uuids, uuids to the
rows that already hold them (``custodian.selectors.resource_locations``), usage point refs to
targets through the caller's :class:`UsagePointResolver`. Placement is decided here only; the batch
filter narrows the plan to the caller's reach but never moves an entry. The rules applied are named
in ``custodian.imports.filter_rules``.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from itertools import islice
from operator import attrgetter
from typing import IO, Any, Protocol
from uuid import UUID

from django.db.models import QuerySet

from custodian.espi import content as espi_content
from custodian.espi.hrefs import href_ids
from custodian.espi.parser import Entry, EntrySelector
from custodian.espi.validate import EntryValidator
from custodian.imports import filter_rules
from custodian.imports.filter_rules import SHARED_KINDS
from custodian.imports.reading import ImportProgress, intern, read_entries
from custodian.imports.reasons import OK, Change, Reason
from custodian.imports.spool import EntrySpool, PackedBlock, pack_block
from custodian.imports.store import ChunkStore, SeenIds
from custodian.imports.unchanged import entry_fingerprint, mark_unchanged
from custodian.models import MeterReading
from custodian.readings import ReadingsInvalid
from custodian.selectors import (
    RESOURCE_MODELS,
    Location,
    meter_reading_uuids,
    resource_locations,
    shared_resource_users,
)


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

    def allows_all(self, *, usage_point_ids: QuerySet[Any, int]) -> bool:
        """Return whether this import may write under every usage point of a query (one query: it may name thousands)."""


@dataclass(slots=True)
class EntryPlan:
    """What the import would do with one entry; no readings are kept."""

    index: int
    line: int
    atom_id: str
    kind: str | None
    uuid: UUID | None
    status: str = OK  # OK or a Reason
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
    # What the import would write, to tell an entry identical to its stored row (custodian.imports.unchanged).
    fingerprint: bytes | None = None
    fingerprint_skips: int = 0
    unchanged: bool = False  # identical to the stored row: the apply writes nothing
    # The batch filter's verdict (batch.services._narrow): None accepted, else the reported reason.
    narrowed: str | None = None
    # file-local ids, resolved after the whole feed has been seen
    _self_ref: str | None = None
    _rt_ref: str | None = None
    _ltp_ref: str | None = None
    # Carried between the passes of _resolve: where the entry's resource is stored, and what is left to decide.
    _stored: tuple[str, int, int | None, int | None] | None = None
    _unplaced: bool = False
    _shared_elsewhere: bool = False

    def reject(self, status: Reason, reason: str) -> None:
        """Mark the entry rejected, keeping the first reason."""
        if self.status == OK:
            self.status, self.reason = status, reason

    @property
    def change(self) -> Change:
        """Return what importing the entry does to its resource (rule 10)."""
        return filter_rules.rule10_change(self)

    @property
    def accepted(self) -> bool:
        """Return whether the apply writes the entry: planned importable and not narrowed away by the batch filter."""
        return self.status == OK and self.narrowed is None

    def describe(self) -> str:
        """Return a one-line human description: which entry, and why it is rejected."""
        return f"entry #{self.index} ({self.atom_id or 'no id'}, line {self.line}, {self.kind or 'no content'}): {self.status}: {self.reason}"


_FIELDS = tuple(f.name for f in fields(EntryPlan))
_UUIDS = tuple(
    _FIELDS.index(name) for name in ("uuid", "meter_reading_uuid", "reading_type_uuid", "local_time_parameters_uuid")
)
_get_fields = attrgetter(*_FIELDS)


def _pack(p: EntryPlan) -> tuple[Any, ...]:
    """Return an entry plan as plain values (uuids as bytes): pickled many times faster than the object."""
    values = list(_get_fields(p))
    for i in _UUIDS:
        if values[i] is not None:
            values[i] = values[i].bytes
    return tuple(values)


def _unpack(values: tuple[Any, ...]) -> EntryPlan:
    unpacked = list(values)
    for i in _UUIDS:
        if unpacked[i] is not None:
            unpacked[i] = UUID(bytes=unpacked[i])
    return EntryPlan(*unpacked)


def plan_entries(directory: str | os.PathLike[str] | None = None) -> ChunkStore[EntryPlan]:
    """Return an empty store for a plan's entries (memory bounded by a constant: ``custodian.imports.store``)."""
    return ChunkStore(pack=_pack, unpack=_unpack, directory=directory, live=_still_importable)


def _still_importable(p: EntryPlan) -> bool:
    return p.status == OK


@dataclass(slots=True)
class ImportPlan:
    """The plan of one import: every entry's plan, in feed order (a :class:`ChunkStore`, memory bounded).

    Iterate ``entries`` (or ``entries.chunks()``) in passes; keep no entry plan past its chunk.
    """

    entries: ChunkStore[EntryPlan]
    usage_points: dict[str, UsagePointTarget]
    lenient: bool
    bytes_read: int = 0
    spool: EntrySpool | None = None  # import_plan(spool=True): what the apply reads instead of the source
    rejected_count: int = 0
    readings: int = 0
    usage_point_refs: set[str] = field(default_factory=set)  # every usage point id the feed's hrefs name
    usage_point_ids: set[int] = field(default_factory=set)  # every stored usage point an entry was placed under

    def close(self) -> None:
        """Drop the spool, if any (the apply does it itself; call it when a plan is not applied)."""
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    @property
    def ok_indexes(self) -> set[int]:
        return {plan.index for plan in self.entries.scan() if plan.status == OK}

    @property
    def rejected(self) -> list[EntryPlan]:
        return [plan for plan in self.entries.scan() if plan.status != OK]

    def rejected_first(self, count: int) -> list[EntryPlan]:
        """Return the first ``count`` rejected entries (a report's sample, whatever the feed's size)."""
        return list(islice((plan for plan in self.entries.scan() if plan.status != OK), count))


@dataclass(slots=True)
class _FeedRefs:
    """What placing an entry needs from the rest of the feed: per usage point, meter reading, shared resource."""

    usage_point_refs: set[str] = field(default_factory=set)
    declared: dict[str, UUID] = field(default_factory=dict)  # usage point ref -> its UsagePoint entry's uuid
    meter_readings: dict[tuple[str | None, str], UUID] = field(default_factory=dict)
    shared: dict[tuple[str, str], UUID] = field(default_factory=dict)
    rejected: int = 0  # entries rejected while the feed was read
    rejected_meter_readings: set[UUID | None] = field(default_factory=set)

    def add(self, p: EntryPlan) -> None:
        if p.usage_point_ref:
            self.usage_point_refs.add(p.usage_point_ref)
        if p.status != OK:
            self.rejected += 1
            if p.kind == "MeterReading":
                self.rejected_meter_readings.add(p.uuid)
            return
        if p.uuid is None:
            return
        if p.kind == "UsagePoint" and p.usage_point_ref:
            self.declared.setdefault(p.usage_point_ref, p.uuid)
        elif p.kind == "MeterReading" and p.meter_reading_ref:
            self.meter_readings[(p.usage_point_ref, p.meter_reading_ref)] = p.uuid
        elif p.kind in SHARED_KINDS and p._self_ref:
            self.shared[(p.kind, p._self_ref)] = p.uuid


def _plan_entry(entry: Entry, seen: SeenIds) -> EntryPlan:
    plan = EntryPlan(
        index=entry.index, line=entry.line, atom_id=entry.atom_id, kind=intern(entry.kind), uuid=entry.uuid
    )
    if entry.kind is None or not entry.is_espi or entry.kind not in espi_content.SUPPORTED_KINDS:
        plan.reject(Reason.UNSUPPORTED, f"{entry.kind or 'an entry without content'} cannot be imported")
    if entry.uuid is None:
        plan.reject(Reason.INVALID, "; ".join(entry.problems) or "no urn:uuid atom:id")
    elif filter_rules.rule5_duplicate(entry.uuid, seen):
        plan.reject(Reason.DUPLICATE, "the same id appears earlier in this feed")
    if entry.schema_errors:
        plan.reject(Reason.INVALID, "schema: " + entry.schema_errors[0])
    hard = [p for p in entry.problems if not p.startswith("lenient:")]
    if hard:
        plan.reject(Reason.INVALID, "; ".join(hard))
    plan.warnings = [p for p in entry.problems if p.startswith("lenient:")]
    if entry.skipped:
        plan.reject(Reason.NOT_GRANTED, "not selected for this import")
    if entry.content is None and plan.status == OK:
        plan.reject(Reason.INVALID, "the content could not be read")
    ids = href_ids(entry.up_href)
    ids.update(href_ids(entry.self_href))
    plan.usage_point_ref = intern(filter_rules.rule2_usage_point_ref(ids))
    if entry.kind == "IntervalBlock":
        plan.meter_reading_ref = intern(ids.get("MeterReading"))
        block = entry.content
        if isinstance(block, espi_content.IntervalBlockSummary):
            plan.readings = block.reading_count
            if block.duplicate_starts:
                plan.reject(Reason.INVALID, "two readings of the block have the same start")
            elif block.earliest_start is not None and block.earliest_start < 0:
                plan.reject(Reason.INVALID, "a reading starts before 1970")
        elif isinstance(block, espi_content.IntervalBlockText):
            plan.readings = block.reading_count
        elif block is not None:
            # Read in full only for the spool, where packing them checks them (import_plan).
            plan.readings = len(block.readings)
        if block is not None and (block.start is None or block.duration is None):
            plan.reject(Reason.INVALID, "the block has no interval")
    elif entry.kind in SHARED_KINDS:
        plan._self_ref = ids.get(entry.kind)
    elif entry.kind == "MeterReading":
        plan.meter_reading_ref = ids.get("MeterReading")
        for href in entry.related_hrefs:
            plan._rt_ref = href_ids(href).get("ReadingType") or plan._rt_ref
    elif entry.kind == "UsagePoint":
        for href in entry.related_hrefs:
            plan._ltp_ref = href_ids(href).get("LocalTimeParameters") or plan._ltp_ref
    # An entry whose hrefs name no usage point is placed where it is stored, if anywhere (_resolve).
    return plan


# An IntervalBlock's content as the reader gives it with block_readings="text" (packed before it is spooled).
_UNPACKED_BLOCKS = (espi_content.IntervalBlockText, espi_content.IntervalBlockContent)


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
    directory = None if spool is True or not spool else spool
    plans = plan_entries(directory)
    seen = SeenIds()
    refs = _FeedRefs()
    readings = 0
    bytes_read = 0
    # Every entry is schema-validated here, so without a spool blocks are only summarised (count,
    # duplicate starts): the XSD checks the types of every reading field; apply reads the readings.
    # With a spool the readings are read here, once, for the apply.
    entries = read_entries(
        source,
        lenient=lenient,
        max_bytes=max_bytes,
        validator=validator,
        select=select,
        block_readings="text" if spool else False,
    )
    spooled = EntrySpool(directory) if spool else None
    try:
        with _collector_paused():
            for entry, opened in entries:
                entry_plan = _plan_entry(entry, seen)
                plans.append(entry_plan)
                if spooled is not None and not entry.skipped:
                    if entry_plan.status == OK and isinstance(entry.content, _UNPACKED_BLOCKS):
                        # Spooled packed, as the apply stores it: a string pickles far faster than tuples.
                        try:
                            entry.content = pack_block(entry.content)
                        except ReadingsInvalid as exc:
                            entry_plan.reject(Reason.INVALID, str(exc))
                    spooled.add(entry)
                if entry_plan.status == OK and entry.kind in RESOURCE_MODELS:
                    packed = entry.content.readings if isinstance(entry.content, PackedBlock) else None
                    found = entry_fingerprint(entry, RESOURCE_MODELS[entry.kind], packed_readings=packed)
                    if found is not None:
                        entry_plan.fingerprint, entry_plan.fingerprint_skips = found
                refs.add(entry_plan)
                readings += entry_plan.readings
                bytes_read = opened.counter.count if opened.counter else opened.size
                if progress and entry.index % 500 == 0:
                    progress(ImportProgress(entries=len(plans), readings=readings, bytes_read=bytes_read, phase="plan"))
        seen.close()
        plan = ImportPlan(
            entries=plans,
            usage_points={},
            lenient=lenient,
            bytes_read=bytes_read,
            spool=spooled,
            readings=readings,
            usage_point_refs=refs.usage_point_refs,
            rejected_count=refs.rejected,
        )
        _resolve(plan, resolver, refs)
    except BaseException:
        seen.close()
        if spooled is not None:
            spooled.close()
        plans.close()
        raise
    if progress:
        progress(ImportProgress(entries=len(plans), readings=readings, bytes_read=bytes_read, phase="planned"))
    return plan


def _resolve(plan: ImportPlan, resolver: UsagePointResolver, refs: _FeedRefs) -> None:
    """Place every entry: file-local ids to uuids, uuids to stored rows, usage points to targets.

    Two passes over the plan's chunks: the first places each entry (what it needs of the rest of the
    feed is in ``refs``); the second applies what needs the first pass complete (blocks of rejected
    meter readings, entries placed where they are stored, unchanged entries, shared resources).
    """
    # Usage point targets: a stored uuid wins, then the resolver decides.
    declared_stored = resource_locations(uuids_by_kind=(("UsagePoint", u) for u in refs.declared.values()))
    for ref in sorted(refs.usage_point_refs):
        declared_uuid = refs.declared.get(ref)
        stored = declared_stored.get(declared_uuid) if declared_uuid else None
        if stored and stored.kind == "UsagePoint":
            # Another owner's usage point is no target at all: its children must not follow it there.
            allowed = resolver.allows(usage_point_id=stored.pk)
            target = UsagePointTarget(ref=ref, usage_point_id=stored.pk, uuid=declared_uuid) if allowed else None
        else:
            target = resolver.resolve(ref=ref, declared_uuid=declared_uuid)
        if target is not None:
            plan.usage_points[ref] = target

    # Both passes read and change only entries still planned importable: chunks without one are skipped.
    rejected_meter_readings = refs.rejected_meter_readings
    for chunk in plan.entries.chunks(live_only=True):
        existing = resource_locations(uuids_by_kind=((p.kind, p.uuid) for p in chunk if p.status == OK))
        for p in chunk:
            if p.status == OK:
                _place(p, plan, resolver, refs, existing.get(p.uuid) if p.uuid else None)
                if p.usage_point_id is not None:
                    plan.usage_point_ids.add(p.usage_point_id)
                if p.status != OK:
                    plan.rejected_count += 1
                    if p.kind == "MeterReading":
                        rejected_meter_readings.add(p.uuid)

    def allows(usage_point_id: int) -> bool:
        return resolver.allows(usage_point_id=usage_point_id)

    for chunk in plan.entries.chunks(live_only=True):
        importable = [p for p in chunk if p.status == OK]
        # A block is only as good as its meter reading.
        for p in filter_rules.rule3_blocks_of_rejected_meter_readings(
            chunk, rejected=lambda p: p.status != OK, rejected_meter_readings=rejected_meter_readings
        ):
            p.reject(Reason.INVALID, "its MeterReading entry is rejected")
        # Entries whose hrefs name no usage point go where their resource is stored, if anywhere.
        unplaced = [p for p in chunk if p._unplaced and p.status == OK]
        parents = meter_reading_uuids(pks=[p._stored[3] for p in unplaced if p._stored and p._stored[3]])
        for p in unplaced:
            stored = Location(*p._stored) if p._stored else None
            parent = parents.get(stored.meter_reading_id or 0) if stored else None
            filter_rules.rule2_place_where_stored(p, stored=stored, parent_uuid=parent, allows=allows)
        # Entries identical to what is stored change nothing; a shared resource other data uses may only be that.
        mark_unchanged(p for p in chunk if p.status == OK)
        for p in chunk:
            p._stored, p._unplaced = None, False
            if p._shared_elsewhere and p.status == OK and not filter_rules.rule10_identical_is_no_conflict(p):
                p.reject(
                    Reason.CONFLICT, f"this {p.kind} is shared with data outside this import and cannot be changed"
                )
            p._shared_elsewhere = False
            if p.usage_point_id is not None:
                plan.usage_point_ids.add(p.usage_point_id)
        plan.rejected_count += sum(1 for p in importable if p.status != OK)


def _place(
    p: EntryPlan, plan: ImportPlan, resolver: UsagePointResolver, refs: _FeedRefs, stored: Location | None
) -> None:
    """Place one entry still planned importable (the first pass of :func:`_resolve`)."""

    def allows(usage_point_id: int) -> bool:
        return resolver.allows(usage_point_id=usage_point_id)

    def allows_all(usage_point_ids: QuerySet[Any, int]) -> bool:
        return resolver.allows_all(usage_point_ids=usage_point_ids)

    if stored and stored.kind != RESOURCE_MODELS[p.kind or ""].__name__:
        p.reject(Reason.CONFLICT, f"this id already belongs to a {stored.kind}")
        return
    if stored:
        p.existing_id = stored.pk
    if p.kind in SHARED_KINDS:
        if stored and not filter_rules.rule4_shared_used_only_within(
            users=shared_resource_users(kind=p.kind, pk=stored.pk), allows_all=allows_all
        ):
            p._shared_elsewhere = True  # a conflict unless it changes nothing (rule 10, second pass)
        return
    if p.kind != "UsagePoint" and not p.usage_point_ref:
        p._unplaced = True
        p._stored = (stored.kind, stored.pk, stored.usage_point_id, stored.meter_reading_id) if stored else None
        return
    target = plan.usage_points.get(p.usage_point_ref) if p.usage_point_ref else None
    if p.kind == "UsagePoint":
        if stored:
            p.usage_point_id = stored.pk
            if not resolver.allows(usage_point_id=stored.pk):
                p.reject(Reason.CONFLICT, "this usage point belongs to another owner")
        elif target is None or (target.usage_point_id is None and not target.create):
            p.reject(Reason.NOT_GRANTED, f"usage point {p.usage_point_ref!r} is unknown or not yours")
        else:
            p.usage_point_id = target.usage_point_id
            p.creates_usage_point = target.create
        if p._ltp_ref:
            p.local_time_parameters_uuid = refs.shared.get(("LocalTimeParameters", p._ltp_ref))
        return
    # Usage-point-owned resources.
    elsewhere = filter_rules.rule5_stored_elsewhere(p, stored=stored, target=target, allows=allows)
    if target is None:
        if elsewhere:
            p.reject(Reason.CONFLICT, elsewhere)
        else:
            p.reject(Reason.NOT_GRANTED, f"usage point {p.usage_point_ref!r} is unknown or not yours")
        return
    p.usage_point_id = target.usage_point_id
    p.creates_usage_point = target.create
    if elsewhere:
        p.reject(Reason.CONFLICT, elsewhere)
        return
    if p.kind == "MeterReading" and p._rt_ref:
        p.reading_type_uuid = refs.shared.get(("ReadingType", p._rt_ref))
        if p.reading_type_uuid is None:
            p.warnings.append(f"ReadingType {p._rt_ref!r} is not in this feed; left unset")
    elif p.kind == "IntervalBlock":
        p.meter_reading_uuid = refs.meter_readings.get((p.usage_point_ref, p.meter_reading_ref or ""))
        if p.meter_reading_uuid is None and target.usage_point_id is not None and p.meter_reading_ref:
            row = (
                MeterReading.objects.filter(usage_point_id=target.usage_point_id, public_id=p.meter_reading_ref)
                .values_list("uuid", flat=True)
                .first()
            )
            p.meter_reading_uuid = row
        if p.meter_reading_uuid is None and stored and stored.meter_reading_id is not None:
            p.meter_reading_uuid = (
                MeterReading.objects.filter(pk=stored.meter_reading_id).values_list("uuid", flat=True).first()
            )
        if p.meter_reading_uuid is None:
            p.reject(Reason.INVALID, f"its MeterReading {p.meter_reading_ref!r} is neither in this feed nor stored")
