"""The dashboard chart's readings: the newest ones across every meter reading of the usage point."""

from __future__ import annotations

import pytest

from custodian.models import IntervalBlock, MeterReading
from custodian.selectors import usage_point_recent_readings
from custodian.services import usage_point_create

DAY = 86400


def _block(meter_reading: MeterReading, start: int, step: int, value_base: int) -> list[tuple]:
    readings = [(start + i * step, step, value_base + i, None, None, None) for i in range(DAY // step)]
    block = IntervalBlock(meter_reading=meter_reading, start=start, duration=DAY)
    block.set_readings(readings)
    block.save()
    return readings


@pytest.mark.django_db
def test_the_newest_readings_across_meter_readings_oldest_first(customer):
    point = usage_point_create(customer=customer, title="Home")
    hourly = MeterReading.objects.create(usage_point=point)
    quarter = MeterReading.objects.create(usage_point=point)
    everything = []
    # Hourly blocks for ten days; 15-minute blocks for the first eight of them only, so the newest
    # readings come from blocks that start earlier than the newest 15-minute block.
    for day in range(10):
        everything += _block(hourly, 1_700_006_400 + day * DAY, 3600, 1000 * day)
    for day in range(8):
        everything += _block(quarter, 1_700_006_400 + day * DAY, 900, 100_000 + 1000 * day)
    everything.sort(key=lambda r: r[0])
    for limit in (1, 24, 60, 96 * 3, 10_000):
        got = usage_point_recent_readings(usage_point=point, limit=limit)
        newest = everything[-limit:]
        assert [(r.start, r.duration, r.value) for r in got] == [(r[0], r[1], r[2]) for r in newest]


@pytest.mark.django_db
def test_no_blocks_no_readings(customer):
    point = usage_point_create(customer=customer, title="Empty")
    assert usage_point_recent_readings(usage_point=point) == []
