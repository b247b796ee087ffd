"""Write the access log: who read customers' data, before the feed streams.

A read under one grant is one row for that grant's customer; a Bulk page (hundreds of grants) is one
row for the whole request (:func:`bulk_data_read_record`), which each customer's access history
reaches through the page's usage point range and grant set (``grants.access_history``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from custodian.models import AuditEvent, RetailCustomer


def _insert(rows: list[AuditEvent]) -> int:
    """Insert the rows; one row (a Subscription read) is one plain INSERT, in no transaction of its own."""
    if len(rows) == 1:
        rows[0].save(force_insert=True)
    elif rows:
        AuditEvent.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def data_read_record(*, grants: Iterable[Any], client: Any, path: str) -> int:
    """Append one "data read" row per grant (customer set, so each customer sees who read what); return how many.

    Rows go in with one INSERT: a bulk page of hundreds of grants costs one round trip, a single
    grant's read one plain INSERT (committed at once in autocommit, no BEGIN/COMMIT of its own).
    Written before the first byte, so a read that was served is never missing.
    """
    rows = [
        AuditEvent(
            action=AuditEvent.Action.DATA_READ,
            actor_client=client,
            customer_id=grant.customer_id,
            object_type="Grant",
            object_id=grant.public_id,
            summary=f"{client.name} read your data ({path[:200]})",
            detail={"path": path[:500], "subscription_id": grant.subscription_id},
        )
        for grant in grants
    ]
    return _insert(rows)


def customer_data_read_record(*, customer: RetailCustomer, client: Any, path: str) -> None:
    """Append one "data read" row for a back-office read of a customer's whole data."""
    AuditEvent.objects.create(
        action=AuditEvent.Action.DATA_READ,
        actor_client=client,
        customer=customer,
        object_type="RetailCustomer",
        object_id=customer.public_id,
        summary=f"{client.name} (utility back office) read your data ({path[:200]})",
        detail={"path": path[:500]},
    )


def records_read_record(*, grants: Iterable[Any], client: Any, path: str, records: Iterable[str] | None = None) -> int:
    """Append one "data read" row per grant (one INSERT) for a read of customer records, naming which.

    ``records``: the categories read (``custodian.espi.customer.RECORD_CATEGORIES``), by default each
    grant's own ``customer_records``; the access history says them in words ("Sunny Solar read your
    name and service address").
    """
    chosen = list(records) if records is not None else None
    rows = [
        AuditEvent(
            action=AuditEvent.Action.DATA_READ,
            actor_client=client,
            customer_id=grant.customer_id,
            object_type="Grant",
            object_id=grant.public_id,
            summary=f"{client.name} read your records ({path[:200]})",
            detail={
                "path": path[:500],
                "subscription_id": grant.subscription_id,
                "records": chosen if chosen is not None else list(grant.customer_records),
            },
        )
        for grant in grants
    ]
    return _insert(rows)


def bulk_data_read_record(
    *,
    bulk_user: Any,
    usage_points_by_grant: dict[int, int],
    usage_point_range: tuple[int, int] | None,
    client: Any,
    path: str,
) -> AuditEvent | None:
    """Append one "data read" row for a page of a bulk, however many grants it served; None if it served none.

    ``usage_points_by_grant``: grant pk -> how many of its usage points the page carried;
    ``usage_point_range``: the first and last usage point id of the page.
    """
    if not usage_points_by_grant or usage_point_range is None:
        return None
    low, high = usage_point_range
    return AuditEvent.objects.create(
        action=AuditEvent.Action.DATA_READ,
        actor_client=client,
        object_type="BulkUser",
        object_id=bulk_user.bulk_id,
        summary=f"{client.name} read {len(usage_points_by_grant)} grants' data ({path[:200]})",
        detail={"path": path[:500], "grants": {str(pk): count for pk, count in sorted(usage_points_by_grant.items())}},
        usage_point_low=low,
        usage_point_high=high,
    )
