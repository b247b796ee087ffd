"""Apply a planned import: write the accepted entries in one transaction, upserting by uuid within the owner.

A resource never moves to another usage point or customer. Entries come from the plan's spool, or
are read again from the same bytes. :class:`_Applier` writes one kind of resource per method
(``_apply_<kind>``); on PostgreSQL new rows go through the bulk writer (``custodian.imports.bulk``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import IO, Any
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from custodian.espi import content as espi_content
from custodian.espi.errors import EspiError
from custodian.espi.parser import Entry
from custodian.imports.bulk import RowQueue
from custodian.imports.plan import EntryPlan, ImportPlan
from custodian.imports.reading import ImportProgress, Opened, read_entries
from custodian.imports.reasons import OK, ImportFailed
from custodian.imports.spool import PackedBlock, pack_block
from custodian.imports.unchanged import check_owners
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
from custodian.readings import ReadingsInvalid
from custodian.selectors import RESOURCE_MODELS
from custodian.services import audit_record


@dataclass(slots=True)
class ImportResult:
    created: dict[str, int]
    updated: dict[str, int]
    readings: int
    usage_point_ids: list[int]
    unchanged: dict[str, int] = field(default_factory=dict)  # entries identical to what was stored: not written


def _stamp(entry: Entry) -> dict[str, Any]:
    now = timezone.now()
    return {"title": entry.title[:256], "published": entry.published or now, "updated": entry.updated or now}


class _Applier:
    def __init__(self, plan: ImportPlan, customer: RetailCustomer | None) -> None:
        self.plan = plan
        self.customer = customer
        self.ids: dict[UUID | None, int] = {}  # uuid -> pk of rows written or ensured in this import
        self.created: dict[str, int] = {}
        self.updated: dict[str, int] = {}
        self.unchanged: dict[str, int] = {}
        self.queue = RowQueue()
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
            up = UsagePoint(customer=self.customer, uuid=target.uuid, **(fields or {"title": ""}))  # type: ignore[misc]  # the entry's uuid
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
        if model in _REFERRED:
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
        """Write one accepted entry, by the method for its kind; nothing for one identical to its stored row."""
        if p.unchanged and p.existing_id is not None and p.uuid is not None:
            # Its children (and finish()) find it by uuid; its owner was checked before the apply began.
            if RESOURCE_MODELS.get(p.kind or "") in _REFERRED:
                self.ids[p.uuid] = p.existing_id
            if entry.kind == "UsagePoint" and p.usage_point_ref:
                self.new_usage_points.setdefault(p.usage_point_ref, p.existing_id)
            self.unchanged[entry.kind or ""] = self.unchanged.get(entry.kind or "", 0) + 1
            return
        getattr(self, _APPLY_METHOD[entry.kind or ""])(p, entry, _stamp(entry))

    def _apply_usage_point(self, p: EntryPlan, entry: Entry, stamp: dict[str, Any]) -> None:
        content = entry.content
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

    def _apply_local_time_parameters(self, p: EntryPlan, entry: Entry, stamp: dict[str, Any]) -> None:
        content = entry.content
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

    def _apply_reading_type(self, p: EntryPlan, entry: Entry, stamp: dict[str, Any]) -> None:
        fields = {name: getattr(entry.content, name) for name in espi_content.ReadingTypeContent.__slots__}
        self._upsert(ReadingType, p, {**stamp, **fields, "content": (entry.content_xml or b"").decode()}, {})

    def _apply_meter_reading(self, p: EntryPlan, entry: Entry, stamp: dict[str, Any]) -> None:
        up = self.usage_point_id(p)
        rt = self.ids.get(p.reading_type_uuid) if p.reading_type_uuid else None
        # A ReadingType this import wrote already is set right away; others are resolved in finish().
        fields = {**stamp, "reading_type_id": rt} if rt else stamp
        pk = self._upsert(MeterReading, p, fields, {"usage_point_id": up})
        if p.reading_type_uuid and not rt:
            self.fk_reading_type.append((pk, p.reading_type_uuid))

    def _apply_interval_block(self, p: EntryPlan, entry: Entry, stamp: dict[str, Any]) -> None:
        content = entry.content
        if not isinstance(content, espi_content.IntervalBlockContent | espi_content.IntervalBlockText | PackedBlock):
            raise ImportFailed(f"the feed changed between plan and apply (entry #{entry.index})")
        try:
            block = pack_block(content)
        except ReadingsInvalid as exc:
            raise ImportFailed(f"{p.describe()}: {exc}") from None
        if p.meter_reading_uuid is None:  # the plan rejects a block without one
            raise ImportFailed(f"{p.describe()}: no meter reading")
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

    def _apply_usage_summary(self, p: EntryPlan, entry: Entry, stamp: dict[str, Any]) -> None:
        content = entry.content
        up = self.usage_point_id(p)
        self._upsert(
            UsageSummary,
            p,
            {
                **stamp,
                "kind": entry.kind,
                "billing_period_start": content.billing_period_start,
                "billing_period_duration": content.billing_period_duration,
                "status_time_stamp": content.status_time_stamp,
                "content": (entry.content_xml or b"").decode(),
            },
            {"usage_point_id": up},
        )

    def _apply_quality_summary(self, p: EntryPlan, entry: Entry, stamp: dict[str, Any]) -> None:
        content = entry.content
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


# Kinds other entries refer to (by uuid): only their rows are remembered during an apply, so what the
# apply keeps grows with the feed's usage points and meter readings, not with its blocks and summaries.
_REFERRED = frozenset({UsagePoint, MeterReading, ReadingType, LocalTimeParameters})

# The _Applier method that writes each kind of entry (the plan admits no other kind).
_APPLY_METHOD = {
    "UsagePoint": "_apply_usage_point",
    "LocalTimeParameters": "_apply_local_time_parameters",
    "ReadingType": "_apply_reading_type",
    "MeterReading": "_apply_meter_reading",
    "IntervalBlock": "_apply_interval_block",
    "UsageSummary": "_apply_usage_summary",
    "ElectricPowerUsageSummary": "_apply_usage_summary",
    "ElectricPowerQualitySummary": "_apply_quality_summary",
}


def _grouped(pairs: list[tuple[int, UUID]]) -> dict[UUID, list[int]]:
    """Return uuid -> pks from (pk, uuid) pairs."""
    out: dict[UUID, list[int]] = {}
    for pk, uuid in pairs:
        out.setdefault(uuid, []).append(pk)
    return out


class _Accepted:
    """The accepted entry plans in feed order, one at a time (a pass over the plan's chunks), matched to the entries read."""

    def __init__(self, plans: Iterable[EntryPlan]) -> None:
        self._plans = iter(plans)
        self.current: EntryPlan | None = next(self._plans, None)

    def wanted(self, index: int) -> bool:
        """Return whether the entry of ``index`` is the next accepted one; raise if an accepted one was passed."""
        current = self.current
        if current is not None and current.index < index:
            raise ImportFailed(f"entry #{current.index} was not read by the plan")
        return current is not None and current.index == index

    def advance(self) -> None:
        self.current = next(self._plans, None)


def _apply_entries(
    source: Any,
    plan: ImportPlan,
    accepted: Callable[[EntryPlan], bool],
    applier: _Applier,
    max_bytes: int | None,
    progress: Callable[[ImportProgress], None] | None,
    usage_point_ids: set[int],
) -> int:
    """Replay the plan's spool (or read the feed again) and apply the accepted entries, in feed order; return how many."""

    def accepted_plans() -> Iterator[EntryPlan]:
        # Only entries planned importable can be accepted: chunks without one are skipped.
        for chunk in plan.entries.chunks(write=False, live_only=True):
            # Rows planned unchanged must not have moved since the plan (nothing is written for them).
            check_owners((p for p in chunk if accepted(p)), applier.customer)
            for p in chunk:
                if accepted(p):
                    if p.usage_point_id:
                        usage_point_ids.add(p.usage_point_id)
                    yield p

    cursor = _Accepted(accepted_plans())
    stream: Iterable[tuple[Entry, Opened | None]]
    if plan.spool is not None:
        stream = ((entry, None) for entry in plan.spool.entries(cursor.wanted))
    else:
        # Without a spool (small imports only: the batch POST always spools) the source is read again.
        accepted_ids = {p.atom_id for p in plan.entries.scan() if accepted(p)}

        def select(kind: str, atom_id: str, links: Any) -> bool:
            # Only accepted entries need their content parsed again.
            return atom_id in accepted_ids

        stream = read_entries(source, lenient=plan.lenient, max_bytes=max_bytes, validator=None, select=select)
    entries = 0
    try:
        for entry, opened in stream:
            if opened is not None and not cursor.wanted(entry.index):
                continue
            p = cursor.current
            if p is None or p.uuid != entry.uuid or p.kind != entry.kind or entry.skipped:
                raise ImportFailed(f"the feed changed between plan and apply (entry #{entry.index})")
            applier.apply(p, entry)
            cursor.advance()
            entries += 1
            if progress and entries % 500 == 0:
                if opened is None:
                    read = plan.bytes_read
                else:
                    read = opened.counter.count if opened.counter else opened.size
                progress(ImportProgress(entries=entries, readings=applier.readings, bytes_read=read, phase="apply"))
    except EspiError as exc:
        raise ImportFailed(f"the feed could not be read again: {exc}") from exc
    if cursor.current is not None:
        raise ImportFailed(f"entry #{cursor.current.index} was not read by the plan")
    return entries


def _acceptance(plan: ImportPlan, accept: Iterable[int] | None) -> Callable[[EntryPlan], bool]:
    """Return which entries the apply writes; raise ImportFailed if ``accept`` names one not planned importable."""
    if accept is None:
        return lambda p: p.accepted
    indexes = set(accept)
    importable = sum(1 for p in plan.entries.scan() if p.index in indexes and p.status == OK)
    if importable != len(indexes):
        planned = {p.index for p in plan.entries.scan() if p.index in indexes and p.status == OK}
        raise ImportFailed(f"entry #{min(indexes - planned)} was not planned as importable")
    return lambda p: p.index in indexes


def import_apply(
    *,
    source: bytes | str | os.PathLike[str] | IO[bytes],
    plan: ImportPlan,
    accept: Iterable[int] | None = None,
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
    closed afterwards. ``accept`` lists the indexes to write; None (what the batch filter passes, and
    bounded in memory) means every entry whose plan says so (:attr:`EntryPlan.accepted`).
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
    accept: Iterable[int] | None,
    customer: RetailCustomer | None,
    actor: Any,
    actor_client: Any,
    max_bytes: int | None,
    progress: Callable[[ImportProgress], None] | None,
    audit_action: str,
) -> ImportResult:
    accepted = _acceptance(plan, accept)
    applier = _Applier(plan, customer)
    touched: set[int] = set()

    with transaction.atomic():
        queue = applier.queue
        queue.start()
        try:
            # Any other query first flushes the rows queued for bulk insertion.
            with connection.execute_wrapper(queue.before_query) if queue.batched else nullcontext():
                entries = _apply_entries(source, plan, accepted, applier, max_bytes, progress, touched)
                applier.finish()
        except BaseException:
            queue.abort()
            raise
        usage_point_ids = sorted(touched | set(applier.new_usage_points.values()))
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
                "unchanged": applier.unchanged,
                "rejected": [
                    {"index": p.index, "id": p.atom_id, "status": p.status, "reason": p.reason}
                    for p in plan.rejected_first(100)
                ],
                "usage_points": usage_point_ids[:100],
            },
        )
    if progress:
        progress(ImportProgress(entries=entries, readings=applier.readings, bytes_read=plan.bytes_read, phase="done"))
    return ImportResult(
        created=applier.created,
        updated=applier.updated,
        readings=applier.readings,
        usage_point_ids=usage_point_ids,
        unchanged=applier.unchanged,
    )
