"""Demo data for ``manage.py seed_demo``: realistic, deterministic, idempotent.

Everything a script needs to drive the API is derived from the database and ``SECRET_KEY``, so
running the seed twice creates nothing new and writes the same JSON. Client secrets and access
tokens are HMACs of ``SECRET_KEY``: stable for one deployment, never guessable without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from custodian import services as custodian_services
from custodian.models import (
    ElectricPowerQualitySummary,
    IntervalBlock,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    RetailCustomer,
    UsagePoint,
    UsageSummary,
)
from grants import services as grant_services
from grants.models import BulkUser, Grant, ThirdParty

DEMO_NAMESPACE = uuid.UUID("6f1f0b38-6a43-4f57-9b7e-0e55b6d1c6a1")
SOLAR_SCOPE = "FB=1_3_4_5_13_14_15_17_35_37_39;IntervalDuration=900_3600;BlockDuration=daily;HistoryLength=94608000"
EFFICIENCY_SCOPE = "FB=1_3_4_5_13_14_15_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=31536000"
READINGS_PER_DAY = 96
INTERVAL_SECONDS = 900

CUSTOMERS = [
    ("alice", "Alice Example", ["Home", "Garage"]),
    ("bob", "Bob's Bakery", ["Shop"]),
    ("carol", "Carol Cabin", ["Cabin"]),
]

Progress = Callable[[str], None]


def derive_secret(purpose: str) -> str:
    """Return a stable secret for ``purpose``: an HMAC of SECRET_KEY, never stored in clear."""
    digest = hmac.new(settings.SECRET_KEY.encode(), purpose.encode(), hashlib.sha256).hexdigest()
    return digest[:48]


def demo_uuid(*parts: object) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, "/".join(str(part) for part in parts))


@dataclass
class DemoOptions:
    days: int = 7
    staff_password: str = ""

    def __post_init__(self) -> None:
        # Derived, not a literal: a demo seeded by mistake on a real host has no known staff password.
        self.staff_password = self.staff_password or derive_secret("staff-password")[:20]


def _customer(username: str, name: str, progress: Progress) -> RetailCustomer:
    existing = RetailCustomer.objects.filter(user__username=username).first()
    if existing:
        return existing
    progress(f"  customer {username}")
    return custodian_services.retail_customer_create(
        username=username, password=customer_password(username), name=name, email=f"{username}@example.com"
    )


def customer_password(username: str) -> str:
    return f"demo-{username}-2026"


def _shared_resources() -> tuple[ReadingType, LocalTimeParameters]:
    reading_type, _ = ReadingType.objects.get_or_create(
        uuid=demo_uuid("ReadingType", "energy-15min-Wh"),
        defaults={
            "title": "Energy delivered, 15 minutes, Wh",
            "accumulation_behaviour": 4,
            "commodity": 1,
            "currency": 840,
            "data_qualifier": 12,
            "flow_direction": 1,
            "interval_length": INTERVAL_SECONDS,
            "kind": 12,
            "phase": 769,
            "power_of_ten_multiplier": 0,
            "time_attribute": 0,
            "uom": 72,
        },
    )
    local_time, _ = LocalTimeParameters.objects.get_or_create(
        uuid=demo_uuid("LocalTimeParameters", "US-Pacific"),
        defaults={
            "title": "US Pacific",
            "dst_end_rule": "B40E2000",
            "dst_offset": 3600,
            "dst_start_rule": "360E2000",
            "tz_offset": -28800,
        },
    )
    return reading_type, local_time


def _usage_point(
    customer: RetailCustomer, title: str, local_time: LocalTimeParameters, progress: Progress
) -> UsagePoint:
    existing = UsagePoint.objects.filter(customer=customer, title=title).first()
    if existing:
        return existing
    progress(f"  usage point {customer.user.username}/{title}")
    point = custodian_services.usage_point_create(customer=customer, title=title, local_time_parameters=local_time)
    UsagePoint.objects.filter(pk=point.pk).update(uuid=demo_uuid("UsagePoint", customer.user.username, title))
    point.refresh_from_db()
    return point


def _daily_profile(seed: int, base_watts: float) -> Callable[[int], int]:
    rng = random.Random(seed)  # noqa: S311 -- demo data, not security

    def watt_hours(slot: int) -> int:
        hour = slot / 4
        morning = math.exp(-((hour - 7.5) ** 2) / 2.0) * 0.9
        evening = math.exp(-((hour - 19.0) ** 2) / 4.0) * 1.6
        watts = base_watts * (0.45 + morning + evening) * rng.uniform(0.85, 1.15)
        return int(watts * INTERVAL_SECONDS / 3600)

    return watt_hours


@transaction.atomic
def _meter_data(point: UsagePoint, reading_type: ReadingType, days: int, progress: Progress) -> int:
    """Create (or complete) ``days`` daily blocks of 15-minute readings ending at today's UTC midnight."""
    meter_reading, _ = MeterReading.objects.get_or_create(
        uuid=demo_uuid("MeterReading", point.uuid),
        defaults={"usage_point": point, "reading_type": reading_type, "title": "Electricity, 15 minutes"},
    )
    today = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    created = 0
    base = 400 + (int(point.uuid.hex[:4], 16) % 900)
    for offset in range(days, 0, -1):
        day = today - timedelta(days=offset)
        start = int(day.timestamp())
        if IntervalBlock.objects.filter(uuid=demo_uuid("IntervalBlock", point.uuid, start)).exists():
            continue
        profile = _daily_profile(seed=start ^ int(point.uuid.hex[:8], 16), base_watts=base)
        block = IntervalBlock(
            uuid=demo_uuid("IntervalBlock", point.uuid, start),
            meter_reading=meter_reading,
            start=start,
            duration=86400,
            published=day + timedelta(days=1),
            updated=day + timedelta(days=1),
        )
        block.set_readings(
            (start + slot * INTERVAL_SECONDS, INTERVAL_SECONDS, profile(slot), None, None, None)
            for slot in range(READINGS_PER_DAY)
        )
        block.save(force_insert=True)
        created += READINGS_PER_DAY
    if created:
        progress(f"    {created} readings for {point.title}")
    _summaries(point, today, days)
    return created


def _summaries(point: UsagePoint, today, days: int) -> None:
    """Create a UsageSummary over the seeded days and an ElectricPowerQualitySummary of the last day."""
    start = int((today - timedelta(days=days)).timestamp())
    last = int((today - timedelta(days=1)).timestamp())
    UsageSummary.objects.get_or_create(
        uuid=demo_uuid("UsageSummary", point.uuid, start),
        defaults={
            "usage_point": point,
            "title": "Billing period",
            "billing_period_start": start,
            "billing_period_duration": days * 86400,
            "status_time_stamp": int(today.timestamp()),
            "published": today,
            "updated": today,
        },
    )
    ElectricPowerQualitySummary.objects.get_or_create(
        uuid=demo_uuid("ElectricPowerQualitySummary", point.uuid, last),
        defaults={
            "usage_point": point,
            "title": "Power quality, last day",
            "summary_interval_start": last,
            "summary_interval_duration": 86400,
            "published": today,
            "updated": today,
        },
    )


def _third_party(
    name: str, *, scope: str, redirect_uri: str, description: str, role: str, progress: Progress
) -> tuple[ThirdParty, str]:
    client_id = "demo-" + hashlib.sha256(f"{name}".encode()).hexdigest()[:24]
    secret = derive_secret(f"client-secret:{client_id}")
    existing = ThirdParty.objects.filter(client_id=client_id).first()
    if existing:
        return existing, secret
    progress(f"  {'custodian client' if role == ThirdParty.Role.CUSTODIAN else 'third party'} {name}")
    third_party, _ = grant_services.third_party_register(
        name=name,
        role=role,
        redirect_uris=redirect_uri,
        registered_scopes=[scope] if scope else [],
        description=description,
        client_id=client_id,
        client_secret=secret,
        lifecycle=ThirdParty.Lifecycle.PRODUCTION,
    )
    return third_party, secret


def _bulk_user(third_party: ThirdParty, bulk_id: str, name: str) -> BulkUser:
    existing = BulkUser.objects.filter(third_party=third_party, bulk_id=bulk_id).first()
    return existing or grant_services.bulk_user_create(third_party=third_party, bulk_id=bulk_id, name=name)


def _grant(
    key: str,
    *,
    customer: RetailCustomer,
    third_party: ThirdParty,
    usage_points: list[UsagePoint],
    scope: str,
    bulk_user: BulkUser | None,
    outcome: str,
    progress: Progress,
) -> Grant:
    """Create the demo grant named ``key`` once, in the state ``outcome`` (active, revoked, expired)."""
    existing = Grant.objects.filter(consent__demo_key=key).first()
    if existing:
        if existing.status == Grant.Status.ACTIVE:
            grant_services.grant_token_issue(grant=existing, raw_token=grant_token(existing))
        return existing
    progress(f"  grant {key} ({outcome})")
    now = timezone.now()
    if outcome == Grant.Status.EXPIRED:
        start, end = now - timedelta(days=60), now - timedelta(days=1)
    else:
        start, end = now - timedelta(days=1), now + timedelta(days=365)
    grant = grant_services.grant_create(
        customer=customer,
        third_party=third_party,
        usage_points=usage_points,
        scope=scope + (f";BR={bulk_user.bulk_id}" if bulk_user else ""),
        bulk_user=bulk_user,
        authorized_start=start,
        authorized_end=end,
        consent={"demo_key": key, "source": "seed_demo"},
    )
    if outcome in (Grant.Status.ACTIVE, Grant.Status.REVOKED):
        grant_services.grant_token_issue(grant=grant, raw_token=grant_token(grant))
    if outcome == Grant.Status.REVOKED:
        grant_services.grant_revoke(grant=grant, reason="Demo: revoked by the customer")
    elif outcome == Grant.Status.EXPIRED:
        grant_services.grant_expire_due(now=now)
    grant.refresh_from_db()
    return grant


def grant_token(grant: Grant) -> str:
    return derive_secret(f"access-token:{grant.public_id}")


def seed_demo(*, options: DemoOptions | None = None, progress: Progress = lambda message: None) -> dict[str, Any]:
    """Create the demo data if missing and return the description scripts use to drive the API."""
    options = options or DemoOptions()
    progress("Staff")
    user_model = get_user_model()
    staff = user_model.objects.filter(username="staff").first()
    if staff is None:
        staff = user_model.objects.create_superuser("staff", "staff@example.com", options.staff_password)

    progress("Shared reading type and local time parameters")
    reading_type, local_time = _shared_resources()

    progress("Customers and usage points")
    customers: dict[str, RetailCustomer] = {}
    points: dict[tuple[str, str], UsagePoint] = {}
    for username, name, titles in CUSTOMERS:
        customers[username] = _customer(username, name, progress)
        for title in titles:
            points[(username, title)] = _usage_point(customers[username], title, local_time, progress)

    progress(f"Meter data: {options.days} days of 15-minute readings per usage point")
    total = 0
    for index, point in enumerate(points.values(), start=1):
        total += _meter_data(point, reading_type, options.days, progress)
        progress(f"  [{index}/{len(points)}] {point.title}: done")
    progress(f"  {total} new readings")

    progress("Third parties, bulk users and the custodian client")
    solar, solar_secret = _third_party(
        "Sunny Solar Analytics",
        scope=SOLAR_SCOPE,
        redirect_uri="https://solar.example/oauth/callback",
        description="Sizes rooftop solar for you from your actual usage.",
        role=ThirdParty.Role.THIRD_PARTY,
        progress=progress,
    )
    efficiency, efficiency_secret = _third_party(
        "Efficiency Coach",
        scope=EFFICIENCY_SCOPE,
        redirect_uri="https://coach.example/callback",
        description="Finds where your home wastes energy and tells you how to save.",
        role=ThirdParty.Role.THIRD_PARTY,
        progress=progress,
    )
    custodian_client, custodian_secret = _third_party(
        "Utility back office",
        scope="",
        redirect_uri="",
        description="Meter data management uploads.",
        role=ThirdParty.Role.CUSTODIAN,
        progress=progress,
    )
    bulk_residential = _bulk_user(solar, "1", "Residential portfolio")
    bulk_commercial = _bulk_user(solar, "10", "Commercial portfolio")

    progress("Grants")
    # (label, customer, Third Party, scope, bulk user, usage point, outcome), created in this order.
    grant_rows = [
        ("alice-solar-bulk1", "alice", solar, SOLAR_SCOPE, bulk_residential, "Home", Grant.Status.ACTIVE),
        ("bob-solar-bulk10", "bob", solar, SOLAR_SCOPE, bulk_commercial, "Shop", Grant.Status.ACTIVE),
        ("alice-coach", "alice", efficiency, EFFICIENCY_SCOPE, None, "Home", Grant.Status.ACTIVE),
        ("bob-coach-revoked", "bob", efficiency, EFFICIENCY_SCOPE, None, "Shop", Grant.Status.REVOKED),
        ("alice-solar-expired", "alice", solar, SOLAR_SCOPE, bulk_residential, "Garage", Grant.Status.EXPIRED),
    ]
    grants = [
        _grant(
            label,
            customer=customers[username],
            third_party=third_party,
            usage_points=[points[(username, title)]],
            scope=scope,
            bulk_user=bulk_user,
            outcome=outcome,
            progress=progress,
        )
        for label, username, third_party, scope, bulk_user, title, outcome in grant_rows
    ]

    return {
        "base_url": settings.PORTAL_BASE_URL,
        "staff": {"username": "staff", "password": options.staff_password},
        "customers": [
            {
                "username": username,
                "password": customer_password(username),
                "retail_customer_id": customers[username].public_id,
                "usage_points": [points[(username, title)].public_id for title in titles],
                "usage_point_titles": titles,
            }
            for username, _name, titles in CUSTOMERS
        ],
        "third_parties": [
            {
                "name": tp.name,
                "client_id": tp.client_id,
                "client_secret": secret,
                "redirect_uri": tp.redirect_uris.split()[0],
                "bulk_ids": sorted(tp.bulk_users.values_list("bulk_id", flat=True), key=lambda b: (len(b), b)),
            }
            for tp, secret in ((solar, solar_secret), (efficiency, efficiency_secret))
        ],
        "custodian": {"client_id": custodian_client.client_id, "client_secret": custodian_secret},
        "grants": [
            {
                "id": grant.public_id,
                "subscription_id": grant.subscription_id,
                "customer": grant.customer.user.username,
                "client_id": grant.third_party.client_id,
                "bulk_id": grant.bulk_user.bulk_id if grant.bulk_user else None,
                "usage_points": sorted(grant.usage_points.values_list("public_id", flat=True)),
                "scope": grant.scope,
                "status": grant.status,
                "access_token": grant_token(grant),
            }
            for grant in grants
        ],
    }
