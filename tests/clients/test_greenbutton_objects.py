"""A Green Button parser written by others (``greenbutton-objects``, PyPI) reads every feed the portal serves.

Over a live server, as a Third Party would fetch them: Batch/Subscription, Batch/Bulk,
Batch/RetailCustomer and the resource reads. What it finds must be what the portal holds: the
same usage points, meter readings, interval blocks, readings, and the same sums. Whole feeds go
through the library's ``parse_feed``; single entries through its resource classes, handed the
elements of the portal's hardened parser (the library reads them with ``find``/``findall``).
"""

from __future__ import annotations

import io

from greenbutton_objects import enums, resources
from greenbutton_objects.parse import parse_feed

from custodian.espi.parser import parse_small_document
from custodian.models import IntervalBlock, MeterReading, UsagePoint
from custodian.readings import readings_unpack
from tests.conformance.conftest import harness_get, portal  # noqa: F401 - the live demo portal

ATOM = "{http://www.w3.org/2005/Atom}"


def held(public_ids) -> dict[str, tuple[int, int, int, int]]:
    """Return what the portal holds per usage point: meter readings, blocks, readings, sum of values."""
    out = {}
    for point in UsagePoint.objects.filter(public_id__in=public_ids):
        blocks = list(IntervalBlock.objects.filter(meter_reading__usage_point=point))
        rows = [row for block in blocks for row in readings_unpack(block.readings)]
        out[point.public_id] = (
            MeterReading.objects.filter(usage_point=point).count(),
            len(blocks),
            len(rows),
            sum(row[2] for row in rows),
        )
    return out


def parsed(body: bytes) -> dict[str, tuple[int, int, int, int]]:
    """Return the same figures as greenbutton-objects reads them from a feed."""
    out = {}
    for point in parse_feed(io.BytesIO(body)):
        public_id = point.link_self.rsplit("/", 1)[1]
        readings = [reading for mr in point.meterReadings for reading in mr.intervalReadings]
        assert point.serviceCategory == enums.ServiceKind.electricity
        for mr in point.meterReadings:
            assert mr.readingType is not None and mr.readingType.uom == enums.UomType.wattHours
        out[public_id] = (
            len(point.meterReadings),
            sum(len(mr.intervalBlocks) for mr in point.meterReadings),
            len(readings),
            sum(reading.value for reading in readings),
        )
    return out


def fetch(url: str, token: str) -> bytes:
    response = harness_get(url, token)
    assert response.status_code == 200, response.text[:300]
    return response.content


def test_batch_subscription_reads_with_the_portals_counts_and_sums(portal):  # noqa: F811
    for grant in (g for g in portal.demo["grants"] if g["status"] == "active"):
        body = fetch(portal.resource(f"Batch/Subscription/{grant['subscription_id']}"), grant["access_token"])
        figures = parsed(body)
        assert set(figures) == set(grant["usage_points"])
        assert figures == held(grant["usage_points"])
        assert all(blocks and readings for _mrs, blocks, readings, _sum in figures.values())


def test_batch_bulk_reads_with_the_portals_counts_and_sums(portal):  # noqa: F811
    party = next(tp for tp in portal.demo["third_parties"] if tp["bulk_ids"])
    token = portal.client_token(party["client_id"], party["client_secret"])["access_token"]
    for bulk_id in party["bulk_ids"]:
        members = [
            g
            for g in portal.demo["grants"]
            if g["client_id"] == party["client_id"] and g["bulk_id"] == bulk_id and g["status"] == "active"
        ]
        figures = parsed(fetch(portal.resource(f"Batch/Bulk/{bulk_id}"), token))
        points = {up for g in members for up in g["usage_points"]}
        assert set(figures) == points
        assert figures == held(points)


def test_batch_retail_customer_reads_with_the_portals_counts_and_sums(portal):  # noqa: F811
    token = portal.client_token(portal.demo["custodian"]["client_id"], portal.demo["custodian"]["client_secret"])[
        "access_token"
    ]
    for customer in portal.demo["customers"]:
        url = portal.resource(f"Batch/RetailCustomer/{customer['retail_customer_id']}/UsagePoint")
        figures = parsed(fetch(url, token))
        assert set(figures) == set(customer["usage_points"])
        assert figures == held(customer["usage_points"])


def test_resource_reads_parse_entry_by_entry_with_the_portals_values(portal):  # noqa: F811
    grant = portal.grant()
    token = grant["access_token"]
    sub = grant["subscription_id"]
    for up_id in grant["usage_points"]:
        entry = parse_small_document(fetch(portal.resource(f"Subscription/{sub}/UsagePoint/{up_id}"), token))
        point = resources.UsagePoint(entry)
        assert point.link_self.endswith(f"/UsagePoint/{up_id}")
        assert point.serviceCategory == enums.ServiceKind.electricity
        collection = parse_small_document(fetch(f"{point.link_self}/MeterReading", token))
        meter_readings = [resources.MeterReading(e, usagePoints=[point]) for e in collection.findall(f"{ATOM}entry")]
        assert point.meterReadings == set(meter_readings)
        for mr in meter_readings:
            alone = resources.MeterReading(parse_small_document(fetch(mr.link_self, token)))
            assert (alone.link_self, alone.link_related) == (mr.link_self, mr.link_related)
            [reading_type_href] = [href for href in mr.link_related if "/ReadingType/" in href]
            reading_type = resources.ReadingType(
                parse_small_document(fetch(reading_type_href, token)),
                meterReadings=[mr],
            )
            assert mr.readingType is reading_type and reading_type.uom == enums.UomType.wattHours
            blocks_feed = parse_small_document(fetch(f"{mr.link_self}/IntervalBlock", token))
            blocks = [resources.IntervalBlock(e, meterReadings=[mr]) for e in blocks_feed.findall(f"{ATOM}entry")]
            assert mr.intervalBlocks == sorted(blocks)
            stored = IntervalBlock.objects.filter(meter_reading__public_id=mr.link_self.rsplit("/", 1)[1])
            assert sorted(
                (b.interval.start.timestamp(), sum(r.value for r in b.intervalReadings)) for b in blocks
            ) == sorted((block.start, sum(row[2] for row in readings_unpack(block.readings))) for block in stored)
            for block in blocks:
                one = resources.IntervalBlock(parse_small_document(fetch(block.link_self, token)))
                assert [r._value for r in one.intervalReadings] == [r._value for r in block.intervalReadings]
