"""A customer's import (staff upload, ``import_greenbutton``): the customer's usage points, all or nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet

from custodian.espi.customer import RECORD_KINDS
from custodian.imports.apply import ImportResult, import_apply
from custodian.imports.plan import EntryPlan, ImportPlan, UsagePointTarget, import_plan
from custodian.imports.reading import ImportProgress
from custodian.imports.reasons import OK, Reason
from custodian.imports.records import RecordsPlan, RecordsResult, customer_records_import
from custodian.models import RetailCustomer, UsagePoint


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

    def allows_all(self, *, usage_point_ids: QuerySet[Any, int]) -> bool:
        return not UsagePoint.objects.filter(pk__in=usage_point_ids).exclude(customer=self.customer).exists()

    def allows(self, *, usage_point_id: int) -> bool:
        return (
            usage_point_id in self._owned_ids
            or UsagePoint.objects.filter(pk=usage_point_id, customer=self.customer).exists()
        )


def _customer_plan(
    *,
    customer: RetailCustomer,
    source: bytes | str | os.PathLike[str] | IO[bytes],
    lenient: bool,
    max_bytes: int | None,
    progress: Callable[[ImportProgress], None] | None,
) -> ImportPlan:
    """Plan a customer's import; one parse: the plan spools what it read and the apply replays it."""
    return import_plan(
        source=source,
        resolver=CustomerUsagePoints(customer),
        lenient=lenient,
        max_bytes=max_bytes,
        progress=progress,
        spool=True,
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
    reader refuses as a whole. Customer records (``customer.xsd`` entries) in the same feed are
    imported by :func:`customer_feed_import_with_records`; this function refuses them.
    """
    plan = _customer_plan(customer=customer, source=source, lenient=lenient, max_bytes=max_bytes, progress=progress)
    if plan.rejected_count or not len(plan.entries):
        plan.close()
        return plan, None
    result = import_apply(
        source=source,
        plan=plan,
        accept=None,  # every entry: none is rejected
        customer=customer,
        actor=actor,
        max_bytes=max_bytes,
        progress=progress,
    )
    return plan, result


def _is_record(plan: EntryPlan) -> bool:
    return plan.status == Reason.UNSUPPORTED and plan.kind in RECORD_KINDS


@dataclass
class CustomerImport:
    """The outcome of a customer's import of usage data, customer records, or both."""

    plan: ImportPlan
    result: ImportResult | None = None
    records: RecordsPlan | None = None
    records_result: RecordsResult | None = None

    @property
    def imported(self) -> bool:
        return self.result is not None or self.records_result is not None

    @property
    def rejected(self) -> list[str]:
        """Every refused entry, described (usage and records)."""
        usage = [e.describe() for e in self.plan.entries.scan() if e.status != OK and not _is_record(e)]
        return usage + [record.describe() for record in (self.records.rejected if self.records else [])]

    @property
    def entries(self) -> int:
        return len(self.plan.entries)

    @property
    def readings(self) -> int:
        return self.result.readings if self.result else 0

    def counts(self) -> str:
        """Return "created 3, updated 1, unchanged 17" over usage entries and records."""
        result, records = self.result, self.records_result
        totals = {
            "created": (sum(result.created.values()) if result else 0) + (records.created if records else 0),
            "updated": (sum(result.updated.values()) if result else 0) + (records.updated if records else 0),
            "unchanged": (sum(result.unchanged.values()) if result else 0) + (records.unchanged if records else 0),
        }
        return ", ".join(f"{name} {count}" for name, count in totals.items())

    def warnings(self) -> list[str]:
        """Every warning, one line per entry ("entry #3 (UsagePoint, line 12): ...")."""
        lines = [
            f"entry #{entry.index} ({entry.kind}, line {entry.line}): " + "; ".join(entry.warnings)
            for entry in self.plan.entries.scan()
            if entry.warnings and not _is_record(entry)
        ]
        lines += [
            f"entry #{record.index} ({record.kind}, line {record.line}): " + "; ".join(record.warnings)
            for record in (self.records.records if self.records else [])
            if record.warnings
        ]
        return lines


def customer_feed_import_with_records(
    *,
    customer: RetailCustomer,
    source: bytes | str | os.PathLike[str] | IO[bytes],
    lenient: bool = False,
    actor: Any = None,
    max_bytes: int | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
) -> CustomerImport:
    """Import a file of usage data, customer records (``customer.xsd``) or both, for a customer, all or nothing.

    The usage entries go through the usage import, the records through ``custodian.imports.records``,
    in one transaction: a refused entry of either kind imports nothing. The records' UsagePoint
    references may name the usage points of the same file.
    """
    plan = _customer_plan(customer=customer, source=source, lenient=lenient, max_bytes=max_bytes, progress=progress)
    outcome = CustomerImport(plan=plan)
    has_records = any(_is_record(entry) for entry in plan.entries.scan())
    if not len(plan.entries) or any(e.status != OK and not _is_record(e) for e in plan.entries.scan()):
        plan.close()
        return outcome
    targets = dict(plan.usage_points)
    with transaction.atomic():
        if plan.ok_indexes:
            outcome.result = import_apply(
                source=source,
                plan=plan,
                accept=plan.ok_indexes,
                customer=customer,
                actor=actor,
                max_bytes=max_bytes,
                progress=progress,
            )
        else:
            plan.close()
        if not has_records:
            return outcome
        by_uuid = dict(
            UsagePoint.objects.filter(
                customer=customer, uuid__in=[t.uuid for t in targets.values() if t.uuid is not None]
            ).values_list("uuid", "id")
        )
        refs: dict[str, int] = {}
        for ref, target in targets.items():
            point = target.usage_point_id or (by_uuid.get(target.uuid) if target.uuid is not None else None)
            if point is not None:
                refs[ref] = point
        outcome.records, outcome.records_result = customer_records_import(
            customer=customer, source=source, lenient=lenient, actor=actor, max_bytes=max_bytes, usage_point_refs=refs
        )
        if outcome.records_result is None:
            outcome.result = None
            transaction.set_rollback(True)
    return outcome
