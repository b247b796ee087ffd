"""Chart geometry and units for the dashboard (pure functions, no database)."""

from __future__ import annotations

from types import SimpleNamespace

from custodian.charts import unit_label, usage_chart


def test_units_follow_the_reading_type():
    assert unit_label(uom=72, power_of_ten_multiplier=0) == "Wh"
    assert unit_label(uom=72, power_of_ten_multiplier=3) == "kWh"
    assert unit_label(uom=169, power_of_ten_multiplier=None) == "therm"
    assert unit_label(uom=999, power_of_ten_multiplier=0) == "meter units"
    assert unit_label(uom=72, power_of_ten_multiplier=2) == "meter units"
    assert unit_label(uom=None, power_of_ten_multiplier=None) == "meter units"


def test_bars_scale_to_the_peak_and_the_totals_add_up():
    readings = [SimpleNamespace(start=1_767_225_600 + i * 900, value=v) for i, v in enumerate([10, 40, 20, None])]
    chart = usage_chart(readings=readings, width=400, height=104)
    assert (chart.count, chart.total, chart.max_value) == (4, 70, 40)
    heights = [bar[3] for bar in chart.bars]
    assert heights == [25.0, 100.0, 50.0, 0.0]
    assert chart.first_label == "2026-01-01 00:00" and chart.last_label == "2026-01-01 00:45"
    assert usage_chart(readings=[]) is None
