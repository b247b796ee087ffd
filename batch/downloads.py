"""Download My Data (Green Button DMD): a customer's own data for chosen usage points and local days.

The XML is the API's own writer (the same entries as ``Batch/RetailCustomer/{id}/UsagePoint``,
limited to the chosen usage points and days); the CSV has one row per interval reading with its
local start time, value in the customer's unit and quality. Both are streamed and audited as a read
by the customer, so the download shows in their access history.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.utils import timezone

from batch.atom_http import feed_uuid
from batch.feed_entries import interval_blocks, usage_point_tree_entries
from batch.feed_params import FeedParams
from batch.reach import ALL_KINDS, UsagePointReach, Window
from batch.records import RecordPaths, record_entries
from custodian.espi import writer
from custodian.local_dates import end_of_local_day, local_time
from custodian.models import AuditEvent, CustomerRecord, MeterReading, RetailCustomer, UsagePoint
from custodian.readings import readings_between, readings_unpack
from custodian.units import customer_unit, quality_words

CSV_COLUMNS = ("meter", "start (local time)", "end (local time)", "time zone", "value", "unit", "quality")


@dataclass(frozen=True)
class DownloadRequest:
    """What the customer chose: their own usage points, a first and last local day (inclusive), a format."""

    customer: RetailCustomer
    usage_points: list[UsagePoint]
    first_day: date
    last_day: date
    format: str  # "xml" or "csv"
    include_records: bool = False  # XML only: the customer's own records (customer.xsd) too

    @property
    def window(self) -> Window:
        """Return the chosen days as epoch seconds, ``[start of first day, end of last day)`` in local time."""
        start = _start_of_local_day(self.first_day)
        return Window(start_min=int(start.timestamp()), start_max=int(end_of_local_day(self.last_day).timestamp()))

    @property
    def filename(self) -> str:
        return f"green-button-{self.first_day:%Y%m%d}-{self.last_day:%Y%m%d}.{self.format}"


def _start_of_local_day(day: date) -> datetime:
    zone = timezone.get_default_timezone()
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def download_record(*, request: DownloadRequest, actor) -> AuditEvent:
    """Audit a customer's download (a read of their own data), for the access history."""
    return AuditEvent.objects.create(
        action=AuditEvent.Action.DATA_READ,
        actor_user=actor,
        customer=request.customer,
        object_type="RetailCustomer",
        object_id=request.customer.public_id,
        summary=f"Downloaded {len(request.usage_points)} usage point(s) as {request.format.upper()}",
        detail={
            "download": True,
            "format": request.format,
            "usage_points": [point.public_id for point in request.usage_points],
            "first_day": request.first_day.isoformat(),
            "last_day": request.last_day.isoformat(),
            "records": request.include_records and request.format == "xml",
        },
    )


def download_xml_chunks(*, request: DownloadRequest, base: str) -> Iterator[bytes]:
    """Stream the chosen data as one Green Button Atom feed, written by the API's writer."""
    window = request.window
    reaches = [
        UsagePointReach(
            usage_point_id=point.pk,
            scope=f"RetailCustomer/{request.customer.public_id}",
            windows=dict.fromkeys(ALL_KINDS, window),
        )
        for point in request.usage_points
    ]
    path = f"Batch/RetailCustomer/{request.customer.public_id}/UsagePoint"
    entries: Iterable[writer.AtomEntry] = usage_point_tree_entries(reaches=reaches, params=FeedParams(), base=base)
    if request.include_records:
        entries = itertools.chain(entries, _record_entries(request=request, base=base))
    return writer.feed_chunks(
        feed_uuid=feed_uuid(path),
        title=f"Green Button data, {request.first_day.isoformat()} to {request.last_day.isoformat()}",
        updated=timezone.now(),
        links=[writer.ResourcePaths(base=base).feed_self(*path.split("/"))],
        entries=entries,
    )


def _record_entries(*, request: DownloadRequest, base: str) -> Iterator[writer.AtomEntry]:
    """The customer's own records, their ServiceLocations naming the downloaded usage points by this file's hrefs."""
    scope = f"RetailCustomer/{request.customer.public_id}"
    hrefs = {
        point.pk: writer.ResourcePaths(base=base, scope=scope).usage_point_href(point.public_id)
        for point in request.usage_points
    }
    records = CustomerRecord.objects.filter(customer=request.customer).order_by("pk")
    paths = RecordPaths(base=base, retail_customer_id=request.customer.public_id)
    return record_entries(records=records, paths=paths, usage_point_hrefs=hrefs)


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def download_csv_rows(*, request: DownloadRequest) -> Iterator[list[str]]:
    """Yield the header, then one row per interval reading of the chosen usage points and days, oldest first."""
    window = request.window
    yield list(CSV_COLUMNS)
    for point in request.usage_points:
        meter = point.title or point.public_id
        for meter_reading in (
            MeterReading.objects.filter(usage_point=point).select_related("reading_type").order_by("pk")
        ):
            reading_type = meter_reading.reading_type
            unit = customer_unit(
                uom=reading_type.uom if reading_type else None,
                power_of_ten_multiplier=reading_type.power_of_ten_multiplier if reading_type else None,
            )
            blocks = (
                interval_blocks(meter_reading_id=meter_reading.pk, window=window, params=FeedParams())
                .order_by("start", "pk")
                .values_list("readings", flat=True)
            )
            for packed in blocks.iterator(chunk_size=200):
                readings = readings_between(
                    readings_unpack(packed), start_min=window.start_min, start_max=window.start_max
                )
                for start, duration, value, _cost, quality, _tou in readings:
                    if start is None:
                        continue
                    begins = local_time(datetime.fromtimestamp(start, tz=UTC))
                    ends = local_time(datetime.fromtimestamp(start + (duration or 0), tz=UTC))
                    shown = unit.convert(value)
                    yield [
                        meter,
                        begins.isoformat(),
                        ends.isoformat(),
                        begins.tzname() or "",
                        "" if shown is None else f"{shown:f}",
                        unit.label,
                        quality_words(quality),
                    ]


def download_csv_chunks(*, request: DownloadRequest) -> Iterable[str]:
    """Stream the CSV download, one line at a time."""
    out = csv.writer(_Echo())
    return (out.writerow(row) for row in download_csv_rows(request=request))
