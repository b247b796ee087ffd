"""A Third Party posting back the subscription feed it read changes nothing: every entry ``unchanged`` (rule 10)."""

from __future__ import annotations

import re

from django.test import Client

from custodian.espi.parser import iter_entries
from tests import factories
from tests.batch.conftest import (
    access_token,
    customer_path,
    post,
    sample_feed,
    sample_uuid,
    snapshot,
    subscription_path,
)

SAMPLE_RT = "3430B025-65D5-493A-BEC2-053603C91CD7"
SAMPLE_LTP = "54C62EBE-2DB6-4D4F-B6BF-1973A079C841"
# Every function block with data, no HistoryLength: the whole sample (2012 readings) is in the feed.
SCOPE = "FB=1_3_4_5_13_14_15_16_17_35_39;IntervalDuration=900_3600;BlockDuration=daily"


def read_subscription(grant, token: str) -> bytes:
    response = Client().get(
        f"/espi/1_1/resource/Batch/Subscription/{grant.subscription_id}", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def test_a_third_party_posting_back_its_own_subscription_feed_gets_all_unchanged(upload_world):
    alice, a2 = upload_world.alice, upload_world.a2
    # The utility loads alice's data; she grants the Third Party a subscription of that usage point.
    loaded = post(customer_path(alice), sample_feed(usage_point=a2, salt="back"), upload_world.custodian_token)
    assert loaded.status_code == 200, loaded.json()
    # bob's data, loaded too, shares alice's ReadingType and LocalTimeParameters (as one utility's data does).
    bobs = sample_feed(usage_point=upload_world.b1, salt="bob")
    for original in (SAMPLE_RT, SAMPLE_LTP):
        bobs = bobs.replace(str(sample_uuid("bob", original)).encode(), str(sample_uuid("back", original)).encode())
    assert post(customer_path(upload_world.bob), bobs, upload_world.custodian_token).status_code == 200
    third_party, _ = factories.make_third_party(name="Back and forth", scopes=(SCOPE,))
    grant = factories.make_grant(customer=alice, third_party=third_party, usage_points=[a2], scope=SCOPE)
    token = access_token(grant)
    feed = read_subscription(grant, token)
    entries = len(list(iter_entries(feed)))
    before = snapshot()

    for mode in ("", "?mode=strict"):
        response = post(subscription_path(grant) + mode, feed, token)
        assert response.status_code == 200, response.json()
        report = response.json()
        assert report["counts"]["rejected"] == 0, [r for r in report["entries"] if r["reason"]]
        assert report["counts"]["unchanged"] == report["counts"]["received"] == entries > 0
        assert report["counts"]["created"] == report["counts"]["updated"] == report["counts"]["readings_written"] == 0
        assert {(row["status"], row["change"]) for row in report["entries"]} == {("accepted", "unchanged")}
        assert snapshot() == before
    # What it reads now is what it read before (but the feed's own <updated>, the time it was read).
    assert without_feed_stamp(read_subscription(grant, token)) == without_feed_stamp(feed)


def without_feed_stamp(feed: bytes) -> bytes:
    return re.sub(rb"<updated>[^<]*</updated>", b"", feed, count=1)
