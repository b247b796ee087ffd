"""Chart geometry and units for the dashboard (pure functions, no database)."""

from __future__ import annotations

from decimal import Decimal

from custodian.charts import format_amount, nice_step, usage_chart
from custodian.units import customer_unit, quality_words


def test_units_are_the_ones_customers_read():
    """Totals read "3484 therm" and "9.92 MWh"-sized kWh figures, never "3484000 mtherm" or "9917817 Wh"."""
    assert customer_unit(uom=72, power_of_ten_multiplier=0).label == "kWh"
    assert customer_unit(uom=72, power_of_ten_multiplier=0).convert(9_917_817) == Decimal("9917.817")
    assert customer_unit(uom=72, power_of_ten_multiplier=3).convert(12) == Decimal("12")
    assert customer_unit(uom=169, power_of_ten_multiplier=-3).label == "therm"
    assert customer_unit(uom=169, power_of_ten_multiplier=-3).convert(3_484_000) == Decimal("3484")
    assert customer_unit(uom=999, power_of_ten_multiplier=0).label == "meter units"
    assert customer_unit(uom=None, power_of_ten_multiplier=None).convert(None) is None
    assert quality_words(None) == "not flagged" and quality_words(8) == "estimated from a similar day"


def test_steps_and_amounts_are_round():
    assert nice_step(Decimal("9.3")) == Decimal("5")
    assert nice_step(Decimal("40")) == Decimal("10")
    assert nice_step(Decimal("0")) == Decimal("1")
    assert format_amount(Decimal("9917.817")) == "9,918"
    assert format_amount(Decimal("3.14159")) == "3.14"
    assert format_amount(Decimal("0.01234")) == "0.0123"


def test_bars_scale_to_the_axis_and_the_totals_add_up():
    points = [(f"Day {n}", f"D{n}", Decimal(v)) for n, v in enumerate(["10", "40", "20", "0"])]
    chart = usage_chart(points=points, unit="kWh")
    assert chart.unit == "kWh" and chart.total == "70" and chart.peak == "40"
    assert [tick.text for tick in chart.y_ticks] == ["0", "10", "20", "30", "40"]
    heights = [bar.height for bar in chart.bars]
    assert heights[1] == max(heights) and heights[3] == 0.0
    assert abs(heights[0] * 4 - heights[1]) < 0.1
    assert [bar.label for bar in chart.bars] == ["Day 0", "Day 1", "Day 2", "Day 3"]
    assert usage_chart(points=[], unit="kWh") is None


def test_x_labels_are_thinned_to_stay_readable():
    points = [(f"Day {n}", f"{n}", Decimal(1)) for n in range(31)]
    chart = usage_chart(points=points, unit="kWh")
    assert 4 <= len(chart.x_labels) <= 8
    assert len(chart.bars) == 31
