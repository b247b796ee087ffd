"""The customer's own records (``customer.xsd``) on the ESPI API side: what a grant reaches, and their entries.

Personal data, a stream of its own (PRODUCT, GBA): a grant reaches a customer's records only when
the customer chose them (``Grant.customer_records``) and the grant carries the Retail Customer
function block of the path read (:func:`records_function_block_needed`); what it reaches is
:func:`records_in_reach`. A ServiceLocation names its usage points by the reader's own hrefs
(FB_58: the absolute https self href of each UsagePoint the reader may see), never another.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from custodian.espi import customer as espi_customer
from custodian.espi import writer
from custodian.espi.parser import Link
from custodian.models import CustomerRecord
from grants.models import Grant, GrantUsagePoint

# The Retail Customer function blocks, by the kind of path read.
BATCH_RETAIL_CUSTOMER = "batch"  # GET Batch/RetailCustomer/{id}: FB_46
RESOURCE_LEVEL = "resource"  # GET RetailCustomer/{id}/Customer/...: FB_50
BULK_RETAIL_CUSTOMER = "bulk"  # GET Batch/BulkRetailCustomerInfo/{bulkId}: FB_47
_FUNCTION_BLOCK = {BATCH_RETAIL_CUSTOMER: 46, RESOURCE_LEVEL: 50, BULK_RETAIL_CUSTOMER: 47}


def records_function_block_needed(path_kind: str) -> int:
    """Return the Retail Customer function block a grant needs to read records on this kind of path."""
    return _FUNCTION_BLOCK[path_kind]


def records_granted(*, grant: Grant, path_kind: str) -> bool:
    """Return whether a grant shares any customer record on this kind of path (chosen, and the block granted)."""
    return bool(grant.customer_records) and records_function_block_needed(path_kind) in set(grant.function_blocks)


def records_in_reach(*, grant: Grant) -> QuerySet[CustomerRecord]:
    """Return the records a grant reaches: its customer's, of the kinds chosen; premises only with a shared usage point.

    A ServiceLocation, Meter or EndDevice is reached only when it is linked to a usage point the
    grant still shares, so a customer who shares one home never shares the other's address.
    """
    kinds = espi_customer.kinds_shared(grant.customer_records)
    shared_points = GrantUsagePoint.objects.filter(grant=grant, revoked_at__isnull=True).values("usage_point_id")
    linked = CustomerRecord.usage_points.through.objects.filter(
        customerrecord_id=OuterRef("pk"), usagepoint_id__in=shared_points
    )
    records = CustomerRecord.objects.filter(customer_id=grant.customer_id, kind__in=kinds)
    premises = [kind for kind in kinds if kind in espi_customer.PREMISES_KINDS]
    if premises:
        records = records.filter(~Q(kind__in=premises) | Exists(linked))
    return records.order_by("pk")


@dataclass(frozen=True)
class RecordPaths:
    """Build the ESPI paths of a customer's records: ``{base}/RetailCustomer/{id}/Customer/{id}/...``."""

    base: str
    retail_customer_id: str

    def path(self, record: CustomerRecord, chain: dict[int, CustomerRecord]) -> str:
        parts = [self.base.rstrip("/"), "RetailCustomer", self.retail_customer_id]
        for ancestor in _ancestors(record, chain):
            parts += [ancestor.kind, ancestor.public_id]
        parts += [record.kind, record.public_id]
        return "/".join(parts)

    def collection(self, record: CustomerRecord, chain: dict[int, CustomerRecord]) -> str:
        return self.path(record, chain).rsplit("/", 1)[0]


def _ancestors(record: CustomerRecord, chain: dict[int, CustomerRecord]) -> list[CustomerRecord]:
    found: list[CustomerRecord] = []
    parent_id = record.parent_id
    while parent_id is not None and parent_id in chain and len(found) < 8:
        parent = chain[parent_id]
        found.insert(0, parent)
        parent_id = parent.parent_id
    return found


def record_chain(records: Iterable[CustomerRecord]) -> dict[int, CustomerRecord]:
    """Return every record and its ancestors by pk (ancestors read with one query per level, at most 4)."""
    chain = {record.pk: record for record in records}
    missing = {record.parent_id for record in chain.values() if record.parent_id and record.parent_id not in chain}
    while missing:
        found = list(CustomerRecord.objects.filter(pk__in=missing).defer("content"))
        chain.update((record.pk, record) for record in found)
        missing = {record.parent_id for record in found if record.parent_id and record.parent_id not in chain}
    return chain


def record_entries(
    *, records: Iterable[CustomerRecord], paths: RecordPaths, usage_point_hrefs: dict[int, str]
) -> Iterator[writer.AtomEntry]:
    """Yield each record as an Atom entry; a ServiceLocation's UsagePoints become ``usage_point_hrefs`` of its links.

    ``usage_point_hrefs``: the reader's own self href of each usage point it may see (by pk); links
    to any other usage point are left out.
    """
    listed = list(records)
    chain = record_chain(listed)
    links_by_record: dict[int, list[int]] = {}
    for record_id, point_id in CustomerRecord.usage_points.through.objects.filter(
        customerrecord_id__in=[r.pk for r in listed if r.kind == "ServiceLocation"]
    ).values_list("customerrecord_id", "usagepoint_id"):
        links_by_record.setdefault(record_id, []).append(point_id)
    for record in listed:
        own = paths.path(record, chain)
        links = [
            Link("self", own, f"cust-entry/{record.kind}"),
            Link("up", paths.collection(record, chain), f"cust-feed/{record.kind}"),
        ]
        content = record.content.encode()
        if record.kind == "ServiceLocation":
            hrefs = [
                usage_point_hrefs[pk] for pk in sorted(links_by_record.get(record.pk, [])) if pk in usage_point_hrefs
            ]
            content = espi_customer.content_with_usage_point_hrefs(content, hrefs)
        yield writer.AtomEntry(
            uuid=record.uuid,
            title=record.title or record.kind,
            published=record.published,
            updated=record.updated,
            links=links,
            content=content,
        )
