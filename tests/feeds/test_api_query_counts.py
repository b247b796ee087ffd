"""The per-request cost of the ESPI API in queries: ReadServiceStatus and a small Batch/Subscription GET.

Every query of the request counts, the middleware's included (the request counter, the audit row):
these are the paths ``bench/api_overhead.py`` measures against django-oauth-toolkit's own protected
view. Both databases run the same statements (the test's transaction hides no query).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from batch.models import ApiRequestCount
from batch.services_requests import api_request_record
from custodian.models import AuditEvent, IntervalBlock, MeterReading, ReadingType
from tests import factories
from tests.feeds.conftest import DAY, RESOURCE, Feed, fetch, make_point_with_data, midnight_today

pytestmark = pytest.mark.django_db

#: The bearer token (one query, its client and user joined) and the request counter (one upsert).
READ_SERVICE_STATUS_QUERIES = 2
#: Token, grant binding, the grant's usage points with their rows (also the asynchronous-or-not
#: count), the audit row, meter readings with their ReadingType, which summaries exist (both kinds
#: at once), interval blocks, the request counter.
SMALL_SUBSCRIPTION_QUERIES = 8
#: With summaries of both kinds: each read in its window (two more).
SUBSCRIPTION_WITH_SUMMARIES_QUERIES = 10


def _day_of_readings(customer):
    """One usage point with one day of 15-minute readings and no summaries, as the bench loads."""
    point = factories.make_usage_point(customer=customer, title="Home")
    reading_type = ReadingType.objects.create(title="Wh 15 min", uom=72, kind=12, interval_length=900, commodity=1)
    meter_reading = MeterReading.objects.create(usage_point=point, reading_type=reading_type, title="Energy")
    day = midnight_today() - timedelta(days=1)
    start = int(day.timestamp())
    block = IntervalBlock(meter_reading=meter_reading, start=start, duration=DAY, published=day, updated=day)
    block.set_readings((start + slot * 900, 900, 200 + slot, None, None, None) for slot in range(96))
    block.save()
    return point


@pytest.fixture
def sharing():
    solar, _ = factories.make_third_party(name="Solar Co")
    customer = factories.make_customer()
    small = factories.make_grant(customer=customer, third_party=solar, usage_points=[_day_of_readings(customer)])
    other = factories.make_customer()
    summarized = factories.make_grant(
        customer=other, third_party=solar, usage_points=[make_point_with_data(customer=other, title="Shop", days=2)]
    )
    return {
        "small": small,
        "small_token": factories.make_access_token(small),
        "summarized": summarized,
        "summarized_token": factories.make_access_token(summarized),
        "client_token": factories.make_client_token(solar, scope="FB=3_35"),
    }


def _queries(client, path: str, token: str) -> list[str]:
    fetch(client, f"{RESOURCE}/{path}", token)  # the first request of a process fills its caches
    with CaptureQueriesContext(connection) as captured:
        response = fetch(client, f"{RESOURCE}/{path}", token)
    assert response.status_code == 200, response.body
    return [query["sql"] for query in captured.captured_queries]


def test_read_service_status_is_two_queries(client, sharing):
    queries = _queries(client, "ReadServiceStatus", sharing["client_token"])
    assert len(queries) == READ_SERVICE_STATUS_QUERIES, "\n".join(queries)
    # Looked up on the unique checksum: no sort.
    assert "ORDER BY" not in queries[0]


def test_small_subscription_queries(client, sharing):
    grant = sharing["small"]
    before = AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ, customer_id=grant.customer_id).count()
    queries = _queries(client, f"Batch/Subscription/{grant.subscription_id}", sharing["small_token"])
    assert len(queries) == SMALL_SUBSCRIPTION_QUERIES, "\n".join(queries)
    assert sum(query.startswith("SELECT COUNT") for query in queries) == 0
    # Each of the two reads left its audit row: the customer's access history shows both.
    after = AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ, customer_id=grant.customer_id).count()
    assert after == before + 2


def test_subscription_with_summaries_queries(client, sharing):
    grant = sharing["summarized"]
    queries = _queries(client, f"Batch/Subscription/{grant.subscription_id}", sharing["summarized_token"])
    assert len(queries) == SUBSCRIPTION_WITH_SUMMARIES_QUERIES, "\n".join(queries)


@pytest.mark.django_db(transaction=True)
def test_counter_outside_a_transaction_counts_and_leaves_commits_synchronous():
    """In autocommit the counter is one statement of its own; the session's commits stay synchronous after it."""
    solar, _ = factories.make_third_party(name="Solar Co")
    day = timezone.localdate()
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            api_request_record(
                day=day, third_party_id=solar.pk, kind="read-service-status", method="GET", status=200, bytes_sent=10
            )
        assert len(captured.captured_queries) == 1
    row = ApiRequestCount.objects.get(third_party=solar, kind="read-service-status")
    assert (row.requests, row.bytes) == (2, 20)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"


def test_a_grant_past_the_preloaded_rows_reads_the_same_feed(client, monkeypatch):
    """Past ``GRANT_ROWS_WITH_REACH`` usage points the rows are read a chunk at a time: the same entries."""
    from batch import reach
    from batch.feed_entries import ROW_CHUNK

    assert reach.GRANT_ROWS_WITH_REACH == ROW_CHUNK  # never more rows at once than a chunk of a feed
    solar, _ = factories.make_third_party(name="Solar Co")
    customer = factories.make_customer()
    points = [make_point_with_data(customer=customer, title=title, days=2) for title in ("Home", "Barn", "Shop")]
    grant = factories.make_grant(customer=customer, third_party=solar, usage_points=points)
    token = factories.make_access_token(grant)
    path = f"{RESOURCE}/Batch/Subscription/{grant.subscription_id}"
    preloaded = fetch(client, path, token)
    monkeypatch.setattr(reach, "GRANT_ROWS_WITH_REACH", 2)
    with CaptureQueriesContext(connection) as captured:
        chunked = fetch(client, path, token)
    assert preloaded.status_code == chunked.status_code == 200
    assert Feed.of(chunked.body).hrefs() == Feed.of(preloaded.body).hrefs()
    assert len(Feed.of(preloaded.body).hrefs("up")) > len(points)
    # The usage points listed by id, then their rows read: two more queries.
    assert len(captured.captured_queries) == SUBSCRIPTION_WITH_SUMMARIES_QUERIES + 2


def test_the_benchs_same_work_baseline_serves_the_portals_feed(client, sharing, settings):
    """``bench.urls_baseline``'s DOT view writes the very feed the portal serves (timestamps aside).

    ``bench/api_overhead.py`` reads the difference between the two as what the portal's path adds
    to the work; that holds only while the baseline does the same work.
    """
    grant = sharing["small"]
    portal = fetch(client, f"{RESOURCE}/Batch/Subscription/{grant.subscription_id}", sharing["small_token"])
    settings.ROOT_URLCONF = "bench.urls_baseline"
    baseline = fetch(client, f"/bench/dot-subscription/{grant.subscription_id}", sharing["small_token"])
    other = fetch(client, f"/bench/dot-subscription/{sharing['summarized'].subscription_id}", sharing["small_token"])

    def blank(body: bytes) -> bytes:
        return re.sub(rb"<updated>[^<]*</updated>", b"<updated/>", body)

    assert portal.status_code == baseline.status_code == 200
    assert b"<IntervalReading>" in portal.body
    assert blank(baseline.body) == blank(portal.body)
    # Even the baseline serves a token only its own grant's feed.
    assert other.status_code == 404
