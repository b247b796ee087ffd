"""Batch upload fixtures: tokens of each kind, feeds built from the real sample, database snapshots."""

from __future__ import annotations

import re
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection, connections
from django.test import Client

from custodian.models import (
    ElectricPowerQualitySummary,
    IntervalBlock,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    UsagePoint,
    UsageSummary,
)
from grants.models import ThirdParty
from tests import factories
from tests.readings import reading_rows
from tests.worlds import UploadWorld

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "test_usage_data.xml"
ATOM = "application/atom+xml"
SAMPLE_UP_UUID = "48C2A019-5598-4E16-B0F9-49E4FF27F5FB"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def client_token(third_party: ThirdParty, *, scope: str = "FB=35") -> str:
    return factories.make_client_token(third_party, scope=scope)


def access_token(grant) -> str:
    return factories.make_access_token(grant)


def sample_feed(
    *, usage_point, salt: str, customer_segment: str = "9B6C7066", usage_point_ref: str | None = None
) -> bytes:
    """Return the real sample feed aimed at ``usage_point``, with fresh ids derived from ``salt``.

    The UsagePoint entry carries the usage point's own id; every other atom:id is a uuid5 of the
    sample's id and ``salt``, so two feeds with the same salt describe the same resources.
    """
    text = SAMPLE.read_text()
    text = text.replace("UsagePoint/5446AF3F", f"UsagePoint/{usage_point_ref or usage_point.public_id}")
    text = text.replace("RetailCustomer/9B6C7066", f"RetailCustomer/{customer_segment}")

    def fresh(match: re.Match[str]) -> str:
        original = match.group(1)
        if original.upper() == SAMPLE_UP_UUID:
            return f"urn:uuid:{usage_point.uuid}"
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, salt + original.upper())}"

    return re.sub(r"urn:uuid:([0-9A-Fa-f-]{36})", fresh, text).encode()


def sample_uuid(salt: str, original: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, salt + original.upper())


def post(path: str, body: bytes, token: str | None, *, content_type: str = ATOM, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().post(path, data=body, content_type=content_type, **headers, **extra)


def snapshot() -> dict:
    """Return every ESPI row's content (not primary keys), to compare before and after an upload."""
    return {
        "usage_points": sorted(
            UsagePoint.objects.values_list(
                "uuid",
                "customer_id",
                "service_kind",
                "status",
                "title",
                "content",
                "local_time_parameters__uuid",
                "updated",
            )
        ),
        "meter_readings": sorted(
            MeterReading.objects.values_list("uuid", "usage_point__uuid", "reading_type__uuid", "title", "updated")
        ),
        "reading_types": sorted(
            ReadingType.objects.values_list("uuid", "uom", "interval_length", "content", "updated")
        ),
        "ltps": sorted(LocalTimeParameters.objects.values_list("uuid", "tz_offset", "dst_offset", "updated")),
        "blocks": sorted(
            IntervalBlock.objects.values_list("uuid", "meter_reading__uuid", "start", "duration", "updated")
        ),
        "readings": reading_rows(),
        "summaries": sorted(UsageSummary.objects.values_list("uuid", "usage_point__uuid", "kind", "status_time_stamp")),
        "pq": sorted(ElectricPowerQualitySummary.objects.values_list("uuid", "usage_point__uuid")),
    }


@pytest.fixture
def upload_world(db) -> UploadWorld:
    """The upload side's world (``tests.worlds.UploadWorld``)."""
    return build_upload_world()


def build_upload_world() -> UploadWorld:
    alice = factories.make_customer(username="alice")
    bob = factories.make_customer(username="bob")
    carol = factories.make_customer(username="carol")
    a1 = factories.make_usage_point(customer=alice, title="a1")
    a2 = factories.make_usage_point(customer=alice, title="a2")
    b1 = factories.make_usage_point(customer=bob, title="b1")
    c1 = factories.make_usage_point(customer=carol, title="c1")
    tp, _ = factories.make_third_party(name="Solar Co")
    bulk1 = factories.make_bulk_user(third_party=tp, bulk_id="1")
    bulk10 = factories.make_bulk_user(third_party=tp, bulk_id="10")
    grant_a = factories.make_grant(customer=alice, third_party=tp, usage_points=[a1], bulk_user=bulk1)
    grant_b = factories.make_grant(customer=bob, third_party=tp, usage_points=[b1], bulk_user=bulk10)
    grant_c = factories.make_grant(
        customer=carol,
        third_party=tp,
        usage_points=[c1],
        scope="FB=1_3_35;IntervalDuration=900;BlockDuration=daily;HistoryLength=94608000",
    )
    custodian, _ = factories.make_third_party(name="Utility back office", role=ThirdParty.Role.CUSTODIAN, scopes=())
    return UploadWorld(
        alice=alice,
        bob=bob,
        carol=carol,
        a1=a1,
        a2=a2,
        b1=b1,
        c1=c1,
        tp=tp,
        bulk1=bulk1,
        bulk10=bulk10,
        grant_a=grant_a,
        grant_b=grant_b,
        grant_c=grant_c,
        custodian=custodian,
        tp_token=client_token(tp, scope="FB=35;BR=1"),
        tp_any_bulk_token=client_token(tp, scope="FB=35"),
        custodian_token=client_token(custodian, scope="FB=45"),
    )


def bulk_path(bulk_id: str) -> str:
    return f"/espi/1_1/resource/Batch/Bulk/{bulk_id}"


def subscription_path(grant) -> str:
    return f"/espi/1_1/resource/Batch/Subscription/{grant.subscription_id}"


def customer_path(customer) -> str:
    return f"/espi/1_1/resource/Batch/RetailCustomer/{customer.public_id}/UsagePoint"


@contextmanager
def lease_held_elsewhere(submission):
    """Hold ``submission``'s lease from another database session, as a live worker applying it does.

    On SQLite the lease is the submission's age, so a fresh row is already held.
    """
    if connection.vendor != "postgresql":
        yield
        return
    from batch.services import _lease_key

    held, release = threading.Event(), threading.Event()

    def hold():
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [_lease_key(submission)])
                held.set()
                release.wait(30)
        finally:
            other.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(30)
    try:
        yield
    finally:
        release.set()
        thread.join(30)
