"""What a caller may read: usage points, and per kind of data the time window it may see.

A grant reaches the usage points it still names (not taken back), and for each kind of data the
window ``[now - HistoryLength, authorized end)``; the kinds come from its function blocks
(IntervalBlock needs FB 4, UsageSummary FB 15 or 16, ElectricPowerQualitySummary FB 17). A bulk
reaches the union over its active member grants, computed per usage point and per kind, so one
grant's longer history never widens another grant's data. Everything here is a query; the
feed adapter (``batch.feed_entries``) turns the windows into database filters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from custodian.imports.filter_rules import FUNCTION_BLOCKS_NEEDED
from custodian.models import RetailCustomer, UsagePoint
from grants.models import BulkUser, Grant, GrantUsagePoint
from grants.selectors import active_grant_q

KIND_INTERVAL = "IntervalBlock"
KIND_SUMMARY = "UsageSummary"
KIND_QUALITY = "ElectricPowerQualitySummary"
ALL_KINDS = (KIND_INTERVAL, KIND_SUMMARY, KIND_QUALITY)

# Function blocks that unlock each kind of data: the same as for an upload (the batch filter's rule 3).
_KIND_FUNCTION_BLOCKS: dict[str, frozenset[int]] = {kind: FUNCTION_BLOCKS_NEEDED[kind] for kind in ALL_KINDS}


@dataclass(frozen=True, slots=True)
class Window:
    """Epoch-second bounds on when data happened: ``start_min <= t < start_max``; None is unbounded."""

    start_min: int | None = None
    start_max: int | None = None

    def union(self, other: Window) -> Window:
        """Return the smallest window covering both (windows of one usage point under several grants)."""
        low = None if self.start_min is None or other.start_min is None else min(self.start_min, other.start_min)
        high = None if self.start_max is None or other.start_max is None else max(self.start_max, other.start_max)
        return Window(start_min=low, start_max=high)


UNBOUNDED = Window()

#: A grant naming at most this many usage points reads their rows with its reach (``reach_for_grant``):
#: one chunk of a feed (``batch.feed_entries.ROW_CHUNK``), so a feed holds no more rows at once than before.
GRANT_ROWS_WITH_REACH = 500


@dataclass(frozen=True, slots=True)
class UsagePointReach:
    """One usage point a caller reaches, where its hrefs live, and the window per kind of data.

    A kind missing from ``windows`` is not granted at all.
    """

    usage_point_id: int
    scope: str
    windows: dict[str, Window] = field(default_factory=dict)
    #: The usage point's row (with its LocalTimeParameters) when it was read with the reach, else None.
    usage_point: UsagePoint | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BulkPage:
    """One page of a bulk: the usage points on it, the grants they come from, and whether more follow.

    ``usage_points_by_grant``: grant pk -> how many of the page's usage points it names (the access
    log's compact record of the page).
    """

    reaches: list[UsagePointReach]
    grants: list[Grant]
    has_more: bool
    usage_points_by_grant: dict[int, int] = field(default_factory=dict)

    @property
    def first_usage_point_id(self) -> int | None:
        return self.reaches[0].usage_point_id if self.reaches else None

    @property
    def last_usage_point_id(self) -> int | None:
        """The page's last usage point id: where the next page starts after (keyset)."""
        return self.reaches[-1].usage_point_id if self.reaches else None


def grant_kinds(*, function_blocks: Iterable[int]) -> frozenset[str]:
    """Return the kinds of data a set of function blocks unlocks."""
    blocks = set(function_blocks)
    return frozenset(kind for kind, needed in _KIND_FUNCTION_BLOCKS.items() if blocks & needed)


def grant_window(*, grant: Grant, at: datetime | None = None) -> Window:
    """Return the window of data a grant shows at ``at``: its history length, up to its authorized end."""
    moment = at or timezone.now()
    low = int((moment - timedelta(seconds=grant.history_length)).timestamp()) if grant.history_length else None
    return Window(start_min=low, start_max=int(grant.authorized_end.timestamp()))


def _grant_windows(*, grant: Grant, at: datetime | None) -> dict[str, Window]:
    window = grant_window(grant=grant, at=at)
    return dict.fromkeys(grant_kinds(function_blocks=grant.function_blocks), window)


def _merge(windows: dict[str, Window], more: dict[str, Window]) -> dict[str, Window]:
    merged = dict(windows)
    for kind, window in more.items():
        merged[kind] = merged[kind].union(window) if kind in merged else window
    return merged


def subscription_scope(*, grant: Grant) -> str:
    """Return the href prefix of a grant's resources (``Subscription/{subscriptionId}``)."""
    return f"Subscription/{grant.subscription_id}"


def grant_usage_point_ids(*, grant: Grant) -> QuerySet[GrantUsagePoint]:
    """Return the ids of the usage points a grant still names, ascending (a subquery)."""
    return (
        GrantUsagePoint.objects.filter(grant=grant, revoked_at__isnull=True)
        .order_by("usage_point_id")
        .values_list("usage_point_id", flat=True)
    )


def reach_for_grant(*, grant: Grant, at: datetime | None = None) -> list[UsagePointReach]:
    """Return what one grant reaches; nothing unless it is active at ``at`` (status, period, Third Party)."""
    if not grant.is_active_at(at or timezone.now()):
        return []
    windows = _grant_windows(grant=grant, at=at)
    scope = subscription_scope(grant=grant)
    # A grant of up to GRANT_ROWS_WITH_REACH usage points (nearly every one) comes with their rows,
    # in the same query; a larger one is listed by id and its rows read a chunk at a time.
    points = list(
        UsagePoint.objects.select_related("local_time_parameters")
        .filter(grant_usage_points__grant=grant, grant_usage_points__revoked_at__isnull=True)
        .order_by("pk")[: GRANT_ROWS_WITH_REACH + 1]
    )
    if len(points) <= GRANT_ROWS_WITH_REACH:
        return [
            UsagePointReach(usage_point_id=point.pk, scope=scope, windows=windows, usage_point=point)
            for point in points
        ]
    return [
        UsagePointReach(usage_point_id=up_id, scope=scope, windows=windows)
        for up_id in grant_usage_point_ids(grant=grant)
    ]


def reach_usage_point_for_grant(*, grant: Grant, usage_point_public_id: str) -> tuple[UsagePoint, UsagePointReach]:
    """Return one of the grant's usage points by its exact public id with its reach; raise UsagePoint.DoesNotExist.

    The id is compared as a whole string in the query; a usage point of another grant, one taken
    back, or an unknown id are the same DoesNotExist.
    """
    if not grant.is_active:
        raise UsagePoint.DoesNotExist
    point = (
        UsagePoint.objects.select_related("local_time_parameters")
        .filter(
            public_id=usage_point_public_id,
            grant_usage_points__grant=grant,
            grant_usage_points__revoked_at__isnull=True,
        )
        .get()
    )
    return point, UsagePointReach(
        usage_point_id=point.pk, scope=subscription_scope(grant=grant), windows=_grant_windows(grant=grant, at=None)
    )


def bulk_member_links(*, bulk_user: BulkUser, at: datetime | None = None) -> QuerySet[GrantUsagePoint]:
    """Return the live usage-point links of a bulk's active member grants (exact bulk, same Third Party)."""
    return GrantUsagePoint.objects.filter(
        active_grant_q(at=at, prefix="grant__"),
        # The link's own copy of its grant's bulk: the walk of a page reads only this bulk's links.
        bulk_user=bulk_user,
        grant__bulk_user=bulk_user,
        grant__third_party_id=bulk_user.third_party_id,
        revoked_at__isnull=True,
    )


def reach_for_bulk_page(
    *,
    bulk_user: BulkUser,
    start_index: int,
    max_results: int,
    at: datetime | None = None,
    after_usage_point_id: int | None = None,
) -> BulkPage:
    """Return one page of a bulk: ``max_results`` usage points in id order, and their grants.

    The page starts after ``after_usage_point_id`` when given (keyset: the ``next`` link's cursor,
    so reading a whole bulk page by page is linear and a row inserted between pages neither repeats
    nor hides another), else at the 1-based position ``start_index`` (OFFSET, for a client that
    asks for a position itself). Cut in the database (distinct usage point ids, ordered, limited);
    only that page's links and grants are loaded, so memory depends on the page size, not on the bulk.
    """
    moment = at or timezone.now()
    links = bulk_member_links(bulk_user=bulk_user, at=moment)
    ordered = links.order_by("usage_point_id").values_list("usage_point_id", flat=True).distinct()
    if after_usage_point_id is not None:
        ids = list(ordered.filter(usage_point_id__gt=after_usage_point_id)[: max_results + 1])
    else:
        ids = list(ordered[start_index - 1 : start_index - 1 + max_results + 1])
    has_more = len(ids) > max_results
    ids = ids[:max_results]
    page_links = links.filter(usage_point_id__in=ids).select_related("grant").order_by("usage_point_id", "grant_id")
    reaches: dict[int, UsagePointReach] = {}
    grants: dict[int, Grant] = {}
    per_grant: dict[int, int] = {}
    windows_of: dict[int, dict[str, Window]] = {}
    for link in page_links:
        grant = link.grant
        grants.setdefault(grant.pk, grant)
        per_grant[grant.pk] = per_grant.get(grant.pk, 0) + 1
        if grant.pk not in windows_of:
            windows_of[grant.pk] = _grant_windows(grant=grant, at=moment)
        windows = windows_of[grant.pk]
        current = reaches.get(link.usage_point_id)
        if current is None:
            # The first grant (lowest id) names the Subscription the usage point's hrefs live under.
            reaches[link.usage_point_id] = UsagePointReach(
                usage_point_id=link.usage_point_id, scope=subscription_scope(grant=grant), windows=windows
            )
        else:
            reaches[link.usage_point_id] = UsagePointReach(
                usage_point_id=current.usage_point_id, scope=current.scope, windows=_merge(current.windows, windows)
            )
    return BulkPage(
        reaches=[reaches[i] for i in ids if i in reaches],
        grants=list(grants.values()),
        has_more=has_more,
        usage_points_by_grant=per_grant,
    )


def reach_for_customer(*, customer: RetailCustomer) -> Iterator[UsagePointReach]:
    """Return everything of one customer, unbounded (the utility's back office reads it all)."""
    scope = f"RetailCustomer/{customer.public_id}"
    windows = dict.fromkeys(ALL_KINDS, UNBOUNDED)
    ids = UsagePoint.objects.filter(customer=customer).order_by("pk").values_list("pk", flat=True)
    for up_id in ids.iterator(chunk_size=500):
        yield UsagePointReach(usage_point_id=up_id, scope=scope, windows=windows)


def grant_reading_type_q(*, grant: Grant) -> Q:
    """Return the condition for a ReadingType used by a meter reading under the grant's usage points."""
    return Q(meter_readings__usage_point_id__in=grant_usage_point_ids(grant=grant))


def grant_local_time_parameters_q(*, grant: Grant) -> Q:
    """Return the condition for LocalTimeParameters used by one of the grant's usage points."""
    return Q(usage_points__pk__in=grant_usage_point_ids(grant=grant))


@dataclass(frozen=True, slots=True)
class RangeReach:
    """The usage points of one id range a caller reaches, and per usage point the grants whose data it shows."""

    reaches: list[UsagePointReach]
    grant_ids: dict[int, frozenset[int]]
    grants: list[Grant]


def reach_for_bulk_range(*, bulk_user: BulkUser, low_id: int, high_id: int, at: datetime | None = None) -> RangeReach:
    """Return the bulk's usage points with id in ``[low_id, high_id)``: what an asynchronous part holds.

    Grants are active now (a grant revoked since the request is left out); windows are measured
    from ``at``, the moment the request was made. Merged per usage point as a page is.
    """
    links = (
        bulk_member_links(bulk_user=bulk_user)
        .filter(usage_point_id__gte=low_id, usage_point_id__lt=high_id)
        .select_related("grant")
        .order_by("usage_point_id", "grant_id")
    )
    reaches: dict[int, UsagePointReach] = {}
    grant_ids: dict[int, set[int]] = {}
    grants: dict[int, Grant] = {}
    for link in links:
        grant = link.grant
        grants.setdefault(grant.pk, grant)
        grant_ids.setdefault(link.usage_point_id, set()).add(grant.pk)
        windows = _grant_windows(grant=grant, at=at)
        current = reaches.get(link.usage_point_id)
        if current is None:
            reaches[link.usage_point_id] = UsagePointReach(
                usage_point_id=link.usage_point_id, scope=subscription_scope(grant=grant), windows=windows
            )
        else:
            reaches[link.usage_point_id] = UsagePointReach(
                usage_point_id=current.usage_point_id, scope=current.scope, windows=_merge(current.windows, windows)
            )
    return RangeReach(
        reaches=list(reaches.values()),
        grant_ids={up: frozenset(ids) for up, ids in grant_ids.items()},
        grants=list(grants.values()),
    )


def reach_for_grant_range(*, grant: Grant, low_id: int, high_id: int, at: datetime | None = None) -> RangeReach:
    """Return one grant's usage points with id in ``[low_id, high_id)`` (nothing once it is no longer active)."""
    if not grant.is_active_at(timezone.now()):
        return RangeReach(reaches=[], grant_ids={}, grants=[])
    windows = _grant_windows(grant=grant, at=at)
    scope = subscription_scope(grant=grant)
    ids = grant_usage_point_ids(grant=grant).filter(usage_point_id__gte=low_id, usage_point_id__lt=high_id)
    reaches = [UsagePointReach(usage_point_id=up_id, scope=scope, windows=windows) for up_id in ids]
    return RangeReach(
        reaches=reaches, grant_ids={r.usage_point_id: frozenset({grant.pk}) for r in reaches}, grants=[grant]
    )


def reach_for_customer_range(*, customer: RetailCustomer, low_id: int, high_id: int) -> RangeReach:
    """Return a customer's usage points with id in ``[low_id, high_id)``, unbounded (the back office reads all)."""
    scope = f"RetailCustomer/{customer.public_id}"
    windows = dict.fromkeys(ALL_KINDS, UNBOUNDED)
    ids = UsagePoint.objects.filter(customer=customer, pk__gte=low_id, pk__lt=high_id).order_by("pk")
    reaches = [
        UsagePointReach(usage_point_id=up_id, scope=scope, windows=windows)
        for up_id in ids.values_list("pk", flat=True)
    ]
    return RangeReach(reaches=reaches, grant_ids={}, grants=[])
