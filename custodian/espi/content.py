"""Typed views of ESPI resource content (plain dataclasses; the writer takes the same shapes)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Literal

from lxml import etree

from custodian.espi.namespaces import ESPI

# Kinds the import can store; anything else (Authorization, ApplicationInformation, customer PII) is unsupported.
SUPPORTED_KINDS = frozenset(
    {
        "UsagePoint",
        "MeterReading",
        "ReadingType",
        "IntervalBlock",
        "LocalTimeParameters",
        "UsageSummary",
        "ElectricPowerUsageSummary",
        "ElectricPowerQualitySummary",
    }
)

# (start, duration, value, cost, quality, tou): the compact form of one IntervalReading.
Reading = tuple[int, int, "int | None", "int | None", "int | None", "int | None"]


@dataclass(slots=True)
class UsagePointContent:
    service_kind: int | None = None
    status: int | None = None


@dataclass(slots=True)
class MeterReadingContent:
    pass


@dataclass(slots=True)
class ReadingTypeContent:
    accumulation_behaviour: int | None = None
    commodity: int | None = None
    currency: int | None = None
    data_qualifier: int | None = None
    flow_direction: int | None = None
    interval_length: int | None = None
    kind: int | None = None
    phase: int | None = None
    power_of_ten_multiplier: int | None = None
    time_attribute: int | None = None
    uom: int | None = None


@dataclass(slots=True)
class LocalTimeParametersContent:
    dst_end_rule: str
    dst_offset: int
    dst_start_rule: str
    tz_offset: int


@dataclass(slots=True)
class IntervalBlockContent:
    start: int | None
    duration: int | None
    readings: list[Reading] = field(default_factory=list)
    # How many elements the block holds below itself when every one was read by the fast path, else None.
    # The reader compares it with a C-level count to skip its depth probe on well-formed blocks.
    elements: int | None = None


@dataclass(slots=True)
class IntervalBlockSummary:
    """An IntervalBlock read without building its readings (``iter_entries(block_readings=False)``).

    Only the readings' starts are converted to integers (to count them and find duplicates); the other
    columns are left to the caller's XSD validation. The import plan uses it: it validates every entry.
    """

    start: int | None
    duration: int | None
    reading_count: int
    duplicate_starts: bool
    earliest_start: int | None = None  # the smallest reading start, None without readings


@dataclass(slots=True)
class IntervalBlockText:
    """An IntervalBlock whose readings are kept as the text of their fields (``iter_entries(block_readings="text")``).

    Only for a block the fast path reads whole and whose every field is an integer written as ``str(int)``
    writes it, with at most 18 digits (so within 64 bits): ``columns`` holds, for each field of
    :data:`Reading` in order, each reading's text, or None for a field no reading has. The same block
    read with ``block_readings=True`` gives exactly these integers; the import packs the text without
    converting it (``custodian.readings.readings_pack_text``).
    """

    start: int | None
    duration: int | None
    columns: tuple[list[str] | None, ...]
    reading_count: int
    elements: int  # as IntervalBlockContent.elements


@dataclass(slots=True)
class UsageSummaryContent:
    billing_period_start: int | None = None
    billing_period_duration: int | None = None
    status_time_stamp: int | None = None


@dataclass(slots=True)
class PowerQualitySummaryContent:
    summary_interval_start: int | None = None
    summary_interval_duration: int | None = None


_NS = {"e": ESPI}


def _xp(path: str) -> Any:
    # smart_strings=False: plain str results, no back-references that would keep elements alive.
    return etree.XPath(path, namespaces=_NS, smart_strings=False)


_R_COUNT = _xp("count(e:IntervalReading)")
# Each column holds the text of every reading's first such element, as the slow path reads them (the first
# ReadingQuality, the first timePeriod, its first start...): one value per reading that has one, so a
# column of n values for n readings is one value from each. ``[1]`` also lets libxml2 stop at the first
# match in each reading instead of merging every match: the columns are read faster.
_R_START = _xp("e:IntervalReading/e:timePeriod[1]/e:start[1]/text()")
_R_DURATION = _xp("e:IntervalReading/e:timePeriod[1]/e:duration[1]/text()")
_R_VALUE = _xp("e:IntervalReading/e:value[1]/text()")
_R_COST = _xp("e:IntervalReading/e:cost[1]/text()")
_R_QUALITY = _xp("e:IntervalReading/e:ReadingQuality[1]/e:quality[1]/text()")
_R_TOU = _xp("e:IntervalReading/e:tou[1]/text()")
_R_ALL = _xp("e:IntervalReading")


def _int(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} {text.strip()[:40]!r} is not an integer") from None


def _child_int(element: Any, name: str) -> int | None:
    return _int(element.findtext(f"{{{ESPI}}}{name}"), name)


def _interval(element: Any, name: str) -> tuple[int | None, int | None]:
    node = element.find(f"{{{ESPI}}}{name}")
    if node is None:
        return None, None
    return _child_int(node, "start"), _child_int(node, "duration")


def _column(values: list[str], n: int) -> Any:
    return map(int, values) if values else repeat(None, n)


# A column of canonical integers joined by commas: each as str(int) writes it ("0", no sign but "-", no
# leading zero, no space or "_"), at most 18 digits, so int() reads it and str() gives the same text back.
_CANONICAL_INTS = re.compile(r"(?:0|-?[1-9][0-9]{0,17})(?:,(?:0|-?[1-9][0-9]{0,17}))*")


def _canonical(column: list[str]) -> bool:
    if not column:
        return True
    if column.count(column[0]) == len(column):
        # One text throughout (a block's durations, its qualities): checking it once is checking them all.
        joined = column[0]
        return "," not in joined and _CANONICAL_INTS.fullmatch(joined) is not None
    joined = ",".join(column)
    # The count rules out a text holding a comma of its own.
    return joined.count(",") == len(column) - 1 and _CANONICAL_INTS.fullmatch(joined) is not None


def _columns(element: Any) -> tuple[int, tuple[list[str], ...]]:
    """Return how many readings the block has and the text of each field of theirs, a column per field of Reading."""
    n = int(_R_COUNT(element))
    return n, (
        _R_START(element),
        _R_DURATION(element),
        _R_VALUE(element),
        _R_COST(element),
        _R_QUALITY(element),
        _R_TOU(element),
    )


def _aligned(n: int, columns: tuple[list[str], ...]) -> bool:
    """Whether every reading has the same optional fields, so the columns line up (the fast path)."""
    starts, durations, *optional = columns
    return len(starts) == n and len(durations) == n and all(len(col) in (0, n) for col in optional)


def _elements(element: Any, n: int, columns: tuple[list[str], ...]) -> int:
    """Return how many elements a block read by the fast path holds below itself (IntervalBlockContent.elements)."""
    _starts, _durations, values, costs, qualities, tous = columns
    interval = element.find(f"{{{ESPI}}}interval")
    elements = (len(interval) + 1 if interval is not None else 0) + 4 * n
    return elements + len(values) + len(costs) + 2 * len(qualities) + len(tous)


def _interval_block_text(element: Any) -> IntervalBlockText | IntervalBlockContent:
    """Return the block as :class:`IntervalBlockText` if its readings allow it, else as ``_interval_block`` reads it."""
    n, columns = _columns(element)
    if not (_aligned(n, columns) and all(map(_canonical, columns))):
        return _interval_block(element, n, columns)
    start, duration = _interval(element, "interval")
    return IntervalBlockText(
        start=start,
        duration=duration,
        columns=tuple(col if col or i < 2 else None for i, col in enumerate(columns)),
        reading_count=n,
        elements=_elements(element, n, columns),
    )


def _interval_block(
    element: Any, n: int | None = None, columns: tuple[list[str], ...] | None = None
) -> IntervalBlockContent:
    # ``n`` and ``columns``: what _columns(element) returns, if the caller has it already.
    start, duration = _interval(element, "interval")
    if n is None or columns is None:
        n, columns = _columns(element)
    starts, durations, values, costs, qualities, tous = columns
    if _aligned(n, columns):
        # Fast path: every reading has the same optional fields, so the columns line up.
        try:
            readings = list(
                zip(
                    map(int, starts),
                    map(int, durations),
                    _column(values, n),
                    _column(costs, n),
                    _column(qualities, n),
                    _column(tous, n),
                    strict=True,
                )
            )
        except ValueError as exc:
            raise ValueError(f"IntervalReading: {exc}") from None
        return IntervalBlockContent(
            start=start, duration=duration, readings=readings, elements=_elements(element, n, columns)
        )
    else:
        readings = []
        for reading in _R_ALL(element):
            r_start, r_duration = _interval(reading, "timePeriod")
            if r_start is None or r_duration is None:
                raise ValueError("an IntervalReading has no timePeriod start and duration")
            quality = reading.find(f"{{{ESPI}}}ReadingQuality")
            readings.append(
                (
                    r_start,
                    r_duration,
                    _child_int(reading, "value"),
                    _child_int(reading, "cost"),
                    _child_int(quality, "quality") if quality is not None else None,
                    _child_int(reading, "tou"),
                )
            )
    return IntervalBlockContent(start=start, duration=duration, readings=readings)


def _reading_type(element: Any) -> ReadingTypeContent:
    return ReadingTypeContent(
        accumulation_behaviour=_child_int(element, "accumulationBehaviour"),
        commodity=_child_int(element, "commodity"),
        currency=_child_int(element, "currency"),
        data_qualifier=_child_int(element, "dataQualifier"),
        flow_direction=_child_int(element, "flowDirection"),
        interval_length=_child_int(element, "intervalLength"),
        kind=_child_int(element, "kind"),
        phase=_child_int(element, "phase"),
        power_of_ten_multiplier=_child_int(element, "powerOfTenMultiplier"),
        time_attribute=_child_int(element, "timeAttribute"),
        uom=_child_int(element, "uom"),
    )


def _usage_point(element: Any) -> UsagePointContent:
    category = element.find(f"{{{ESPI}}}ServiceCategory")
    return UsagePointContent(
        service_kind=_child_int(category, "kind") if category is not None else None,
        status=_child_int(element, "status"),
    )


def _local_time_parameters(element: Any) -> LocalTimeParametersContent:
    values = {}
    for name in ("dstEndRule", "dstOffset", "dstStartRule", "tzOffset"):
        text = element.findtext(f"{{{ESPI}}}{name}")
        if text is None:
            raise ValueError(f"{name} is missing")
        values[name] = text.strip()
    return LocalTimeParametersContent(
        dst_end_rule=values["dstEndRule"],
        dst_offset=_int(values["dstOffset"], "dstOffset") or 0,
        dst_start_rule=values["dstStartRule"],
        tz_offset=_int(values["tzOffset"], "tzOffset") or 0,
    )


def _usage_summary(element: Any) -> UsageSummaryContent:
    start, duration = _interval(element, "billingPeriod")
    return UsageSummaryContent(
        billing_period_start=start,
        billing_period_duration=duration,
        status_time_stamp=_child_int(element, "statusTimeStamp"),
    )


def _power_quality(element: Any) -> PowerQualitySummaryContent:
    start, duration = _interval(element, "summaryInterval")
    return PowerQualitySummaryContent(summary_interval_start=start, summary_interval_duration=duration)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "UsagePoint": _usage_point,
    "MeterReading": lambda element: MeterReadingContent(),
    "ReadingType": _reading_type,
    "IntervalBlock": _interval_block,
    "LocalTimeParameters": _local_time_parameters,
    "UsageSummary": _usage_summary,
    "ElectricPowerUsageSummary": _usage_summary,
    "ElectricPowerQualitySummary": _power_quality,
}


def interval_block_summary(element: Any) -> IntervalBlockSummary:
    """Return the block's interval, how many readings it has and whether two share a start; ValueError if bad."""
    start, duration = _interval(element, "interval")
    n = int(_R_COUNT(element))
    starts = _R_START(element)
    if len(starts) != n:
        # Not one start per reading: the full reader gives the precise error (or reads the odd shape).
        block = _interval_block(element)
        distinct = {reading[0] for reading in block.readings}
        return IntervalBlockSummary(
            start, duration, len(block.readings), len(distinct) != len(block.readings), min(distinct, default=None)
        )
    try:
        distinct = set(map(int, starts))
    except ValueError as exc:
        raise ValueError(f"IntervalReading: {exc}") from None
    return IntervalBlockSummary(start, duration, n, len(distinct) != n, min(distinct, default=None))


# How iter_entries / parse_content read an IntervalBlock's readings: True as tuples (IntervalBlockContent),
# False only counted (IntervalBlockSummary), "text" as IntervalBlockText where it can (else as True).
BlockReadings = bool | Literal["text"]


def parse_content(kind: str, element: Any, *, block_readings: BlockReadings = True) -> Any:
    """Return the typed content of an ESPI element, or None for kinds we do not store; ValueError if bad.

    ``block_readings=False`` reads an IntervalBlock as an :class:`IntervalBlockSummary`; ``"text"`` as an
    :class:`IntervalBlockText` when its readings allow, else as with True.
    """
    if kind == "IntervalBlock" and block_readings == "text":
        return _interval_block_text(element)
    if kind == "IntervalBlock" and not block_readings:
        return interval_block_summary(element)
    parser = _PARSERS.get(kind)
    return parser(element) if parser else None
