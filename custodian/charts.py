"""Server-rendered usage charts: inline SVG geometry with axes, no script (the CSP allows none from elsewhere).

Pure code: the dashboard hands in one total per day (or month) already in the customer's unit
(``custodian.units``), and gets back bars, y-axis ticks and x-axis labels ready for the template.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 12, 36
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the day or month in full, for the bar's tooltip and the table
    value: str


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class UsageChart:
    """Geometry of one usage chart, ready for an inline ``<svg>``."""

    width: int
    height: int
    left: int
    bottom_y: int
    right_x: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_labels: list[Tick]
    unit: str
    total: str
    peak: str


def nice_step(peak: Decimal, *, ticks: int = 4) -> Decimal:
    """Return a round step (1, 2 or 5 times a power of ten) so ``ticks`` steps cover ``peak``."""
    if peak <= 0:
        return Decimal(1)
    raw = peak / ticks
    exponent = raw.adjusted()
    base = Decimal(1).scaleb(exponent)
    for factor in (1, 2, 5, 10):
        step = base * factor
        if step >= raw:
            return step
    return base * 10


def format_amount(value: Decimal) -> str:
    """Return an amount with as few decimals as it needs to be readable (3 significant figures below 100)."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value.quantize(Decimal(1)):,}"
    digits = max(0, 2 - value.adjusted())
    return f"{value.quantize(Decimal(1).scaleb(-digits)).normalize():f}"


def usage_chart(*, points: list[tuple[str, str, Decimal]], unit: str) -> UsageChart | None:
    """Return the chart of ``(full label, short label, total)`` per day or month, oldest first; None if empty."""
    if not points:
        return None
    values = [max(value, Decimal(0)) for _full, _short, value in points]
    peak = max(values)
    step = nice_step(peak)
    top_value = step * Decimal(max(1, int(-(-peak // step))))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    bottom_y = TOP + plot_height
    slot = plot_width / len(points)
    gap = min(slot * 0.2, 6)
    bars = []
    for index, ((full, _short, _value), value) in enumerate(zip(points, values, strict=True)):
        bar_height = float(value / top_value) * plot_height if top_value else 0.0
        bars.append(
            Bar(
                x=round(LEFT + index * slot + gap / 2, 2),
                y=round(bottom_y - bar_height, 2),
                width=round(max(slot - gap, 1), 2),
                height=round(bar_height, 2),
                label=full,
                value=format_amount(value),
            )
        )
    y_ticks = []
    tick = Decimal(0)
    while tick <= top_value:
        y_ticks.append(
            Tick(position=round(bottom_y - float(tick / top_value) * plot_height, 2), text=format_amount(tick))
        )
        tick += step
    every = max(1, -(-len(points) // MAX_X_LABELS))
    x_labels = [
        Tick(position=round(LEFT + (index + 0.5) * slot, 2), text=short)
        for index, (_full, short, _value) in enumerate(points)
        if index % every == 0
    ]
    return UsageChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        bottom_y=bottom_y,
        right_x=WIDTH - RIGHT,
        bars=bars,
        y_ticks=y_ticks,
        x_labels=x_labels,
        unit=unit,
        total=format_amount(sum(values, Decimal(0))),
        peak=format_amount(peak),
    )
