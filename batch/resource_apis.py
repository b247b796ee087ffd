"""Resource-level ESPI reads (FB_32): Subscription/{id}/UsagePoint/..., ReadingType/{id}, LocalTimeParameters/{id}.

Under a usage point: MeterReading[/{id}[/IntervalBlock[/{id}]]], UsageSummary[/{id}] (and the
deprecated ElectricPowerUsageSummary) and ElectricPowerQualitySummary[/{id}], each only if the
grant's function blocks unlock that kind of data (``batch.reach``) and inside its window.

Every path id is matched as a whole string in the database query, below the grant the access
token is bound to; anything else (unknown, another grant's, taken back, outside the history
window) is the same 404. Collections are Atom feeds, members standalone Atom entries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from batch import reach as reach_selectors
from batch.atom_http import ATOM_CONTENT_TYPE, atom_stream, feed_uuid, page_of, paged_feed_links, query_params
from batch.feed_entries import (
    exact_page,
    interval_block_entries,
    interval_blocks,
    local_time_parameters_entry,
    meter_reading_entry,
    more_after_page,
    power_quality_entry,
    power_quality_summaries,
    reading_type_entry,
    usage_point_entries,
    usage_point_entry,
    usage_summaries,
    usage_summary_entry,
)
from batch.feed_params import FeedParams, parse_feed_params
from batch.reach import KIND_INTERVAL, KIND_QUALITY, KIND_SUMMARY
from custodian.espi import writer
from custodian.exceptions import NotFound
from custodian.models import LocalTimeParameters, MeterReading, ReadingType, UsagePoint
from custodian.negotiation import EspiNegotiationMixin
from custodian.services_access_log import data_read_record
from grants.models import Grant
from grants.permissions import (
    EspiBearerAuthentication,
    HasGrantAccessToken,
    IsCustodianClientToken,
    grant_for_subscription,
    request_token_kind,
)
from grants.resource_uris import espi_resource_base
from grants.tokens import TOKEN_KIND_CUSTODIAN

# One answer for "does not exist" and "not yours", whatever the resource (PRODUCT "Bad input").
NOT_FOUND = "Not found."


def _usage_point(request, subscription_id: str, usage_point_id: str):
    grant = grant_for_subscription(request, subscription_id)
    try:
        point, reach = reach_selectors.reach_usage_point_for_grant(grant=grant, usage_point_public_id=usage_point_id)
    except UsagePoint.DoesNotExist:
        raise NotFound(NOT_FOUND) from None
    return grant, point, reach


def _meter_reading(point: UsagePoint, meter_reading_id: str) -> MeterReading:
    found = (
        MeterReading.objects.select_related("reading_type")
        .filter(usage_point=point, public_id=meter_reading_id)
        .first()
    )
    if found is None:
        raise NotFound(NOT_FOUND)
    return found


def _read(request, grant: Grant) -> None:
    if request.method == "HEAD":  # status and headers only: no data leaves, no read is recorded
        return
    data_read_record(grants=[grant], client=request.auth.application, path=request.get_full_path())


def _feed(*, request, path: str, title: str, entries, kind: str, params: FeedParams | None = None, has_more=False):
    base = espi_resource_base()
    paths = writer.ResourcePaths(base=base)
    links = paged_feed_links(
        self_link=paths.feed_self(*path.split("/"), kind=kind),
        query=request.GET.urlencode(),
        params=params or FeedParams(),
        has_more=has_more,
    )
    return atom_stream(
        writer.feed_chunks(feed_uuid=feed_uuid(path), title=title, updated=timezone.now(), links=links, entries=entries)
    )


def _entry(entry: writer.AtomEntry):
    return atom_stream(writer.entry_chunks(entry, standalone=True))


def _page_feed(*, request, rows, params: FeedParams, entry: Callable[[Any], writer.AtomEntry], path, title, kind):
    """Answer one page of ``rows`` as a feed, each row written by ``entry``; ``rows`` None: the grant reaches none."""
    has_more = rows is not None and more_after_page(rows, params)
    page = () if rows is None else exact_page(rows, params).iterator(chunk_size=500)
    return _feed(
        request=request,
        path=path,
        title=title,
        entries=(entry(row) for row in page),
        kind=kind,
        params=params,
        has_more=has_more,
    )


def _member(*, request, grant: Grant, rows, public_id: str, entry: Callable[[Any], writer.AtomEntry]):
    """Answer the one row of ``rows`` named exactly ``public_id`` as an entry; else 404 (``rows`` None included)."""
    found = None if rows is None else rows.filter(public_id=public_id).first()
    if found is None:
        raise NotFound(NOT_FOUND)
    _read(request, grant)
    return _entry(entry(found))


class _ResourceApi(EspiNegotiationMixin, APIView):
    authentication_classes = [EspiBearerAuthentication]
    permission_classes = [HasGrantAccessToken | IsCustodianClientToken]
    renderer_classes = [JSONRenderer]  # errors are JSON; Atom bypasses renderers


class UsagePointListApi(_ResourceApi):
    """GET Subscription/{subscriptionId}/UsagePoint: the grant's usage points."""

    def get(self, request, subscription_id: str):
        grant = grant_for_subscription(request, subscription_id)
        params = parse_feed_params(query=query_params(request))
        reaches, has_more = page_of(reach_selectors.reach_for_grant(grant=grant), params)
        _read(request, grant)
        return _feed(
            request=request,
            path=f"Subscription/{grant.subscription_id}/UsagePoint",
            title="Usage points",
            entries=usage_point_entries(reaches=reaches, base=espi_resource_base()),
            kind="UsagePoint",
            params=params,
            has_more=has_more,
        )


class UsagePointApi(_ResourceApi):
    """GET Subscription/{subscriptionId}/UsagePoint/{usagePointId}."""

    def get(self, request, subscription_id: str, usage_point_id: str):
        grant, point, reach = _usage_point(request, subscription_id, usage_point_id)
        parse_feed_params(query=query_params(request))
        _read(request, grant)
        return _entry(usage_point_entry(usage_point=point, reach=reach, base=espi_resource_base()))


class MeterReadingListApi(_ResourceApi):
    """GET Subscription/{subscriptionId}/UsagePoint/{usagePointId}/MeterReading."""

    def get(self, request, subscription_id: str, usage_point_id: str):
        grant, point, reach = _usage_point(request, subscription_id, usage_point_id)
        params = parse_feed_params(query=query_params(request))
        _read(request, grant)
        base = espi_resource_base()
        return _page_feed(
            request=request,
            rows=MeterReading.objects.filter(usage_point=point).select_related("reading_type").order_by("pk"),
            params=params,
            entry=lambda mr: meter_reading_entry(
                meter_reading=mr, usage_point_public_id=point.public_id, reach=reach, base=base
            ),
            path=f"{reach.scope}/UsagePoint/{point.public_id}/MeterReading",
            title="Meter readings",
            kind="MeterReading",
        )


class MeterReadingApi(_ResourceApi):
    """GET Subscription/{subscriptionId}/UsagePoint/{usagePointId}/MeterReading/{meterReadingId}."""

    def get(self, request, subscription_id: str, usage_point_id: str, meter_reading_id: str):
        grant, point, reach = _usage_point(request, subscription_id, usage_point_id)
        meter_reading = _meter_reading(point, meter_reading_id)
        parse_feed_params(query=query_params(request))
        _read(request, grant)
        return _entry(
            meter_reading_entry(
                meter_reading=meter_reading,
                usage_point_public_id=point.public_id,
                reach=reach,
                base=espi_resource_base(),
            )
        )


class IntervalBlockListApi(_ResourceApi):
    """GET .../MeterReading/{meterReadingId}/IntervalBlock: blocks inside the grant's window and the query."""

    def get(self, request, subscription_id: str, usage_point_id: str, meter_reading_id: str):
        grant, point, reach = _usage_point(request, subscription_id, usage_point_id)
        meter_reading = _meter_reading(point, meter_reading_id)
        params = parse_feed_params(query=query_params(request))
        _read(request, grant)
        window = reach.windows.get(KIND_INTERVAL)
        has_more = window is not None and more_after_page(
            interval_blocks(meter_reading_id=meter_reading.pk, window=window, params=params), params
        )
        return _feed(
            request=request,
            path=f"{reach.scope}/UsagePoint/{point.public_id}/MeterReading/{meter_reading.public_id}/IntervalBlock",
            title="Interval blocks",
            entries=interval_block_entries(
                meter_reading=meter_reading,
                usage_point_public_id=point.public_id,
                reach=reach,
                params=params,
                base=espi_resource_base(),
                paged=True,
            ),
            kind="IntervalBlock",
            params=params,
            has_more=has_more,
        )


class IntervalBlockApi(_ResourceApi):
    """GET .../MeterReading/{meterReadingId}/IntervalBlock/{intervalBlockId}: 404 outside the grant's window."""

    def get(self, request, subscription_id: str, usage_point_id: str, meter_reading_id: str, interval_block_id: str):
        grant, point, reach = _usage_point(request, subscription_id, usage_point_id)
        meter_reading = _meter_reading(point, meter_reading_id)
        params = parse_feed_params(query=query_params(request))
        entries = interval_block_entries(
            meter_reading=meter_reading,
            usage_point_public_id=point.public_id,
            reach=reach,
            params=params,
            base=espi_resource_base(),
            only_public_id=interval_block_id,
        )
        # Look before answering: a block outside the window must be a 404, not an empty 200. One
        # block is bounded (a day or a billing period of readings), so it is written whole and the
        # cursors are closed here, not left to the garbage collector mid-way through another query.
        try:
            entry = next(entries, None)
            if entry is None:
                raise NotFound(NOT_FOUND)
            body = b"".join(writer.entry_chunks(entry, standalone=True))
        finally:
            entries.close()
        _read(request, grant)
        return HttpResponse(body, content_type=ATOM_CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def _summaries(reach, point: UsagePoint, params: FeedParams, kind: str):
    """Return the usage point's summaries of ``kind`` the grant reaches (none without FB 15/16), in order."""
    window = reach.windows.get(KIND_SUMMARY)
    if window is None:
        return None
    return usage_summaries(usage_point_id=point.pk, window=window, params=params).filter(kind=kind)


def _qualities(reach, point: UsagePoint, params: FeedParams):
    """Return the usage point's power quality summaries the grant reaches (none without FB 17), in order."""
    window = reach.windows.get(KIND_QUALITY)
    if window is None:
        return None
    return power_quality_summaries(usage_point_id=point.pk, window=window, params=params)


class UsageSummaryListApi(_ResourceApi):
    """GET .../UsagePoint/{usagePointId}/UsageSummary (or ElectricPowerUsageSummary): inside the grant's window."""

    def get(self, request, subscription_id: str, usage_point_id: str, kind: str):
        grant, point, reach = _usage_point(request, subscription_id, usage_point_id)
        params = parse_feed_params(query=query_params(request))
        _read(request, grant)
        base = espi_resource_base()
        return _page_feed(
            request=request,
            rows=_summaries(reach, point, params, kind),
            params=params,
            entry=lambda row: usage_summary_entry(
                summary=row, usage_point_public_id=point.public_id, reach=reach, base=base
            ),
            path=f"{reach.scope}/UsagePoint/{point.public_id}/{kind}",
            title="Usage summaries",
            kind=kind,
        )


class UsageSummaryApi(_ResourceApi):
    """GET .../UsagePoint/{usagePointId}/UsageSummary/{usageSummaryId}: 404 outside the grant's window or FBs."""

    def get(self, request, subscription_id: str, usage_point_id: str, kind: str, usage_summary_id: str):
        grant, point, reach = _usage_point(request, subscription_id, usage_point_id)
        params = parse_feed_params(query=query_params(request))
        return _member(
            request=request,
            grant=grant,
            rows=_summaries(reach, point, params, kind),
            public_id=usage_summary_id,
            entry=lambda found: usage_summary_entry(
                summary=found, usage_point_public_id=point.public_id, reach=reach, base=espi_resource_base()
            ),
        )


class PowerQualitySummaryListApi(_ResourceApi):
    """GET .../UsagePoint/{usagePointId}/ElectricPowerQualitySummary: inside the grant's window (FB 17)."""

    def get(self, request, subscription_id: str, usage_point_id: str):
        grant, point, reach = _usage_point(request, subscription_id, usage_point_id)
        params = parse_feed_params(query=query_params(request))
        _read(request, grant)
        base = espi_resource_base()
        return _page_feed(
            request=request,
            rows=_qualities(reach, point, params),
            params=params,
            entry=lambda row: power_quality_entry(
                quality=row, usage_point_public_id=point.public_id, reach=reach, base=base
            ),
            path=f"{reach.scope}/UsagePoint/{point.public_id}/ElectricPowerQualitySummary",
            title="Power quality summaries",
            kind="ElectricPowerQualitySummary",
        )


class PowerQualitySummaryApi(_ResourceApi):
    """GET .../UsagePoint/{usagePointId}/ElectricPowerQualitySummary/{id}: 404 outside the grant's window or FBs."""

    def get(self, request, subscription_id: str, usage_point_id: str, quality_summary_id: str):
        grant, point, reach = _usage_point(request, subscription_id, usage_point_id)
        params = parse_feed_params(query=query_params(request))
        return _member(
            request=request,
            grant=grant,
            rows=_qualities(reach, point, params),
            public_id=quality_summary_id,
            entry=lambda found: power_quality_entry(
                quality=found, usage_point_public_id=point.public_id, reach=reach, base=espi_resource_base()
            ),
        )


class _SharedResourceApi(_ResourceApi):
    """A root-level resource: an access token reaches it only if its grant's data uses it; the back office always."""

    permission_classes = [HasGrantAccessToken | IsCustodianClientToken]

    def _scoped(self, request, queryset, grant_q):
        if request_token_kind(request) == TOKEN_KIND_CUSTODIAN:
            return queryset
        return queryset.filter(grant_q(grant=request.espi_grant)).distinct()


class ReadingTypeApi(_SharedResourceApi):
    """GET ReadingType/{readingTypeId}."""

    def get(self, request, reading_type_id: str):
        parse_feed_params(query=query_params(request))
        queryset = self._scoped(
            request, ReadingType.objects.filter(public_id=reading_type_id), reach_selectors.grant_reading_type_q
        )
        found = queryset.first()
        if found is None:
            raise NotFound(NOT_FOUND)
        return _entry(reading_type_entry(reading_type=found, base=espi_resource_base()))


class LocalTimeParametersApi(_SharedResourceApi):
    """GET LocalTimeParameters/{localTimeParametersId}."""

    def get(self, request, local_time_parameters_id: str):
        parse_feed_params(query=query_params(request))
        queryset = self._scoped(
            request,
            LocalTimeParameters.objects.filter(public_id=local_time_parameters_id),
            reach_selectors.grant_local_time_parameters_q,
        )
        found = queryset.first()
        if found is None:
            raise NotFound(NOT_FOUND)
        return _entry(local_time_parameters_entry(ltp=found, base=espi_resource_base()))
