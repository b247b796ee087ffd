"""Plain ``make_<thing>(**overrides)`` helpers that go through the services, as production does."""

from __future__ import annotations

import itertools
import secrets
from datetime import timedelta

from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value

from custodian import services as custodian_services
from grants import services as grant_services
from grants.models import ThirdParty

_counter = itertools.count(1)

DEFAULT_SCOPE = "FB=1_3_4_5_13_14_15_17_35_37_39;IntervalDuration=900_3600;BlockDuration=daily;HistoryLength=94608000"


def make_customer(*, username: str | None = None, password: str = "correct-horse-battery", name: str | None = None):
    username = username or f"customer{next(_counter)}"
    return custodian_services.retail_customer_create(
        username=username, password=password, name=name or username.title()
    )


def make_usage_point(*, customer, title: str | None = None):
    return custodian_services.usage_point_create(customer=customer, title=title or f"Meter {next(_counter)}")


def make_third_party(
    *,
    name: str | None = None,
    lifecycle: int = ThirdParty.Lifecycle.PRODUCTION,
    role: str = ThirdParty.Role.THIRD_PARTY,
    scopes: tuple[str, ...] = (DEFAULT_SCOPE,),
    redirect_uris: str = "https://thirdparty.example/callback",
    notify_uri: str = "",
    client_secret: str | None = None,
):
    return grant_services.third_party_register(
        name=name or f"Third Party {next(_counter)}",
        role=role,
        redirect_uris=redirect_uris if role == ThirdParty.Role.THIRD_PARTY else "",
        registered_scopes=scopes,
        notify_uri=notify_uri,
        lifecycle=lifecycle,
        client_secret=client_secret,
        description="Helps you understand and reduce your energy use.",
    )


def allow_bursts(third_party, *, per_second: int = 1000):
    """Raise a Third Party's per-second limit, for a test that walks many URLs in one burst (real clients pace)."""
    return grant_services.third_party_update(third_party=third_party, information={"rate_limit_per_second": per_second})


def make_bulk_user(*, third_party, bulk_id: str, name: str | None = None):
    return grant_services.bulk_user_create(third_party=third_party, bulk_id=bulk_id, name=name or f"Bulk {bulk_id}")


def make_grant(
    *, customer, third_party, usage_points, bulk_user=None, scope: str | None = None, days: int = 365, start=None
):
    start = start or timezone.now() - timedelta(minutes=1)
    return grant_services.grant_create(
        customer=customer,
        third_party=third_party,
        usage_points=usage_points,
        scope=scope or (DEFAULT_SCOPE + (f";BR={bulk_user.bulk_id}" if bulk_user else "")),
        bulk_user=bulk_user,
        authorized_start=start,
        authorized_end=start + timedelta(days=days),
    )


def make_client_token(third_party, *, scope: str) -> str:
    """Mint a client-credentials token (no user) of a Third Party or back-office client; return its value."""
    raw = secrets.token_urlsafe(32)
    token = AccessToken(application=third_party, user=None, scope=scope, expires=timezone.now() + timedelta(hours=1))
    set_token_value(token, raw)
    token.save()
    return raw


def make_access_token(grant) -> str:
    """Mint an access token bound to ``grant`` (as the token endpoint does); return its value."""
    raw = secrets.token_urlsafe(32)
    grant_services.grant_token_issue(grant=grant, raw_token=raw)
    return raw


def make_many_grants(*, third_party, count: int, bulk_user=None, days: int = 365, start=None, tokens_every: int = 0):
    """Insert ``count`` active grants of ``third_party`` (a customer and usage point each) in a few statements.

    For scale tests only (thousands of rows): the rows the services would write, inserted together;
    every ``tokens_every``-th grant also gets an access token bound to it. Returns the grants, in id order.
    """
    from custodian.models import RetailCustomer, UsagePoint, User
    from grants.models import Grant, GrantToken, GrantUsagePoint

    start = start or timezone.now() - timedelta(minutes=1)
    tag = next(_counter)
    users = User.objects.bulk_create(
        (User(username=f"many{tag}-{i}", email=f"many{tag}-{i}@example.org") for i in range(count)), batch_size=2000
    )
    customers = RetailCustomer.objects.bulk_create(
        (RetailCustomer(user=user, name=user.username) for user in users), batch_size=2000
    )
    points = UsagePoint.objects.bulk_create((UsagePoint(customer=c, title=c.name) for c in customers), batch_size=2000)
    scope = DEFAULT_SCOPE + (f";BR={bulk_user.bulk_id}" if bulk_user else "")
    Grant.objects.bulk_create(
        (
            Grant(
                customer=customer,
                third_party=third_party,
                bulk_user=bulk_user,
                scope=scope,
                function_blocks=[1, 3, 4, 5, 13, 14, 15, 17, 35, 37, 39],
                interval_duration=900,
                block_duration="daily",
                history_length=94608000,
                authorized_start=start,
                authorized_end=start + timedelta(days=days),
            )
            for customer in customers
        ),
        batch_size=2000,
    )
    grants = list(Grant.objects.filter(customer__in=customers).select_related("customer").order_by("pk"))
    by_customer = {point.customer_id: point for point in points}
    GrantUsagePoint.objects.bulk_create(
        (GrantUsagePoint(grant=g, usage_point=by_customer[g.customer_id]) for g in grants), batch_size=2000
    )
    if tokens_every:
        chosen = grants[::tokens_every]
        rows = []
        for grant in chosen:
            token = AccessToken(
                user_id=grant.customer.user_id,
                application=third_party,
                scope=scope,
                expires=timezone.now() + timedelta(hours=1),
            )
            set_token_value(token, secrets.token_urlsafe(30))
            rows.append(token)
        AccessToken.objects.bulk_create(rows, batch_size=2000)  # sets their keys (PostgreSQL, SQLite 3.35+)
        GrantToken.objects.bulk_create(
            (GrantToken(access_token=t, grant=g) for t, g in zip(rows, chosen, strict=True)), batch_size=2000
        )
    return grants
