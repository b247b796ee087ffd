"""Reads about Third Parties, bulk users and grants: queries only, no writes and no policy.

Tokens (checksum, kinds, introspection) are ``grants.tokens``; scope policy is ``grants.scopes``; the
absolute ESPI URIs are ``grants.resource_uris``.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Case, Q, QuerySet, When
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from custodian.exceptions import NotFound
from custodian.models import RetailCustomer, UsagePoint
from grants.models import BulkUser, Grant, GrantToken, ThirdParty


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


def grant_usage_points(*, grant: Grant) -> QuerySet[UsagePoint]:
    """Return the usage points a grant still names (not taken back)."""
    return UsagePoint.objects.filter(grant_usage_points__grant=grant, grant_usage_points__revoked_at__isnull=True)


def grant_list_for_customer(*, customer: RetailCustomer) -> QuerySet[Grant]:
    """Return the customer's grants: active ones first, then the rest (history), newest first in each."""
    return (
        Grant.objects.filter(customer=customer)
        .select_related("third_party", "bulk_user", "replaced_by")
        .prefetch_related("grant_usage_points__usage_point")
        .order_by(Case(When(status=Grant.Status.ACTIVE, then=0), default=1), "-created_at", "-pk")
    )


def grant_get_for_customer(*, customer: RetailCustomer, public_id: str) -> Grant:
    """Return one of the customer's grants; another's or an unknown id raise the same NotFound."""
    try:
        return grant_list_for_customer(customer=customer).get(public_id=public_id)
    except Grant.DoesNotExist:
        raise NotFound("No such grant.") from None


def access_token_for_checksum(*, checksum: str):
    """Return the access token stored under ``checksum`` with its client and user rows, or None.

    The bearer check of every API request (``grants.oauth.EspiOAuth2Validator._load_access_token``):
    one query on the unique ``token_checksum`` index, with no ORDER BY (at most one row matches).
    """
    rows = get_access_token_model().objects.select_related("application", "user").filter(token_checksum=checksum)
    return next(iter(rows[:1]), None)


def grant_for_access_token(*, access_token) -> Grant | None:
    """Return the grant an access token is bound to, or None for a client-credentials token.

    Only a customer's token is ever bound (``grant_token_issue``, the code exchange): a token
    without a user is a Third Party's own client token and costs no query here. The grant's Third
    Party is the token's client, the row already loaded with the token.
    """
    if access_token.user_id is None:
        return None
    # At most one binding per token (one-to-one): no ORDER BY.
    binding = next(iter(GrantToken.objects.select_related("grant").filter(access_token=access_token)[:1]), None)
    if binding is None:
        return None
    grant = binding.grant
    if grant.third_party_id == access_token.application_id:
        grant.third_party = access_token.application
    return grant


def third_party_list_in_production() -> QuerySet[ThirdParty]:
    return ThirdParty.objects.filter(
        role=ThirdParty.Role.THIRD_PARTY, lifecycle=ThirdParty.Lifecycle.PRODUCTION
    ).prefetch_related("bulk_users")


def third_party_get_in_production(*, public_id: str) -> ThirdParty:
    """Return a Third Party in Production by its public id; anything else is NotFound."""
    try:
        return third_party_list_in_production().get(public_id=public_id)
    except ThirdParty.DoesNotExist:
        raise NotFound("No such Third Party.") from None


def grant_get_by_subscription(*, subscription_id: str) -> Grant | None:
    """Return the active grant whose Subscription id is exactly ``subscription_id``, or None."""
    return (
        grant_active_list()
        .select_related("third_party", "bulk_user", "customer")
        .filter(subscription_id__exact=subscription_id)
        .first()
    )


def third_party_get_by_client_id(*, client_id: str) -> ThirdParty | None:
    """Return the Third Party (never a back-office client) with this OAuth client id, or None."""
    return ThirdParty.objects.filter(client_id=client_id, role=ThirdParty.Role.THIRD_PARTY).first()
