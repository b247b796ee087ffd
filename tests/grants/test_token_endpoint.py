"""The token endpoint's RFC 6749 and ESPI rules: redirect_uri, code replay, the members of every response."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from custodian.models import AuditEvent
from tests import factories
from tests.grants.oauth_helpers import REDIRECT_URI, approve, basic_auth, client_credentials, exchange_code

pytestmark = pytest.mark.django_db

ESPI_MEMBERS = {"access_token", "scope", "resourceURI", "authorizationURI"}


def _bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_code_exchange_without_the_redirect_uri_is_refused(customer_client, tp, two_points):
    """RFC 6749 section 4.1.3: the authorization request carried it, so the exchange must too."""
    query, verifier = approve(
        customer_client, third_party=tp.third_party, usage_points=two_points, scope=factories.DEFAULT_SCOPE
    )
    http = HttpClient()
    missing = http.post(
        "/oauth/token",
        {"grant_type": "authorization_code", "code": query["code"], "code_verifier": verifier},
        HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret),
    )
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    other = http.post(
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": query["code"],
            "code_verifier": verifier,
            "redirect_uri": REDIRECT_URI + "/other",
        },
        HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret),
    )
    assert other.status_code == 400
    assert (
        exchange_code(http, client_id=tp.client_id, secret=tp.secret, code=query["code"], verifier=verifier).status_code
        == 200
    )


def test_a_replayed_code_is_refused_and_revokes_the_tokens_issued_from_it(customer_client, tp, two_points):
    """RFC 6749 section 4.1.2."""
    query, verifier = approve(
        customer_client, third_party=tp.third_party, usage_points=two_points, scope=factories.DEFAULT_SCOPE
    )
    http = HttpClient()
    first = exchange_code(http, client_id=tp.client_id, secret=tp.secret, code=query["code"], verifier=verifier)
    assert first.status_code == 200
    tokens = first.json()
    assert http.get("/oauth/token_grant", **_bearer(tokens["access_token"])).status_code == 200
    replay = exchange_code(http, client_id=tp.client_id, secret=tp.secret, code=query["code"], verifier=verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert http.get("/oauth/token_grant", **_bearer(tokens["access_token"])).status_code == 401
    refresh = http.post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret),
    )
    assert refresh.status_code == 400
    assert AuditEvent.objects.filter(action=AuditEvent.Action.TOKEN_REVOKED, detail__reason="code_replay").exists()


def test_another_clients_replay_of_a_code_changes_nothing(customer_client, tp, other_tp, two_points):
    query, verifier = approve(
        customer_client, third_party=tp.third_party, usage_points=two_points, scope=factories.DEFAULT_SCOPE
    )
    http = HttpClient()
    tokens = exchange_code(http, client_id=tp.client_id, secret=tp.secret, code=query["code"], verifier=verifier).json()
    stolen = exchange_code(
        http, client_id=other_tp.client_id, secret=other_tp.secret, code=query["code"], verifier=verifier
    )
    assert stolen.status_code == 400
    assert http.get("/oauth/token_grant", **_bearer(tokens["access_token"])).status_code == 200


def test_every_grant_type_answers_scope_resource_uri_and_authorization_uri(customer_client, tp, two_points):
    query, verifier = approve(
        customer_client, third_party=tp.third_party, usage_points=two_points, scope=factories.DEFAULT_SCOPE
    )
    http = HttpClient()
    code = exchange_code(http, client_id=tp.client_id, secret=tp.secret, code=query["code"], verifier=verifier).json()
    refreshed = http.post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": code["refresh_token"]},
        HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret),
    ).json()
    client = client_credentials(http, client_id=tp.client_id, secret=tp.secret).json()
    for body in (code, refreshed, client):
        assert body.keys() >= ESPI_MEMBERS, body
    assert "refresh_token" in code and "refresh_token" in refreshed
    assert "refresh_token" not in client


def test_client_credentials_scope_is_narrowed_and_says_what_was_granted(tp):
    response = client_credentials(HttpClient(), client_id=tp.client_id, secret=tp.secret, scope="FB=3_35_98;BR=1")
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "FB=3_35;BR=1"
    refused = client_credentials(HttpClient(), client_id=tp.client_id, secret=tp.secret, scope="FB=read/write")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    assert refused.json()["error_description"]


def test_server_metadata_lists_only_real_grant_types_and_scopes():
    data = HttpClient().get("/.well-known/oauth-authorization-server").json()
    assert set(data["grant_types_supported"]) == {"authorization_code", "client_credentials", "refresh_token"}
    assert data["scopes_supported"]
    assert "FB=36_40" in data["scopes_supported"]
    assert data["response_types_supported"] == ["code"]
