"""Every ESPI API request's outcome is counted (who, what, status class, bytes sent) and feeds the regulator report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batch.models import ApiRequestCount
from batch.regulator import Quarter, regulator_report
from tests import factories
from tests.feeds.conftest import RESOURCE, make_point_with_data

pytestmark = pytest.mark.django_db


def _get(client, path: str, token: str | None = None, method: str = "get"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return getattr(client, method)(f"{RESOURCE}/{path}", **headers)


def _sent(response) -> int:
    """Read the whole body as the server would send it; return its length."""
    if response.streaming:
        return len(b"".join(response.streaming_content))
    return len(response.content)


@pytest.fixture
def sharing():
    solar, _ = factories.make_third_party(name="Solar Co")
    other, _ = factories.make_third_party(name="Other Co")
    customer = factories.make_customer()
    point = make_point_with_data(customer=customer, title="Home", days=120)
    grant = factories.make_grant(customer=customer, third_party=solar, usage_points=[point])
    return {
        "solar": solar,
        "other": other,
        "grant": grant,
        "token": factories.make_access_token(grant),
        "client_token": factories.make_client_token(solar, scope="FB=3_35"),
        "other_token": factories.make_client_token(other, scope="FB=3_35"),
    }


def _figures(third_party):
    report = regulator_report(quarter=Quarter.containing(timezone.now()))
    rows = {item.third_party_id: item.figures for item in report.by_third_party}
    return report, rows.get(third_party.pk, {})


def test_served_failed_and_bytes_per_third_party(client, sharing):
    subscription = f"Batch/Subscription/{sharing['grant'].subscription_id}"
    feed = _get(client, subscription, sharing["token"])
    assert feed.status_code == 200 and feed.streaming
    feed_bytes = _sent(feed)
    status = _get(client, "ReadServiceStatus", sharing["client_token"])
    assert status.status_code == 200
    status_bytes = _sent(status)
    served_bytes = feed_bytes + status_bytes
    head = _get(client, subscription, sharing["token"], method="head")
    assert head.status_code == 200 and _sent(head) == 0
    # Failures answered to an identified Third Party: not theirs (404), the wrong kind of token (403).
    missing = _get(client, "Batch/Subscription/not-a-subscription", sharing["token"])
    wrong_kind = _get(client, subscription, sharing["client_token"])
    assert (missing.status_code, wrong_kind.status_code) == (404, 403)
    # No valid token: nobody to count it for but the unidentified row.
    anonymous = _get(client, subscription, "not-a-token")
    nobody = _get(client, "ReadServiceStatus")
    assert (anonymous.status_code, nobody.status_code) == (401, 401)
    other = _get(client, "ReadServiceStatus", sharing["other_token"])
    assert other.status_code == 200
    other_bytes = _sent(other)

    report, solar = _figures(sharing["solar"])
    assert solar["requests_served"] == 3  # feed, status, HEAD
    assert solar["requests_failed"] == 2
    assert solar["bytes_served"] == served_bytes  # the HEAD sent no body
    assert report.unidentified_failed == 2
    assert _figures(sharing["other"])[1]["requests_served"] == 1
    kinds = {(kind, method): rest for kind, method, *rest in report.by_kind}
    assert kinds[("batch-subscription", "GET")] == [1, 3, feed_bytes]
    assert kinds[("batch-subscription", "HEAD")] == [1, 0, 0]
    assert kinds[("read-service-status", "GET")] == [2, 1, status_bytes + other_bytes]
    assert report.total("requests_served") == 4 and report.total("bytes_served") == served_bytes + other_bytes


def test_a_feed_cut_short_counts_the_bytes_sent(client, sharing):
    feed = _get(client, f"Batch/Subscription/{sharing['grant'].subscription_id}", sharing["token"])
    chunks = iter(feed.streaming_content)
    first = next(chunks)
    # The client went away after the first chunk: stopping the test client's body iterator closes
    # the response as a WSGI server does (keeping the test's database connection open).
    feed._iterator.close()
    whole = _sent(_get(client, f"Batch/Subscription/{sharing['grant'].subscription_id}", sharing["token"]))
    assert len(first) < whole
    row = ApiRequestCount.objects.get(third_party=sharing["solar"], kind="batch-subscription")
    assert (row.requests, row.bytes) == (2, len(first) + whole)


def test_one_row_per_day_client_kind_and_status_class(client, sharing, _clock):
    for _ in range(5):
        assert _sent(_get(client, "ReadServiceStatus", sharing["client_token"])) > 0
    with CaptureQueriesContext(connection) as one:
        _sent(_get(client, "ReadServiceStatus", sharing["client_token"]))
    with CaptureQueriesContext(connection) as another:
        _sent(_get(client, "ReadServiceStatus", sharing["client_token"]))
    assert len(one) == len(another)
    assert ApiRequestCount.objects.count() == 1
    assert ApiRequestCount.objects.get().requests == 7
    _clock.shift(timedelta(days=1))
    _sent(_get(client, "ReadServiceStatus", sharing["client_token"]))
    days = list(ApiRequestCount.objects.order_by("day").values_list("day", "requests"))
    assert [count for _day, count in days] == [7, 1] and days[1][0] - days[0][0] == timedelta(days=1)


def test_other_urls_are_not_counted(client, customer):
    client.force_login(customer.user)
    assert client.get(reverse("grant-list")).status_code == 200
    assert not ApiRequestCount.objects.exists()


def test_the_report_page_shows_requests(admin_client, client, sharing):
    _sent(_get(client, "ReadServiceStatus", sharing["client_token"]))
    _sent(_get(client, "ReadServiceStatus", "not-a-token"))
    body = admin_client.get(reverse("admin_regulator_report")).content.decode()
    assert '<td id="report-unidentified-failed">1</td>' in body
    assert '<table id="report-by-kind">' in body and '<th scope="row">read-service-status</th>' in body
    csv_body = admin_client.get(reverse("admin_regulator_report"), {"format": "csv"}).content.decode()
    assert "data requests failed without an identified Third Party,1" in csv_body
    assert "read-service-status,GET,1,1," in csv_body
