"""The dashboard: daily totals in kWh or therms, axes, a period choice and a table, for local days."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custodian.models import IntervalBlock, MeterReading, ReadingType
from tests import factories

pytestmark = pytest.mark.django_db


def _hourly(point, *, uom: int, multiplier: int, first: datetime, hours: int, value: int) -> None:
    reading_type = ReadingType.objects.create(title="usage", uom=uom, power_of_ten_multiplier=multiplier)
    meter_reading = MeterReading.objects.create(usage_point=point, reading_type=reading_type)
    start = int(first.timestamp())
    block = IntervalBlock(meter_reading=meter_reading, start=start, duration=hours * 3600)
    block.set_readings((start + h * 3600, 3600, value, None, None, None) for h in range(hours))
    block.save()


def test_daily_totals_in_kwh_with_axes_and_a_table(customer_client, customer):
    home = factories.make_usage_point(customer=customer, title="Home")
    # 7 days of 1,000 Wh per hour, starting at local midnight (UTC in tests): 24 kWh a day.
    _hourly(home, uom=72, multiplier=0, first=datetime(2026, 6, 1, tzinfo=UTC), hours=7 * 24, value=1000)
    page = customer_client.get("/")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count("<rect") == 7
    assert "168 kWh in all, at most 24 kWh in a day" in html
    assert ">kWh</text>" in html  # the y axis says its unit
    assert "<td>June 1, 2026</td><td>24</td>" in html
    assert "Wh<" not in html.replace("kWh<", "")
    assert "<script" not in html


def test_therms_and_the_year_shows_months(customer_client, customer):
    gas = factories.make_usage_point(customer=customer, title="Gas")
    # 0.1 therm an hour stored as 100 millitherms: 2.4 therm a day.
    _hourly(gas, uom=169, multiplier=-3, first=datetime(2026, 4, 28, tzinfo=UTC), hours=10 * 24, value=100)
    page = customer_client.get("/?period=year")
    html = page.content.decode()
    assert html.count("<rect") == 12
    assert "24 therm in all" in html
    assert "mtherm" not in html
    assert "<td>April 2026</td><td>7.2</td>" in html and "<td>May 2026</td><td>16.8</td>" in html
    month = customer_client.get("/?period=month").content.decode()
    assert month.count("<rect") == 31
    assert customer_client.get("/?period=nonsense").context["period"] == "week"


def test_a_daylight_saving_day_sums_its_25_hours(customer_client, customer, settings):
    settings.TIME_ZONE = "America/New_York"
    home = factories.make_usage_point(customer=customer, title="Home")
    # From 31 Oct 2026 00:00 EDT (04:00 UTC) for 73 hours: 24 + 25 (1 Nov, clocks go back) + 24.
    _hourly(home, uom=72, multiplier=3, first=datetime(2026, 10, 31, 4, tzinfo=UTC), hours=73, value=1)
    html = customer_client.get("/").content.decode()
    assert "<td>Oct. 31, 2026</td><td>24</td>" in html
    assert "<td>Nov. 1, 2026</td><td>25</td>" in html
    assert "<td>Nov. 2, 2026</td><td>24</td>" in html
