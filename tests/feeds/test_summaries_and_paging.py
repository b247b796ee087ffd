"""UsageSummary and ElectricPowerQualitySummary resource reads; start-index/max-results on every feed."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from custodian.models import ElectricPowerQualitySummary, UsageSummary
from tests import factories
from tests.feeds.conftest import DAY, NS, RESOURCE, Feed, access_token_for, assert_valid, body_of, fetch

pytestmark = pytest.mark.django_db


def get(client, path: str, token: str, **query):
    return fetch(client, f"{RESOURCE}/{path}", token, **query)


def test_usage_summary_and_power_quality_reads_follow_the_feed_hrefs(client, feed_world):
    grant, token = feed_world.grants["alice"], feed_world.tokens["alice"]
    point = feed_world.points["alice_home"]
    batch = Feed.of(body_of(get(client, f"Batch/Subscription/{grant.subscription_id}", token)))
    summary_hrefs = [h for h in batch.hrefs() if "/UsageSummary/" in h or "/ElectricPowerQualitySummary/" in h]
    # Only home's: the cabin was taken back.
    assert len(summary_hrefs) == 2 and all(f"/UsagePoint/{point.public_id}/" in h for h in summary_hrefs)
    for href in summary_hrefs:
        response = fetch(client, urlsplit(href).path, token)
        assert response.status_code == 200, href
        data = body_of(response)
        assert_valid(data)
        assert Feed.of(data).root.xpath("/a:entry/a:link[@rel='self']/@href", namespaces=NS) == [href]
    up = f"Subscription/{grant.subscription_id}/UsagePoint/{point.public_id}"
    for collection, kind in (
        ("UsageSummary", "UsageSummary"),
        ("ElectricPowerQualitySummary", "ElectricPowerQualitySummary"),
    ):
        data = body_of(get(client, f"{up}/{collection}", token))
        assert_valid(data)
        assert Feed.of(data).kinds() == [kind]


def test_summary_reads_need_their_function_blocks_and_the_window(client, feed_world):
    alice, tp = feed_world.customers["alice"], feed_world.tp
    point = feed_world.points["alice_garage"]
    # FB 4 only: no summaries, no power quality; the collections are empty, the members 404.
    grant = factories.make_grant(
        customer=alice,
        third_party=tp,
        usage_points=[point],
        scope="FB=1_3_4;IntervalDuration=900;BlockDuration=daily;HistoryLength=94608000",
    )
    token = access_token_for(grant)
    up = f"Subscription/{grant.subscription_id}/UsagePoint/{point.public_id}"
    summary = point.usage_summaries.get()
    quality = point.power_quality_summaries.get()
    for collection in ("UsageSummary", "ElectricPowerQualitySummary"):
        response = get(client, f"{up}/{collection}", token)
        assert response.status_code == 200
        assert Feed.of(body_of(response)).kinds() == []
    assert get(client, f"{up}/UsageSummary/{summary.public_id}", token).status_code == 404
    assert get(client, f"{up}/ElectricPowerQualitySummary/{quality.public_id}", token).status_code == 404
    # Another usage point's summary under this one, or another grant's token: the same 404.
    other = feed_world.points["alice_home"].usage_summaries.get()
    full = factories.make_grant(customer=alice, third_party=tp, usage_points=[point])
    full_token = access_token_for(full)
    full_up = f"Subscription/{full.subscription_id}/UsagePoint/{point.public_id}"
    assert get(client, f"{full_up}/UsageSummary/{summary.public_id}", full_token).status_code == 200
    assert get(client, f"{full_up}/UsageSummary/{other.public_id}", full_token).status_code == 404
    assert get(client, f"{full_up}/UsageSummary/{summary.public_id}", token).status_code == 404
    # Outside the history window: the summary is gone from the collection and its member is 404.
    UsageSummary.objects.filter(pk=summary.pk).update(
        billing_period_start=summary.billing_period_start - 4 * 365 * DAY,
        status_time_stamp=summary.status_time_stamp - 4 * 365 * DAY,
    )
    ElectricPowerQualitySummary.objects.filter(pk=quality.pk).update(
        summary_interval_start=quality.summary_interval_start - 4 * 365 * DAY
    )
    assert get(client, f"{full_up}/UsageSummary/{summary.public_id}", full_token).status_code == 404
    assert get(client, f"{full_up}/ElectricPowerQualitySummary/{quality.public_id}", full_token).status_code == 404
    assert Feed.of(body_of(get(client, f"{full_up}/UsageSummary", full_token))).kinds() == []


def walk(client, path: str, token: str, max_results: int) -> tuple[list[str], int]:
    """Follow ``next`` links from the first page; return the self hrefs of every page's entries and the pages."""
    seen: list[str] = []
    query = {"max-results": str(max_results)}
    pages = 0
    while True:
        response = get(client, path, token, **query)
        assert response.status_code == 200
        data = body_of(response)
        assert_valid(data)
        feed = Feed.of(data)
        seen += feed.hrefs()
        pages += 1
        following = feed.feed_links("next")
        if not following:
            return seen, pages
        query = dict(part.split("=") for part in following[0].split("?", 1)[1].split("&"))


def test_subscription_and_resource_feeds_page_with_start_index_and_max_results(client, feed_world):
    alice, tp = feed_world.customers["alice"], feed_world.tp
    points = [feed_world.points["alice_home"], feed_world.points["alice_garage"]]
    grant = factories.make_grant(customer=alice, third_party=tp, usage_points=points)
    token = access_token_for(grant)
    sub = grant.subscription_id
    whole = Feed.of(body_of(get(client, f"Batch/Subscription/{sub}", token)))
    assert whole.feed_links("next") == []
    paged, pages = walk(client, f"Batch/Subscription/{sub}", token, 1)
    assert pages == 2  # one usage point, with its whole tree, per page
    # Every page is a whole feed: the shared ReadingType and LocalTimeParameters come again on each.
    assert set(paged) == set(whole.hrefs())
    points_seen = [h for h in paged if h.rsplit("/", 2)[-2] == "UsagePoint"]
    assert len(points_seen) == len(set(points_seen)) == 2
    up = f"Subscription/{sub}/UsagePoint/{points[0].public_id}"
    blocks_url = f"{up}/MeterReading/{points[0].meter_readings.get().public_id}/IntervalBlock"
    all_blocks = Feed.of(body_of(get(client, blocks_url, token))).hrefs()
    assert len(all_blocks) == 5
    paged_blocks, pages = walk(client, blocks_url, token, 2)
    assert (paged_blocks, pages) == (all_blocks, 3)
    third = Feed.of(body_of(get(client, blocks_url, token, **{"start-index": "3", "max-results": "1"})))
    assert third.hrefs() == all_blocks[2:3]
    assert Feed.of(body_of(get(client, f"Subscription/{sub}/UsagePoint", token, **{"max-results": "1"}))).feed_links(
        "next"
    )
    retail = f"Batch/RetailCustomer/{alice.public_id}/UsagePoint"
    everything = Feed.of(body_of(get(client, retail, feed_world.custodian_token))).hrefs()
    paged_retail, pages = walk(client, retail, feed_world.custodian_token, 1)
    assert pages == 3 and set(paged_retail) == set(everything)
    for query in ({"max-results": "All"}, {"start-index": "0"}, {"depth": "All"}, {"published-min": "03/01/2016"}):
        assert get(client, blocks_url, token, **query).status_code == 400
        assert get(client, f"Batch/Subscription/{sub}", token, **query).status_code == 400
