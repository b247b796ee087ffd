"""Consent in the customer's words: one table from data categories to function blocks, used everywhere."""

from __future__ import annotations

import pytest

from batch.reach import KIND_INTERVAL, KIND_QUALITY, KIND_SUMMARY, grant_kinds
from grants import services
from grants.data_categories import (
    DATA_CATEGORIES,
    describe_data,
    describe_scope,
    function_blocks_without,
    is_protocol_function_block,
)
from grants.models import Grant
from grants.scopes import FUNCTION_BLOCK_NAMES, parse_scope
from tests import factories
from tests.grants.conftest import BULK_SCOPE
from tests.grants.oauth_helpers import approve, authorize_url, consent_post_data, pkce_pair

pytestmark = pytest.mark.django_db


def test_the_default_scope_in_the_customers_words():
    assert describe_scope(parse_scope(factories.DEFAULT_SCOPE)) == [
        "your electricity use every 15 minutes",
        "your billing-period totals and costs",
        "the quality of your power supply (voltage, interruptions)",
    ]
    assert describe_data([4, 10], scope=parse_scope("FB=4_10;IntervalDuration=3600")) == ["your gas use every hour"]
    assert describe_data([4]) == ["your energy use, reading by reading"]


def test_protocol_function_blocks_are_never_shown_as_data():
    every_block = list(range(1, 100))
    words = " ".join(describe_data(every_block))
    for protocol in ("Security", "REST", "Query", "notification", "Authorization", "Function block"):
        assert protocol.lower() not in words.lower()
    for fb in (1, 3, 13, 14, 31, 32, 35, 37, 39, 41, 44):
        assert is_protocol_function_block(fb), FUNCTION_BLOCK_NAMES[fb]
        assert describe_data([fb]) == []


def test_each_function_block_belongs_to_at_most_one_category():
    seen: dict[int, str] = {}
    for category in DATA_CATEGORIES:
        for fb in category.function_blocks:
            assert fb not in seen, f"FB {fb} in {seen.get(fb)} and {category.key}"
            seen[fb] = category.key


@pytest.mark.parametrize("category", DATA_CATEGORIES, ids=lambda category: category.key)
def test_withholding_a_category_removes_every_function_block_that_carries_it(category):
    requested = set(range(1, 51))
    kept = function_blocks_without(requested, withheld=[category.key])
    assert not kept & category.function_blocks
    assert kept == requested - category.function_blocks


def test_unticking_usage_shares_no_interval_data_and_keeping_it_does():
    """The old screen let "Interval metering" be unticked while "Interval electricity metering" stayed: nothing left."""
    requested = parse_scope(factories.DEFAULT_SCOPE).function_blocks
    without_usage = function_blocks_without(requested, withheld=["usage"])
    assert KIND_INTERVAL not in grant_kinds(function_blocks=without_usage)
    assert grant_kinds(function_blocks=without_usage) == {KIND_SUMMARY, KIND_QUALITY}
    only_usage = function_blocks_without(requested, withheld=["totals", "quality"])
    assert grant_kinds(function_blocks=only_usage) == {KIND_INTERVAL}


def _consent_page(client, tp, scope=BULK_SCOPE):
    return client.get(authorize_url(client_id=tp.client_id, scope=scope, challenge=pkce_pair()[1]))


def test_consent_screen_offers_categories_and_shows_the_third_partys_links(customer_client, tp, two_points):
    third_party = tp.third_party
    third_party.client_uri = "https://solar.example/"
    third_party.policy_uri = "https://solar.example/privacy"
    third_party.tos_uri = "https://solar.example/terms"
    third_party.description = "Sizing solar panels for your roof"
    third_party.save()
    page = _consent_page(customer_client, tp)
    assert page.status_code == 200
    html = page.content.decode()
    choices = page.context["form"].fields["data"].choices
    assert [key for key, _words in choices] == ["usage", "totals", "quality"]
    assert "Your electricity use every 15 minutes" in html
    assert "Your billing-period totals and costs" in html
    for protocol in ("Security and privacy classes", "Bulk transfer by REST", "Query parameters", "Authorization and"):
        assert protocol not in html
    for link in ("https://solar.example/", "https://solar.example/privacy", "https://solar.example/terms"):
        assert f'href="{link}"' in html
    assert "Privacy policy" in html and "Terms of service" in html
    assert "Sizing solar panels for your roof" in html


def test_a_scope_with_no_data_cannot_be_approved(customer_client, tp, two_points):
    third_party = tp.third_party
    third_party.registered_scopes += "\nFB=1_3_13_14_35_37"
    third_party.save()
    page = _consent_page(customer_client, tp, scope="FB=1_3_13_14_35_37;BR=1")
    assert page.status_code == 200
    assert b"asks for no data about you" in page.content
    response = customer_client.post("/oauth/authorize", consent_post_data(page, usage_points=two_points))
    assert response.status_code == 400
    assert b"asks for no data you can share" in response.content
    assert not Grant.objects.exists()


def test_login_from_authorize_says_who_asks_and_why(client, tp):
    third_party = tp.third_party
    third_party.description = "Sizing solar panels for your roof"
    third_party.save()
    response = client.get(authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=pkce_pair()[1]))
    assert response.status_code == 302
    login = client.get(response["Location"])
    assert login.status_code == 200
    assert b"Solar Co is asking to see your energy data." in login.content
    assert b"Sizing solar panels for your roof" in login.content
    plain = client.get("/accounts/login/")
    assert b"is asking" not in plain.content
    elsewhere = client.get("/accounts/login/?next=https://evil.example/oauth/authorize?client_id=" + tp.client_id)
    assert b"is asking" not in elsewhere.content


def test_my_grants_shows_the_data_in_words_active_first_and_the_third_partys_status(
    customer_client, customer, tp, other_tp, two_points
):
    old = factories.make_grant(customer=customer, third_party=other_tp.third_party, usage_points=two_points)
    services.grant_revoke(grant=old, reason="test")
    current = factories.make_grant(customer=customer, third_party=tp.third_party, usage_points=two_points[:1])
    services.third_party_set_lifecycle(third_party=tp.third_party, lifecycle=3)
    page = customer_client.get("/grants/")
    html = page.content.decode()
    assert html.index(f"grant-{current.public_id}") < html.index("Past grants") < html.index(f"grant-{old.public_id}")
    assert "your electricity use every 15 minutes" in html
    assert "Security and privacy" not in html
    assert "Solar Co is on hold by the utility" in html


def test_authorizing_the_same_third_party_again_replaces_the_grant(customer_client, customer, tp, two_points):
    """Re-authorizing never collects identical grants: the new one replaces the old, kept in history."""
    approve(customer_client, third_party=tp.third_party, usage_points=two_points, scope=factories.DEFAULT_SCOPE)
    first = Grant.objects.get(customer=customer)
    approve(customer_client, third_party=tp.third_party, usage_points=two_points[:1], scope=factories.DEFAULT_SCOPE)
    assert Grant.objects.filter(customer=customer, status=Grant.Status.ACTIVE).count() == 1
    first.refresh_from_db()
    second = Grant.objects.get(customer=customer, status=Grant.Status.ACTIVE)
    assert first.status == Grant.Status.REVOKED
    assert first.replaced_by == second
    # A bulk grant of the same Third Party is another grant: it does not replace the individual one.
    approve(customer_client, third_party=tp.third_party, usage_points=two_points, scope=BULK_SCOPE)
    assert Grant.objects.filter(customer=customer, status=Grant.Status.ACTIVE).count() == 2
    page = customer_client.get("/grants/").content.decode()
    assert "Replaced by a newer grant" in page
    assert page.count("Revoke this grant") == 2
