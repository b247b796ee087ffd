"""Reads for asynchronous Batch GETs: how big a request is, its usage points, jobs, parts, and whether a part may be served."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from django.db.models import Count, Max, Min, QuerySet
from django.utils import timezone

from batch import reach as reach_selectors
from batch.feed_params import FeedParams
from batch.models import BulkJob, BulkPart, Submission
from custodian.exceptions import NotFound
from custodian.models import RetailCustomer, UsagePoint
from grants.models import BulkUser, Grant, GrantUsagePoint
from grants.selectors import active_grant_q


@dataclass(frozen=True, slots=True)
class JobTarget:
    """What an asynchronous request reads: exactly one of a bulk, a grant (Subscription) or a retail customer."""

    kind: str
    target_id: str
    bulk_user: BulkUser | None = None
    grant: Grant | None = None
    customer: RetailCustomer | None = None

    @classmethod
    def for_bulk(cls, bulk_user: BulkUser) -> JobTarget:
        return cls(kind=Submission.TargetKind.BULK, target_id=bulk_user.bulk_id, bulk_user=bulk_user)

    @classmethod
    def for_grant(cls, grant: Grant) -> JobTarget:
        return cls(kind=Submission.TargetKind.SUBSCRIPTION, target_id=grant.subscription_id, grant=grant)

    @classmethod
    def for_customer(cls, customer: RetailCustomer) -> JobTarget:
        return cls(kind=Submission.TargetKind.RETAIL_CUSTOMER, target_id=customer.public_id, customer=customer)


@dataclass(frozen=True, slots=True)
class RequestSize:
    """How many usage points a request covers and the longest history among its grants (None: unbounded)."""

    usage_points: int
    longest_history_seconds: int | None


def _history(longest: int | None, shortest: int | None) -> int | None:
    # A history length of 0 is no bound at all: the request may cover everything stored.
    return None if shortest == 0 else longest


def request_size(*, target: JobTarget, params: FeedParams, paged: bool, usage_points: int | None = None) -> RequestSize:
    """Return the size of a request in one aggregate query (``paged``: the client asked for one page).

    A Subscription whose reached usage points the caller already listed passes their count
    (``usage_points``) and costs no query.
    """
    if target.bulk_user is not None:
        row = reach_selectors.bulk_member_links(bulk_user=target.bulk_user).aggregate(
            n=Count("usage_point_id", distinct=True),
            longest=Max("grant__history_length"),
            shortest=Min("grant__history_length"),
        )
        count, history = row["n"] or 0, _history(row["longest"], row["shortest"])
    elif target.grant is not None:
        grant = target.grant
        if usage_points is not None:
            count = usage_points
        else:
            count = reach_selectors.grant_usage_point_ids(grant=grant).count() if grant.is_active else 0
        history = _history(grant.history_length, grant.history_length)
    else:
        count = UsagePoint.objects.filter(customer=target.customer).count()
        history = None
    if paged:
        remaining = max(0, count - (params.start_index - 1))
        count = remaining if params.max_results is None else min(params.max_results, remaining)
    return RequestSize(usage_points=count, longest_history_seconds=history)


def request_usage_point_ids(*, target: JobTarget, params: FeedParams, paged: bool) -> list[int]:
    """Return the ids of the usage points a request covers, ascending (the page asked for, if ``paged``)."""
    ids: QuerySet[Any, Any]
    if target.bulk_user is not None:
        ids = (
            reach_selectors.bulk_member_links(bulk_user=target.bulk_user)
            .order_by("usage_point_id")
            .values_list("usage_point_id", flat=True)
            .distinct()
        )
    elif target.grant is not None:
        if not target.grant.is_active:
            return []
        ids = reach_selectors.grant_usage_point_ids(grant=target.grant)
    else:
        ids = UsagePoint.objects.filter(customer=target.customer).order_by("pk").values_list("pk", flat=True)
    if paged:
        ids = params.page(ids)
        found = list(ids)
        return found if params.max_results is None else found[: params.max_results]
    return list(cast("Iterable[int]", ids))


def bulk_job_pending(*, request_key: str) -> BulkJob | None:
    """Return the job still being built for this request, if any."""
    return BulkJob.objects.filter(request_key=request_key, status=BulkJob.Status.BUILDING).first()


def bulk_job_reusable(*, request_key: str, now: datetime | None = None) -> BulkJob | None:
    """Return a finished job for the same request whose parts are kept and may all still be served."""
    moment = now or timezone.now()
    job = (
        BulkJob.objects.filter(request_key=request_key, status=BulkJob.Status.READY, expires_at__gt=moment)
        .order_by("-requested_at")
        .first()
    )
    if job is None:
        return None
    if any(not bulk_part_servable(part=part, now=moment) for part in bulk_parts_of(job=job)):
        return None
    return job


def bulk_job_get(*, caller_id: int, target: JobTarget, correlation_id: str) -> BulkJob:
    """Return the caller's job on this target by correlation id; anything else (another's, unknown, malformed) is 404."""
    try:
        key = UUID(correlation_id)
    except ValueError:
        raise NotFound("No such batch request.") from None
    job = BulkJob.objects.filter(
        correlation_id=key, caller_id=caller_id, target_kind=target.kind, target_id__exact=target.target_id
    ).first()
    if job is None or job.status in (BulkJob.Status.EXPIRED, BulkJob.Status.FAILED):
        raise NotFound("No such batch request (results are kept for a limited time).")
    return job


def bulk_parts_of(*, job: BulkJob) -> QuerySet[BulkPart]:
    """Return a job's parts in delivery order (by range, then within it)."""
    return BulkPart.objects.filter(job=job).select_related("range").order_by("range__index", "seq")


def bulk_part_get(*, job: BulkJob, key: str) -> BulkPart:
    """Return a ready job's part by its key; 404 otherwise."""
    if job.status != BulkJob.Status.READY:
        raise NotFound("No such part: the batch result is not ready.")
    part = BulkPart.objects.filter(job=job, key__exact=key).select_related("range", "job").first()
    if part is None:
        raise NotFound("No such part.")
    return part


def bulk_part_servable(*, part: BulkPart, now: datetime | None = None) -> bool:
    """Return whether every grant whose data the part holds still reaches it (decided at serve time).

    A grant revoked, expired or put On Hold since, or a usage point of the part taken back from one
    of its grants after the part was built, and the part is no longer served.
    """
    job = part.job
    if job.target_kind == Submission.TargetKind.RETAIL_CUSTOMER:
        return job.customer_id is not None
    grant_ids = list(part.grants.values_list("pk", flat=True))
    if not grant_ids:
        return True
    active = Grant.objects.filter(active_grant_q(at=now), pk__in=grant_ids).count()
    if active != len(grant_ids):
        return False
    return not GrantUsagePoint.objects.filter(
        grant_id__in=grant_ids,
        revoked_at__gte=part.created_at,
        usage_point_id__gte=part.range.low_id,
        usage_point_id__lt=part.range.high_id,
    ).exists()


def bulk_part_usage_points_by_grant(*, part: BulkPart) -> dict[int, int]:
    """Return, per grant whose data the part holds, how many of its usage points fall in the part's range."""
    rows = (
        GrantUsagePoint.objects.filter(
            grant__in=part.grants.all(),
            usage_point_id__gte=part.range.low_id,
            usage_point_id__lt=part.range.high_id,
            revoked_at__isnull=True,
        )
        .values("grant_id")
        .annotate(n=Count("usage_point_id"))
        .order_by()
    )
    return {row["grant_id"]: row["n"] for row in rows}
