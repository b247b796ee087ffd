"""Reads for customers, usage points and meter data."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import F, Max, QuerySet
from django.utils.translation import get_supported_language_variant

from custodian.exceptions import NotFound
from custodian.local_dates import end_of_local_day, local_time
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
)
from custodian.readings import readings_between, readings_unpack


def customer_for_user(*, user) -> RetailCustomer:
    """Return the retail customer of a portal login; staff without one get the same NotFound."""
    user_id = getattr(user, "pk", None)
    customer = RetailCustomer.objects.filter(user_id=user_id).first() if user_id is not None else None
    if customer is None:
        raise NotFound("No retail customer for this login.")
    return customer


def language_supported(code: str | None) -> str | None:
    """Return the portal language (a code of LANGUAGES) that ``code`` names, ``es-MX`` being ``es``; else None."""
    if not code:
        return None
    try:
        variant = get_supported_language_variant(code)
    except LookupError:
        return None
    return variant if variant in dict(settings.LANGUAGES) else None


def customer_language(*, customer: RetailCustomer | None, fallback: str | None = None) -> str:
    """Return the language to write to ``customer`` in: theirs, else ``fallback``, else the utility's LANGUAGE_CODE.

    Every customer e-mail (grants, Third Party status, invitation, password reset) asks this one function.
    """
    chosen = customer.language if customer is not None else None
    return language_supported(chosen) or language_supported(fallback) or settings.LANGUAGE_CODE


def usage_point_list_for_customer(*, customer: RetailCustomer) -> QuerySet[UsagePoint]:
    """Return the customer's usage points."""
    return UsagePoint.objects.filter(customer=customer).select_related("local_time_parameters")


def usage_point_get_for_customer(*, customer: RetailCustomer, public_id: str) -> UsagePoint:
    """Return one of the customer's usage points; another's or an unknown id raise the same NotFound."""
    try:
        return UsagePoint.objects.get(customer=customer, public_id=public_id)
    except UsagePoint.DoesNotExist:
        raise NotFound("No such usage point.") from None


def audit_events_for_customer(*, customer: RetailCustomer, limit: int = 200) -> QuerySet[AuditEvent]:
    """Return the customer's access history: who read, uploaded or changed what, newest first."""
    return AuditEvent.objects.filter(customer=customer).select_related("actor_client", "actor_user")[:limit]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a stored ESPI resource lives: its model, row, usage point (None if shared) and meter reading."""

    kind: str
    pk: int
    usage_point_id: int | None
    meter_reading_id: int | None = None


# The model that stores each kind of ESPI entry.
RESOURCE_MODELS: dict[str, Any] = {
    "UsagePoint": UsagePoint,
    "MeterReading": MeterReading,
    "ReadingType": ReadingType,
    "IntervalBlock": IntervalBlock,
    "LocalTimeParameters": LocalTimeParameters,
    "UsageSummary": UsageSummary,
    "ElectricPowerUsageSummary": UsageSummary,
    "ElectricPowerQualitySummary": ElectricPowerQualitySummary,
}


def resource_locations(*, uuids_by_kind: Iterable[tuple[str | None, UUID | None]]) -> dict[UUID, Location]:
    """Return where each stored resource among ``(kind, uuid)`` pairs lives, looked up in its kind's table."""
    by_model: dict[Any, list[UUID]] = {}
    for kind, uuid in uuids_by_kind:
        if uuid is not None and kind in RESOURCE_MODELS:
            by_model.setdefault(RESOURCE_MODELS[kind], []).append(uuid)
    found: dict[UUID, Location] = {}
    for model, uuids in by_model.items():
        for start in range(0, len(uuids), 1000):
            chunk = uuids[start : start + 1000]
            rows: Iterable[tuple[UUID, int, int | None, int | None]]
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
                found[u] = Location(model.__name__, pk, up, mr)
    return found


def meter_reading_uuids(*, pks: Iterable[int]) -> dict[int, UUID]:
    """Return ``pk -> uuid`` for these meter readings."""
    return dict(MeterReading.objects.filter(pk__in=list(set(pks))).values_list("pk", "uuid"))


def shared_resource_users(*, kind: str, pk: int) -> QuerySet[Any, int]:
    """Return (as a query, to use as a subquery) the usage points that use a stored ReadingType or LocalTimeParameters."""
    if kind == "ReadingType":
        return MeterReading.objects.filter(reading_type_id=pk).values_list("usage_point_id", flat=True)
    return UsagePoint.objects.filter(local_time_parameters_id=pk).values_list("pk", flat=True)


def resource_rows(*, model: Any, pks: Iterable[int], columns: Iterable[str]) -> dict[int, dict[str, Any]]:
    """Return ``pk -> {column: value}`` of these rows of one resource model (the caller chunks ``pks``)."""
    names = ["pk", *columns]
    return {row["pk"]: row for row in model.objects.filter(pk__in=list(pks)).values(*names)}


# For each usage-point-owned model: the paths from a row to its usage point and to that usage point's customer.
_OWNER_PATHS: dict[Any, tuple[str, str]] = {
    UsagePoint: ("pk", "customer_id"),
    MeterReading: ("usage_point_id", "usage_point__customer_id"),
    IntervalBlock: ("meter_reading__usage_point_id", "meter_reading__usage_point__customer_id"),
    UsageSummary: ("usage_point_id", "usage_point__customer_id"),
    ElectricPowerQualitySummary: ("usage_point_id", "usage_point__customer_id"),
}


def resource_owners(*, model: Any, pks: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Return ``pk -> (usage point id, customer id)`` of these rows of a usage-point-owned model (the caller chunks)."""
    up_path, customer_path = _OWNER_PATHS[model]
    rows = model.objects.filter(pk__in=list(pks)).values_list("pk", up_path, customer_path)
    return {pk: (up, customer) for pk, up, customer in rows}


def resource_owned_by_usage_point(model: Any) -> bool:
    """Return whether rows of ``model`` live under a usage point (not the shared ReadingType, LocalTimeParameters)."""
    return model in _OWNER_PATHS


def usage_point_meter_reading(*, usage_point: UsagePoint) -> MeterReading | None:
    """Return the usage point's first meter reading (the one the dashboard charts), with its reading type."""
    return MeterReading.objects.filter(usage_point=usage_point).select_related("reading_type").order_by("pk").first()


def meter_reading_last_day(*, meter_reading: MeterReading) -> date | None:
    """Return the local day of the meter reading's latest interval data, or None when it has none."""
    last_end = (
        IntervalBlock.objects.filter(meter_reading=meter_reading, reading_count__gt=0)
        .annotate(end=F("start") + F("duration"))
        .aggregate(last=Max("end"))["last"]
    )
    if last_end is None:
        return None
    return local_time(datetime.fromtimestamp(max(last_end - 1, 0), tz=UTC)).date()


def meter_reading_daily_totals(*, meter_reading: MeterReading, first_day: date, last_day: date) -> dict[date, int]:
    """Return the sum of the readings starting in each local day from ``first_day`` to ``last_day`` (inclusive).

    Days are the utility's local days, so a daylight-saving day sums 23 or 25 hours of readings.
    """
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    bounds = [int(end_of_local_day(day - timedelta(days=1)).timestamp()) for day in days]
    end = int(end_of_local_day(last_day).timestamp())
    totals = dict.fromkeys(days, 0)
    blocks = (
        IntervalBlock.objects.filter(meter_reading=meter_reading, start__lt=end, reading_count__gt=0)
        .annotate(block_end=F("start") + F("duration"))
        .filter(block_end__gt=bounds[0])
        .values_list("readings", flat=True)
    )
    for packed in blocks.iterator(chunk_size=100):
        for start, _duration, value, *_rest in readings_between(
            readings_unpack(packed), start_min=bounds[0], start_max=end
        ):
            if value is not None and start is not None:
                totals[days[bisect_right(bounds, start) - 1]] += value
    return totals
