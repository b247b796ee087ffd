"""Reads for the batch filter (what a caller reaches, submissions, usage points by public id) and request counts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum

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
    caller's active grants naming it; ``grants_by_usage_point`` names those grants (to lock them, and
    for notices and audit); ``public_ids`` maps their public ids to their keys.
    ``may_create_usage_points`` is only true for the utility's back-office upload.

    A reach through grants (:func:`reach_for_grants`) is looked up for the usage points a feed
    names, as it names them (:meth:`cover`): its cost follows the feed, never the size of a bulk,
    and the maps above hold the usage points covered so far. A customer's reach is complete.
    """

    usage_points: dict[int, frozenset[int]] = field(default_factory=dict)
    grants_by_usage_point: dict[int, list[int]] = field(default_factory=dict)
    public_ids: dict[str, int] = field(default_factory=dict)  # public id -> key of the usage points above
    customer: RetailCustomer | None = None
    may_create_usage_points: bool = False
    grants: QuerySet[Grant] | None = None  # None: complete (a customer's reach)
    third_party_id: int | None = None
    at: datetime | None = None
    _refs_covered: set[str] = field(default_factory=set)
    _pks_covered: set[int] = field(default_factory=set)

    def cover(self, *, refs: Iterable[str] = (), pks: Iterable[int] = ()) -> None:
        """Look up what the grants reach among these usage points (public ids, keys) not looked up yet.

        Two queries per 2,000 new usage points, whatever the number of grants, each driven by an
        index from the feed's side: the links of those usage points (``grant_usage_point`` by usage
        point), then which of the grants they name are the caller's and active (by key). So the
        plan cannot start from the grants, however stale the statistics.
        """
        grants = self.grants
        if grants is None:
            return
        new_refs = sorted(set(refs) - self._refs_covered)
        new_pks = sorted(set(pks) - self._pks_covered)
        self._refs_covered.update(new_refs)
        self._pks_covered.update(new_pks)
        for lookup, wanted in (("usage_point__public_id__in", new_refs), ("usage_point_id__in", new_pks)):
            for start in range(0, len(wanted), _CHUNK):
                links = list(
                    GrantUsagePoint.objects.filter(revoked_at__isnull=True, **{lookup: wanted[start : start + _CHUNK]})
                    .order_by()
                    .values_list("usage_point_id", "grant_id", "usage_point__public_id")
                )
                if links:
                    self._add(links, self._active(grants, {grant_id for _up, grant_id, _ref in links}))

    def reaches_ref(self, ref: str) -> int | None:
        """Return the key of the usage point with public id ``ref`` if the caller reaches it, else None."""
        self.cover(refs=[ref])
        return self.public_ids.get(ref)

    def reaches(self, usage_point_id: int) -> bool:
        """Return whether the caller reaches the usage point with this key."""
        self.cover(pks=[usage_point_id])
        return usage_point_id in self.usage_points

    def reaches_all(self, usage_point_ids: QuerySet[Any, int]) -> bool:
        """Return whether the caller reaches every usage point of this query (one query, however many)."""
        users = UsagePoint.objects.filter(pk__in=usage_point_ids)
        if self.grants is not None:
            # NOT EXISTS per user (an index lookup each), never the bulk's links as a list.
            reached = self._links(self.grants).filter(usage_point_id=OuterRef("pk"))
            return not users.filter(~Exists(reached)).exists()
        if self.customer is None:
            return not users.exclude(pk__in=list(self.usage_points)).exists()
        return not users.exclude(customer=self.customer).exists()

    def grant_ids(self, usage_point_ids: Iterable[int]) -> list[int]:
        """Return, in id order, the grants through which the caller reaches these usage points."""
        return sorted({g for up in usage_point_ids for g in self.grants_by_usage_point.get(up, ())})

    def _links(self, grants: QuerySet[Grant]) -> QuerySet[GrantUsagePoint]:
        return GrantUsagePoint.objects.filter(
            active_grant_q(at=self.at, prefix="grant__"),
            grant__in=grants.order_by().values("pk"),
            grant__third_party_id=self.third_party_id,
            revoked_at__isnull=True,
        )

    def _active(self, grants: QuerySet[Grant], grant_ids: set[int]) -> dict[int, list[int]]:
        """Return ``grant id -> function blocks`` of those of ``grant_ids`` among ``grants`` that are active now."""
        return dict(
            grants.filter(active_grant_q(at=self.at), third_party_id=self.third_party_id, pk__in=sorted(grant_ids))
            .order_by()
            .values_list("pk", "function_blocks")
        )

    def _add(self, links: list[tuple[int, int, str]], active: dict[int, list[int]]) -> None:
        for up, grant_id, public_id in links:
            if grant_id not in active:
                continue
            blocks = frozenset(int(fb) for fb in active[grant_id] or ())
            self.usage_points[up] = self.usage_points.get(up, frozenset()) | blocks
            self.grants_by_usage_point.setdefault(up, []).append(grant_id)
            self.public_ids[public_id] = up
            self._refs_covered.add(public_id)
            self._pks_covered.add(up)


# ``/UsagePoint/{id}`` as it appears in an href: the id up to the next path, query or attribute delimiter.
_USAGE_POINT_HREF = b"/UsagePoint/"
_USAGE_POINT_ID = re.compile(rb"[0-9A-Za-z_.~-]{1,200}")
_SCAN_BLOCK = 4 * 1024 * 1024
_SCAN_OVERLAP = 256


class UsagePointRefScan:
    """The ``UsagePoint/{id}`` ids in bytes fed in order, block by block (see ``usage_point_refs_hinted``).

    Each block is searched with the end of the one before it (``_SCAN_OVERLAP`` bytes), so an id cut
    by a block's end is seen whole; blocks may be of any size.
    """

    __slots__ = ("_found", "_tail")

    def __init__(self) -> None:
        self._found: set[bytes] = set()
        self._tail = b""

    def feed(self, block: bytes) -> None:
        if not block:
            return
        found = self._found
        step = len(_USAGE_POINT_HREF)
        match = _USAGE_POINT_ID.match
        # bytes.find skips ahead on the whole needle (a regex stops at every '/' of every closing tag);
        # an id cannot hold '/', so searching on from the needle's end finds what a regex's findall found.
        data = self._tail + block
        at = data.find(_USAGE_POINT_HREF)
        while at >= 0:
            if (ref := match(data, at + step)) is not None:
                found.add(ref.group())
            at = data.find(_USAGE_POINT_HREF, at + step)
        self._tail = data[-_SCAN_OVERLAP:]

    def refs(self) -> set[str]:
        return {ref.decode("ascii") for ref in self._found}


def usage_point_refs_hinted(path: Path) -> set[str]:
    """Return the ``UsagePoint/{id}`` ids that appear anywhere in the stored payload: a prefetch hint only.

    One pass over the bytes (about 0.07 s per 100 MB), in blocks that overlap so an id cut by a
    block's end is seen whole in the next. It decides nothing: the batch filter still asks the reach
    for each entry's parsed hrefs, so an id in a comment or cut short only costs one more usage point
    looked up in the same query; its use is that :meth:`Reach.cover` looks them up 2,000 at a time
    before the parse instead of one by one as the feed names them. A batch POST scans the body as it
    receives it instead (``batch.services.payload_store``), with the same ``UsagePointRefScan``.
    """
    scan = UsagePointRefScan()
    with open(path, "rb") as handle:
        while block := handle.read(_SCAN_BLOCK):
            scan.feed(block)
    return scan.refs()


def reach_for_grants(*, grants: QuerySet[Grant], third_party_id: int, at: datetime | None = None) -> Reach:
    """Return what ``grants`` of ``third_party_id`` reach at ``at``, looked up per usage point (``Reach.cover``).

    Only active grants count (status, authorized period, Third Party in Production: ``active_grant_q``)
    and only usage points not taken back. Nothing is read until a usage point is asked about, and then
    only the links of that usage point: a feed naming one usage point of a 100,000-member bulk reads
    one usage point's links. Under the grants' row locks (``grants.services.grant_lock``) the answer
    cannot change until commit.
    """
    return Reach(grants=grants, third_party_id=third_party_id, at=at)


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


def submission_get(*, public_id: str) -> Submission | None:
    """Return the submission with this URL id (whole-string match), if any; callers check ownership."""
    return Submission.objects.filter(public_id__exact=public_id).select_related("caller").first()


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
