"""Map usage-point data rows to the ESPI writer's entries, filtered in the database by reach and query.

The writer (``custodian.espi.writer``) stays pure; this adapter runs the queries and hands it
:class:`~custodian.espi.writer.AtomEntry` objects whose content may be a lazy generator of bytes.
The volume (usage points, interval blocks with their packed readings) is read through ``.iterator(chunk_size=...)``
(a server-side cursor on PostgreSQL), so a feed of any size is written with flat memory. A Batch
feed reads its usage points a chunk (``ROW_CHUNK``, at least a Bulk page) at a time, each kind of
row in one query for the whole chunk (:class:`_ChunkRows`, then one stream of interval blocks), so
a page costs the same number of queries for 10 usage points as for 500. Filters:

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


def usage_point_entry(
    *,
    usage_point: UsagePoint,
    reach: UsagePointReach,
    base: str,
    summary_kinds: Iterable[str] | None = None,
    power_quality: bool | None = None,
) -> writer.AtomEntry:
    """Return the UsagePoint entry, linking only to the collections the reach shows.

    ``summary_kinds`` / ``power_quality``: what the usage point has, when the caller read it for many
    usage points at once (:class:`_ChunkRows`); else it is asked here.
    """
    paths = writer.ResourcePaths(base=base, scope=reach.scope)
    kinds: list[str] = []
    if KIND_SUMMARY in reach.windows:
        if summary_kinds is None:
            summary_kinds = (
                UsageSummary.objects.filter(usage_point_id=usage_point.pk)
                .order_by()
                .values_list("kind", flat=True)
                .distinct()
            )
        kinds = sorted(set(summary_kinds))
    if KIND_QUALITY not in reach.windows:
        power_quality = False
    elif power_quality is None:
        power_quality = ElectricPowerQualitySummary.objects.filter(usage_point_id=usage_point.pk).exists()
    ltp = usage_point.local_time_parameters
    links = paths.usage_point(
        usage_point.public_id,
        local_time_parameters_id=ltp.public_id if ltp else None,
        summary_kinds=kinds,
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


def interval_block_entry(
    *, block: IntervalBlock, meter_reading: MeterReading, usage_point_public_id: str, window: Window, paths
) -> writer.AtomEntry:
    """Return one IntervalBlock entry, its interval and readings clipped to ``window``."""
    start, duration = _clip(block, window)
    readings = readings_between(readings_unpack(block.readings), start_min=window.start_min, start_max=window.start_max)
    chunks = writer.interval_block_chunks(start=start, duration=duration, readings=readings)
    return _entry(block, paths.interval_block(usage_point_public_id, meter_reading.public_id, block.public_id), chunks)


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
        yield interval_block_entry(
            block=block,
            meter_reading=meter_reading,
            usage_point_public_id=usage_point_public_id,
            window=window,
            paths=paths,
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


def _usage_points_in_chunks(reaches: Iterable[UsagePointReach]) -> Iterator[list[tuple[UsagePoint, UsagePointReach]]]:
    """Yield the reached usage points ``ROW_CHUNK`` at a time, in usage point id order within a chunk."""
    it = iter(reaches)
    while chunk := list(islice(it, ROW_CHUNK)):
        # No ordering: the rows are sorted here (the model's ordering would join the customer table).
        rows = (
            UsagePoint.objects.select_related("local_time_parameters")
            .order_by()
            .in_bulk([r.usage_point_id for r in chunk])
        )
        yield sorted(
            ((rows[reach.usage_point_id], reach) for reach in chunk if reach.usage_point_id in rows),
            key=lambda pair: pair[0].pk,
        )


# ---- one chunk of usage points, each kind of row in one query ----------------------------------

# Usage points are grouped by their window in the SQL filter; past this many distinct windows the
# query filters on their union instead (every row is then checked against its own usage point's
# window in Python, so the result is the same and the SQL stays bounded).
_MAX_WINDOW_GROUPS = 16


def _in_window(*, start: int | None, end: int | None, stamp: int | None, window: Window) -> bool:
    """Return whether a row's period ``[start, end)`` (else its instant ``stamp``) overlaps ``window``: ``_span_q``."""
    low, high = window.start_min, window.start_max
    if low is None and high is None:
        return True
    if start is not None:
        return (low is None or (end is not None and end > low)) and (high is None or start < high)
    if stamp is None:
        return False
    return (low is None or stamp >= low) and (high is None or stamp < high)


def _windowed_q(*, windows: dict[int, Window], field_name: str, span) -> Q:
    """Return the condition for rows of these usage points (``field_name``) inside their windows (``span``)."""
    groups: dict[Window, list[int]] = {}
    for usage_point_id, window in windows.items():
        groups.setdefault(window, []).append(usage_point_id)
    if len(groups) > _MAX_WINDOW_GROUPS:
        union = next(iter(groups))
        for window in groups:
            union = union.union(window)
        groups = {union: list(windows)}
    condition = Q(pk__in=[])
    for window, ids in groups.items():
        condition |= Q(**{f"{field_name}__in": ids}) & span(window)
    return condition


def _kind_windows(pairs: list[tuple[UsagePoint, UsagePointReach]], kind: str) -> dict[int, Window]:
    return {point.pk: reach.windows[kind] for point, reach in pairs if kind in reach.windows}


class _ChunkRows:
    """The small rows of a chunk of usage points, each kind read in one query: meter readings (with
    their ReadingType), summary kinds, which have power quality data, and the summaries in their windows.
    """

    def __init__(
        self, pairs: list[tuple[UsagePoint, UsagePointReach]], params: FeedParams, *, links_only: bool = False
    ) -> None:
        self.meter_readings: dict[int, list[MeterReading]] = {}
        if not links_only:
            ids = [point.pk for point, _ in pairs]
            meter_readings = MeterReading.objects.filter(usage_point_id__in=ids).select_related("reading_type")
            for mr in meter_readings.order_by("pk"):
                self.meter_readings.setdefault(mr.usage_point_id, []).append(mr)
        self.summary_kinds: dict[int, set[str]] = {}
        summary_windows = _kind_windows(pairs, KIND_SUMMARY)
        quality_windows = _kind_windows(pairs, KIND_QUALITY)
        if summary_windows:
            kinds = (
                UsageSummary.objects.filter(usage_point_id__in=list(summary_windows))
                .order_by()
                .values_list("usage_point_id", "kind")
                .distinct()
            )
            for usage_point_id, kind in kinds:
                self.summary_kinds.setdefault(usage_point_id, set()).add(kind)
        self.power_quality: set[int] = set()
        if quality_windows:
            self.power_quality = set(
                ElectricPowerQualitySummary.objects.filter(usage_point_id__in=list(quality_windows))
                .order_by()
                .values_list("usage_point_id", flat=True)
                .distinct()
            )
        self.summaries: dict[int, list[UsageSummary]] = {}
        self.qualities: dict[int, list[ElectricPowerQualitySummary]] = {}
        if not links_only:
            # Only the usage points that have such rows at all are read again, in their windows.
            self._read_summaries(
                params,
                {pk: window for pk, window in summary_windows.items() if pk in self.summary_kinds},
                {pk: window for pk, window in quality_windows.items() if pk in self.power_quality},
            )

    def _read_summaries(
        self, params: FeedParams, summary_windows: dict[int, Window], quality_windows: dict[int, Window]
    ) -> None:
        if summary_windows:
            rows = (
                UsageSummary.objects.annotate(period_end=F("billing_period_start") + F("billing_period_duration"))
                .filter(
                    _windowed_q(
                        windows=summary_windows,
                        field_name="usage_point_id",
                        span=lambda w: _span_q(
                            start="billing_period_start", end="period_end", stamp="status_time_stamp", window=w
                        ),
                    ),
                    time_q(params),
                )
                .order_by("usage_point_id", "published", "pk")
            )
            for row in rows:
                if _in_window(
                    start=row.billing_period_start,
                    end=row.period_end,
                    stamp=row.status_time_stamp,
                    window=summary_windows[row.usage_point_id],
                ):
                    self.summaries.setdefault(row.usage_point_id, []).append(row)
        if quality_windows:
            rows_q = (
                ElectricPowerQualitySummary.objects.annotate(
                    period_end=F("summary_interval_start") + F("summary_interval_duration")
                )
                .filter(
                    _windowed_q(
                        windows=quality_windows,
                        field_name="usage_point_id",
                        span=lambda w: _span_q(start="summary_interval_start", end="period_end", stamp=None, window=w),
                    ),
                    time_q(params),
                )
                .order_by("usage_point_id", "published", "pk")
            )
            for quality in rows_q:
                if _in_window(
                    start=quality.summary_interval_start,
                    end=quality.period_end,
                    stamp=None,
                    window=quality_windows[quality.usage_point_id],
                ):
                    self.qualities.setdefault(quality.usage_point_id, []).append(quality)


def _chunk_blocks(pairs: list[tuple[UsagePoint, UsagePointReach]], params: FeedParams) -> Iterator[IntervalBlock]:
    """Stream the interval blocks of a chunk of usage points in one query: by usage point, meter reading, time.

    Each block is checked against its own usage point's window (the SQL may filter on a union).
    """
    windows = _kind_windows(pairs, KIND_INTERVAL)
    if not windows:
        return
    blocks = (
        IntervalBlock.objects.annotate(block_end=F("start") + F("duration"), up_id=F("meter_reading__usage_point_id"))
        .filter(
            _windowed_q(
                windows=windows,
                field_name="meter_reading__usage_point_id",
                span=lambda w: _span_q(start="start", end="block_end", stamp=None, window=w),
            ),
            time_q(params),
        )
        .only(
            "pk", "public_id", "uuid", "title", "published", "updated", "start", "duration", "readings", "meter_reading"
        )
        .order_by("meter_reading__usage_point_id", "meter_reading_id", "start", "pk")
    )
    for block in blocks.iterator(chunk_size=ROW_CHUNK):
        if _in_window(start=block.start, end=block.block_end, stamp=None, window=windows[block.up_id]):
            yield block


class _Peekable:
    """An iterator that can look at its next item without taking it."""

    _END = object()

    def __init__(self, items: Iterator) -> None:
        self._items = items
        self._next = next(items, self._END)

    def take_while(self, keep) -> Iterator:
        while self._next is not self._END and keep(self._next):
            item, self._next = self._next, next(self._items, self._END)
            yield item

    def skip_while(self, before) -> None:
        for _ in self.take_while(before):
            pass


def usage_point_tree_entries(
    *, reaches: Iterable[UsagePointReach], params: FeedParams, base: str
) -> Iterator[writer.AtomEntry]:
    """Yield every entry under the reached usage points (a Batch feed), shared resources once each.

    Usage points come in id order (every caller passes them so), each followed by its tree. A chunk
    of ``ROW_CHUNK`` usage points costs a fixed number of queries, however many it holds.
    """
    seen_shared: set[tuple[str, int]] = set()
    for pairs in _usage_points_in_chunks(reaches):
        rows = _ChunkRows(pairs, params)
        blocks = _Peekable(_chunk_blocks(pairs, params))
        for usage_point, reach in pairs:
            yield usage_point_entry(
                usage_point=usage_point,
                reach=reach,
                base=base,
                summary_kinds=rows.summary_kinds.get(usage_point.pk, ()),
                power_quality=usage_point.pk in rows.power_quality,
            )
            ltp = usage_point.local_time_parameters
            if ltp is not None and ("ltp", ltp.pk) not in seen_shared:
                seen_shared.add(("ltp", ltp.pk))
                yield local_time_parameters_entry(ltp=ltp, base=base)
            paths = writer.ResourcePaths(base=base, scope=reach.scope)
            window = reach.windows.get(KIND_INTERVAL)
            for mr in rows.meter_readings.get(usage_point.pk, []):
                yield meter_reading_entry(
                    meter_reading=mr, usage_point_public_id=usage_point.public_id, reach=reach, base=base
                )
                rt = mr.reading_type
                if rt is not None and ("rt", rt.pk) not in seen_shared:
                    seen_shared.add(("rt", rt.pk))
                    yield reading_type_entry(reading_type=rt, base=base)
                if window is None:
                    continue
                key = (usage_point.pk, mr.pk)
                blocks.skip_while(lambda block, key=key: (block.up_id, block.meter_reading_id) < key)
                for block in blocks.take_while(lambda block, key=key: (block.up_id, block.meter_reading_id) == key):
                    yield interval_block_entry(
                        block=block,
                        meter_reading=mr,
                        usage_point_public_id=usage_point.public_id,
                        window=window,
                        paths=paths,
                    )
            for summary in rows.summaries.get(usage_point.pk, []):
                yield usage_summary_entry(
                    summary=summary, usage_point_public_id=usage_point.public_id, reach=reach, base=base
                )
            for quality in rows.qualities.get(usage_point.pk, []):
                yield power_quality_entry(
                    quality=quality, usage_point_public_id=usage_point.public_id, reach=reach, base=base
                )


def usage_point_entries(*, reaches: Iterable[UsagePointReach], base: str) -> Iterator[writer.AtomEntry]:
    """Yield only the UsagePoint entries of the reached usage points (the ``UsagePoint`` collection)."""
    for pairs in _usage_points_in_chunks(reaches):
        rows = _ChunkRows(pairs, FeedParams(), links_only=True)
        for usage_point, reach in pairs:
            yield usage_point_entry(
                usage_point=usage_point,
                reach=reach,
                base=base,
                summary_kinds=rows.summary_kinds.get(usage_point.pk, ()),
                power_quality=usage_point.pk in rows.power_quality,
            )


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
