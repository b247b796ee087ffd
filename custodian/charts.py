"""Server-rendered usage charts: inline SVG geometry, no script (the CSP allows none from elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class UsageChart:
    """Geometry of one usage chart, ready for an inline ``<svg>``."""

    width: int
    height: int
    bars: list[tuple[float, float, float, float]]  # x, y, width, height per reading
    max_value: int
    first_label: str
    last_label: str
    total: int
    count: int


def usage_chart(*, readings, width: int = 720, height: int = 160) -> UsageChart | None:
    """Return bar geometry for interval readings (oldest first), or None when there are none."""
    values = [(reading.start, reading.value or 0) for reading in readings]
    if not values:
        return None
    peak = max(value for _start, value in values) or 1
    slot = width / len(values)
    bars = []
    for index, (_start, value) in enumerate(values):
        bar_height = max(value, 0) / peak * (height - 4)
        bars.append(
            (
                round(index * slot, 2),
                round(height - bar_height, 2),
                round(max(slot - 0.5, 0.5), 2),
                round(bar_height, 2),
            )
        )
    return UsageChart(
        width=width,
        height=height,
        bars=bars,
        max_value=peak,
        first_label=datetime.fromtimestamp(values[0][0], tz=UTC).strftime("%Y-%m-%d %H:%M"),
        last_label=datetime.fromtimestamp(values[-1][0], tz=UTC).strftime("%Y-%m-%d %H:%M"),
        total=sum(value for _start, value in values),
        count=len(values),
    )


# ESPI UnitSymbolKind codes customers meet (espi.xsd UnitSymbolKind), and the SI prefixes of
# ReadingType.powerOfTenMultiplier.
_UNITS = {72: "Wh", 38: "W", 169: "therm", 42: "m³", 128: "ft³", 29: "V", 5: "A", 73: "VArh", 71: "VAh"}
_PREFIXES = {-3: "m", 0: "", 3: "k", 6: "M", 9: "G"}


def unit_label(*, uom: int | None, power_of_ten_multiplier: int | None) -> str:
    """Return the unit readings are in (``kWh``, ``Wh``, ``therm``), or "meter units" when unknown."""
    unit = _UNITS.get(uom) if uom is not None else None
    prefix = _PREFIXES.get(power_of_ten_multiplier or 0)
    if unit is None or prefix is None:
        return "meter units"
    return prefix + unit
