"""Import a retail customer's own records (ESPI ``customer.xsd``), all or nothing.

A Batch/RetailCustomer feed (PG&E's, SCE's, ours) carries Customer, CustomerAccount,
CustomerAgreement, ServiceLocation, Meter... entries. Each is checked on its own (schema, id, kind),
placed under its parent by the file-local ids of its self href (``Customer/{c}/CustomerAccount/{a}``),
and upserted by uuid within the customer: a record never moves to another customer. A
ServiceLocation's ``UsagePoints`` are linked to the customer's usage points they name (by our id, or
by the refs of a usage feed imported in the same run); one it cannot link is a warning, and staff can
link it in the admin. Entries of the usage namespace are left to the usage import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from custodian.espi import customer as espi_customer
from custodian.espi.hrefs import href_ids, href_segment_id
from custodian.espi.namespaces import CUSTOMER
from custodian.espi.parser import parse_small_document
from custodian.espi.validate import EntryValidator
from custodian.imports.reading import read_entries
from custodian.imports.reasons import OK, Change, Reason
from custodian.models import AuditEvent, CustomerRecord, RetailCustomer, UsagePoint
from custodian.services import audit_record


@dataclass(slots=True)
class RecordPlan:
    """What the import would do with one customer-record entry."""

    index: int
    line: int
    atom_id: str
    kind: str | None
    uuid: UUID | None
    status: str = OK
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    title: str = ""
    published: datetime | None = None
    updated: datetime | None = None
    content: str = ""
    label: str = ""
    self_ref: str | None = None  # the file-local id of this record (``Customer/{ref}``)
    parent_ref: str | None = None  # the file-local id of the record above it
    usage_point_hrefs: list[str] = field(default_factory=list)
    usage_point_ids: list[int] = field(default_factory=list)
    existing_id: int | None = None
    change: Change | None = None

    def reject(self, status: Reason, reason: str) -> None:
        if self.status == OK:
            self.status, self.reason = status, reason

    def describe(self) -> str:
        return f"entry #{self.index} ({self.atom_id or 'no id'}, line {self.line}, {self.kind or 'no content'}): {self.status}: {self.reason}"


@dataclass(slots=True)
class RecordsPlan:
    records: list[RecordPlan]
    other_entries: int = 0  # usage-namespace entries, left to the usage import

    @property
    def rejected(self) -> list[RecordPlan]:
        return [plan for plan in self.records if plan.status != OK]


@dataclass(slots=True)
class RecordsResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    record_ids: list[int] = field(default_factory=list)


def is_record_entry(*, namespace: str | None, kind: str | None) -> bool:
    """Return whether an entry is a customer record (the import of this module, not the usage import)."""
    return namespace == CUSTOMER and kind in espi_customer.RECORD_KINDS


def records_plan(
    *,
    customer: RetailCustomer,
    source: bytes | str | os.PathLike[str] | IO[bytes],
    lenient: bool = False,
    max_bytes: int | None = None,
    usage_point_refs: dict[str, int] | None = None,
) -> RecordsPlan:
    """Read the feed once and plan every customer-record entry (no writes). Raises EspiError for an unsafe feed."""
    validator = EntryValidator()
    plans: list[RecordPlan] = []
    other = 0
    seen: set[UUID] = set()
    for entry, _opened in read_entries(source, lenient=lenient, max_bytes=max_bytes, validator=validator):
        if not is_record_entry(namespace=entry.namespace, kind=entry.kind):
            if entry.namespace == CUSTOMER or entry.namespace is None:
                plan = RecordPlan(index=entry.index, line=entry.line, atom_id=entry.atom_id, kind=entry.kind, uuid=None)
                plan.reject(Reason.UNSUPPORTED, f"{entry.kind or 'an entry without content'} cannot be imported")
                plans.append(plan)
            else:
                other += 1
            continue
        kind = entry.kind or ""
        plan = RecordPlan(
            index=entry.index,
            line=entry.line,
            atom_id=entry.atom_id,
            kind=kind,
            uuid=entry.uuid,
            title=entry.title[:256],
            published=entry.published,
            updated=entry.updated,
        )
        plan.warnings = [p for p in entry.problems if p.startswith("lenient:")]
        hard = [p for p in entry.problems if not p.startswith("lenient:")]
        if entry.uuid is None:
            plan.reject(Reason.INVALID, "; ".join(entry.problems) or "no urn:uuid atom:id")
        elif entry.uuid in seen:
            plan.reject(Reason.DUPLICATE, "the same id appears earlier in this feed")
        else:
            seen.add(entry.uuid)
        if entry.schema_errors:
            plan.reject(Reason.INVALID, "schema: " + entry.schema_errors[0])
        if hard:
            plan.reject(Reason.INVALID, "; ".join(hard))
        if entry.content_xml is not None:
            element = parse_small_document(entry.content_xml)
            plan.content = entry.content_xml.decode()
            plan.label = espi_customer.record_label(kind, element)[:300]
            plan.usage_point_hrefs = espi_customer.usage_point_hrefs(element)
        ids = href_ids(entry.self_href)
        plan.self_ref = ids.get(kind)
        parent_kind = espi_customer.PARENT_KIND.get(kind)
        plan.parent_ref = href_ids(entry.up_href).get(parent_kind or "") or ids.get(parent_kind or "")
        plans.append(plan)
    _place(plans, customer=customer, usage_point_refs=usage_point_refs or {})
    return RecordsPlan(records=plans, other_entries=other)


def _place(plans: list[RecordPlan], *, customer: RetailCustomer, usage_point_refs: dict[str, int]) -> None:
    """Find the stored row of each uuid (another customer's is a conflict) and the usage points each names."""
    uuids = [p.uuid for p in plans if p.uuid is not None]
    stored = {
        row["uuid"]: row for row in CustomerRecord.objects.filter(uuid__in=uuids).values("id", "uuid", "customer_id")
    }
    own_points = dict(UsagePoint.objects.filter(customer=customer).values_list("public_id", "id"))
    for p in plans:
        row = stored.get(p.uuid) if p.uuid is not None else None
        if row is not None:
            if row["customer_id"] != customer.pk:
                p.reject(Reason.CONFLICT, "this id belongs to another customer's record")
            p.existing_id = row["id"]
        for href in p.usage_point_hrefs:
            ref = href_segment_id(href, "UsagePoint") or href.rsplit("/", 1)[-1]
            point_id = usage_point_refs.get(ref) or own_points.get(ref)
            if point_id is None:
                p.warnings.append(f"UsagePoint {href} is not one of this customer's usage points: link it in the admin")
            elif point_id not in p.usage_point_ids:
                p.usage_point_ids.append(point_id)


def _parent_id(p: RecordPlan, written: dict[tuple[str, str], int]) -> int | None:
    parent_kind = espi_customer.PARENT_KIND.get(p.kind or "")
    if parent_kind is None or p.parent_ref is None:
        return None
    return written.get((parent_kind, p.parent_ref))


def records_apply(
    *, plan: RecordsPlan, customer: RetailCustomer, actor: Any = None, client: Any = None
) -> RecordsResult:
    """Write the planned records in one transaction (parents before children); call only if nothing is rejected."""
    result = RecordsResult()
    order = {kind: len(espi_customer.ancestry(kind)) for kind in espi_customer.RECORD_KINDS}
    now = timezone.now()
    written: dict[tuple[str, str], int] = {}
    with transaction.atomic():
        existing = {
            row.pk: row
            for row in CustomerRecord.objects.select_for_update().filter(
                pk__in=[p.existing_id for p in plan.records if p.existing_id], customer=customer
            )
        }
        for p in sorted(plan.records, key=lambda item: (order.get(item.kind or "", 0), item.index)):
            assert p.status == OK and p.uuid is not None and p.kind  # noqa: S101 - callers apply clean plans only
            fields = {
                "kind": p.kind,
                "title": p.title,
                "published": p.published or now,
                "updated": p.updated or now,
                "label": p.label,
                "content": p.content,
            }
            parent_id = _parent_id(p, written)
            row = existing.get(p.existing_id) if p.existing_id else None
            if parent_id is not None or row is None:
                fields["parent_id"] = parent_id  # a record re-imported without its parent keeps the stored one
            if row is None:
                row = CustomerRecord.objects.create(customer=customer, uuid=p.uuid, **fields)
                p.change = Change.CREATED
                result.created += 1
            else:
                changed = {name: value for name, value in fields.items() if getattr(row, name) != value}
                if changed:
                    for name, value in changed.items():
                        setattr(row, name, value)
                    row.save(update_fields=[*changed])
                    p.change = Change.UPDATED
                    result.updated += 1
                else:
                    p.change = Change.UNCHANGED
            if p.kind in espi_customer.PREMISES_KINDS and p.usage_point_ids:
                before = set(row.usage_points.values_list("id", flat=True))
                wanted = set(p.usage_point_ids)
                if (p.kind == "ServiceLocation" or not before) and before != wanted:
                    row.usage_points.set(wanted)
                    if p.change == Change.UNCHANGED:
                        p.change = Change.UPDATED
                        result.updated += 1
            if p.change == Change.UNCHANGED:
                result.unchanged += 1
            if p.self_ref:
                written[(p.kind, p.self_ref)] = row.pk
            result.record_ids.append(row.pk)
        _link_meters_to_their_location(plan, written)
        if result.created or result.updated:
            audit_record(
                action=AuditEvent.Action.CUSTOMER_RECORDS_IMPORTED,
                actor_user=actor,
                actor_client=client,
                customer=customer,
                obj=customer,
                summary=f"customer records imported: {result.created} created, {result.updated} updated, "
                f"{result.unchanged} unchanged",
                detail={"created": result.created, "updated": result.updated, "unchanged": result.unchanged},
            )
    return result


def _link_meters_to_their_location(plan: RecordsPlan, written: dict[tuple[str, str], int]) -> None:
    """A Meter or EndDevice that names no usage point serves those of its ServiceLocation (three queries in all)."""
    location_of: dict[int, int] = {}
    for p in plan.records:
        if p.kind in {"Meter", "EndDevice"} and not p.usage_point_ids and p.self_ref and p.parent_ref:
            location_id = written.get(("ServiceLocation", p.parent_ref))
            record_id = written.get((p.kind, p.self_ref))
            if location_id is not None and record_id is not None:
                location_of[record_id] = location_id
    if not location_of:
        return
    links = CustomerRecord.usage_points.through.objects
    linked = set(links.filter(customerrecord_id__in=location_of).values_list("customerrecord_id", flat=True))
    served: dict[int, list[int]] = {}
    for location_id, usage_point_id in links.filter(customerrecord_id__in=set(location_of.values())).values_list(
        "customerrecord_id", "usagepoint_id"
    ):
        served.setdefault(location_id, []).append(usage_point_id)
    links.bulk_create(
        links.model(customerrecord_id=record_id, usagepoint_id=usage_point_id)
        for record_id, location_id in sorted(location_of.items())
        if record_id not in linked
        for usage_point_id in served.get(location_id, ())
    )


def customer_records_import(
    *,
    customer: RetailCustomer,
    source: bytes | str | os.PathLike[str] | IO[bytes],
    lenient: bool = False,
    actor: Any = None,
    max_bytes: int | None = None,
    usage_point_refs: dict[str, int] | None = None,
    client: Any = None,
) -> tuple[RecordsPlan, RecordsResult | None]:
    """Import a feed's customer records for a customer, all or nothing; the result is None if any entry is refused."""
    plan = records_plan(
        customer=customer, source=source, lenient=lenient, max_bytes=max_bytes, usage_point_refs=usage_point_refs
    )
    if plan.rejected or not plan.records:
        return plan, None
    return plan, records_apply(plan=plan, customer=customer, actor=actor, client=client)
