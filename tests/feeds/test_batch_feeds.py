"""GET Batch/Subscription, Batch/Bulk and Batch/RetailCustomer: exactly what was granted, valid ESPI, streamed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from custodian.models import AuditEvent, IntervalBlock
from grants import services as grant_services
from grants.access_history import access_history_for_customer
from grants.models import Grant
from tests import factories
from tests.feeds.conftest import (
    DAY,
    RESOURCE,
    Feed,
    access_token_for,
    assert_valid,
    bearer,
    body_of,
    client_token_for,
    fetch,
    make_point_with_data,
    midnight_today,
)
from tests.grants.oauth_helpers import client_credentials

pytestmark = pytest.mark.django_db


def get_feed(client, path: str, token: str, **query):
    return fetch(client, f"{RESOURCE}/{path}", token, **query)


# ---- Batch/Subscription -------------------------------------------------------------------------


def test_subscription_feed_is_valid_espi_with_the_whole_tree(client, feed_world):
    grant = feed_world.grants["alice"]
    response = get_feed(client, f"Batch/Subscription/{grant.subscription_id}", feed_world.tokens["alice"])
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/atom+xml"
    data = body_of(response)
    assert_valid(data)
    feed = Feed.of(data)
    assert feed.ids_of("UsagePoint") == {feed_world.points["alice_home"].public_id}
    assert sorted(set(feed.kinds())) == sorted(
        {
            "UsagePoint",
            "LocalTimeParameters",
            "MeterReading",
            "ReadingType",
            "IntervalBlock",
            "UsageSummary",
            "ElectricPowerQualitySummary",
        }
    )
    assert feed.kinds().count("IntervalBlock") == 5
    # Hrefs live under the grant's Subscription, with absolute URLs under the resource root.
    assert all(f"/Subscription/{grant.subscription_id}/UsagePoint" in h for h in feed.hrefs() if "UsagePoint" in h)
    assert feed.feed_links("self")[0].endswith(f"{RESOURCE}/Batch/Subscription/{grant.subscription_id}")


def test_usage_points_not_granted_or_taken_back_never_appear(client, feed_world):
    grant = feed_world.grants["alice"]
    data = body_of(get_feed(client, f"Batch/Subscription/{grant.subscription_id}", feed_world.tokens["alice"]))
    feed = Feed.of(data)
    for name in ("alice_garage", "alice_cabin"):
        point = feed_world.points[name]
        assert point.public_id.encode() not in data
        assert str(point.uuid).upper().encode() not in data
    assert len(feed.ids_of("MeterReading")) == 1


def test_data_older_than_the_history_length_never_appears(client, feed_world):
    alice = feed_world.customers["alice"]
    point = make_point_with_data(customer=alice, title="Long history", days=10, reading_type=feed_world.reading_type)
    # Three days of history, minus six hours: the oldest day shown is cut in its middle.
    history = 3 * DAY - 6 * 3600
    scope = factories.DEFAULT_SCOPE.replace("HistoryLength=94608000", f"HistoryLength={history}")
    grant = factories.make_grant(customer=alice, third_party=feed_world.tp, usage_points=[point], scope=scope)
    token = access_token_for(grant)
    before = int(timezone.now().timestamp()) - history
    data = body_of(get_feed(client, f"Batch/Subscription/{grant.subscription_id}", token))
    assert_valid(data)
    feed = Feed.of(data)
    starts = feed.reading_starts()
    assert starts, "recent readings are shown"
    # Every reading shown started inside the window.
    assert min(starts) >= before - 1
    # The window cuts one block in its middle (it is shown, clipped); blocks wholly before it never appear.
    block_starts = sorted(
        IntervalBlock.objects.filter(meter_reading__usage_point=point).values_list("start", flat=True)
    )
    shown = [start for start in block_starts if start + DAY > before]
    hidden = [start for start in block_starts if start + DAY <= before]
    assert hidden, "the fixture has data older than the history length"
    assert feed.kinds().count("IntervalBlock") == len(shown)
    assert shown[0] < before < shown[0] + DAY
    assert shown[0] not in starts
    for start in hidden:
        assert str(start).encode() not in data


def test_a_client_token_on_batch_subscription_is_403(client, feed_world):
    grant = feed_world.grants["alice"]
    response = get_feed(client, f"Batch/Subscription/{grant.subscription_id}", feed_world.tp_token)
    assert response.status_code == 403


def test_revoked_and_expired_grants_reach_nothing(client, feed_world):
    revoked = feed_world.grants["bob_revoked"]
    response = get_feed(client, f"Batch/Subscription/{revoked.subscription_id}", feed_world.tokens["bob_revoked"])
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    # A grant that expires after its token was issued: the token stops at once, before any sweep runs.
    grant = feed_world.grants["bob"]
    Grant.objects.filter(pk=grant.pk).update(authorized_end=timezone.now() - timedelta(seconds=1))
    response = get_feed(client, f"Batch/Subscription/{grant.subscription_id}", feed_world.tokens["bob"])
    assert response.status_code == 401
    assert grant_services.grant_expire_due() >= 1
    response = get_feed(client, f"Batch/Subscription/{grant.subscription_id}", feed_world.tokens["bob"])
    assert response.status_code == 401


def test_subscription_5_never_reaches_subscription_55(client, feed_world):
    tp, alice = feed_world.tp, feed_world.customers["alice"]
    five = factories.make_grant(customer=alice, third_party=tp, usage_points=[feed_world.points["alice_home"]])
    fifty_five = factories.make_grant(customer=alice, third_party=tp, usage_points=[feed_world.points["alice_garage"]])
    Grant.objects.filter(pk=five.pk).update(subscription_id="5")
    Grant.objects.filter(pk=fifty_five.pk).update(subscription_id="55")
    token_5 = access_token_for(five)
    assert get_feed(client, "Batch/Subscription/5", token_5).status_code == 200
    answers = {}
    # (%35 is "5" itself: percent-encoded unreserved characters are the same URL, RFC 3986 section 6.2.2.2.)
    assert get_feed(client, "Batch/Subscription/%35", token_5).status_code == 200
    # "5/" is Subscription 5 with a trailing slash, which every ESPI URL accepts (WSGI decodes %2F to it);
    # "5//" is not one path segment: no route matches it at all.
    assert get_feed(client, "Batch/Subscription/5/", token_5).status_code == 200
    assert get_feed(client, "Batch/Subscription/5%2F", token_5).status_code == 200
    assert get_feed(client, "Batch/Subscription/5//", token_5).status_code == 404
    for target in ("55", "5 ", "05", "5x", "nonexistent"):
        response = get_feed(client, f"Batch/Subscription/{target}", token_5)
        answers[target] = (response.status_code, body_of(response))
    assert {status for status, _ in answers.values()} == {404}
    assert len({body for _, body in answers.values()}) == 1, "not yours and does not exist answer the same"
    token_55 = access_token_for(fifty_five)
    assert get_feed(client, "Batch/Subscription/5", token_55).status_code == 404
    assert get_feed(client, "Batch/Subscription/55/", token_5).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {"published-min": "2024-01-01"},
        {"published-min": "2024-01-01T00:00:00"},
        {"published-max": "2024-01-01T00:00:00+00:00"},
        {"updated-min": "2024-13-01T00:00:00Z"},
        {"updated-max": "yesterday"},
        {"published-min": "2024-02-01T00:00:00Z", "published-max": "2024-01-01T00:00:00Z"},
        {"max-results": "All"},
        {"start-index": "All"},
        {"depth": "All"},
        {"published-min": "All"},
        {"updated-max": "03/01/2016"},
        {"max-results": "0"},
        {"unknown": "1"},
    ],
)
def test_malformed_query_parameters_are_400_with_a_clear_message(client, feed_world, query):
    grant = feed_world.grants["alice"]
    response = get_feed(client, f"Batch/Subscription/{grant.subscription_id}", feed_world.tokens["alice"], **query)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_query"
    assert body["parameter"] in query
    assert body["parameter"] in body["detail"]


def test_a_repeated_query_parameter_is_400(client, feed_world):
    grant = feed_world.grants["alice"]
    response = client.get(
        f"{RESOURCE}/Batch/Subscription/{grant.subscription_id}?published-min=2024-01-01T00:00:00Z"
        "&published-min=2025-01-01T00:00:00Z",
        **bearer(feed_world.tokens["alice"]),
    )
    assert response.status_code == 400


def test_published_and_updated_filters_are_applied_in_the_query(client, feed_world):
    grant = feed_world.grants["alice"]
    path = f"Batch/Subscription/{grant.subscription_id}"
    since = (midnight_today() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = body_of(get_feed(client, path, feed_world.tokens["alice"], **{"published-min": since}))
    assert_valid(data)
    # Blocks are published at their day's end; min is inclusive: the last three days remain.
    assert Feed.of(data).kinds().count("IntervalBlock") == 3
    until = (midnight_today() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = body_of(get_feed(client, path, feed_world.tokens["alice"], **{"updated-max": until}))
    # max is exclusive: the block updated exactly at `until` is left for the next window.
    assert Feed.of(data).kinds().count("IntervalBlock") == 2
    # The structure stays, so the data can be placed.
    assert "UsagePoint" in Feed.of(data).kinds()


def test_function_blocks_limit_the_kinds_of_data(client, feed_world):
    alice = feed_world.customers["alice"]
    scope = factories.DEFAULT_SCOPE.replace("FB=1_3_4_5_13_14_15_17_35_37_39", "FB=1_3_4_5_13_14_37_39")
    grant = factories.make_grant(
        customer=alice, third_party=feed_world.tp, usage_points=[feed_world.points["alice_home"]], scope=scope
    )
    data = body_of(get_feed(client, f"Batch/Subscription/{grant.subscription_id}", access_token_for(grant)))
    assert_valid(data)
    kinds = set(Feed.of(data).kinds())
    assert "IntervalBlock" in kinds
    assert not kinds & {"UsageSummary", "ElectricPowerQualitySummary"}


def test_a_subscription_read_is_audited_once_for_the_customer(client, feed_world):
    grant = feed_world.grants["alice"]
    before = AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).count()
    body_of(get_feed(client, f"Batch/Subscription/{grant.subscription_id}", feed_world.tokens["alice"]))
    rows = list(AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).order_by("-id"))
    assert len(rows) == before + 1
    assert rows[0].customer == feed_world.customers["alice"]
    assert rows[0].actor_client == feed_world.tp
    assert rows[0].object_id == grant.public_id


# ---- Batch/Bulk ---------------------------------------------------------------------------------


def test_a_bulk_feed_contains_exactly_its_active_members(client, feed_world):
    response = get_feed(client, "Batch/Bulk/1", feed_world.tp_token)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml"
    data = body_of(response)
    assert_valid(data)
    feed = Feed.of(data)
    points = feed_world.points
    assert feed.ids_of("UsagePoint") == {points["alice_home"].public_id, points["bob_shop"].public_id}
    for name in ("alice_garage", "alice_cabin", "bob_revoked", "carol_expired", "carol_ten", "carol_other"):
        assert points[name].public_id.encode() not in data, name
    # Each usage point's hrefs name the Subscription of the grant it comes from.
    grants = feed_world.grants
    hrefs = feed.hrefs()
    assert any(
        f"Subscription/{grants['alice'].subscription_id}/UsagePoint/{points['alice_home'].public_id}" in h
        for h in hrefs
    )
    assert any(
        f"Subscription/{grants['bob'].subscription_id}/UsagePoint/{points['bob_shop'].public_id}" in h for h in hrefs
    )
    # Shared resources appear once, however many usage points use them.
    assert feed.kinds().count("ReadingType") == 1
    assert feed.kinds().count("LocalTimeParameters") == 1
    assert feed.feed_links("next") == []


def test_bulk_10_is_not_bulk_1_and_a_page_is_one_audit_row_in_each_members_history(client, feed_world):
    before = set(AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).values_list("pk", flat=True))
    data = body_of(get_feed(client, "Batch/Bulk/10", feed_world.tp_token))
    assert Feed.of(data).ids_of("UsagePoint") == {feed_world.points["carol_ten"].public_id}
    rows = list(AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).exclude(pk__in=before))
    assert [(r.object_type, r.object_id, r.customer) for r in rows] == [("BulkUser", "10", None)]
    assert rows[0].detail["grants"] == {str(feed_world.grants["carol_ten"].pk): 1}
    customers = feed_world.customers
    assert [e.pk for e in access_history_for_customer(customer=customers["carol"])][:1] == [rows[0].pk]
    body_of(get_feed(client, "Batch/Bulk/1", feed_world.tp_token))
    rows = list(AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).exclude(pk__in=before))
    assert len(rows) == 2
    bulk_1 = next(r for r in rows if r.object_id == "1")
    # Every member served by the page finds the one row in their history; a member of bulk 10 only
    # (carol) finds the bulk 10 read, not the bulk 1 read, and another Third Party's member neither.
    for name in ("alice", "bob"):
        assert bulk_1.pk in {e.pk for e in access_history_for_customer(customer=customers[name])}, name
    carol = {e.pk for e in access_history_for_customer(customer=customers["carol"])}
    assert bulk_1.pk not in carol


def test_a_revoked_member_leaves_the_bulk_at_once(client, feed_world):
    grant_services.grant_revoke(grant=feed_world.grants["bob"])
    data = body_of(get_feed(client, "Batch/Bulk/1", feed_world.tp_token))
    assert Feed.of(data).ids_of("UsagePoint") == {feed_world.points["alice_home"].public_id}


def test_bulk_ids_are_whole_strings_and_bola_between_third_parties(client, feed_world):
    answers = {}
    for bulk_id in ("1", "10", "100", "01", "1x", "nope"):
        answers[bulk_id] = get_feed(client, f"Batch/Bulk/{bulk_id}", feed_world.tp_token).status_code
    assert answers == {"1": 200, "10": 200, "100": 404, "01": 404, "1x": 404, "nope": 404}
    # Other Co has its own bulk "1": its client token reaches only its own members.
    data = body_of(get_feed(client, "Batch/Bulk/1", feed_world.other_tp_token))
    assert Feed.of(data).ids_of("UsagePoint") == {feed_world.points["carol_other"].public_id}
    # And Solar Co's bulk 10 does not exist for Other Co: the same 404 as an unknown bulk.
    theirs = get_feed(client, "Batch/Bulk/10", feed_world.other_tp_token)
    unknown = get_feed(client, "Batch/Bulk/nope", feed_world.other_tp_token)
    assert theirs.status_code == unknown.status_code == 404
    assert body_of(theirs) == body_of(unknown)


def test_a_client_token_scoped_to_bulk_1_does_not_reach_bulk_10(client, feed_world):
    token = client_token_for(feed_world.tp, scope="FB=3_35;BR=1")
    assert get_feed(client, "Batch/Bulk/1", token).status_code == 200
    assert get_feed(client, "Batch/Bulk/10", token).status_code == 404


@pytest.mark.parametrize("kind", ["access", "custodian"])
def test_other_tokens_on_batch_bulk_are_403(client, feed_world, kind):
    token = feed_world.tokens["alice"] if kind == "access" else feed_world.custodian_token
    assert get_feed(client, "Batch/Bulk/1", token).status_code == 403


def test_no_token_is_401_with_a_challenge(client, feed_world):
    response = client.get(f"{RESOURCE}/Batch/Bulk/1")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_bulk_paging_walks_every_member_once(client, feed_world):
    tp, bulk = feed_world.tp, feed_world.bulks["1"]
    for i in range(3):
        customer = factories.make_customer(username=f"pager{i}")
        point = make_point_with_data(customer=customer, title="P", days=1, reading_type=feed_world.reading_type)
        factories.make_grant(customer=customer, third_party=tp, usage_points=[point], bulk_user=bulk)
    seen: list[str] = []
    query = {"max-results": "2"}
    pages = 0
    while True:
        data = body_of(get_feed(client, "Batch/Bulk/1", feed_world.tp_token, **query))
        assert_valid(data)
        feed = Feed.of(data)
        seen += sorted(feed.ids_of("UsagePoint"))
        pages += 1
        following = feed.feed_links("next")
        if not following:
            break
        assert "max-results=2" in following[0]
        query = dict(part.split("=") for part in following[0].split("?", 1)[1].split("&"))
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5


@pytest.mark.parametrize(
    "query", [{"max-results": "0"}, {"max-results": "100000"}, {"start-index": "0"}, {"start-index": "-1"}]
)
def test_bad_paging_is_400(client, feed_world, query):
    response = get_feed(client, "Batch/Bulk/1", feed_world.tp_token, **query)
    assert response.status_code == 400
    assert response.json()["parameter"] in query


def test_past_the_last_page_is_an_empty_valid_feed(client, feed_world):
    data = body_of(get_feed(client, "Batch/Bulk/1", feed_world.tp_token, **{"start-index": "50"}))
    assert_valid(data)
    assert Feed.of(data).kinds() == []


# ---- Batch/RetailCustomer -----------------------------------------------------------------------


def test_the_back_office_reads_a_whole_customer(client, feed_world):
    alice = feed_world.customers["alice"]
    path = f"Batch/RetailCustomer/{alice.public_id}/UsagePoint"
    response = get_feed(client, path, feed_world.custodian_token)
    assert response.status_code == 200
    data = body_of(response)
    assert_valid(data)
    feed = Feed.of(data)
    assert feed.ids_of("UsagePoint") == {
        feed_world.points[name].public_id for name in ("alice_home", "alice_garage", "alice_cabin")
    }
    assert all(f"RetailCustomer/{alice.public_id}/UsagePoint" in h for h in feed.hrefs() if "UsagePoint/" in h)
    assert IntervalBlock.objects.filter(meter_reading__usage_point__customer=alice).count() == feed.kinds().count(
        "IntervalBlock"
    )
    row = AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).order_by("-id").first()
    assert row.customer == alice and row.actor_client == feed_world.custodian


def test_retail_customer_feed_refuses_other_tokens_and_unknown_ids(client, feed_world):
    alice = feed_world.customers["alice"]
    path = f"Batch/RetailCustomer/{alice.public_id}/UsagePoint"
    assert get_feed(client, path, feed_world.tp_token).status_code == 403
    assert get_feed(client, path, feed_world.tokens["alice"]).status_code == 403
    assert get_feed(client, "Batch/RetailCustomer/unknown/UsagePoint", feed_world.custodian_token).status_code == 404


def test_a_client_credentials_token_from_oauth_token_reads_its_bulk(client, feed_world):
    tp, secret = factories.make_third_party(name="Fresh Co", client_secret="fresh-secret-for-tests-only")
    bulk = factories.make_bulk_user(third_party=tp, bulk_id="7")
    customer = feed_world.customers["bob"]
    point = make_point_with_data(customer=customer, title="Fresh", days=2, reading_type=feed_world.reading_type)
    factories.make_grant(customer=customer, third_party=tp, usage_points=[point], bulk_user=bulk)
    response = client_credentials(client, client_id=tp.client_id, secret=secret)
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    data = body_of(get_feed(client, "Batch/Bulk/7", token))
    assert_valid(data)
    assert Feed.of(data).ids_of("UsagePoint") == {point.public_id}
