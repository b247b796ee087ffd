"""A block imported again replaces its readings: it is one resource, stored as uploaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from bench.gen import write_feed
from custodian.espi.parser import parse_small_document
from custodian.imports import CustomerUsagePoints, import_apply, import_plan
from custodian.models import IntervalBlock
from tests.readings import block_readings, reading_count

ESPI = "http://naesb.org/espi"


def _import(path: Path, customer):
    plan = import_plan(source=path, resolver=CustomerUsagePoints(customer), spool=True)
    assert not plan.rejected, plan.rejected[0].describe()
    return import_apply(source=path, plan=plan, accept=plan.ok_indexes, customer=customer)


@pytest.mark.django_db(transaction=True)
def test_a_block_imported_again_with_fewer_readings_keeps_only_those(tmp_path, customer):
    first = tmp_path / "first.xml"
    write_feed(first, usage_points=1, days=2, tag="replace")
    _import(first, customer)
    assert reading_count() == 2 * 96

    # The same feed, the first block's second half of readings dropped and one value changed.
    root = parse_small_document(first.read_bytes())
    block = root.find(f".//{{{ESPI}}}IntervalBlock")
    readings = block.findall(f"{{{ESPI}}}IntervalReading")
    for reading in readings[48:]:
        block.remove(reading)
    readings[0].find(f"{{{ESPI}}}value").text = "4242"
    second = tmp_path / "second.xml"
    second.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    _import(second, customer)

    blocks = sorted(IntervalBlock.objects.all(), key=lambda b: b.start)
    assert [b.reading_count for b in blocks] == [48, 96]
    kept = block_readings(blocks[0])
    assert len(kept) == 48 and kept[0][2] == 4242
    assert reading_count() == 48 + 96
