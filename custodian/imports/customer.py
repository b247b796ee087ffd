"""A customer's import (staff upload, ``import_greenbutton``): the customer's usage points, all or nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any
from uuid import UUID

from custodian.imports.apply import ImportResult, import_apply
from custodian.imports.plan import ImportPlan, UsagePointTarget, import_plan
from custodian.imports.reading import ImportProgress
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

    def allows(self, *, usage_point_id: int) -> bool:
        return (
            usage_point_id in self._owned_ids
            or UsagePoint.objects.filter(pk=usage_point_id, customer=self.customer).exists()
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
