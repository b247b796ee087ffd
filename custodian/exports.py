"""Stream stored ESPI resources out as an Atom feed (reads only), through the one ESPI writer."""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Iterable, Iterator
from itertools import groupby

from django.utils import timezone

from custodian.espi import writer
from custodian.espi.content import (
    LocalTimeParametersContent,
    PowerQualitySummaryContent,
    ReadingTypeContent,
    UsagePointContent,
    UsageSummaryContent,
)
from custodian.models import (
    ElectricPowerQualitySummary,
    IntervalBlock,
    IntervalReading,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    RetailCustomer,
    UsagePoint,
    UsageSummary,
)

_READING_FIELDS = ("block_id", "start", "duration", "value", "cost", "quality", "tou")


def _entry(obj, links, content) -> writer.AtomEntry:
    return writer.AtomEntry(
        uuid=obj.uuid, title=obj.title, published=obj.published, updated=obj.updated, links=links, content=content
    )


def _ltp_entry(ltp: LocalTimeParameters, paths: writer.ResourcePaths) -> writer.AtomEntry:
    content = LocalTimeParametersContent(
        dst_end_rule=ltp.dst_end_rule,
        dst_offset=ltp.dst_offset,
        dst_start_rule=ltp.dst_start_rule,
        tz_offset=ltp.tz_offset,
    )
    return _entry(
        ltp, paths.root_resource("LocalTimeParameters", ltp.public_id), writer.local_time_parameters_xml(content)
    )


def _reading_type_entry(rt: ReadingType, paths: writer.ResourcePaths) -> writer.AtomEntry:
    if rt.content:
        content = rt.content.encode()
    else:
        fields = {name: getattr(rt, name) for name in ReadingTypeContent.__slots__}
        content = writer.reading_type_xml(ReadingTypeContent(**fields))
    return _entry(rt, paths.root_resource("ReadingType", rt.public_id), content)


def _block_readings(meter_reading: MeterReading) -> Iterator[tuple[int, Iterator[tuple]]]:
    rows = (
        IntervalReading.objects.filter(block__meter_reading=meter_reading)
        .order_by("block_id", "start")
        .values_list(*_READING_FIELDS)
        .iterator(chunk_size=5000)
    )
    for block_id, group in groupby(rows, key=lambda row: row[0]):
        yield block_id, (row[1:] for row in group)


def usage_point_entries(
    *, usage_points: Iterable[UsagePoint], paths: writer.ResourcePaths
) -> Iterator[writer.AtomEntry]:
    """Yield the entries of usage points and everything under them, shared resources once each."""
    seen_shared: set[int] = set()
    for up in usage_points:
        ltp = up.local_time_parameters
        summaries = list(UsageSummary.objects.filter(usage_point=up).order_by("published", "pk"))
        qualities = list(ElectricPowerQualitySummary.objects.filter(usage_point=up).order_by("published", "pk"))
        links = paths.usage_point(
            up.public_id,
            local_time_parameters_id=ltp.public_id if ltp else None,
            summary_kinds=sorted({s.kind for s in summaries}),
            power_quality=bool(qualities),
        )
        content = (
            up.content.encode()
            if up.content
            else writer.usage_point_xml(UsagePointContent(service_kind=up.service_kind, status=up.status))
        )
        yield _entry(up, links, content)
        if ltp and ("ltp", ltp.pk) not in seen_shared:
            seen_shared.add(("ltp", ltp.pk))
            yield _ltp_entry(ltp, paths)
        for mr in MeterReading.objects.filter(usage_point=up).select_related("reading_type").order_by("pk"):
            rt = mr.reading_type
            yield _entry(
                mr,
                paths.meter_reading(up.public_id, mr.public_id, reading_type_id=rt.public_id if rt else None),
                writer.meter_reading_xml(),
            )
            if rt and ("rt", rt.pk) not in seen_shared:
                seen_shared.add(("rt", rt.pk))
                yield _reading_type_entry(rt, paths)
            blocks = {b.pk: b for b in IntervalBlock.objects.filter(meter_reading=mr)}
            written: set[int] = set()
            for block_id, readings in _block_readings(mr):
                block = blocks[block_id]
                written.add(block_id)
                chunks = writer.interval_block_chunks(start=block.start, duration=block.duration, readings=readings)
                yield _entry(block, paths.interval_block(up.public_id, mr.public_id, block.public_id), chunks)
            for block in sorted((b for pk, b in blocks.items() if pk not in written), key=lambda b: b.pk):
                chunks = writer.interval_block_chunks(start=block.start, duration=block.duration, readings=())
                yield _entry(block, paths.interval_block(up.public_id, mr.public_id, block.public_id), chunks)
        for summary in summaries:
            content = (
                summary.content.encode()
                if summary.content
                else writer.usage_summary_xml(
                    UsageSummaryContent(
                        billing_period_start=summary.billing_period_start,
                        billing_period_duration=summary.billing_period_duration,
                        status_time_stamp=summary.status_time_stamp,
                    ),
                    kind=summary.kind,
                )
            )
            yield _entry(summary, paths.usage_point_child(up.public_id, summary.kind, summary.public_id), content)
        for quality in qualities:
            content = (
                quality.content.encode()
                if quality.content
                else writer.power_quality_summary_xml(
                    PowerQualitySummaryContent(
                        summary_interval_start=quality.summary_interval_start,
                        summary_interval_duration=quality.summary_interval_duration,
                    )
                )
            )
            yield _entry(
                quality,
                paths.usage_point_child(up.public_id, "ElectricPowerQualitySummary", quality.public_id),
                content,
            )


def customer_feed_chunks(*, customer: RetailCustomer, base: str = "/espi/1_1/resource") -> Iterator[bytes]:
    """Yield all of a customer's data as one ``Batch/RetailCustomer/{id}`` Atom feed."""
    paths = writer.ResourcePaths(base=base, scope=f"RetailCustomer/{customer.public_id}")
    usage_points = UsagePoint.objects.filter(customer=customer).select_related("local_time_parameters").order_by("pk")
    yield from writer.feed_chunks(
        # A stable feed id per customer, so the same export has the same id.
        feed_uuid=uuid_module.uuid5(uuid_module.NAMESPACE_URL, f"RetailCustomer/{customer.public_id}"),
        title="Green Button Download",
        updated=timezone.now(),
        links=[paths.feed_self("Batch", "RetailCustomer", customer.public_id)],
        entries=usage_point_entries(usage_points=usage_points, paths=paths),
    )
