"""GET Batch/Bulk and Batch/Subscription cost a fixed number of queries and audit rows per page.

Pages of a bulk follow a keyset (the sealed ``cursor`` of the ``next`` link) behind the ESPI
``start-index`` the client sees; every read still shows in each served customer's access history,
and HEAD records none.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from custodian.models import AuditEvent, UsagePoint
from grants.access_history import access_history_for_customer
from tests import factories
from tests.feeds.conftest import (
    RESOURCE,
    Feed,
    access_token_for,
    assert_valid,
    body_of,
    client_token_for,
    fetch,
    make_point_with_data,
    shared_resources,
)

pytestmark = pytest.mark.django_db


def _reads() -> int:
    return AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).count()


@pytest.fixture
def bulk_of():
    """Return a factory: a Third Party's bulk of ``n`` member customers, one usage point with 2 days of data each."""
    reading_type, ltp = shared_resources()

    def build(n: int, *, bulk_id: str = "7"):
        third_party, _ = factories.make_third_party(name=f"Bulk Co {bulk_id}")
        bulk = factories.make_bulk_user(third_party=third_party, bulk_id=bulk_id)
        customers = []
        for i in range(n):
            customer = factories.make_customer(username=f"m{bulk_id}x{i}")
            point = make_point_with_data(customer=customer, title=f"P{i}", days=2, reading_type=reading_type, ltp=ltp)
            factories.make_grant(customer=customer, third_party=third_party, usage_points=[point], bulk_user=bulk)
            customers.append(customer)
        return third_party, bulk, customers, client_token_for(third_party)

    return build


def _queries(client, path: str, token: str, **query) -> tuple[int, bytes]:
    with CaptureQueriesContext(connection) as captured:
        response = fetch(client, path, token, **query)
    assert response.status_code == 200
    return len(captured.captured_queries), body_of(response)


def test_a_bulk_page_costs_the_same_queries_and_one_audit_row_for_10_or_200_members(client, bulk_of):
    _, _, _, small_token = bulk_of(10, bulk_id="small")
    _, _, _, large_token = bulk_of(200, bulk_id="large")
    before = _reads()
    small, small_body = _queries(client, f"{RESOURCE}/Batch/Bulk/small", small_token)
    assert _reads() == before + 1
    large, large_body = _queries(client, f"{RESOURCE}/Batch/Bulk/large", large_token)
    assert _reads() == before + 2
    assert small == large
    assert len(Feed.of(small_body).ids_of("UsagePoint")) == 10
    large_feed = Feed.of(large_body)
    assert len(large_feed.ids_of("UsagePoint")) == 200
    # The whole tree of each usage point, shared resources once.
    kinds = large_feed.kinds()
    assert kinds.count("MeterReading") == kinds.count("UsageSummary") == 200
    assert kinds.count("IntervalBlock") == 400
    assert kinds.count("ElectricPowerQualitySummary") == 200
    assert kinds.count("ReadingType") == kinds.count("LocalTimeParameters") == 1
    assert_valid(large_body)


def test_a_subscription_feed_costs_the_same_queries_for_10_or_200_usage_points(client):
    reading_type, ltp = shared_resources()
    third_party, _ = factories.make_third_party(name="Sub Co")
    tokens = {}
    for n in (10, 200):
        customer = factories.make_customer(username=f"owner{n}")
        points = [
            make_point_with_data(customer=customer, title=f"P{i}", days=2, reading_type=reading_type, ltp=ltp)
            for i in range(n)
        ]
        grant = factories.make_grant(customer=customer, third_party=third_party, usage_points=points)
        tokens[n] = (grant.subscription_id, access_token_for(grant))
    counts = {}
    for n, (subscription_id, token) in tokens.items():
        before = _reads()
        counts[n], body = _queries(client, f"{RESOURCE}/Batch/Subscription/{subscription_id}", token)
        assert _reads() == before + 1
        assert len(Feed.of(body).ids_of("UsagePoint")) == n
    assert counts[10] == counts[200]


def _walk(client, token: str, *, max_results: int, between=None) -> tuple[list[str], list[str]]:
    """Follow a bulk's next links to the end; return the usage points seen (in order) and the next links."""
    seen: list[str] = []
    nexts: list[str] = []
    query = {"max-results": str(max_results)}
    while True:
        data = body_of(fetch(client, f"{RESOURCE}/Batch/Bulk/7", token, **query))
        feed = Feed.of(data)
        seen += sorted(feed.ids_of("UsagePoint"))
        following = feed.feed_links("next")
        if not following:
            return seen, nexts
        nexts.append(following[0])
        query = dict(part.split("=", 1) for part in following[0].split("?", 1)[1].split("&"))
        if between is not None:
            between(len(nexts))


def test_keyset_pages_cover_every_member_once_even_when_members_join_between_pages(client, bulk_of):
    # Usage points made first (ids below the members'), whose owners join the bulk between pages: with
    # an OFFSET every later member would shift by one and one would be served twice.
    reading_type, _ = shared_resources()
    late = []
    for i in range(3):
        customer = factories.make_customer(username=f"late{i}")
        late.append((customer, make_point_with_data(customer=customer, title="L", days=1, reading_type=reading_type)))
    third_party, bulk, customers, token = bulk_of(9)
    members = {point.public_id for c in customers for point in c.usage_points.all()}

    def join(pages_done: int) -> None:
        if pages_done <= len(late):
            customer, point = late[pages_done - 1]
            factories.make_grant(customer=customer, third_party=third_party, usage_points=[point], bulk_user=bulk)

    seen, nexts = _walk(client, token, max_results=2, between=join)
    assert sorted(seen) == sorted(members)  # every member present when the walk began, exactly once
    assert all("cursor=" in link for link in nexts)
    assert [link.split("start-index=")[1].split("&")[0] for link in nexts] == ["3", "5", "7", "9"]
    # Rows inserted after the last page are read by the next walk.
    seen_again, _ = _walk(client, token, max_results=2)
    assert len(seen_again) == len(set(seen_again)) == 12


def test_start_index_without_a_cursor_still_pages_by_position(client, bulk_of):
    _, _, customers, token = bulk_of(5)
    in_order = [p.public_id for p in UsagePoint.objects.filter(customer__in=customers).order_by("pk")]
    data = body_of(fetch(client, f"{RESOURCE}/Batch/Bulk/7", token, **{"start-index": "3", "max-results": "2"}))
    assert Feed.of(data).ids_of("UsagePoint") == set(in_order[2:4])


def test_a_cursor_is_bound_to_its_bulk_and_start_index_and_a_forged_one_is_400(client, bulk_of):
    _, _, customers, token = bulk_of(5)
    _, nexts = _walk(client, token, max_results=2)
    query = dict(part.split("=", 1) for part in nexts[0].split("?", 1)[1].split("&"))
    # The same cursor with another start-index is ignored: the page is cut by position.
    moved = body_of(fetch(client, f"{RESOURCE}/Batch/Bulk/7", token, **{**query, "start-index": "1"}))
    first = body_of(fetch(client, f"{RESOURCE}/Batch/Bulk/7", token, **{"max-results": "2"}))
    assert Feed.of(moved).ids_of("UsagePoint") == Feed.of(first).ids_of("UsagePoint")
    cursor = query["cursor"]
    forged = cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB")
    for bad in (forged, "not-a-cursor", "x" * 500):
        response = fetch(client, f"{RESOURCE}/Batch/Bulk/7", token, **{**query, "cursor": bad})
        assert response.status_code == 400, bad
        assert response.json()["parameter"] == "cursor"
    # A cursor means nothing on a feed that does not page by it: an unknown parameter there.
    grant = customers[0].grants.get()
    response = fetch(
        client, f"{RESOURCE}/Batch/Subscription/{grant.subscription_id}", access_token_for(grant), cursor=cursor
    )
    assert response.status_code == 400


def test_bulk_reads_show_in_each_members_access_history(client, bulk_of):
    _, _, customers, token = bulk_of(4)
    fetch(client, f"{RESOURCE}/Batch/Bulk/7", token, **{"max-results": "3"})
    seen, _ = _walk(client, token, max_results=3)
    assert len(seen) == 4
    for customer in customers[:3]:
        reads = [e for e in access_history_for_customer(customer=customer) if e.action == AuditEvent.Action.DATA_READ]
        assert len(reads) == 2  # the lone first page, then the walk's first page
    last = customers[3]
    reads = [e for e in access_history_for_customer(customer=last) if e.action == AuditEvent.Action.DATA_READ]
    assert len(reads) == 1  # only the walk's second page served it


def test_the_history_page_says_who_read_the_bulk_members_data(client, bulk_of):
    _, _, customers, token = bulk_of(2)
    fetch(client, f"{RESOURCE}/Batch/Bulk/7", token)
    client.force_login(customers[1].user)
    html = client.get("/history/").content.decode()
    assert "Bulk Co 7 read P1&#x27;s" in html
    assert "P0" not in html


def test_head_records_no_read(client, bulk_of):
    _, _, customers, token = bulk_of(2)
    grant = customers[0].grants.get()
    before = _reads()
    for path, bearer_token in (
        ("Batch/Bulk/7", token),
        (f"Batch/Subscription/{grant.subscription_id}", access_token_for(grant)),
        (f"Subscription/{grant.subscription_id}/UsagePoint", access_token_for(grant)),
    ):
        response = client.head(f"{RESOURCE}/{path}", HTTP_AUTHORIZATION=f"Bearer {bearer_token}")
        assert response.status_code == 200, path
        assert response["Content-Type"] == "application/atom+xml"
    assert _reads() == before
