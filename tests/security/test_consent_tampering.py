"""A consent POST whose fields were tampered with is a 400 that grants nothing and issues no code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import Grant as AuthorizationCode

from grants.models import Grant
from tests import factories
from tests.grants.conftest import BULK_SCOPE
from tests.grants.oauth_helpers import authorize_url, consent_post_data, pkce_pair

pytestmark = pytest.mark.django_db


@pytest.fixture
def consent_page(customer_client, tp, two_points):
    _verifier, challenge = pkce_pair()
    page = customer_client.get(authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=challenge))
    assert page.status_code == 200
    return page


def assert_refused_and_nothing_granted(response, field: str | None) -> None:
    assert response.status_code == 400
    assert "Location" not in response
    assert response["X-Frame-Options"] == "DENY"
    if field is not None:
        assert field in response.context["form"].errors
        assert b"errorlist" in response.content
    assert not Grant.objects.exists()
    assert not AuthorizationCode.objects.exists()


def test_another_customers_usage_point(customer_client, consent_page, other_customer):
    bobs = factories.make_usage_point(customer=other_customer, title="Bob's")
    data = consent_post_data(consent_page, usage_points=[bobs])
    assert_refused_and_nothing_granted(customer_client.post("/oauth/authorize", data), "usage_points")


def test_own_and_another_customers_usage_point_together(customer_client, consent_page, other_customer, two_points):
    bobs = factories.make_usage_point(customer=other_customer, title="Bob's")
    data = consent_post_data(consent_page, usage_points=[two_points[0], bobs])
    assert_refused_and_nothing_granted(customer_client.post("/oauth/authorize", data), "usage_points")


@pytest.mark.parametrize("days", [0, -1, -400])
def test_end_date_today_or_in_the_past(customer_client, consent_page, two_points, days):
    data = consent_post_data(consent_page, usage_points=two_points, until=timezone.localdate() + timedelta(days=days))
    assert_refused_and_nothing_granted(customer_client.post("/oauth/authorize", data), "until")


def test_end_date_beyond_the_offered_maximum(customer_client, consent_page, two_points):
    beyond = consent_page.context["form"].fields["until"].initial + timedelta(days=1)
    data = consent_post_data(consent_page, usage_points=two_points, until=beyond)
    assert_refused_and_nothing_granted(customer_client.post("/oauth/authorize", data), "until")


def test_end_date_that_is_not_a_date(customer_client, consent_page, two_points):
    data = consent_post_data(consent_page, usage_points=two_points)
    data["until"] = "31/12/2999"
    assert_refused_and_nothing_granted(customer_client.post("/oauth/authorize", data), "until")


def test_function_block_that_was_not_asked_for(customer_client, consent_page, two_points):
    data = consent_post_data(consent_page, usage_points=two_points, function_blocks=[4, 99])
    assert_refused_and_nothing_granted(customer_client.post("/oauth/authorize", data), "data")


@pytest.mark.parametrize("choice", ["customer", "13", "FB=4"])
def test_data_choice_that_was_not_offered(customer_client, consent_page, two_points, choice):
    data = consent_post_data(consent_page, usage_points=two_points, data=["usage", choice])
    assert_refused_and_nothing_granted(customer_client.post("/oauth/authorize", data), "data")


def test_nothing_to_share_is_refused_with_a_message(customer_client, consent_page, two_points):
    data = consent_post_data(consent_page, usage_points=two_points, data=[])
    response = customer_client.post("/oauth/authorize", data)
    assert_refused_and_nothing_granted(response, "data")
    assert b"Nothing would be shared" in response.content


@pytest.mark.parametrize(
    "scope",
    [
        BULK_SCOPE.replace("FB=1_", "FB=1_2_"),  # a function block the client never registered
        BULK_SCOPE.replace("BR=1", "BR=2"),  # a bulk the client does not have
        "",
    ],
)
def test_scope_outside_what_the_client_registered(customer_client, consent_page, two_points, scope):
    data = consent_post_data(consent_page, usage_points=two_points)
    data["scope"] = scope
    response = customer_client.post("/oauth/authorize", data)
    assert_refused_and_nothing_granted(response, None)
    assert b"The requested scope is not valid for this application." in response.content


def test_customer_initiated_share_refuses_the_same(customer_client, tp, two_points, other_customer):
    bobs = factories.make_usage_point(customer=other_customer, title="Bob's")
    url = f"/share/{tp.third_party.public_id}/bulk/1/"
    page = customer_client.get(url)
    assert page.status_code == 200
    for data in (
        {"allow": "on", "usage_points": [bobs.public_id], "until": page.context["form"].fields["until"].initial},
        {"allow": "on", "usage_points": [two_points[0].public_id], "until": timezone.localdate().isoformat()},
    ):
        assert_refused_and_nothing_granted(customer_client.post(url, data), None)
