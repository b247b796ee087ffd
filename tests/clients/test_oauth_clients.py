"""Real OAuth client libraries as Third Parties: ``requests-oauthlib`` and ``authlib`` (PyPI) against a live portal.

Each drives the flows a Third Party written in Python runs: authorization code with PKCE (S256),
refresh, client credentials and revocation (RFC 7009), with HTTP Basic client authentication and
form bodies, as the libraries send them. The customer's side is real HTTP too: log in, read the
consent page, post its form (tests/customer_http.py). The Third Party is the demo's "Efficiency
Coach", ESPI compatibility off, so the portal asks for the modern forms.

requests-oauthlib checks that the granted scope is the requested one: when the portal narrows a
scope (function blocks the utility does not offer, data the customer withheld) it raises "Scope has
changed" unless ``OAUTHLIB_RELAX_TOKEN_SCOPE`` is set, which a Third Party facing ESPI narrowing sets.
"""

from __future__ import annotations

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from lxml import html
from oauthlib.oauth2 import BackendApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from grants.demo import EFFICIENCY_SCOPE
from grants.scopes import parse_scope
from tests.conformance.conftest import harness_get, portal  # noqa: F401 - the live demo portal
from tests.customer_http import CustomerSession

#: Efficiency Coach's registered scope with FB 7 (net metering) added, which this utility does not offer.
WIDER_SCOPE = EFFICIENCY_SCOPE.replace("FB=1_3_4_5_13", "FB=1_3_4_5_7_13")


@pytest.fixture
def coach(portal, monkeypatch):  # noqa: F811
    """The demo's Efficiency Coach (ESPI compatibility off) and Alice, logged in over HTTP."""
    # The live server is plain http on loopback; oauthlib refuses http unless told (TLS is the deployment's).
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    demo = next(tp for tp in portal.demo["third_parties"] if tp["name"] == "Efficiency Coach")
    alice = next(c for c in portal.demo["customers"] if c["username"] == "alice")
    return demo, CustomerSession(portal.url, alice["username"], alice["password"])


def subscription_reads(portal, token: str, resource_uri: str) -> int:  # noqa: F811
    response = harness_get(resource_uri, token)
    return response.status_code


# ---- requests-oauthlib ----------------------------------------------------------------------------


def test_requests_oauthlib_code_with_pkce_refresh_and_revoke(portal, coach):  # noqa: F811
    demo, customer = coach
    session = OAuth2Session(demo["client_id"], redirect_uri=demo["redirect_uri"], scope=[EFFICIENCY_SCOPE], pkce="S256")
    url, state = session.authorization_url(f"{portal.url}/oauth/authorize")
    assert "code_challenge=" in url and "code_challenge_method=S256" in url
    callback = customer.consent(url)
    assert callback.startswith(demo["redirect_uri"])
    token = session.fetch_token(
        f"{portal.url}/oauth/token", client_secret=demo["client_secret"], authorization_response=callback
    )
    assert token["scope"] == [EFFICIENCY_SCOPE]
    assert token["resourceURI"].startswith(portal.resource("Batch/Subscription/"))
    assert token["authorizationURI"].startswith(portal.resource("Authorization/"))
    assert subscription_reads(portal, token["access_token"], token["resourceURI"]) == 200

    refreshed = session.refresh_token(
        f"{portal.url}/oauth/token", auth=HTTPBasicAuth(demo["client_id"], demo["client_secret"])
    )
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["resourceURI"] == token["resourceURI"]
    assert subscription_reads(portal, refreshed["access_token"], token["resourceURI"]) == 200
    assert subscription_reads(portal, token["access_token"], token["resourceURI"]) == 401  # OAD013

    # RFC 7009 revocation, authenticated with HTTP Basic through the same session.
    revoked = session.post(
        f"{portal.url}/oauth/revoke_token",
        data={"token": refreshed["access_token"], "token_type_hint": "access_token"},
        auth=HTTPBasicAuth(demo["client_id"], demo["client_secret"]),
        timeout=30,
    )
    assert revoked.status_code == 200
    assert subscription_reads(portal, refreshed["access_token"], token["resourceURI"]) == 401


def test_requests_oauthlib_client_credentials(portal, coach):  # noqa: F811
    demo, _customer = coach
    session = OAuth2Session(client=BackendApplicationClient(client_id=demo["client_id"]))
    token = session.fetch_token(
        f"{portal.url}/oauth/token", client_id=demo["client_id"], client_secret=demo["client_secret"]
    )
    assert "refresh_token" not in token
    assert token["authorizationURI"] == portal.resource("Authorization")
    assert harness_get(portal.resource("Authorization"), token["access_token"]).status_code == 200
    registration = session.fetch_token(
        f"{portal.url}/oauth/token",
        client_id=demo["client_id"],
        client_secret=demo["client_secret"],
        scope=["FB=36_40"],
    )
    assert registration["scope"] == ["FB=36_40"]
    assert harness_get(registration["resourceURI"], registration["access_token"]).status_code == 200


def test_requests_oauthlib_refuses_a_narrowed_scope_unless_relaxed(portal, coach, monkeypatch):  # noqa: F811
    """The portal narrows FB 7 away (the utility does not offer it) and says so in ``scope``."""
    demo, customer = coach
    monkeypatch.delenv("OAUTHLIB_RELAX_TOKEN_SCOPE", raising=False)
    strict = OAuth2Session(demo["client_id"], redirect_uri=demo["redirect_uri"], scope=[WIDER_SCOPE], pkce="S256")
    url, _state = strict.authorization_url(f"{portal.url}/oauth/authorize")
    callback = customer.consent(url)
    with pytest.raises(Warning, match="Scope has changed"):
        strict.fetch_token(
            f"{portal.url}/oauth/token", client_secret=demo["client_secret"], authorization_response=callback
        )

    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    relaxed = OAuth2Session(demo["client_id"], redirect_uri=demo["redirect_uri"], scope=[WIDER_SCOPE], pkce="S256")
    url, _state = relaxed.authorization_url(f"{portal.url}/oauth/authorize")
    token = relaxed.fetch_token(
        f"{portal.url}/oauth/token", client_secret=demo["client_secret"], authorization_response=customer.consent(url)
    )
    [granted] = token["scope"]
    assert 7 not in parse_scope(granted).function_blocks
    assert parse_scope(granted).function_blocks == parse_scope(EFFICIENCY_SCOPE).function_blocks
    # requests-oauthlib refreshes with the scope it first asked for: the portal narrows it to the grant again.
    refreshed = relaxed.refresh_token(
        f"{portal.url}/oauth/token", auth=HTTPBasicAuth(demo["client_id"], demo["client_secret"])
    )
    assert refreshed["scope"] == [granted]
    assert subscription_reads(portal, refreshed["access_token"], refreshed["resourceURI"]) == 200


def test_requests_oauthlib_scope_narrowed_by_the_customer(portal, coach, monkeypatch):  # noqa: F811
    """The customer withholds usage summaries (FB 15) on the consent form: the token says what was granted."""
    demo, customer = coach
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    session = OAuth2Session(demo["client_id"], redirect_uri=demo["redirect_uri"], scope=[EFFICIENCY_SCOPE], pkce="S256")
    url, _state = session.authorization_url(f"{portal.url}/oauth/authorize")
    page = customer.consent_page(url)
    offered = html.fromstring(page.text).xpath("//form[@id='consent-form']//input[@name='data']/@value")
    assert "totals" in offered, offered
    callback = customer.consent(url, data=[key for key in offered if key != "totals"])
    token = session.fetch_token(
        f"{portal.url}/oauth/token", client_secret=demo["client_secret"], authorization_response=callback
    )
    [granted] = token["scope"]
    assert 15 not in parse_scope(granted).function_blocks
    assert 4 in parse_scope(granted).function_blocks
    refreshed = session.refresh_token(
        f"{portal.url}/oauth/token", auth=HTTPBasicAuth(demo["client_id"], demo["client_secret"])
    )
    assert refreshed["scope"] == [granted]


# ---- authlib ---------------------------------------------------------------------------------------


def test_authlib_code_with_pkce_refresh_and_revoke(portal, coach):  # noqa: F811
    demo, customer = coach
    session = AuthlibSession(
        demo["client_id"],
        demo["client_secret"],
        scope=EFFICIENCY_SCOPE,
        redirect_uri=demo["redirect_uri"],
        code_challenge_method="S256",
    )
    verifier = generate_token(64)
    url, state = session.create_authorization_url(f"{portal.url}/oauth/authorize", code_verifier=verifier)
    callback = customer.consent(url)
    token = session.fetch_token(
        f"{portal.url}/oauth/token", authorization_response=callback, state=state, code_verifier=verifier
    )
    assert token["scope"] == EFFICIENCY_SCOPE
    assert token["token_type"] == "Bearer"
    assert subscription_reads(portal, token["access_token"], token["resourceURI"]) == 200

    refreshed = session.refresh_token(f"{portal.url}/oauth/token", refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["scope"] == EFFICIENCY_SCOPE
    assert refreshed["authorizationURI"] == token["authorizationURI"]

    # Revoking the refresh token ends the access token issued with it (RFC 7009 section 2.1).
    response = session.revoke_token(
        f"{portal.url}/oauth/revoke_token", refreshed["refresh_token"], token_type_hint="refresh_token"
    )
    assert response.status_code == 200
    assert subscription_reads(portal, refreshed["access_token"], token["resourceURI"]) == 401
    again = requests.post(
        f"{portal.url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        auth=(demo["client_id"], demo["client_secret"]),
        timeout=30,
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_authlib_client_credentials_with_basic_and_post_auth(portal, coach):  # noqa: F811
    demo, _customer = coach
    for method in ("client_secret_basic", "client_secret_post"):
        session = AuthlibSession(demo["client_id"], demo["client_secret"], token_endpoint_auth_method=method)
        token = session.fetch_token(f"{portal.url}/oauth/token", grant_type="client_credentials")
        assert "refresh_token" not in token, method
        assert token["resourceURI"] and token["authorizationURI"], method
        read = session.get(portal.resource("Authorization"), headers={"Accept": "application/atom+xml"})
        assert read.status_code == 200, method
        assert session.revoke_token(f"{portal.url}/oauth/revoke_token", token["access_token"]).status_code == 200
        assert harness_get(portal.resource("Authorization"), token["access_token"]).status_code == 401


def test_authlib_without_pkce_is_refused_when_espi_compatibility_is_off(portal, coach):  # noqa: F811
    """Compatibility off: a code request without PKCE comes back with ``error=invalid_request`` and no code."""
    demo, customer = coach
    session = AuthlibSession(
        demo["client_id"], demo["client_secret"], scope=EFFICIENCY_SCOPE, redirect_uri=demo["redirect_uri"]
    )
    url, _state = session.create_authorization_url(f"{portal.url}/oauth/authorize")
    response = customer.consent_page(url)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(demo["redirect_uri"])
    assert "error=invalid_request" in location and "code=" not in location
