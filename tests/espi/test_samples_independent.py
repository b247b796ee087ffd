"""Every importable sample stores what an independent parser, ``greenbutton-objects``, reads from the same file.

Counts and sums compared: usage points, meter readings, interval blocks, readings, the sum of the
readings' raw values, and summaries. ``greenbutton-objects`` links resources the way the files do
(a meter reading belongs to the usage point whose ``related`` href names it, a block to its meter
reading), with the standard library's XML reader: nothing of ours is shared. It has no summary
model, so summaries are counted as the entries holding one, with the same reader and namespaces.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405, TID251 - the independent reader on purpose, of vendored samples only
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db.models import Sum
from greenbutton_objects import parse as gbo_parse
from greenbutton_objects import utils as gbo_utils

from custodian.imports import customer_feed_import
from custodian.models import IntervalBlock, MeterReading, UsagePoint, UsageSummary
from tests import factories
from tests.readings import reading_rows

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@dataclass(frozen=True)
class Sample:
    lenient: bool = False
    why: str = ""  # why lenient is needed: a phrase the import's warnings say


# Every sample that imports; the others (and why they do not) are listed in test_roundtrip.
IMPORTABLE = {
    "test_usage_data.xml": Sample(),
    "TestGBDataOneYearDailyBinnedMonthly.xml": Sample(),
    "electric_containerized.xml": Sample(),
    "sample_greenbutton_data.xml": Sample(),
    # 2013 GBA sample: the UsagePoint's ServiceDeliveryPoint has its old capital S.
    "TestGBDataHourlyNineDaysBinnedDaily.xml": Sample(lenient=True, why="ServiceDeliveryPoint"),
    # Opower export: atom:updated is a bare date.
    "ngma_natural_gas_billing_billing_data_Service_1_1_2021-05-26_to_2024-04-25.xml": Sample(
        lenient=True, why="is a date, not a date-time"
    ),
    # GBA 4.0 sample: the ReadingType is nested in its MeterReading's content.
    "Usage-Subscription-Feed-Anonymized.xml": Sample(lenient=True, why="ReadingType nested in the content"),
    # SCE bulk feed: bare upper-case UUIDs as atom:id (and the 2013 ServiceDeliveryPoint).
    "BulkSCEIntervalBlock.xml": Sample(lenient=True, why="is a bare UUID"),
    # PG&E Share My Data: bare UUIDs as atom:id.
    "PGEUsagePoint.xml": Sample(lenient=True, why="is a bare UUID"),
    # SCE bulk feed: bare UUIDs, and the UsagePoint's ESPI 1.x pricingNode / loadAggregationPoint (dropped).
    "BulkSCEUsageSummaryAndIntervalBlock.xml": Sample(lenient=True, why="dropped the pre-4.0 UsagePoint element"),
    # Burlington Hydro (Ontario) Download My Data, anonymized upstream: ids of other forms in its hrefs.
    "burlington_hydro_usage_60min.xml": Sample(),
    # 2012 EnergyOS sample: one IntervalBlock entry holds its 45 daily blocks (strict mode refuses it).
    "1dayLP_45Days.xml": Sample(lenient=True, why="the content holds 45 IntervalBlocks"),
}

# Samples greenbutton-objects cannot read, and why; the standard library's reader counts them instead
# (totals: it links nothing). Every other importable sample is held to greenbutton-objects.
NOT_READ_BY_GREENBUTTON_OBJECTS = {
    # Its readings' ReadingQuality 19 is no QualityOfReading member it knows (ValueError).
    "BulkSCEUsageSummaryAndIntervalBlock.xml": ValueError,
}


# Samples greenbutton-objects reads but cannot link (meter readings under no usage point): the standard
# library's reader counts them too.
NOT_LINKED_BY_GREENBUTTON_OBJECTS = {
    # Its MeterReading's "up" is the UsagePoint itself, not the UsagePoint's related MeterReading feed.
    "1dayLP_45Days.xml",
}


def _summaries(root: ET.Element) -> int:
    return sum(
        1
        for entry in root.findall("atom:entry", gbo_utils.ns)
        for kind in ("UsageSummary", "ElectricPowerUsageSummary")
        if entry.find(f"atom:content/espi:{kind}", gbo_utils.ns) is not None
    )


def independent_counts(path: Path) -> dict:
    """Return what greenbutton-objects reads from the file (the standard library's reader if it cannot)."""
    if path.name in NOT_READ_BY_GREENBUTTON_OBJECTS or path.name in NOT_LINKED_BY_GREENBUTTON_OBJECTS:
        return stdlib_counts(path)
    usage_points = gbo_parse.parse_feed(str(path))
    meter_readings = [mr for up in usage_points for mr in up.meterReadings]
    blocks = [block for mr in meter_readings for block in mr.intervalBlocks]
    readings = [reading for block in blocks for reading in block.intervalReadings]
    root = ET.parse(path).getroot()  # noqa: S314 - a vendored sample
    return {
        "usage_points": len(usage_points),
        "meter_readings": len(meter_readings),
        "interval_blocks": len(blocks),
        "readings": len(readings),
        "sum_of_values": sum(reading._value for reading in readings),  # raw values, as stored
        "summaries": _summaries(root),
    }


def stdlib_counts(path: Path) -> dict:
    """Return the same figures counted with the standard library's reader: entries by content, readings, values."""
    root = ET.parse(path).getroot()  # noqa: S314 - a vendored sample
    ns = gbo_utils.ns

    def entries(kind: str) -> list[ET.Element]:
        return [e for e in root.findall("atom:entry", ns) if e.find(f"atom:content/espi:{kind}", ns) is not None]

    blocks = [b for e in entries("IntervalBlock") for b in e.findall("atom:content/espi:IntervalBlock", ns)]
    readings = [r for b in blocks for r in b.findall("espi:IntervalReading", ns)]
    return {
        "usage_points": len(entries("UsagePoint")),
        "meter_readings": len(entries("MeterReading")),
        "interval_blocks": len(blocks),
        "readings": len(readings),
        "sum_of_values": sum(int(r.findtext("espi:value", "0", ns)) for r in readings),
        "summaries": _summaries(root),
    }


@pytest.mark.parametrize("name", sorted(NOT_READ_BY_GREENBUTTON_OBJECTS))
def test_greenbutton_objects_cannot_read_these_so_the_standard_reader_counts_them(name):
    with pytest.raises(NOT_READ_BY_GREENBUTTON_OBJECTS[name]):
        gbo_parse.parse_feed(str(SAMPLES / name))
    assert stdlib_counts(SAMPLES / name)["readings"] > 0


@pytest.mark.parametrize("name", sorted(NOT_LINKED_BY_GREENBUTTON_OBJECTS))
def test_greenbutton_objects_links_no_meter_reading_of_these_so_the_standard_reader_counts_them(name):
    usage_points = gbo_parse.parse_feed(str(SAMPLES / name))
    assert usage_points and not any(up.meterReadings for up in usage_points)
    assert stdlib_counts(SAMPLES / name)["readings"] > 0


def stored_counts(customer) -> dict:
    """Return the same figures from what the import stored for the customer."""
    blocks = IntervalBlock.objects.filter(meter_reading__usage_point__customer=customer)
    rows = reading_rows(blocks)
    return {
        "usage_points": UsagePoint.objects.filter(customer=customer).count(),
        "meter_readings": MeterReading.objects.filter(usage_point__customer=customer).count(),
        "interval_blocks": blocks.count(),
        "readings": blocks.aggregate(n=Sum("reading_count"))["n"] or 0,
        "sum_of_values": sum(row[3] or 0 for row in rows),  # (block, start, duration, value, ...)
        "summaries": UsageSummary.objects.filter(usage_point__customer=customer).count(),
    }


def test_the_list_covers_what_greenbutton_objects_reads():
    # greenbutton-objects finds usage data in no other sample (the rest hold authorizations, customer
    # PII or application information, or fail to parse in it too).
    holding = set()
    for path in SAMPLES.glob("*.xml"):
        try:
            counts = independent_counts(path)
        except (ValueError, TypeError):
            continue  # it cannot read the file either (see test_roundtrip for why we refuse it)
        if counts["usage_points"]:
            holding.add(path.name)
    assert holding == set(IMPORTABLE)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(IMPORTABLE))
def test_sample_imports_what_an_independent_parser_reads(name):
    sample = IMPORTABLE[name]
    customer = factories.make_customer(username="reader")
    if sample.lenient:
        # Strict mode refuses the file, all of it; lenient mode imports it and says why on the entries.
        plan, result = customer_feed_import(customer=customer, source=SAMPLES / name, lenient=False)
        assert result is None and plan.rejected
        assert not UsagePoint.objects.filter(customer=customer).exists()
    plan, result = customer_feed_import(customer=customer, source=SAMPLES / name, lenient=sample.lenient)
    assert result is not None, [p.describe() for p in plan.rejected]
    warnings = [w for p in plan.entries for w in p.warnings]
    if sample.lenient:
        assert any(sample.why in w for w in warnings), warnings
    expected = independent_counts(SAMPLES / name)
    assert stored_counts(customer) == expected
    assert result.readings == expected["readings"]
