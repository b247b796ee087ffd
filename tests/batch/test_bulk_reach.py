"""Which usage points a bulk reaches now, on the code paths Batch/Bulk GET and POST use: BR=1 is not BR=10."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from grants import services
from grants.models import ThirdParty
from tests import factories
from tests.bulk_reach import bulk_reach

pytestmark = pytest.mark.django_db


@pytest.fixture
def bulk_members(customer, other_customer, third_party):
    """A bulk 1 and a bulk 10 of one Third Party, and usage points in every state of membership."""
    bulk_1 = factories.make_bulk_user(third_party=third_party, bulk_id="1")
    bulk_10 = factories.make_bulk_user(third_party=third_party, bulk_id="10")
    points = {
        name: factories.make_usage_point(customer=c, title=name)
        for name, c in [
            ("in_1", customer),
            ("in_10", other_customer),
            ("revoked", customer),
            ("expired", other_customer),
            ("taken_back", customer),
            ("not_bulk", customer),
            ("future", other_customer),
        ]
    }
    factories.make_grant(
        customer=customer,
        third_party=third_party,
        usage_points=[points["in_1"], points["taken_back"]],
        bulk_user=bulk_1,
    )
    factories.make_grant(
        customer=other_customer, third_party=third_party, usage_points=[points["in_10"]], bulk_user=bulk_10
    )
    revoked = factories.make_grant(
        customer=customer, third_party=third_party, usage_points=[points["revoked"]], bulk_user=bulk_1
    )
    services.grant_revoke(grant=revoked)
    factories.make_grant(
        customer=other_customer,
        third_party=third_party,
        usage_points=[points["expired"]],
        bulk_user=bulk_1,
        start=timezone.now() - timedelta(days=30),
        days=10,
    )
    factories.make_grant(
        customer=other_customer,
        third_party=third_party,
        usage_points=[points["future"]],
        bulk_user=bulk_1,
        start=timezone.now() + timedelta(days=3),
    )
    factories.make_grant(customer=customer, third_party=third_party, usage_points=[points["not_bulk"]])
    grant_1 = points["taken_back"].grants.get()
    services.grant_revoke_usage_point(grant=grant_1, usage_point=points["taken_back"])
    return points


def titles(points) -> set[str]:
    return {point.title for point in points}


def test_bulk_1_reaches_only_its_active_unexpired_members(bulk_members, third_party):
    assert titles(bulk_reach(third_party=third_party, bulk_id="1")) == {"in_1"}


def test_bulk_10_is_not_bulk_1_and_bulk_1_is_not_bulk_10(bulk_members, third_party):
    assert titles(bulk_reach(third_party=third_party, bulk_id="10")) == {"in_10"}
    for near_miss in ("01", "1 ", "1%", "", "0", "100", "1_0"):
        assert titles(bulk_reach(third_party=third_party, bulk_id=near_miss)) == set()


def test_another_third_party_with_the_same_bulk_id_reaches_nothing(bulk_members):
    other, _ = factories.make_third_party(name="Copycat")
    factories.make_bulk_user(third_party=other, bulk_id="1")
    assert titles(bulk_reach(third_party=other, bulk_id="1")) == set()


def test_a_third_party_on_hold_reaches_nothing(bulk_members, third_party):
    services.third_party_set_lifecycle(third_party=third_party, lifecycle=ThirdParty.Lifecycle.ON_HOLD)
    assert titles(bulk_reach(third_party=third_party, bulk_id="1")) == set()


def test_reach_follows_the_clock(bulk_members, third_party):
    later = timezone.now() + timedelta(days=5)
    assert titles(bulk_reach(third_party=third_party, bulk_id="1", at=later)) == {"in_1", "future"}
