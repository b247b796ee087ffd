"""Property: export, import into an empty portal, export again gives the same resources, ids and readings.

Random customers' data (usage points, shared ReadingTypes and LocalTimeParameters, meter readings,
interval blocks with random readings, summaries, random titles and sub-second stamps) is imported,
exported as ``Batch/RetailCustomer``, wiped, imported again from the export for another customer,
and exported again. The two exports carry the same resources (kind, id, stamps, content, readings);
only our own public ids in the hrefs differ. Importing the export a second time changes nothing: every
entry is ``unchanged``.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch.feed_entries import customer_feed_chunks
from custodian.espi import writer
from custodian.espi.content import (
    IntervalBlockContent,
    LocalTimeParametersContent,
    ReadingTypeContent,
    UsagePointContent,
    UsageSummaryContent,
)
from custodian.imports import customer_feed_import
from grants.resource_uris import espi_resource_base
from tests import factories
from tests.espi.test_roundtrip import snapshot
from tests.roundtrip import download_my_data, resources, wipe

pytestmark = pytest.mark.django_db

_counter = itertools.count()

stamps = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))
titles = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc", "Co", "Cn"), exclude_characters="\ufffe\uffff"
    ),
    max_size=12,
).map(str.strip)
reading = st.tuples(
    st.integers(min_value=-(10**9), max_value=10**12),
    st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)),
    st.one_of(st.none(), st.sampled_from([0, 7, 8, 9, 19])),
    st.one_of(st.none(), st.integers(min_value=0, max_value=4)),
)
block = st.fixed_dictionaries(
    {"day": st.integers(min_value=0, max_value=2000), "readings": st.lists(reading, min_size=1, max_size=6)}
)
meter_reading = st.fixed_dictionaries(
    {"title": titles, "rt": st.integers(min_value=0, max_value=1), "blocks": st.lists(block, max_size=3)}
)
usage_point = st.fixed_dictionaries(
    {
        "title": titles,
        "kind": st.sampled_from([0, 1]),
        "ltp": st.booleans(),
        "meter_readings": st.lists(meter_reading, min_size=1, max_size=2),
        "summaries": st.lists(st.integers(min_value=1_000_000_000, max_value=2_000_000_000), max_size=2),
    }
)
reading_type = st.fixed_dictionaries(
    {"uom": st.sampled_from([72, 169, 119]), "power": st.integers(min_value=-3, max_value=3), "stamp": stamps}
)


def build_feed(data: dict, draw_stamp) -> bytes:
    """Return a Green Button feed of the data, with a fresh uuid per resource."""
    paths = writer.ResourcePaths(scope="RetailCustomer/1")
    entries: list[writer.AtomEntry] = []

    def add(links, content, title=""):
        stamp = draw_stamp()
        entries.append(
            writer.AtomEntry(
                uuid=uuid.uuid4(), title=title, published=stamp, updated=stamp, links=links, content=content
            )
        )

    add(
        paths.root_resource("LocalTimeParameters", "ltp"),
        writer.local_time_parameters_xml(
            LocalTimeParametersContent(
                dst_end_rule="B40E2000", dst_offset=3600, dst_start_rule="360E2000", tz_offset=-18000
            )
        ),
    )
    for k, rt in enumerate(data["reading_types"]):
        add(
            paths.root_resource("ReadingType", f"rt{k}"),
            writer.reading_type_xml(
                ReadingTypeContent(uom=rt["uom"], power_of_ten_multiplier=rt["power"], interval_length=3600)
            ),
        )
    for u, up in enumerate(data["usage_points"]):
        ref = f"up{u}"
        add(
            paths.usage_point(ref, local_time_parameters_id="ltp" if up["ltp"] else None),
            writer.usage_point_xml(UsagePointContent(service_kind=up["kind"], status=1)),
            up["title"],
        )
        for m, mr in enumerate(up["meter_readings"]):
            rt_ref = f"rt{mr['rt'] % len(data['reading_types'])}"
            add(paths.meter_reading(ref, f"mr{m}", reading_type_id=rt_ref), writer.meter_reading_xml(), mr["title"])
            for b, blk in enumerate(mr["blocks"]):
                start = 1_300_000_000 + 86400 * (blk["day"] + 3000 * b)
                readings = [
                    (start + 3600 * i, 3600, value, cost, quality, tou)
                    for i, (value, cost, quality, tou) in enumerate(blk["readings"])
                ]
                content = writer.interval_block_xml(
                    IntervalBlockContent(start=start, duration=3600 * len(readings), readings=readings)
                )
                add(paths.interval_block(ref, f"mr{m}", f"b{b}"), content)
        for s, stamp in enumerate(up["summaries"]):
            add(
                paths.usage_point_child(ref, "UsageSummary", f"s{s}"),
                writer.usage_summary_xml(
                    UsageSummaryContent(billing_period_start=stamp, billing_period_duration=86400)
                ),
            )
    return b"".join(
        writer.feed_chunks(
            feed_uuid=uuid.uuid4(),
            title="random",
            updated=datetime(2024, 1, 1, tzinfo=UTC),
            links=[paths.feed_self("Batch", "RetailCustomer", "1", "UsagePoint")],
            entries=entries,
        )
    )


def export(customer) -> bytes:
    return b"".join(customer_feed_chunks(customer=customer, base=espi_resource_base()))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    data=st.fixed_dictionaries(
        {
            "usage_points": st.lists(usage_point, min_size=1, max_size=2),
            "reading_types": st.lists(reading_type, min_size=1, max_size=2),
        }
    ),
    stamp_list=st.lists(stamps, min_size=1, max_size=5),
)
def test_export_import_export_keeps_resources_ids_and_readings(data, stamp_list):
    wipe()
    n = next(_counter)
    cycle = itertools.cycle(stamp_list)
    feed = build_feed(data, lambda: next(cycle))
    source = factories.make_customer(username=f"rt{n}a")
    plan, result = customer_feed_import(customer=source, source=feed)
    assert result is not None, [p.describe() for p in plan.rejected]
    first = export(source)
    before = snapshot(source)

    wipe()
    target = factories.make_customer(username=f"rt{n}b")
    plan, result = customer_feed_import(customer=target, source=first)
    assert result is not None, [p.describe() for p in plan.rejected]
    assert not result.updated
    assert snapshot(target) == before
    second = export(target)
    assert resources(second) == resources(first)

    # The same file twice for the same customer: nothing is created or changed the second time.
    plan, again = customer_feed_import(customer=target, source=second)
    assert again is not None and not again.created and not again.updated
    assert sum(again.unchanged.values()) == len(plan.entries)
    assert snapshot(target) == before


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    data=st.fixed_dictionaries(
        {
            "usage_points": st.lists(usage_point, min_size=1, max_size=2),
            "reading_types": st.lists(reading_type, min_size=1, max_size=2),
        }
    ),
    stamp_list=st.lists(stamps, min_size=1, max_size=5),
)
def test_download_my_data_import_download_keeps_resources_ids_and_readings(data, stamp_list):
    wipe()
    n = next(_counter)
    cycle = itertools.cycle(stamp_list)
    source = factories.make_customer(username=f"dmd{n}a")
    plan, result = customer_feed_import(customer=source, source=build_feed(data, lambda: next(cycle)))
    assert result is not None, [p.describe() for p in plan.rejected]
    first = download_my_data(source)
    before = snapshot(source)
    # Over all days, Download My Data holds what Batch/RetailCustomer does.
    assert resources(first) == resources(export(source))

    wipe()
    target = factories.make_customer(username=f"dmd{n}b")
    plan, result = customer_feed_import(customer=target, source=first)  # strict: it needs no leniency
    assert result is not None, [p.describe() for p in plan.rejected]
    assert not result.updated
    assert snapshot(target) == before
    assert resources(download_my_data(target)) == resources(first)
