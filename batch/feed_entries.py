"""Map usage-point data rows to the ESPI writer's entries, filtered in the database by reach and query.

The writer (``custodian.espi.writer``) stays pure; this adapter runs the queries and hands it
:class:`~custodian.espi.writer.AtomEntry` objects whose content may be a lazy generator of bytes.
The volume (usage points, interval blocks with their packed readings) is read through ``.iterator(chunk_size=...)``
(a server-side cursor on PostgreSQL), so a feed of any size is written with flat memory; the few
rows per usage point (meter readings, summaries) are plain queries. Filters:

* the reach's window per kind of data (history length, authorized end; ``batch.reach``): interval
  blocks overlapping it, readings starting inside it (the block's interval is clipped to match),
  summaries whose period overlaps it;
* ``published-*`` / ``updated-*`` on the time-series resources' own ``published`` / ``updated``
  (min inclusive, max exclusive); structural entries (UsagePoint, MeterReading, ReadingType,
  LocalTimeParameters) are always written so the data can be placed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from batch.atom_http import feed_uuid, page_of, paged_feed_links
from batch.feed_params import FeedParams
from batch.reach import KIND_INTERVAL, KIND_QUALITY, KIND_SUMMARY, UsagePointReach, Window, reach_for_customer
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
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    RetailCustomer,
    UsagePoint,
    UsageSummary,
)
from custodian.readings import readings_between, readings_unpack

ROW_CHUNK = 500
_READING_TYPE_FIELDS = tuple(ReadingTypeContent.__slots__)


# ---- filters ------------------------------------------------------------------------------------


def time_q(params: FeedParams) -> Q:
    """Return the published-*/updated-* condition (min inclusive, max exclusive)."""
    q = Q()
    if params.published_min is not None:
        q &= Q(published__gte=params.published_min)
    if params.published_max is not None:
        q &= Q(published__lt=params.published_max)
    if params.updated_min is not None:
        q &= Q(updated__gte=params.updated_min)
    if params.updated_max is not None:
        q &= Q(updated__lt=params.updated_max)
    return q


def _span_q(*, start: str, end: str, stamp: str | None, window: Window) -> Q:
    """Return the condition for a row whose period ``[start, end)`` overlaps ``window``.

    A row without a period falls back to the instant ``stamp``; with neither it cannot be shown
    to be recent, so it is left out of any bounded window.
    """
    if window.start_min is None and window.start_max is None:
        return Q()
    with_period = Q(**{f"{start}__isnull": False})
    if window.start_min is not None:
        with_period &= Q(**{f"{end}__gt": window.start_min})
    if window.start_max is not None:
        with_period &= Q(**{f"{start}__lt": window.start_max})
    if stamp is None:
        return with_period
    with_stamp = Q(**{f"{start}__isnull": True, f"{stamp}__isnull": False})
    if window.start_min is not None:
        with_stamp &= Q(**{f"{stamp}__gte": window.start_min})
    if window.start_max is not None:
        with_stamp &= Q(**{f"{stamp}__lt": window.start_max})
    return with_period | with_stamp


def interval_blocks(*, meter_reading_id: int, window: Window, params: FeedParams) -> QuerySet[IntervalBlock]:
    """Return the meter reading's interval blocks inside the window and the query, in time order."""
    return (
        IntervalBlock.objects.annotate(block_end=F("start") + F("duration"))
        .filter(_span_q(start="start", end="block_end", stamp=None, window=window), time_q(params))
        .filter(meter_reading_id=meter_reading_id)
        .only("pk", "public_id", "uuid", "title", "published", "updated", "start", "duration", "readings")
        .order_by("start", "pk")
    )


def usage_summaries(*, usage_point_id: int, window: Window, params: FeedParams) -> QuerySet[UsageSummary]:
    """Return a usage point's usage summaries whose billing period overlaps the window."""
    return (
        UsageSummary.objects.annotate(period_end=F("billing_period_start") + F("billing_period_duration"))
        .filter(
            _span_q(start="billing_period_start", end="period_end", stamp="status_time_stamp", window=window),
            time_q(params),
        )
        .filter(usage_point_id=usage_point_id)
        .order_by("published", "pk")
    )


def power_quality_summaries(
    *, usage_point_id: int, window: Window, params: FeedParams
) -> QuerySet[ElectricPowerQualitySummary]:
    """Return a usage point's power quality summaries whose interval overlaps the window."""
    return (
        ElectricPowerQualitySummary.objects.annotate(
            period_end=F("summary_interval_start") + F("summary_interval_duration")
        )
        .filter(_span_q(start="summary_interval_start", end="period_end", stamp=None, window=window), time_q(params))
        .filter(usage_point_id=usage_point_id)
        .order_by("published", "pk")
    )


def exact_page(queryset: QuerySet, params: FeedParams) -> QuerySet:
    """Return the page of ``queryset`` that ``start-index``/``max-results`` ask for."""
    low = params.start_index - 1
    return queryset[low:] if params.max_results is None else queryset[low : low + params.max_results]


def more_after_page(queryset: QuerySet, params: FeedParams) -> bool:
    """Return whether rows follow the requested page (one indexed probe, not a count)."""
    if params.max_results is None:
        return False
    return queryset[params.start_index - 1 + params.max_results :].exists()


# ---- entries ------------------------------------------------------------------------------------


def _entry(obj, links, content) -> writer.AtomEntry:
    return writer.AtomEntry(
        uuid=obj.uuid, title=obj.title, published=obj.published, updated=obj.updated, links=links, content=content
    )


def usage_point_entry(*, usage_point: UsagePoint, reach: UsagePointReach, base: str) -> writer.AtomEntry:
    """Return the UsagePoint entry, linking only to the collections the reach shows."""
    paths = writer.ResourcePaths(base=base, scope=reach.scope)
    summary_kinds: list[str] = []
    if KIND_SUMMARY in reach.windows:
        summary_kinds = sorted(
            set(
                UsageSummary.objects.filter(usage_point_id=usage_point.pk)
                .order_by()
                .values_list("kind", flat=True)
                .distinct()
            )
        )
    power_quality = (
        KIND_QUALITY in reach.windows
        and ElectricPowerQualitySummary.objects.filter(usage_point_id=usage_point.pk).exists()
    )
    ltp = usage_point.local_time_parameters
    links = paths.usage_point(
        usage_point.public_id,
        local_time_parameters_id=ltp.public_id if ltp else None,
        summary_kinds=summary_kinds,
        power_quality=power_quality,
    )
    content = (
        usage_point.content.encode()
        if usage_point.content
        else writer.usage_point_xml(UsagePointContent(service_kind=usage_point.service_kind, status=usage_point.status))
    )
    return _entry(usage_point, links, content)


def local_time_parameters_entry(*, ltp: LocalTimeParameters, base: str) -> writer.AtomEntry:
    """Return a LocalTimeParameters entry (a shared, root-level resource)."""
    content = LocalTimeParametersContent(
        dst_end_rule=ltp.dst_end_rule,
        dst_offset=ltp.dst_offset,
        dst_start_rule=ltp.dst_start_rule,
        tz_offset=ltp.tz_offset,
    )
    paths = writer.ResourcePaths(base=base)
    return _entry(
        ltp, paths.root_resource("LocalTimeParameters", ltp.public_id), writer.local_time_parameters_xml(content)
    )


def reading_type_entry(*, reading_type: ReadingType, base: str) -> writer.AtomEntry:
    """Return a ReadingType entry: the element as uploaded, else built from its columns."""
    if reading_type.content:
        content = reading_type.content.encode()
    else:
        fields = {name: getattr(reading_type, name) for name in _READING_TYPE_FIELDS}
        content = writer.reading_type_xml(ReadingTypeContent(**fields))
    paths = writer.ResourcePaths(base=base)
    return _entry(reading_type, paths.root_resource("ReadingType", reading_type.public_id), content)


def meter_reading_entry(
    *, meter_reading: MeterReading, usage_point_public_id: str, reach: UsagePointReach, base: str
) -> writer.AtomEntry:
    """Return a MeterReading entry linking its ReadingType."""
    paths = writer.ResourcePaths(base=base, scope=reach.scope)
    rt = meter_reading.reading_type
    links = paths.meter_reading(
        usage_point_public_id, meter_reading.public_id, reading_type_id=rt.public_id if rt else None
    )
    return _entry(meter_reading, links, writer.meter_reading_xml())


def _clip(block: IntervalBlock, window: Window) -> tuple[int, int]:
    # The interval says what the entry covers: never older than the window lets through.
    start, end = block.start, block.start + block.duration
    if window.start_min is not None:
        start = max(start, window.start_min)
    if window.start_max is not None:
        end = min(end, window.start_max)
    return start, max(end - start, 0)


def interval_block_entries(
    *,
    meter_reading: MeterReading,
    usage_point_public_id: str,
    reach: UsagePointReach,
    params: FeedParams,
    base: str,
    only_public_id: str | None = None,
    paged: bool = False,
) -> Iterator[writer.AtomEntry]:
    """Yield the meter reading's interval blocks with their readings (packed in the block's row).

    ``paged``: only the page ``params`` asks for (the IntervalBlock collection; a Batch feed pages
    over usage points instead).
    """
    window = reach.windows.get(KIND_INTERVAL)
    if window is None:
        return
    paths = writer.ResourcePaths(base=base, scope=reach.scope)
    blocks = interval_blocks(meter_reading_id=meter_reading.pk, window=window, params=params)
    if only_public_id is not None:
        blocks = blocks.filter(public_id=only_public_id)
    if paged:
        blocks = exact_page(blocks, params)
    for block in blocks.iterator(chunk_size=ROW_CHUNK):
        start, duration = _clip(block, window)
        readings = readings_between(
            readings_unpack(block.readings), start_min=window.start_min, start_max=window.start_max
        )
        chunks = writer.interval_block_chunks(start=start, duration=duration, readings=readings)
        yield _entry(
            block, paths.interval_block(usage_point_public_id, meter_reading.public_id, block.public_id), chunks
        )


def usage_summary_entry(*, summary: UsageSummary, usage_point_public_id: str, reach: UsagePointReach, base: str):
    """Return a UsageSummary (or deprecated ElectricPowerUsageSummary) entry."""
    paths = writer.ResourcePaths(base=base, scope=reach.scope)
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
    return _entry(summary, paths.usage_point_child(usage_point_public_id, summary.kind, summary.public_id), content)


def power_quality_entry(
    *, quality: ElectricPowerQualitySummary, usage_point_public_id: str, reach: UsagePointReach, base: str
) -> writer.AtomEntry:
    """Return an ElectricPowerQualitySummary entry."""
    paths = writer.ResourcePaths(base=base, scope=reach.scope)
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
    links = paths.usage_point_child(usage_point_public_id, "ElectricPowerQualitySummary", quality.public_id)
    return _entry(quality, links, content)


def _usage_points_in_chunks(reaches: Iterable[UsagePointReach]) -> Iterator[tuple[UsagePoint, UsagePointReach]]:
    it = iter(reaches)
    while chunk := list(islice(it, ROW_CHUNK)):
        rows = UsagePoint.objects.select_related("local_time_parameters").in_bulk([r.usage_point_id for r in chunk])
        for reach in chunk:
            if reach.usage_point_id in rows:
                yield rows[reach.usage_point_id], reach


def usage_point_tree_entries(
    *, reaches: Iterable[UsagePointReach], params: FeedParams, base: str
) -> Iterator[writer.AtomEntry]:
    """Yield every entry under the reached usage points (a Batch feed), shared resources once each."""
    seen_shared: set[tuple[str, int]] = set()
    for usage_point, reach in _usage_points_in_chunks(reaches):
        yield usage_point_entry(usage_point=usage_point, reach=reach, base=base)
        ltp = usage_point.local_time_parameters
        if ltp is not None and ("ltp", ltp.pk) not in seen_shared:
            seen_shared.add(("ltp", ltp.pk))
            yield local_time_parameters_entry(ltp=ltp, base=base)
        meter_readings = (
            MeterReading.objects.filter(usage_point_id=usage_point.pk).select_related("reading_type").order_by("pk")
        )
        # A usage point has a handful of meter readings and summaries: plain queries, no server-side
        # cursor round trips. Blocks and readings, the volume, stream through cursors.
        for mr in list(meter_readings):
            yield meter_reading_entry(
                meter_reading=mr, usage_point_public_id=usage_point.public_id, reach=reach, base=base
            )
            rt = mr.reading_type
            if rt is not None and ("rt", rt.pk) not in seen_shared:
                seen_shared.add(("rt", rt.pk))
                yield reading_type_entry(reading_type=rt, base=base)
            yield from interval_block_entries(
                meter_reading=mr, usage_point_public_id=usage_point.public_id, reach=reach, params=params, base=base
            )
        if KIND_SUMMARY in reach.windows:
            summaries = usage_summaries(
                usage_point_id=usage_point.pk, window=reach.windows[KIND_SUMMARY], params=params
            )
            for summary in list(summaries):
                yield usage_summary_entry(
                    summary=summary, usage_point_public_id=usage_point.public_id, reach=reach, base=base
                )
        if KIND_QUALITY in reach.windows:
            qualities = power_quality_summaries(
                usage_point_id=usage_point.pk, window=reach.windows[KIND_QUALITY], params=params
            )
            for quality in list(qualities):
                yield power_quality_entry(
                    quality=quality, usage_point_public_id=usage_point.public_id, reach=reach, base=base
                )


def usage_point_entries(*, reaches: Iterable[UsagePointReach], base: str) -> Iterator[writer.AtomEntry]:
    """Yield only the UsagePoint entries of the reached usage points (the ``UsagePoint`` collection)."""
    for usage_point, reach in _usage_points_in_chunks(reaches):
        yield usage_point_entry(usage_point=usage_point, reach=reach, base=base)


def customer_feed_chunks(
    *, customer: RetailCustomer, base: str, params: FeedParams | None = None, query: str = ""
) -> Iterator[bytes]:
    """Stream all of a customer's data as one Atom feed: the ``Batch/RetailCustomer/{id}/UsagePoint`` export.

    ``start-index``/``max-results`` page over the customer's usage points, each with its whole tree.
    """
    params = params or FeedParams()
    paths = writer.ResourcePaths(base=base)
    path = f"Batch/RetailCustomer/{customer.public_id}/UsagePoint"
    reaches: Iterable[UsagePointReach] = reach_for_customer(customer=customer)
    has_more = False
    if params.paged:
        reaches, has_more = page_of(list(reaches), params)
    return writer.feed_chunks(
        feed_uuid=feed_uuid(path),
        title=f"Green Button data, RetailCustomer {customer.public_id}",
        updated=timezone.now(),
        links=paged_feed_links(
            self_link=paths.feed_self(*path.split("/")), query=query, params=params, has_more=has_more
        ),
        entries=usage_point_tree_entries(reaches=reaches, params=params, base=base),
    )
