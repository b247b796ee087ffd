"""Reads for the batch filter (what a caller reaches, submissions, usage points by public id) and request counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet, Sum

from batch.models import ApiRequestCount, Submission
from custodian.exceptions import NotFound
from custodian.models import (
    RetailCustomer,
    UsagePoint,
)
from grants.models import BulkUser, Grant, GrantUsagePoint
from grants.selectors import active_grant_q

# Every function block; the utility's back-office upload is not limited by a grant.
ALL_FUNCTION_BLOCKS: frozenset[int] = frozenset(range(1, 100))

_CHUNK = 2000


@dataclass(slots=True)
class Reach:
    """The usage points a caller may write to now, with the function blocks that cover each.

    ``usage_points`` maps a usage point primary key to the union of the function blocks of the
    caller's active grants naming it; ``grants_by_usage_point`` names those grants (for notices
    and audit). ``may_create_usage_points`` is only true for the utility's back-office upload.
    """

    usage_points: dict[int, frozenset[int]] = field(default_factory=dict)
    grants_by_usage_point: dict[int, list[int]] = field(default_factory=dict)
    public_ids: dict[str, int] = field(default_factory=dict)  # public id -> key of the usage points above
    customer: RetailCustomer | None = None
    may_create_usage_points: bool = False


def _reach_from_links(links: Iterable[tuple[int, int, list[int]]]) -> Reach:
    reach = Reach()
    blocks: dict[int, set[int]] = {}
    for usage_point_id, grant_id, function_blocks in links:
        blocks.setdefault(usage_point_id, set()).update(int(fb) for fb in function_blocks or ())
        reach.grants_by_usage_point.setdefault(usage_point_id, []).append(grant_id)
    reach.usage_points = {up: frozenset(fbs) for up, fbs in blocks.items()}
    return reach


def reach_for_grants(*, grants: QuerySet[Grant], third_party_id: int, at: datetime | None = None) -> Reach:
    """Return what ``grants`` of ``third_party_id`` reach at ``at``, with the public ids of those usage points.

    Only active grants count (status, authorized period, Third Party in Production: ``active_grant_q``)
    and only usage points not taken back. Two queries however many grants (a bulk has thousands), the
    second on its table's index whatever the planner knows. Under the grants' row locks
    (``grants.services.grant_lock``) the answer cannot change until commit.
    """
    function_blocks = dict(
        grants.filter(active_grant_q(at=at), third_party_id=third_party_id)
        .order_by()
        .values_list("pk", "function_blocks")
    )
    links = list(
        GrantUsagePoint.objects.filter(grant_id__in=list(function_blocks), revoked_at__isnull=True).values_list(
            "usage_point_id", "grant_id", "usage_point__public_id"
        )
    )
    reach = _reach_from_links((up, grant_id, function_blocks[grant_id]) for up, grant_id, _public_id in links)
    reach.public_ids = {public_id: up for up, _grant_id, public_id in links}
    return reach


def reach_for_customer(*, customer: RetailCustomer) -> Reach:
    """Return the back-office reach of one customer's upload: that customer's usage points only."""
    public_ids = dict(UsagePoint.objects.filter(customer=customer).values_list("public_id", "pk"))
    return Reach(
        usage_points=dict.fromkeys(public_ids.values(), ALL_FUNCTION_BLOCKS),
        public_ids=public_ids,
        customer=customer,
        may_create_usage_points=True,
    )


def bulk_member_grants(*, bulk_user: BulkUser) -> QuerySet[Grant]:
    """Return the bulk's grants whose status is active (to lock, then check again under the lock)."""
    return Grant.objects.filter(bulk_user=bulk_user, third_party=bulk_user.third_party, status=Grant.Status.ACTIVE)


def usage_points_by_public_id(*, public_ids: Iterable[str]) -> dict[str, tuple[int, UUID]]:
    """Return ``public_id -> (pk, uuid)`` for the usage points that exist among ``public_ids``."""
    wanted = sorted(set(public_ids))
    found: dict[str, tuple[int, UUID]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for pk, public_id, uuid in UsagePoint.objects.filter(public_id__in=chunk).values_list(
            "pk", "public_id", "uuid"
        ):
            found[public_id] = (pk, uuid)
    return found


def usage_point_customers(*, pks: Iterable[int]) -> dict[int, int]:
    """Return ``usage point pk -> customer pk``."""
    return dict(UsagePoint.objects.filter(pk__in=list(pks)).values_list("pk", "customer_id"))


def submission_get_by_key(*, caller_id: int, idempotency_key: str) -> Submission | None:
    """Return the caller's submission recorded under ``idempotency_key``, if any."""
    return Submission.objects.filter(caller_id=caller_id, idempotency_key=idempotency_key).first()


def retail_customer_get(*, public_id: str) -> RetailCustomer:
    """Return the retail customer with this URL id; an unknown id is NotFound."""
    customer = RetailCustomer.objects.filter(public_id=public_id).first()
    if customer is None:
        raise NotFound("No such retail customer.")
    return customer


#: A request is *served* when answered 1xx-3xx and *failed* when answered 4xx or 5xx.
_SERVED = Q(status_class__lte=3)
_FAILED = Q(status_class__gte=4)


def api_request_totals(*, first_day: date, end_day: date, by: tuple[str, ...] = ("third_party_id",)) -> QuerySet[Any]:
    """Return, grouped by ``by``, requests served and failed and bytes served on days ``[first_day, end_day)``.

    One grouped aggregate over the daily counters (``ApiRequestCount``), so its cost follows the
    number of days, clients and kinds, never the number of requests.
    """
    return (
        ApiRequestCount.objects.filter(day__gte=first_day, day__lt=end_day)
        .values(*by)
        .annotate(
            requests_served=Sum("requests", filter=_SERVED, default=0),
            requests_failed=Sum("requests", filter=_FAILED, default=0),
            bytes_served=Sum("bytes", filter=_SERVED, default=0),
        )
        .order_by(*by)
    )
