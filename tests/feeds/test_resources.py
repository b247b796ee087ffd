"""Resource-level reads: Subscription/{id}/UsagePoint/..., ReadingType/{id}, LocalTimeParameters/{id}."""

from __future__ import annotations

import pytest

from custodian.models import AuditEvent, IntervalBlock, LocalTimeParameters, MeterReading, ReadingType
from tests import factories
from tests.feeds.conftest import DAY, RESOURCE, Feed, access_token_for, assert_valid, body_of, fetch

pytestmark = pytest.mark.django_db


def get(client, path: str, token: str, **query):
    return fetch(client, f"{RESOURCE}/{path}", token, **query)


@pytest.fixture
def alice(feed_world):
    grant = feed_world.grants["alice"]
    point = feed_world.points["alice_home"]
    meter_reading = MeterReading.objects.get(usage_point=point)
    return {
        "token": feed_world.tokens["alice"],
        "sub": f"Subscription/{grant.subscription_id}",
        "point": point,
        "mr": meter_reading,
        "blocks": list(IntervalBlock.objects.filter(meter_reading=meter_reading).order_by("start")),
    }


def test_the_usage_point_collection_lists_only_the_grants_points(client, feed_world, alice):
    response = get(client, f"{alice['sub']}/UsagePoint", alice["token"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml"
    data = body_of(response)
    assert_valid(data)
    feed = Feed.of(data)
    assert feed.kinds() == ["UsagePoint"]
    assert feed.ids_of("UsagePoint") == {alice["point"].public_id}


def test_each_level_reads_as_a_valid_entry_or_feed(client, alice):
    up = f"{alice['sub']}/UsagePoint/{alice['point'].public_id}"
    mr = f"{up}/MeterReading/{alice['mr'].public_id}"
    block = alice["blocks"][-1]
    for path, kinds in [
        (up, ["UsagePoint"]),
        (f"{up}/MeterReading", ["MeterReading"]),
        (mr, ["MeterReading"]),
        (f"{mr}/IntervalBlock", ["IntervalBlock"] * 5),
        (f"{mr}/IntervalBlock/{block.public_id}", ["IntervalBlock"]),
    ]:
        response = get(client, path, alice["token"])
        assert response.status_code == 200, path
        data = body_of(response)
        assert_valid(data)
        assert Feed.of(data).kinds() == kinds, path


def test_the_interval_block_collection_takes_the_query_filters(client, alice):
    mr = f"{alice['sub']}/UsagePoint/{alice['point'].public_id}/MeterReading/{alice['mr'].public_id}"
    since = alice["blocks"][-2].published.strftime("%Y-%m-%dT%H:%M:%SZ")
    data = body_of(get(client, f"{mr}/IntervalBlock", alice["token"], **{"published-min": since}))
    assert Feed.of(data).kinds() == ["IntervalBlock"] * 2
    assert get(client, f"{mr}/IntervalBlock", alice["token"], **{"published-min": "soon"}).status_code == 400


def test_ids_below_the_subscription_are_checked_against_the_grant(client, feed_world, alice):
    points = feed_world.points
    other_mr = MeterReading.objects.get(usage_point=points["bob_shop"])
    other_block = IntervalBlock.objects.filter(meter_reading=other_mr).first()
    sub, token = alice["sub"], alice["token"]
    up = f"{sub}/UsagePoint/{alice['point'].public_id}"
    mr = f"{up}/MeterReading/{alice['mr'].public_id}"
    not_yours = [
        f"{sub}/UsagePoint/{points['bob_shop'].public_id}",  # another customer's
        f"{sub}/UsagePoint/{points['alice_garage'].public_id}",  # the customer's, never granted
        f"{sub}/UsagePoint/{points['alice_cabin'].public_id}",  # granted, then taken back
        f"{sub}/UsagePoint/{points['alice_cabin'].public_id}/MeterReading",
        f"{up}/MeterReading/{other_mr.public_id}",  # a meter reading of another usage point
        f"{mr}/IntervalBlock/{other_block.public_id}",  # a block of another meter reading
        f"Subscription/{feed_world.grants['bob'].subscription_id}/UsagePoint",  # another grant's subscription
    ]
    unknown = [
        f"{sub}/UsagePoint/0000000000000000",
        f"{up}/MeterReading/0000000000000000",
        f"{mr}/IntervalBlock/0000000000000000",
    ]
    answers = [(path, get(client, path, token)) for path in not_yours + unknown]
    assert all(response.status_code == 404 for _, response in answers), [
        (p, r.status_code) for p, r in answers if r.status_code != 404
    ]
    # Each level answers "not yours" exactly as it answers "does not exist".
    assert body_of(answers[0][1]) == body_of(answers[7][1])
    assert body_of(answers[4][1]) == body_of(answers[8][1])
    assert body_of(answers[5][1]) == body_of(answers[9][1])


def test_a_block_older_than_the_history_length_is_404(client, feed_world):
    alice = feed_world.customers["alice"]
    point = feed_world.points["alice_garage"]
    scope = factories.DEFAULT_SCOPE.replace("HistoryLength=94608000", f"HistoryLength={2 * DAY}")
    grant = factories.make_grant(customer=alice, third_party=feed_world.tp, usage_points=[point], scope=scope)
    token = access_token_for(grant)
    mr = MeterReading.objects.get(usage_point=point)
    blocks = list(IntervalBlock.objects.filter(meter_reading=mr).order_by("start"))
    base = (
        f"Subscription/{grant.subscription_id}/UsagePoint/{point.public_id}/MeterReading/{mr.public_id}/IntervalBlock"
    )
    assert get(client, f"{base}/{blocks[0].public_id}", token).status_code == 404
    assert get(client, f"{base}/{blocks[-1].public_id}", token).status_code == 200
    assert Feed.of(body_of(get(client, base, token))).kinds() == ["IntervalBlock"] * 2


def test_a_client_token_cannot_use_subscription_resources(client, feed_world, alice):
    assert get(client, f"{alice['sub']}/UsagePoint", feed_world.tp_token).status_code == 403


def test_the_back_office_token_reads_subscription_resources_read_only(client, feed_world, alice):
    """PRODUCT: the custodian token reaches everything read-only."""
    response = get(client, f"{alice['sub']}/UsagePoint", feed_world.custodian_token)
    assert response.status_code == 200
    assert Feed.of(body_of(response)).kinds() == ["UsagePoint"] * len(
        Feed.of(body_of(get(client, f"{alice['sub']}/UsagePoint", alice["token"]))).kinds()
    )
    assert get(client, f"{alice['sub']}x/UsagePoint", feed_world.custodian_token).status_code == 404
    assert (
        client.post(
            f"/espi/1_1/resource/{alice['sub']}/UsagePoint", HTTP_AUTHORIZATION=f"Bearer {feed_world.custodian_token}"
        ).status_code
        == 405
    )


def test_reading_type_and_local_time_parameters_only_if_the_grants_data_uses_them(client, feed_world, alice):
    rt, ltp = feed_world.reading_type, feed_world.ltp
    token = alice["token"]
    for path in (f"ReadingType/{rt.public_id}", f"LocalTimeParameters/{ltp.public_id}"):
        response = get(client, path, token)
        assert response.status_code == 200, path
        assert_valid(body_of(response))
    # Shared resources used only by data outside the grant are not reachable, as if unknown.
    lonely_rt = ReadingType.objects.create(title="Therms", uom=169)
    lonely_ltp = LocalTimeParameters.objects.create(
        dst_end_rule="B40E2000", dst_offset=3600, dst_start_rule="360E2000", tz_offset=0
    )
    bob_mr = MeterReading.objects.get(usage_point=feed_world.points["bob_shop"])
    bob_mr.reading_type = lonely_rt
    bob_mr.save(update_fields=["reading_type"])
    feed_world.points["bob_shop"].local_time_parameters = lonely_ltp
    feed_world.points["bob_shop"].save(update_fields=["local_time_parameters"])
    theirs = [
        get(client, f"ReadingType/{lonely_rt.public_id}", token),
        get(client, f"LocalTimeParameters/{lonely_ltp.public_id}", token),
    ]
    unknown = [
        get(client, "ReadingType/0000000000000000", token),
        get(client, "LocalTimeParameters/0000000000000000", token),
    ]
    assert [r.status_code for r in theirs + unknown] == [404] * 4
    assert body_of(theirs[0]) == body_of(unknown[0])
    # The utility's back office reads any of them; a Third Party's client token none.
    assert get(client, f"ReadingType/{lonely_rt.public_id}", feed_world.custodian_token).status_code == 200
    assert get(client, f"ReadingType/{rt.public_id}", feed_world.tp_token).status_code == 403


def test_resource_reads_are_audited_for_the_customer(client, feed_world, alice):
    before = AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).count()
    body_of(get(client, f"{alice['sub']}/UsagePoint/{alice['point'].public_id}", alice["token"]))
    rows = AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ)
    assert rows.count() == before + 1
    assert rows.order_by("-id").first().customer == feed_world.customers["alice"]
