"""Batch GET endpoints: Atom feeds streamed from the database.

Each view checks the token kind (``grants.permissions``), resolves the path id to something the
caller owns (else the same 404 as an unknown id), parses the query (else 400), records one "data
read" audit row per request (``custodian.services_access_log``), and only then starts streaming: no
error can follow the first byte but a broken connection. HEAD answers the same status and headers
and reads no data, so it records no read.
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from batch import async_http
from batch import reach as reach_selectors
from batch import selectors as batch_selectors
from batch.atom_http import atom_stream, certification_links, feed_uuid, page_of, paged_feed_links, query_params
from batch.cursors import bulk_cursor_open, bulk_cursor_seal
from batch.feed_entries import customer_feed_chunks, usage_point_tree_entries
from batch.feed_params import PAGING_PARAMS, parse_feed_params
from batch.selectors_async import JobTarget
from custodian.espi import writer
from custodian.negotiation import EspiNegotiationMixin
from custodian.services_access_log import bulk_data_read_record, customer_data_read_record, data_read_record
from grants.permissions import (
    EspiBearerAuthentication,
    HasGrantAccessToken,
    IsCustodianClientToken,
    IsThirdPartyClientToken,
    bulk_user_for_request,
    grant_for_subscription,
    request_third_party,
)
from grants.resource_uris import espi_resource_base


class _FeedApi(EspiNegotiationMixin, APIView):
    authentication_classes = [EspiBearerAuthentication]
    renderer_classes = [JSONRenderer]  # errors are JSON; feeds bypass renderers


def _head_only(request) -> bool:
    """Return whether the request is a HEAD: answered with the GET's status and headers, no data read."""
    return request.method == "HEAD"


class SubscriptionFeedApi(_FeedApi):
    """GET Batch/Subscription/{subscriptionId}: one grant's data, with the access token of that grant only."""

    permission_classes = [HasGrantAccessToken]

    def get(self, request, subscription_id: str):
        grant = grant_for_subscription(request, subscription_id)
        query = query_params(request)
        target = JobTarget.for_grant(grant)
        if async_http.names_job(query):
            return async_http.correlation_answer(request, target=target, query=query)
        params = parse_feed_params(query=query)
        if _head_only(request):
            return atom_stream(())
        reached = reach_selectors.reach_for_grant(grant=grant)
        if (
            answer := async_http.maybe_async(
                request, target=target, query=query, params=params, usage_points=len(reached)
            )
        ) is not None:
            return answer
        # Paged over usage points, each with its whole tree, as a Bulk feed is.
        reaches, has_more = page_of(reached, params)
        data_read_record(grants=[grant], client=grant.third_party, path=request.get_full_path())
        base = espi_resource_base()
        path = f"Batch/Subscription/{grant.subscription_id}"
        paths = writer.ResourcePaths(base=base)
        self_link = paths.feed_self("Batch", "Subscription", grant.subscription_id)
        return atom_stream(
            writer.feed_chunks(
                feed_uuid=feed_uuid(path),
                title=f"Green Button data, Subscription {grant.subscription_id}",
                updated=timezone.now(),
                links=[
                    *paged_feed_links(
                        self_link=self_link, query=request.GET.urlencode(), params=params, has_more=has_more
                    ),
                    *certification_links(),
                ],
                entries=usage_point_tree_entries(reaches=reaches, params=params, base=base),
            )
        )


class BulkFeedApi(_FeedApi):
    """GET Batch/Bulk/{bulkId}: the data of every active member grant, paged over usage points.

    Paging: ``start-index`` (1-based, default 1) and ``max-results`` (default and maximum
    ``ESPI_BULK_MAX_RESULTS`` usage points) over the bulk's usage points in id order; a
    ``rel="next"`` link says where the next page starts and is absent on the last one. The next
    link also carries a sealed ``cursor`` (``batch.cursors``) so that page starts after this one's
    last usage point (keyset) instead of counting rows again. One audit row per request.
    """

    permission_classes = [IsThirdPartyClientToken]

    def get(self, request, bulk_id: str):
        bulk_user = bulk_user_for_request(request, bulk_id)
        query = query_params(request)
        target = JobTarget.for_bulk(bulk_user)
        if async_http.names_job(query):
            return async_http.correlation_answer(request, target=target, query=query)
        params = parse_feed_params(query=query, paging=True)
        assert params.max_results is not None  # noqa: S101 - paging=True always sets it
        after = bulk_cursor_open(params.cursor, bulk_user_id=bulk_user.pk, start_index=params.start_index)
        if _head_only(request):
            return atom_stream(())
        # Asynchronous: the whole bulk in parts (no paging) unless the client asked for one page; a
        # next link's cursor continues a synchronous walk.
        if params.cursor is None:
            whole = parse_feed_params(query=query) if not any(name in query for name in PAGING_PARAMS) else params
            if (answer := async_http.maybe_async(request, target=target, query=query, params=whole)) is not None:
                return answer
        page = reach_selectors.reach_for_bulk_page(
            bulk_user=bulk_user,
            start_index=params.start_index,
            max_results=params.max_results,
            after_usage_point_id=after,
        )
        client = request_third_party(request)
        first, last = page.first_usage_point_id, page.last_usage_point_id
        bulk_data_read_record(
            bulk_user=bulk_user,
            usage_points_by_grant=page.usage_points_by_grant,
            usage_point_range=(first, last) if first is not None and last is not None else None,
            client=client,
            path=request.get_full_path(),
        )
        base = espi_resource_base()
        paths = writer.ResourcePaths(base=base)
        self_link = paths.feed_self("Batch", "Bulk", bulk_user.bulk_id)
        cursor = None
        if page.has_more and last is not None:
            cursor = bulk_cursor_seal(
                bulk_user_id=bulk_user.pk,
                start_index=params.start_index + params.max_results,
                after_usage_point_id=last,
            )
        links = paged_feed_links(
            self_link=self_link, query=request.GET.urlencode(), params=params, has_more=page.has_more, cursor=cursor
        )
        return atom_stream(
            writer.feed_chunks(
                feed_uuid=feed_uuid(f"Batch/Bulk/{client.public_id}/{bulk_user.bulk_id}"),
                title=f"Green Button data, Bulk {bulk_user.bulk_id}",
                updated=timezone.now(),
                links=links,
                entries=usage_point_tree_entries(reaches=page.reaches, params=params, base=base),
            )
        )


class RetailCustomerFeedApi(_FeedApi):
    """GET Batch/RetailCustomer/{retailCustomerId}/UsagePoint: all of a customer's data, back-office token only."""

    permission_classes = [IsCustodianClientToken]

    def get(self, request, retail_customer_id: str):
        customer = batch_selectors.retail_customer_get(public_id=retail_customer_id)
        query = query_params(request)
        target = JobTarget.for_customer(customer)
        if async_http.names_job(query):
            return async_http.correlation_answer(request, target=target, query=query)
        params = parse_feed_params(query=query)
        if _head_only(request):
            return atom_stream(())
        if (answer := async_http.maybe_async(request, target=target, query=query, params=params)) is not None:
            return answer
        customer_data_read_record(customer=customer, client=request_third_party(request), path=request.get_full_path())
        return atom_stream(
            customer_feed_chunks(
                customer=customer, base=espi_resource_base(), params=params, query=request.GET.urlencode()
            )
        )
