"""Each model invariant is refused by the database itself, not only by forms."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from custodian.models import (
    AuditEvent,
    IntervalBlock,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    UsagePoint,
)
from custodian.readings import ReadingsInvalid
from grants.models import BulkUser, Grant, GrantUsagePoint, ThirdParty

pytestmark = pytest.mark.django_db


def refused(callable_):
    with pytest.raises(IntegrityError), transaction.atomic():
        callable_()


def test_public_ids_are_random_and_unique(customer):
    points = [UsagePoint.objects.create(customer=customer, title=str(i)) for i in range(20)]
    ids = {p.public_id for p in points}
    assert len(ids) == 20
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    refused(lambda: UsagePoint.objects.create(customer=customer, title="dup", public_id=points[0].public_id))


def test_resource_uuid_is_unique_across_owners(customer, other_customer):
    first = UsagePoint.objects.create(customer=customer, title="a")
    refused(lambda: UsagePoint.objects.create(customer=other_customer, title="b", uuid=first.uuid))


def test_usage_point_service_kind_and_status_are_checked(customer):
    refused(lambda: UsagePoint.objects.create(customer=customer, title="x", service_kind=42))
    refused(lambda: UsagePoint.objects.create(customer=customer, title="x", status=7))


def test_interval_reading_start_is_unique_within_its_block_and_not_negative(usage_point):
    meter_reading = MeterReading.objects.create(usage_point=usage_point)
    block = IntervalBlock.objects.create(meter_reading=meter_reading, start=0, duration=86400)
    block.set_readings([(900, 900, 5, None, None, None)])
    block.save()
    for readings in (
        [(900, 900, 5, None, None, None), (900, 900, 6, None, None, None)],
        [(-1, 900, 6, None, None, None), (900, 900, 5, None, None, None)],
        [(900, 900, 5, None, None, None), (-1, 900, 6, None, None, None)],
    ):
        with pytest.raises(ReadingsInvalid):
            block.set_readings(readings)
        # A refused set leaves the block's readings as they were, in memory and in the database.
        assert block.reading_list() == [[900, 900, 5, None, None, None]] and block.reading_count == 1
    block.refresh_from_db()
    assert block.reading_list() == [[900, 900, 5, None, None, None]] and block.reading_count == 1
    refused(lambda: IntervalBlock.objects.create(meter_reading=meter_reading, start=-5, duration=10))


def test_interval_block_reading_count_is_not_negative(usage_point):
    meter_reading = MeterReading.objects.create(usage_point=usage_point)
    block = IntervalBlock.objects.create(meter_reading=meter_reading, start=0, duration=86400)
    assert (block.readings, block.reading_count) == ("[]", 0)
    refused(lambda: IntervalBlock.objects.create(meter_reading=meter_reading, start=0, duration=10, reading_count=-1))
    refused(lambda: IntervalBlock.objects.filter(pk=block.pk).update(reading_count=-1))
    block.refresh_from_db()
    assert block.reading_count == 0


def test_reading_type_multiplier_and_local_time_offset_ranges():
    refused(lambda: ReadingType.objects.create(power_of_ten_multiplier=40))
    refused(
        lambda: LocalTimeParameters.objects.create(
            dst_end_rule="0", dst_offset=0, dst_start_rule="0", tz_offset=99 * 3600
        )
    )


def test_bulk_id_unique_per_third_party_and_follows_the_grammar(third_party):
    BulkUser.objects.create(third_party=third_party, bulk_id="1", name="one")
    refused(lambda: BulkUser.objects.create(third_party=third_party, bulk_id="1", name="again"))
    refused(lambda: BulkUser.objects.create(third_party=third_party, bulk_id="1;BR=2", name="injection"))
    refused(lambda: BulkUser.objects.create(third_party=third_party, bulk_id="", name="empty"))


def test_grant_period_status_and_revocation_time_are_checked(customer, third_party):
    now = timezone.now()
    base = {"customer": customer, "third_party": third_party, "scope": "FB=1", "authorized_start": now}
    refused(lambda: Grant.objects.create(**base, authorized_end=now))
    refused(lambda: Grant.objects.create(**base, authorized_end=now + timedelta(days=1), status="paused"))
    refused(lambda: Grant.objects.create(**base, authorized_end=now + timedelta(days=1), status="revoked"))


def test_grant_names_each_usage_point_once(grant, usage_point):
    refused(lambda: GrantUsagePoint.objects.create(grant=grant, usage_point=usage_point))


def test_third_party_lifecycle_and_role_are_checked(third_party):
    refused(lambda: ThirdParty.objects.filter(pk=third_party.pk).update(lifecycle=9))
    refused(lambda: ThirdParty.objects.filter(pk=third_party.pk).update(role="admin"))


def test_audit_events_are_append_only(grant):
    event = AuditEvent.objects.filter(object_id=grant.public_id).first()
    assert event is not None
    event.summary = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
