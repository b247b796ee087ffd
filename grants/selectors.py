"""Reads about Third Parties, bulk users and grants."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from custodian.exceptions import NotFound
from custodian.models import RetailCustomer, UsagePoint
from grants.models import BulkUser, Grant, GrantToken, GrantUsagePoint, ThirdParty


def active_grant_q(*, at: datetime | None = None, prefix: str = "") -> Q:
    """Return the condition for a grant that reaches data at ``at``.

    Active status, inside its authorized period, and its Third Party in Production.
    ``prefix`` is the lookup path to the grant (``"grant__"`` from GrantUsagePoint).
    """
    moment = at or timezone.now()
    return Q(
        **{
            f"{prefix}status": Grant.Status.ACTIVE,
            f"{prefix}authorized_start__lte": moment,
            f"{prefix}authorized_end__gt": moment,
            f"{prefix}third_party__lifecycle": ThirdParty.Lifecycle.PRODUCTION,
        }
    )


def grant_active_list(*, at: datetime | None = None) -> QuerySet[Grant]:
    return Grant.objects.filter(active_grant_q(at=at))


def bulk_user_get(*, third_party: ThirdParty, bulk_id: str) -> BulkUser:
    """Return the Third Party's bulk user named exactly ``bulk_id``; anything else is NotFound."""
    try:
        return BulkUser.objects.get(third_party=third_party, bulk_id__exact=bulk_id)
    except BulkUser.DoesNotExist:
        raise NotFound("No such bulk.") from None


def bulk_active_grants(*, bulk_user: BulkUser, at: datetime | None = None) -> QuerySet[Grant]:
    """Return the active grants that are members of ``bulk_user``."""
    return grant_active_list(at=at).filter(bulk_user=bulk_user, third_party=bulk_user.third_party)


def bulk_usage_points_reached(
    *, third_party: ThirdParty, bulk_id: str, at: datetime | None = None
) -> QuerySet[UsagePoint]:
    """Return the usage points this bulk user reaches now: the union of its active member grants.

    The bulk is matched exactly (``BR=1`` never reaches bulk ``10``), usage points taken back by
    the customer are left out, and so are grants revoked, expired, denied, outside their period
    or of a Third Party not in Production.
    """
    links = GrantUsagePoint.objects.filter(
        active_grant_q(at=at, prefix="grant__"),
        grant__third_party=third_party,
        grant__bulk_user__third_party=third_party,
        grant__bulk_user__bulk_id__exact=bulk_id,
        revoked_at__isnull=True,
    )
    return UsagePoint.objects.filter(pk__in=links.values("usage_point_id")).distinct()


def grant_usage_points(*, grant: Grant) -> QuerySet[UsagePoint]:
    """Return the usage points a grant still names (not taken back)."""
    return UsagePoint.objects.filter(grant_usage_points__grant=grant, grant_usage_points__revoked_at__isnull=True)


def grant_list_for_customer(*, customer: RetailCustomer) -> QuerySet[Grant]:
    return (
        Grant.objects.filter(customer=customer)
        .select_related("third_party", "bulk_user")
        .prefetch_related("grant_usage_points__usage_point")
    )


def grant_get_for_customer(*, customer: RetailCustomer, public_id: str) -> Grant:
    """Return one of the customer's grants; another's or an unknown id raise the same NotFound."""
    try:
        return grant_list_for_customer(customer=customer).get(public_id=public_id)
    except Grant.DoesNotExist:
        raise NotFound("No such grant.") from None


def grant_for_access_token(*, access_token) -> Grant | None:
    """Return the grant an access token is bound to, or None for a client-credentials token."""
    binding = (
        GrantToken.objects.select_related("grant__third_party", "grant__bulk_user")
        .filter(access_token=access_token)
        .first()
    )
    return binding.grant if binding else None


def third_party_list_in_production() -> QuerySet[ThirdParty]:
    return ThirdParty.objects.filter(
        role=ThirdParty.Role.THIRD_PARTY, lifecycle=ThirdParty.Lifecycle.PRODUCTION
    ).prefetch_related("bulk_users")
