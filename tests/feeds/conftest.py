"""A small world for the GET side: customers with meter data, grants, bulks, and tokens of each kind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from custodian.espi.namespaces import ATOM, ESPI
from custodian.espi.parser import parse_small_document
from custodian.espi.validate import validate_document
from custodian.models import (
    ElectricPowerQualitySummary,
    IntervalBlock,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    UsageSummary,
)
from grants import services as grant_services
from grants.models import ThirdParty
from tests import factories
from tests.worlds import FeedWorld

RESOURCE = "/espi/1_1/resource"
DAY = 86400
# Four readings a day keep the tests fast; the bench uses 96.
READINGS_PER_BLOCK = 4
NS = {"a": ATOM, "e": ESPI}


def midnight_today() -> datetime:
    return timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def shared_resources() -> tuple[ReadingType, LocalTimeParameters]:
    reading_type = ReadingType.objects.create(title="Wh, 6 hours", uom=72, power_of_ten_multiplier=0, kind=12)
    ltp = LocalTimeParameters.objects.create(
        title="US Pacific", dst_end_rule="B40E2000", dst_offset=3600, dst_start_rule="360E2000", tz_offset=-28800
    )
    return reading_type, ltp


def make_point_with_data(*, customer, title: str, days: int, reading_type=None, ltp=None):
    """Create a usage point with ``days`` daily blocks ending today, a usage summary and a power quality summary."""
    point = factories.make_usage_point(customer=customer, title=title)
    if ltp is not None:
        point.local_time_parameters = ltp
        point.save(update_fields=["local_time_parameters"])
    meter_reading = MeterReading.objects.create(usage_point=point, reading_type=reading_type, title=f"{title} energy")
    today = midnight_today()
    step = DAY // READINGS_PER_BLOCK
    for offset in range(days, 0, -1):
        day = today - timedelta(days=offset)
        start = int(day.timestamp())
        block = IntervalBlock(
            meter_reading=meter_reading,
            start=start,
            duration=DAY,
            published=day + timedelta(days=1),
            updated=day + timedelta(days=1),
        )
        block.set_readings((start + i * step, step, 100 + i, None, None, None) for i in range(READINGS_PER_BLOCK))
        block.save()
    last = int((today - timedelta(days=1)).timestamp())
    UsageSummary.objects.create(
        usage_point=point, billing_period_start=last, billing_period_duration=DAY, status_time_stamp=last + DAY
    )
    ElectricPowerQualitySummary.objects.create(
        usage_point=point, summary_interval_start=last, summary_interval_duration=DAY
    )
    return point


def access_token_for(grant) -> str:
    return factories.make_access_token(grant)


def client_token_for(third_party: ThirdParty, *, scope: str = "FB=3_35") -> str:
    return factories.make_client_token(third_party, scope=scope)


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def fetch(client, path: str, token: str | None = None, **query):
    """GET ``path`` and read the whole body at once, as a WSGI server would.

    A streamed response left half-read keeps its server-side cursors open until the garbage
    collector finds it, possibly in the middle of another query on the same connection; read to
    the end, the test client closes it (without closing the test's database connection).
    """
    response = client.get(path, query, **(bearer(token) if token else {}))
    if getattr(response, "streaming", False):
        response.body = b"".join(response.streaming_content)
    else:
        response.body = response.content
    return response


def body_of(response) -> bytes:
    """Return a body read by :func:`fetch`."""
    return response.body


def assert_valid(data: bytes) -> None:
    errors = validate_document(data, strict_links=True)
    assert errors == [], errors


@dataclass
class Feed:
    """A parsed Atom document, for asserting which resources it carries."""

    root: object

    @classmethod
    def of(cls, data: bytes) -> Feed:
        return cls(parse_small_document(data))

    def hrefs(self, rel: str = "self") -> list[str]:
        return self.root.xpath(f"//a:entry/a:link[@rel='{rel}']/@href", namespaces=NS)

    def kinds(self) -> list[str]:
        return [el.tag.split("}")[1] for el in self.root.xpath("//a:entry/a:content/*", namespaces=NS)]

    def ids_of(self, name: str) -> set[str]:
        """Return the public ids in self hrefs right after the path segment ``name``."""
        found = set()
        for href in self.hrefs():
            parts = href.split("/")
            for i, part in enumerate(parts[:-1]):
                if part == name and i == len(parts) - 2:
                    found.add(parts[i + 1])
        return found

    def reading_starts(self) -> list[int]:
        return [int(v) for v in self.root.xpath("//e:IntervalReading/e:timePeriod/e:start/text()", namespaces=NS)]

    def feed_links(self, rel: str) -> list[str]:
        return self.root.xpath(f"/a:feed/a:link[@rel='{rel}']/@href", namespaces=NS)


@pytest.fixture
def shared():
    return shared_resources()


@pytest.fixture
def feed_world(db, shared) -> FeedWorld:
    """The GET side's world (``tests.worlds.FeedWorld``)."""
    return build_feed_world(shared)


@pytest.fixture
def notified(feed_world) -> FeedWorld:
    """The feed world with a notification endpoint for its Third Party (asynchronous results announce themselves)."""
    feed_world.tp.notify_uri = "https://solar.example/notify"
    feed_world.tp.save(update_fields=["notify_uri"])
    return feed_world


def build_feed_world(shared) -> FeedWorld:
    reading_type, ltp = shared
    alice = factories.make_customer(username="alice")
    bob = factories.make_customer(username="bob")
    carol = factories.make_customer(username="carol")
    tp, _ = factories.make_third_party(name="Solar Co")
    other_tp, _ = factories.make_third_party(name="Other Co")
    bulk_1 = factories.make_bulk_user(third_party=tp, bulk_id="1")
    bulk_10 = factories.make_bulk_user(third_party=tp, bulk_id="10")
    other_bulk_1 = factories.make_bulk_user(third_party=other_tp, bulk_id="1")

    def point(customer, title, days=5):
        return make_point_with_data(customer=customer, title=title, days=days, reading_type=reading_type, ltp=ltp)

    points = {
        "alice_home": point(alice, "Home"),
        "alice_garage": point(alice, "Garage"),
        "alice_cabin": point(alice, "Cabin"),
        "bob_shop": point(bob, "Shop"),
        "bob_revoked": point(bob, "Old shop"),
        "carol_expired": point(carol, "Cottage"),
        "carol_ten": point(carol, "Barn"),
        "carol_other": point(carol, "Shed"),
    }
    grants = {
        # alice_garage is never granted; alice_cabin is granted and taken back.
        "alice": factories.make_grant(
            customer=alice,
            third_party=tp,
            usage_points=[points["alice_home"], points["alice_cabin"]],
            bulk_user=bulk_1,
        ),
        "bob": factories.make_grant(customer=bob, third_party=tp, usage_points=[points["bob_shop"]], bulk_user=bulk_1),
        "bob_revoked": factories.make_grant(
            customer=bob, third_party=tp, usage_points=[points["bob_revoked"]], bulk_user=bulk_1
        ),
        "carol_expired": factories.make_grant(
            customer=carol,
            third_party=tp,
            usage_points=[points["carol_expired"]],
            bulk_user=bulk_1,
            start=timezone.now() - timedelta(days=30),
            days=10,
        ),
        "carol_ten": factories.make_grant(
            customer=carol, third_party=tp, usage_points=[points["carol_ten"]], bulk_user=bulk_10
        ),
        "carol_other": factories.make_grant(
            customer=carol, third_party=other_tp, usage_points=[points["carol_other"]], bulk_user=other_bulk_1
        ),
    }
    tokens = {name: access_token_for(grant) for name, grant in grants.items() if name != "carol_expired"}
    grant_services.grant_revoke_usage_point(grant=grants["alice"], usage_point=points["alice_cabin"])
    grant_services.grant_revoke(grant=grants["bob_revoked"])
    custodian, _ = factories.make_third_party(name="Back office", role=ThirdParty.Role.CUSTODIAN)
    return FeedWorld(
        customers={"alice": alice, "bob": bob, "carol": carol},
        tp=tp,
        other_tp=other_tp,
        bulks={"1": bulk_1, "10": bulk_10, "other_1": other_bulk_1},
        points=points,
        grants=grants,
        tokens=tokens,
        tp_token=client_token_for(tp),
        other_tp_token=client_token_for(other_tp),
        custodian=custodian,
        custodian_token=client_token_for(custodian, scope="FB=45"),
        reading_type=reading_type,
        ltp=ltp,
    )
