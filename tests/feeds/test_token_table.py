"""PRODUCT "Tokens and what each reaches", cell by cell, over the real ESPI URLs.

Each kind of token reaches exactly its row of the table; any other combination is 403; a missing,
expired or revoked token is 401 with ``WWW-Authenticate``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from oauth2_provider.models import AccessToken

from grants import scopes
from grants.services import third_party_registration_token_issue
from tests.feeds.conftest import RESOURCE, body_of, fetch
from tests.grants.oauth_helpers import client_credentials

pytestmark = pytest.mark.django_db


@pytest.fixture
def table(feed_world):
    tp = feed_world.tp
    grant = feed_world.grants["alice"]
    tokens = {
        "access": feed_world.tokens["alice"],
        "client": feed_world.tp_token,
        "registration": third_party_registration_token_issue(third_party=tp),
        "custodian": feed_world.custodian_token,
    }
    paths = {
        "batch_subscription": f"Batch/Subscription/{grant.subscription_id}",
        "subscription_usage_points": f"Subscription/{grant.subscription_id}/UsagePoint",
        "batch_bulk": "Batch/Bulk/1",
        "application_information": f"ApplicationInformation/{tp.public_id}",
        "authorization_list": "Authorization",
        "authorization": f"Authorization/{grant.public_id}",
        "read_service_status": "ReadServiceStatus",
        "retail_customer": f"Batch/RetailCustomer/{feed_world.customers['alice'].public_id}/UsagePoint",
    }
    return tokens, paths


# (path, token kind) -> status; every cell not listed is 403.
REACHES = {
    ("batch_subscription", "access"): 200,
    ("subscription_usage_points", "access"): 200,
    ("batch_bulk", "client"): 200,
    ("authorization_list", "client"): 200,
    ("authorization", "client"): 200,
    ("read_service_status", "client"): 200,
    ("application_information", "registration"): 200,
    ("read_service_status", "registration"): 200,
    # The back-office token "as today": its upload/download and every read-only resource.
    ("subscription_usage_points", "custodian"): 200,
    ("read_service_status", "custodian"): 200,
    ("retail_customer", "custodian"): 200,
}


def test_each_token_kind_reaches_exactly_its_row_of_the_table(client, table):
    tokens, paths = table
    seen = {}
    for path_name, path in paths.items():
        for kind, token in tokens.items():
            response = fetch(client, f"{RESOURCE}/{path}", token)
            seen[(path_name, kind)] = response.status_code
    expected = {cell: REACHES.get(cell, 403) for cell in seen}
    assert seen == expected


def test_missing_expired_or_revoked_tokens_are_401_with_a_challenge(client, table):
    tokens, paths = table
    registration = AccessToken.objects.get(scope=scopes.REGISTRATION_SCOPE)
    registration.expires = registration.expires - timedelta(days=400)
    registration.save()
    client_token = AccessToken.objects.filter(scope="FB=3_35").first()
    client_token.revoke()
    for path in paths.values():
        for token in (None, tokens["registration"], "not-a-token"):
            response = fetch(client, f"{RESOURCE}/{path}", token)
            assert response.status_code == 401, (path, token)
            assert response["WWW-Authenticate"].startswith("Bearer"), path


def test_client_credentials_with_scope_fb_36_40_is_the_registration_token(client, feed_world):
    from tests.grants.conftest import SECRET

    tp = feed_world.tp
    tp.client_secret = SECRET
    tp.save()
    response = client_credentials(HttpClient(), client_id=tp.client_id, secret=SECRET, scope="FB=36_40")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "FB=36_40"
    assert "refresh_token" not in body
    assert body["resourceURI"].endswith(f"/ApplicationInformation/{tp.public_id}")
    assert body["authorizationURI"].endswith("/Authorization")
    token = body["access_token"]
    info = fetch(client, f"{RESOURCE}/ApplicationInformation/{tp.public_id}", token)
    assert info.status_code == 200
    assert SECRET.encode() in body_of(info)
    assert fetch(client, f"{RESOURCE}/Authorization", token).status_code == 403
    assert fetch(client, f"{RESOURCE}/Batch/Bulk/1", token).status_code == 403


def test_staff_issuing_a_registration_token_revokes_the_one_before(client, feed_world):
    tp = feed_world.tp
    first = third_party_registration_token_issue(third_party=tp)
    second = third_party_registration_token_issue(third_party=tp)
    path = f"{RESOURCE}/ApplicationInformation/{tp.public_id}"
    assert fetch(client, path, first).status_code == 401
    assert fetch(client, path, second).status_code == 200
    # A back-office client has no registration token.
    with pytest.raises(Exception, match="Only Third Parties"):
        third_party_registration_token_issue(third_party=feed_world.custodian)
