"""Writes for customers and usage points, and the audit log writer every app uses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from custodian.models import AuditEvent, LocalTimeParameters, RetailCustomer, UsagePoint


def audit_record(
    *,
    action: str,
    summary: str = "",
    actor_user: Any = None,
    actor_client: Any = None,
    customer: RetailCustomer | None = None,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit row. Call it inside the transaction of the change it records."""
    event = _audit_event(
        action=action,
        summary=summary,
        actor_user=actor_user,
        actor_client=actor_client,
        customer=customer,
        obj=obj,
        object_type=object_type,
        object_id=object_id,
        detail=detail,
    )
    event.save(force_insert=True)
    return event


def audit_record_many(*, events: Iterable[dict[str, Any]]) -> list[AuditEvent]:
    """Append many audit rows with one INSERT per 500; each dict takes ``audit_record``'s arguments."""
    rows = [_audit_event(**event) for event in events]
    return AuditEvent.objects.bulk_create(rows, batch_size=500) if rows else []


def _audit_event(
    *,
    action: str,
    summary: str = "",
    actor_user: Any = None,
    actor_client: Any = None,
    customer: RetailCustomer | None = None,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    if obj is not None:
        object_type = object_type or type(obj).__name__
        object_id = object_id or str(getattr(obj, "public_id", None) or obj.pk)
    return AuditEvent(
        action=action,
        summary=summary[:300],
        actor_user=actor_user if getattr(actor_user, "is_authenticated", False) else None,
        actor_client=actor_client,
        customer=customer,
        object_type=object_type,
        object_id=object_id,
        detail=detail or {},
    )


@transaction.atomic
def retail_customer_create(
    *, username: str, password: str, name: str, email: str = "", actor: Any = None
) -> RetailCustomer:
    """Create a portal login and its retail customer."""
    user_model = get_user_model()
    user = user_model(username=username, email=email)
    user.set_password(password)
    user.full_clean()
    user.save()
    customer = RetailCustomer(user=user, name=name)
    customer.full_clean()
    customer.save()
    audit_record(
        action=AuditEvent.Action.CUSTOMER_CREATED,
        actor_user=actor,
        customer=customer,
        obj=customer,
        summary=f"Customer {name} created",
    )
    return customer


@transaction.atomic
def usage_point_create(
    *,
    customer: RetailCustomer,
    title: str,
    service_kind: int = 0,
    local_time_parameters: LocalTimeParameters | None = None,
    actor: Any = None,
) -> UsagePoint:
    """Create a usage point for a customer."""
    usage_point = UsagePoint(
        customer=customer, title=title, service_kind=service_kind, status=1, local_time_parameters=local_time_parameters
    )
    usage_point.full_clean()
    usage_point.save()
    audit_record(
        action=AuditEvent.Action.USAGE_POINT_CREATED,
        actor_user=actor,
        customer=customer,
        obj=usage_point,
        summary=f"Usage point {title} created",
    )
    return usage_point
