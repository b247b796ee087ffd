"""Write the access log: who read customers' data, one audit row per grant per request, before the feed streams."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from custodian.models import AuditEvent, RetailCustomer


def data_read_record(*, grants: Iterable[Any], client: Any, path: str) -> int:
    """Append one "data read" row per grant (customer set, so each customer sees who read what); return how many.

    Rows go in with one INSERT: a bulk page of hundreds of grants costs one round trip. Written in
    the request's own transaction before the first byte, so a read that was served is never missing.
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
    AuditEvent.objects.bulk_create(rows, batch_size=500)
    return len(rows)


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


def records_read_record(*, grants: Iterable[Any], client: Any, path: str, records: Iterable[str]) -> int:
    """Append one "data read" row per grant for a read of customer records (personal data), naming which.

    ``records`` are the categories read (``custodian.espi.customer.RECORD_CATEGORIES``); the access
    history says them in words ("Sunny Solar read your name and service address").
    """
    kinds = list(records)
    rows = [
        AuditEvent(
            action=AuditEvent.Action.DATA_READ,
            actor_client=client,
            customer_id=grant.customer_id,
            object_type="Grant",
            object_id=grant.public_id,
            summary=f"{client.name} read your records ({path[:200]})",
            detail={"path": path[:500], "subscription_id": grant.subscription_id, "records": kinds},
        )
        for grant in grants
    ]
    AuditEvent.objects.bulk_create(rows, batch_size=500)
    return len(rows)
