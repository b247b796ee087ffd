"""ESPI reads of the customer's own records (``customer.xsd``): FB_46, FB_47 and FB_50.

* ``GET Batch/RetailCustomer/{retailCustomerId}``: the records one grant reaches, with that grant's
  access token (FB_46);
* ``GET RetailCustomer/{retailCustomerId}/Customer/{id}/...``: one record or one collection of
  them, by the path of the ESPI tree (FB_50);
* ``GET Batch/BulkRetailCustomerInfo/{bulkId}``: the records of every member who chose to share
  them, with the Third Party's client token (FB_47).

Same token rules, reach, 404s and access history as usage data (``batch.feeds``): "not yours" and
"does not exist" are the same 404; a grant that shares no records on that path is 403.
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from batch import records as records_reach
from batch import selectors as batch_selectors
from batch import services
from batch.apis import AtomStreamParser, XmlStreamParser, _check_request
from batch.atom_http import atom_stream, certification_links, feed_uuid, paged_feed_links, query_params
from batch.feed_params import parse_feed_params
from batch.feeds import _FeedApi, _head_only
from custodian.espi import customer as espi_customer
from custodian.espi import writer
from custodian.exceptions import DomainError
from custodian.models import CustomerRecord
from custodian.services_access_log import records_read_record
from grants.models import Grant, GrantUsagePoint
from grants.permissions import (
    HasGrantAccessToken,
    IsCustodianClientToken,
    IsThirdPartyClientToken,
    bulk_user_for_request,
    request_grant,
    request_third_party,
)
from grants.resource_uris import espi_resource_base
from grants.selectors import active_grant_q


def _usage_point_hrefs(grants: list[Grant], base: str) -> dict[int, dict[int, str]]:
    """Return, per grant, the reader's self href of each usage point it still shares (FB_58)."""
    hrefs: dict[int, dict[int, str]] = {grant.pk: {} for grant in grants}
    subscription = {grant.pk: grant.subscription_id for grant in grants}
    for grant_id, point_id, public_id in GrantUsagePoint.objects.filter(
        grant_id__in=list(hrefs), revoked_at__isnull=True
    ).values_list("grant_id", "usage_point_id", "usage_point__public_id"):
        paths = writer.ResourcePaths(base=base, scope=f"Subscription/{subscription[grant_id]}")
        hrefs[grant_id][point_id] = paths.usage_point_href(public_id)
    return hrefs


def _grant_with_records(request, retail_customer_id: str, path_kind: str) -> Grant:
    grant = request_grant(request)
    if grant.customer.public_id != retail_customer_id:
        raise NotFound("No such retail customer.")
    if not records_reach.records_granted(grant=grant, path_kind=path_kind):
        raise PermissionDenied("This authorization does not share the customer's records on this path.")
    return grant


def _self_link(path: str):
    return writer.ResourcePaths(base=espi_resource_base()).feed_self(*path.split("/"), kind="RetailCustomer")


def _feed(*, path: str, title: str, entries, links=None, feed_id: str | None = None) -> object:
    """Stream a feed of records; ``links`` default to its self link (the paged Bulk feed passes its own)."""
    return atom_stream(
        writer.feed_chunks(
            feed_uuid=feed_uuid(feed_id or path),
            title=title,
            updated=timezone.now(),
            links=[*(links if links is not None else [_self_link(path)]), *certification_links()],
            entries=entries,
        )
    )


class RetailCustomerBatchApi(_FeedApi):
    """GET Batch/RetailCustomer/{retailCustomerId}: every record the grant of this access token reaches."""

    permission_classes = [HasGrantAccessToken]

    def get(self, request, retail_customer_id: str):
        grant = _grant_with_records(request, retail_customer_id, records_reach.BATCH_RETAIL_CUSTOMER)
        if _head_only(request):
            return atom_stream(())
        records = list(records_reach.records_in_reach(grant=grant))
        records_read_record(
            grants=[grant], client=grant.third_party, path=request.get_full_path(), records=grant.customer_records
        )
        base = espi_resource_base()
        paths = records_reach.RecordPaths(base=base, retail_customer_id=retail_customer_id)
        hrefs = _usage_point_hrefs([grant], base)[grant.pk]
        return _feed(
            path=f"Batch/RetailCustomer/{retail_customer_id}",
            title=f"Retail Customer {retail_customer_id}",
            entries=records_reach.record_entries(records=records, paths=paths, usage_point_hrefs=hrefs),
        )


class RetailCustomerRecordsUploadApi(_FeedApi):
    """POST Batch/RetailCustomer/{retailCustomerId}: the utility's back office uploads that customer's records.

    All or nothing: 200 with the counts, or 400 with every refused entry and why (nothing written).
    """

    permission_classes = [IsCustodianClientToken]
    parser_classes = [AtomStreamParser, XmlStreamParser]

    def post(self, request, retail_customer_id: str):
        length, _options = _check_request(request)
        customer = batch_selectors.retail_customer_get(public_id=retail_customer_id)
        if request.stream is None:
            raise DomainError("The body is empty.", code="malformed", extra={"line": 1, "column": 1})
        plan, result = services.retail_customer_records_upload(
            customer=customer, caller=request_third_party(request), stream=request.stream, content_length=length
        )
        entries = [
            {
                "index": record.index,
                "id": record.atom_id,
                "kind": record.kind,
                "status": record.status,
                **({"reason": record.reason} if record.reason else {}),
                **({"change": str(record.change)} if record.change else {}),
                **({"warnings": record.warnings} if record.warnings else {}),
            }
            for record in plan.records
        ]
        if result is None:
            body = {
                "status": "rejected",
                "detail": "Nothing was imported: correct the refused entries and send the feed again.",
                "entries": entries,
            }
            return Response(body, status=400)
        body = {
            "status": "applied",
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "entries": entries,
        }
        return Response(body, status=200)


class RetailCustomerResourceApi(_FeedApi):
    """GET RetailCustomer/{id}/Customer[/{id}[/CustomerAccount[/{id}...]]]: one record, or one collection.

    The path names the ESPI tree: each ``Kind/{id}`` pair must be the next record down, and every
    record named must be in the grant's reach; anything else is the same 404.
    """

    permission_classes = [HasGrantAccessToken]

    def get(self, request, retail_customer_id: str, tree: str):
        grant = _grant_with_records(request, retail_customer_id, records_reach.RESOURCE_LEVEL)
        segments = [segment for segment in tree.split("/") if segment]
        reach = {record.pk: record for record in records_reach.records_in_reach(grant=grant)}
        # Records above the one read are path names only: they need not be in reach themselves.
        named = {
            record.public_id: record
            for record in CustomerRecord.objects.filter(customer_id=grant.customer_id).defer("content")
        }
        parent: CustomerRecord | None = None
        collection_kind: str | None = None
        for position in range(0, len(segments), 2):
            kind = segments[position]
            if kind not in espi_customer.RECORD_KINDS or espi_customer.PARENT_KIND[kind] != (
                parent.kind if parent else None
            ):
                raise NotFound("Not found.")
            if position + 1 == len(segments):
                collection_kind = kind
                break
            record = named.get(segments[position + 1])
            if record is None or record.kind != kind or record.parent_id != (parent.pk if parent else None):
                raise NotFound("Not found.")
            parent = record
        if parent is None and collection_kind is None:
            raise NotFound("Not found.")
        if collection_kind is None and parent is not None and parent.pk not in reach:
            raise NotFound("Not found.")
        if _head_only(request):
            return atom_stream(())
        records_read_record(
            grants=[grant], client=grant.third_party, path=request.get_full_path(), records=grant.customer_records
        )
        base = espi_resource_base()
        paths = records_reach.RecordPaths(base=base, retail_customer_id=retail_customer_id)
        hrefs = _usage_point_hrefs([grant], base)[grant.pk]
        if collection_kind is None and parent is not None:
            entry = next(records_reach.record_entries(records=[reach[parent.pk]], paths=paths, usage_point_hrefs=hrefs))
            return atom_stream(writer.entry_chunks(entry, standalone=True))
        collection = [
            record
            for record in reach.values()
            if record.kind == collection_kind and record.parent_id == (parent.pk if parent else None)
        ]
        return _feed(
            path=f"RetailCustomer/{retail_customer_id}/{tree.strip('/')}",
            title=f"{collection_kind}, Retail Customer {retail_customer_id}",
            entries=records_reach.record_entries(records=collection, paths=paths, usage_point_hrefs=hrefs),
        )


class BulkRetailCustomerInfoApi(_FeedApi):
    """GET Batch/BulkRetailCustomerInfo/{bulkId}: the records of every active member who chose to share them.

    Paged over member grants with ``start-index`` and ``max-results`` (at most ``ESPI_BULK_MAX_RESULTS``
    members a page), with a ``next`` link while more follow; one INSERT of history rows a page.
    """

    permission_classes = [IsThirdPartyClientToken]

    def get(self, request, bulk_id: str):
        bulk_user = bulk_user_for_request(request, bulk_id)
        third_party = request_third_party(request)
        params = parse_feed_params(query=query_params(request), paging=True)
        assert params.max_results is not None  # noqa: S101 - paging=True always sets it
        if _head_only(request):
            return atom_stream(())
        opted_in = (
            Grant.objects.filter(active_grant_q(), bulk_user=bulk_user)
            .exclude(customer_records=[])
            .select_related("customer", "third_party")
            .order_by("pk")
        )
        offset = params.start_index - 1
        page = list(opted_in[offset : offset + params.max_results + 1])
        has_more = len(page) > params.max_results
        members = [
            grant
            for grant in page[: params.max_results]
            if records_reach.records_granted(grant=grant, path_kind=records_reach.BULK_RETAIL_CUSTOMER)
        ]
        records_read_record(grants=members, client=third_party, path=request.get_full_path())
        base = espi_resource_base()
        hrefs = _usage_point_hrefs(members, base)

        def entries():
            for grant in members:
                paths = records_reach.RecordPaths(base=base, retail_customer_id=grant.customer.public_id)
                yield from records_reach.record_entries(
                    records=list(records_reach.records_in_reach(grant=grant)),
                    paths=paths,
                    usage_point_hrefs=hrefs[grant.pk],
                )

        path = f"Batch/BulkRetailCustomerInfo/{bulk_user.bulk_id}"
        return _feed(
            path=path,
            feed_id=f"{path}/{third_party.public_id}",
            title=f"Retail Customer records, Bulk {bulk_user.bulk_id}",
            links=paged_feed_links(
                self_link=_self_link(path), query=request.GET.urlencode(), params=params, has_more=has_more
            ),
            entries=entries(),
        )
