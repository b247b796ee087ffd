"""The outbox row is written in the transaction of the change: one per change, none when it rolls back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from grants import services
from grants.models import Grant, Notification
from grants.notifications import notification_enqueue_for_grant, notification_enqueue_for_usage_points
from tests import factories

pytestmark = pytest.mark.django_db

BASE = "http://127.0.0.1:8000/espi/1_1/resource"


@pytest.fixture
def party():
    third_party, _ = factories.make_third_party(name="Push Co", notify_uri="https://push.example/notify")
    return third_party


def rows(**filters) -> list[Notification]:
    return list(Notification.objects.filter(**filters).order_by("id"))


def test_grant_created_enqueues_exactly_one_with_its_subscription_uri(customer, usage_point, party):
    grant = factories.make_grant(customer=customer, third_party=party, usage_points=[usage_point])

    [row] = rows()
    assert (row.kind, row.third_party, row.grant, row.status) == ("grant_created", party, grant, "pending")
    # Its data and its Authorization (PSH002).
    assert row.resources == [
        f"{BASE}/Batch/Subscription/{grant.subscription_id}",
        f"{BASE}/Authorization/{grant.public_id}",
    ]
    assert row.attempts == 0 and row.next_attempt_at <= timezone.now()


def test_bulk_member_is_announced_through_its_bulk(customer, usage_point, party):
    bulk = factories.make_bulk_user(third_party=party, bulk_id="7")
    grant = factories.make_grant(customer=customer, third_party=party, usage_points=[usage_point], bulk_user=bulk)

    [row] = rows(grant=grant)
    assert row.resources == [f"{BASE}/Batch/Bulk/7", f"{BASE}/Authorization/{grant.public_id}"]
    assert row.bulk_user == bulk


def test_revoke_enqueues_one_and_revoking_again_enqueues_none(customer, usage_point, party):
    grant = factories.make_grant(customer=customer, third_party=party, usage_points=[usage_point])
    services.grant_revoke(grant=grant)
    services.grant_revoke(grant=grant)

    assert [r.kind for r in rows()] == ["grant_created", "grant_revoked"]


def test_taking_back_one_usage_point_enqueues_grant_changed_and_the_last_one_revoked(customer, party):
    first = factories.make_usage_point(customer=customer)
    second = factories.make_usage_point(customer=customer)
    grant = factories.make_grant(customer=customer, third_party=party, usage_points=[first, second])
    services.grant_revoke_usage_point(grant=grant, usage_point=first)
    services.grant_revoke_usage_point(grant=grant, usage_point=second)

    assert [r.kind for r in rows()] == ["grant_created", "grant_changed", "grant_revoked"]


def test_expiry_enqueues_one_per_grant_expired(customer, usage_point, party):
    start = timezone.now() - timedelta(days=3)
    ended = factories.make_grant(customer=customer, third_party=party, usage_points=[usage_point], start=start, days=1)
    running = factories.make_grant(customer=customer, third_party=party, usage_points=[usage_point])
    Notification.objects.all().delete()

    assert services.grant_expire_due() == 1
    assert services.grant_expire_due() == 0

    [row] = rows()
    assert (row.kind, row.grant) == ("grant_expired", ended)
    assert Grant.objects.get(pk=running.pk).status == "active"


def test_rolled_back_changes_leave_no_notification(customer, usage_point, party):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        factories.make_grant(customer=customer, third_party=party, usage_points=[usage_point])
        assert Notification.objects.count() == 1
        raise Abort
    assert Notification.objects.count() == 0

    grant = factories.make_grant(customer=customer, third_party=party, usage_points=[usage_point])
    with pytest.raises(Abort), transaction.atomic():
        services.grant_revoke(grant=grant)
        raise Abort
    assert [r.kind for r in rows()] == ["grant_created"]
    assert Grant.objects.get(pk=grant.pk).status == "active"


def test_third_party_without_notify_uri_gets_no_rows(customer, usage_point, third_party):
    assert third_party.notify_uri == ""
    grant = factories.make_grant(customer=customer, third_party=third_party, usage_points=[usage_point])
    services.grant_revoke(grant=grant)
    assert notification_enqueue_for_grant(grant=grant, kind=Notification.Kind.NEW_DATA) is None
    assert Notification.objects.count() == 0


def test_new_data_goes_to_exactly_the_active_grants_covering_the_usage_points(
    customer, other_customer, party, django_assert_max_num_queries
):
    bulk = factories.make_bulk_user(third_party=party, bulk_id="1")
    bulk10 = factories.make_bulk_user(third_party=party, bulk_id="10")
    home = factories.make_usage_point(customer=customer, title="Home")
    shop = factories.make_usage_point(customer=customer, title="Shop")
    barn = factories.make_usage_point(customer=other_customer, title="Barn")
    ungranted = factories.make_usage_point(customer=other_customer, title="Shed")
    lone = factories.make_grant(customer=customer, third_party=party, usage_points=[home])
    factories.make_grant(customer=customer, third_party=party, usage_points=[home, shop], bulk_user=bulk)
    factories.make_grant(customer=other_customer, third_party=party, usage_points=[barn], bulk_user=bulk)
    revoked = factories.make_grant(customer=other_customer, third_party=party, usage_points=[barn], bulk_user=bulk10)
    services.grant_revoke(grant=revoked)
    silent, _ = factories.make_third_party(name="No URI")
    factories.make_grant(customer=customer, third_party=silent, usage_points=[home])
    Notification.objects.all().delete()
    lo = datetime(2024, 1, 1, tzinfo=UTC)
    hi = datetime(2024, 1, 2, tzinfo=UTC)

    with django_assert_max_num_queries(2):
        created = notification_enqueue_for_usage_points(
            usage_point_ids=[home.pk, shop.pk, barn.pk, ungranted.pk], published_min=lo, published_max=hi
        )

    window = "published-min=2024-01-01T00%3A00%3A00Z&published-max=2024-01-02T00%3A00%3A00Z"
    assert len(created) == 2
    assert sorted(uri for r in rows() for uri in r.resources) == [
        f"{BASE}/Batch/Bulk/1?{window}",
        f"{BASE}/Batch/Subscription/{lone.subscription_id}?{window}",
    ]
    assert {r.kind for r in rows()} == {"new_data"}
    assert {r.third_party for r in rows()} == {party}


def test_new_data_skips_taken_back_usage_points_and_grants_past_their_end(customer, party):
    taken_back = factories.make_usage_point(customer=customer)
    kept = factories.make_usage_point(customer=customer)
    grant = factories.make_grant(customer=customer, third_party=party, usage_points=[taken_back, kept])
    services.grant_revoke_usage_point(grant=grant, usage_point=taken_back)
    ended_point = factories.make_usage_point(customer=customer)
    factories.make_grant(
        customer=customer,
        third_party=party,
        usage_points=[ended_point],
        start=timezone.now() - timedelta(days=3),
        days=1,
    )
    Notification.objects.all().delete()

    assert notification_enqueue_for_usage_points(usage_point_ids=[taken_back.pk, ended_point.pk]) == []
    [row] = notification_enqueue_for_usage_points(usage_point_ids=[kept.pk])
    assert row.resources == [f"{BASE}/Batch/Subscription/{grant.subscription_id}"]
    assert notification_enqueue_for_usage_points(usage_point_ids=[]) == []
