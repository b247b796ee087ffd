"""RFC 7591 dynamic client registration at ``/oauth/register`` (ESPI FB 36), behind ``OAUTH_DYNAMIC_REGISTRATION``."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from django.test import Client as HttpClient
from oauth2_provider.models import AccessToken

from custodian.models import AuditEvent
from grants.models import ThirdParty
from grants.services import third_party_set_lifecycle
from tests import factories
from tests.grants.oauth_helpers import client_credentials

pytestmark = pytest.mark.django_db

SCOPE = factories.DEFAULT_SCOPE


@pytest.fixture
def registration_on(settings):
    settings.OAUTH_DYNAMIC_REGISTRATION = True


def request_body(**overrides) -> dict:
    body = {
        "client_name": "Heat Pump Helper",
        "redirect_uris": ["https://heatpump.example/callback"],
        "scope": SCOPE,
        "grant_types": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "client_uri": "https://heatpump.example/",
        "logo_uri": "https://heatpump.example/logo.png",
        "tos_uri": "https://heatpump.example/terms",
        "policy_uri": "https://heatpump.example/privacy",
        "contacts": ["ops@heatpump.example"],
        "software_id": "heat-pump-helper",
        "software_version": "3.2",
        "thirdPartyNotifyUri": "https://heatpump.example/notify",
        "thirdPartyScopeSelectionScreenURI": "https://heatpump.example/scopes",
        "something_we_do_not_know": "ignored",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def register(body, *, content_type: str = "application/json"):
    data = json.dumps(body) if not isinstance(body, str | bytes) else body
    return HttpClient().post("/oauth/register", data, content_type=content_type)


def test_off_by_default_the_endpoint_is_404(settings):
    assert settings.OAUTH_DYNAMIC_REGISTRATION is False
    assert register(request_body()).status_code == 404
    assert "registration_endpoint" not in HttpClient().get("/.well-known/oauth-authorization-server").json()
    assert not ThirdParty.objects.exists()


def test_a_registration_creates_a_third_party_in_review_with_credentials_shown_once(registration_on):
    response = register(request_body())
    assert response.status_code == 201, response.content
    assert response["Cache-Control"].startswith("no-store")
    answer = response.json()
    third_party = ThirdParty.objects.get(client_id=answer["client_id"])
    assert third_party.lifecycle == ThirdParty.Lifecycle.REVIEW
    assert third_party.role == ThirdParty.Role.THIRD_PARTY
    assert answer["dataCustodianApplicationStatus"] == 1
    assert answer["registration_client_uri"].endswith(
        f"/espi/1_1/resource/ApplicationInformation/{third_party.public_id}"
    )
    assert answer["client_secret_expires_at"] == 0
    assert answer["redirect_uris"] == ["https://heatpump.example/callback"]
    assert answer["scope"] == SCOPE
    assert "something_we_do_not_know" not in answer
    assert third_party.name == "Heat Pump Helper" and third_party.notify_uri == "https://heatpump.example/notify"
    assert third_party.scope_selection_uri == "https://heatpump.example/scopes"
    assert third_party.software_version == "3.2" and third_party.contacts == "ops@heatpump.example"
    # Stored hashed: neither the secret nor the registration token is kept in the clear.
    assert answer["client_secret"] not in third_party.client_secret
    stored = AccessToken.objects.get(application=third_party, scope="FB=36_40")
    assert answer["registration_access_token"] not in (stored.token or "")
    audit = AuditEvent.objects.filter(action=AuditEvent.Action.THIRD_PARTY_CREATED, object_id=third_party.public_id)
    assert any(event.detail.get("via") == "rfc7591" for event in audit)
    assert not any(
        answer["client_secret"] in json.dumps(event.detail) + event.summary for event in AuditEvent.objects.all()
    )

    # In Review it reaches nothing; once staff approve it, both credentials work.
    assert (
        client_credentials(HttpClient(), client_id=answer["client_id"], secret=answer["client_secret"]).status_code
        == 401
    )
    third_party_set_lifecycle(third_party=third_party, lifecycle=ThirdParty.Lifecycle.PRODUCTION)
    token = client_credentials(HttpClient(), client_id=answer["client_id"], secret=answer["client_secret"])
    assert token.status_code == 200, token.content
    read = HttpClient().get(
        urlsplit(answer["registration_client_uri"]).path,
        HTTP_AUTHORIZATION=f"Bearer {answer['registration_access_token']}",
        HTTP_ACCEPT="application/atom+xml",
    )
    assert read.status_code == 200
    assert b"heatpump.example/callback" in read.getvalue()


def test_server_metadata_names_the_registration_endpoint_when_on(registration_on):
    data = HttpClient().get("/.well-known/oauth-authorization-server").json()
    assert data["registration_endpoint"].endswith("/oauth/register")
    assert set(data["grant_types_supported"]) == {"authorization_code", "client_credentials", "refresh_token"}


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"redirect_uris": None}, "invalid_redirect_uri"),
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://heatpump.example/callback"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://heatpump.example/cb#frag"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["/relative"]}, "invalid_redirect_uri"),
        ({"redirect_uris": "https://heatpump.example/callback"}, "invalid_client_metadata"),
        ({"scope": None}, "invalid_client_metadata"),
        ({"scope": "FB=read/write"}, "invalid_client_metadata"),
        ({"grant_types": ["password"]}, "invalid_client_metadata"),
        ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
        ({"response_types": ["token"]}, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": "none"}, "invalid_client_metadata"),
        ({"client_name": None}, "invalid_client_metadata"),
        ({"client_uri": "javascript:alert(1)"}, "invalid_client_metadata"),
        ({"contacts": "ops@heatpump.example"}, "invalid_client_metadata"),
    ],
)
def test_bad_metadata_is_400_with_the_rfc_7591_error_and_creates_nothing(registration_on, overrides, error):
    response = register(request_body(**overrides))
    assert response.status_code == 400, response.content
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert not ThirdParty.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("client_name=x", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_invalid_client_metadata(registration_on, body, content_type):
    response = register(body, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert not ThirdParty.objects.exists()


def test_only_post_and_registrations_are_rate_limited_per_address(registration_on, settings):
    assert HttpClient().get("/oauth/register").status_code == 405
    settings.OAUTH_REGISTRATIONS_PER_HOUR = 2
    statuses = [register(request_body(client_name=f"Co {n}")).status_code for n in range(3)]
    assert statuses == [201, 201, 429]
    assert ThirdParty.objects.count() == 2
