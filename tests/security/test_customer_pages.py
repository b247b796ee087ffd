"""Customer pages: one customer's data is never kept by a browser or shared cache, and never framed."""

from __future__ import annotations

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, customer, usage_point, third_party, grant):
    factories.make_bulk_user(third_party=third_party, bulk_id="7")
    client.force_login(customer.user)
    return client


def assert_not_cached(response) -> None:
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-cache", "no-store", "must-revalidate", "private"} <= cache_control, response["Cache-Control"]
    assert "Expires" in response


@pytest.mark.parametrize("url", ["/", "/share/", "/grants/", "/history/"])
def test_pages_with_a_customers_data_are_never_cached(alice_client, url):
    response = alice_client.get(url)
    assert response.status_code == 200
    assert_not_cached(response)
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_revoke_answers_are_never_cached(alice_client, grant, usage_point):
    response = alice_client.post(f"/grants/{grant.public_id}/usage-points/{usage_point.public_id}/revoke/")
    assert response.status_code == 302
    assert_not_cached(response)
    response = alice_client.post(f"/grants/{grant.public_id}/revoke/")
    assert response.status_code == 302
    assert_not_cached(response)
