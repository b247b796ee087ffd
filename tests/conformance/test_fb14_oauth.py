"""FB 14 (authorization and authentication) as the CMD harness runs it: OAD001-OAD016.

Every test that takes ``party`` runs twice: once for a Third Party with ESPI compatibility on, in the
harness's forms (no PKCE, token parameters in the URL query of an empty POST or a GET), and once for
one without, in the modern forms (PKCE S256, HTTP Basic, form bodies). Customers consent over HTTP.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import requests

from custodian.espi.parser import parse_small_document
from custodian.espi.validate import validate_document
from tests.conformance.conftest import TOKEN_HEADERS, harness_get
from tests.customer_http import query_of

ESPI_MEMBERS = {"access_token", "token_type", "expires_in", "scope", "resourceURI", "authorizationURI"}


def no_session_get(url: str) -> requests.Response:
    """The harness's authorize step: no cookie, no session, redirects not followed."""
    return requests.get(url, allow_redirects=False, timeout=30)


def assert_error_redirect(response, party, error: str | tuple[str, ...]) -> dict[str, str]:
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["Location"]
    assert location.startswith(party.redirect_uri), location  # never the login page
    query = query_of(location)
    assert query["error"] in ((error,) if isinstance(error, str) else error) and query.get("error_description")
    assert "code" not in query
    return query


# ---- OAD001-OAD002: the authorization endpoint --------------------------------------------------


def test_OAD001_bad_authorization_requests_are_answered_before_any_login(portal, party):
    url, _verifier = party.authorize_url()
    # Missing or bad response_type, scope FB=????: a redirect to the client with error=, no code.
    assert_error_redirect(no_session_get(url.replace("response_type=code&", "")), party, "invalid_request")
    assert_error_redirect(
        no_session_get(url.replace("response_type=code", "response_type=token")),
        party,
        ("unsupported_response_type", "unauthorized_client"),
    )
    bad_scope, _ = party.authorize_url(scope="FB=????")
    query = assert_error_redirect(no_session_get(bad_scope), party, "invalid_scope")
    assert list(query)[-1] == "state" and query["state"] == "harness-state-1"
    # Missing or unknown client: 401; a redirect URI not registered: 403, never redirected to.
    for broken in (
        url.replace(f"client_id={party.client_id}&", ""),
        url.replace(f"client_id={party.client_id}", "client_id=no-such-client"),
    ):
        response = no_session_get(broken)
        assert response.status_code == 401, broken
        assert "Location" not in response.headers
    evil, _ = party.authorize_url(redirect_uri="https://evil.example/steal")
    response = no_session_get(evil)
    assert response.status_code == 403
    assert "Location" not in response.headers
    # A good request with no session is the only one that goes to the login page.
    good = no_session_get(url)
    assert good.status_code == 302 and urlsplit(good.headers["Location"]).path == "/accounts/login/"


def test_OAD002_the_customer_denies_and_the_client_gets_access_denied(portal, party):
    code, _verifier, location = party.code(allow=False)
    assert code == ""
    assert location.startswith(party.redirect_uri)
    query = query_of(location)
    assert query["error"] == "access_denied"
    assert location.rsplit("&", 1)[-1] == "state=harness-state-1"  # state last, exactly as sent


# ---- OAD003-OAD005: the code exchange -------------------------------------------------------------


def test_OAD003_bad_token_requests_are_401_or_400(portal, party, _clock):
    code, verifier, _location = party.code()
    good = {"grant_type": "authorization_code", "code": code, "redirect_uri": party.redirect_uri}
    if verifier:
        good["code_verifier"] = verifier
    # Missing or bad HTTP Basic: 401.
    assert party.token(good, auth=False).status_code == 401
    assert party.token(good, auth=(party.client_id, "wrong-secret")).status_code == 401
    wrong = party.token(good, auth=("no-such-client", party.client_secret))
    assert wrong.status_code == 401
    assert wrong.headers["Content-Type"].startswith("application/json")
    # Missing grant_type, code or redirect_uri, a mismatched redirect_uri, a bad code: 400.
    for name in ("grant_type", "code", "redirect_uri"):
        assert party.token({k: v for k, v in good.items() if k != name}).status_code == 400, name
    assert party.token({**good, "redirect_uri": party.redirect_uri + "/other"}).status_code == 400
    assert party.token({**good, "code": "not-a-code"}).status_code == 400
    # Basic plus a client_id parameter naming another client: 400, as the harness expects.
    mixed = party.token({**good, "client_id": "someone-else"})
    assert mixed.status_code == 400
    assert mixed.json()["error"]
    # The old harness sends these by GET too (compatibility on); without it GET is 405.
    if party.espi:
        assert party.token({k: v for k, v in good.items() if k != "redirect_uri"}, get=True).status_code == 400
    else:
        assert requests.get(f"{portal.url}/oauth/token", params=good, auth=party.auth, timeout=30).status_code == 405
    # A code older than its lifetime (RFC 6749 section 4.1.2: at most 10 minutes): 400.
    _clock.shift(timedelta(minutes=11))
    expired = party.exchange(code, verifier)
    assert expired.status_code == 400
    assert expired.json()["error"] == "invalid_grant"


def test_OAD004_a_reused_code_is_400_and_revokes_what_it_issued(portal, party):
    code, verifier, _location = party.code()
    first = party.exchange(code, verifier)
    assert first.status_code == 200, first.text
    again = party.token(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": party.redirect_uri}
        | ({"code_verifier": verifier} if verifier else {}),
        get=party.espi,
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    token = first.json()
    assert harness_get(token["resourceURI"], token["access_token"]).status_code == 401


def test_OAD005_the_code_grant_answers_every_espi_member(portal, party):
    code, verifier, location = party.code()
    assert query_of(location)["state"] == "harness-state-1"
    assert query_of(location)["iss"] == portal.url  # RFC 9207, the metadata's issuer
    response = party.exchange(code, verifier)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json()
    assert ESPI_MEMBERS | {"refresh_token"} <= set(token)
    assert token["token_type"] == "Bearer"
    assert token["scope"] == party.scope
    assert token["resourceURI"].startswith(portal.resource("Batch/Subscription/"))
    assert token["authorizationURI"].startswith(portal.resource("Authorization/"))
    feed = harness_get(token["resourceURI"], token["access_token"])
    assert feed.status_code == 200
    assert validate_document(feed.content, strict_links=True) == []


# ---- OAD006-OAD010: each token reaches only what it is for ------------------------------------------


def test_OAD006_OAD010_wrong_token_kind_is_403_and_none_is_401(portal, party):
    access = party.access_token()
    client = party.client_token()
    registration = party.registration_token()
    other = next(g for g in portal.demo["grants"] if g["status"] == "active" and g["client_id"] != party.client_id)
    targets = {
        "ApplicationInformation": (registration["resourceURI"], "registration"),
        "Authorization": (portal.resource("Authorization"), "client"),
        "Authorization entry": (access["authorizationURI"], "client"),
        "Batch/Subscription": (access["resourceURI"], "access"),
        "ReadServiceStatus": (portal.resource("ReadServiceStatus"), "client registration"),
    }
    tokens = {
        "access": access["access_token"],
        "client": client["access_token"],
        "registration": registration["access_token"],
        "another grant's": other["access_token"],
    }
    for name, (url, allowed) in targets.items():
        for kind, token in tokens.items():
            status = harness_get(url, token).status_code
            if kind in allowed.split():
                assert status == 200, (name, kind, status)
            else:
                assert status in (403, 404), (name, kind, status)
        # No token: 401 with a challenge (RFC 6750 section 3.1); the harness expects 403 (docs/conformance.md).
        none = harness_get(url)
        assert none.status_code == 401, name
        assert none.headers["WWW-Authenticate"].startswith("Bearer")


# ---- OAD011-OAD013: refresh -----------------------------------------------------------------------


def test_OAD011_malformed_refresh_requests_are_400(portal, party):
    token = party.access_token()
    refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    for broken in (
        {**refresh, "scope": "Read/Write"},
        {**refresh, "scope": "FB=????"},
        {"grant_type": "refresh_token"},
        {**refresh, "refresh_token": "not-a-refresh-token"},
    ):
        response = party.token(broken)
        assert response.status_code == 400, broken
        assert response.json()["error"] in ("invalid_scope", "invalid_request", "invalid_grant")
    assert party.token({**refresh, "scope": "Read/Write"}).json()["error_description"]
    # None of these used the refresh token up.
    assert party.token(refresh).status_code == 200


def test_OAD012_OAD013_refresh_answers_the_same_espi_members_and_retires_the_old_token(portal, party):
    first = party.access_token()
    response = party.token({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert response.status_code == 200, response.text
    second = response.json()
    assert ESPI_MEMBERS | {"refresh_token"} <= set(second)
    assert (second["scope"], second["resourceURI"], second["authorizationURI"]) == (
        first["scope"],
        first["resourceURI"],
        first["authorizationURI"],
    )
    assert harness_get(second["resourceURI"], second["access_token"]).status_code == 200
    # OAD013 (dropped from the 2024 platform, still true here): the old access token is refused.
    assert harness_get(first["resourceURI"], first["access_token"]).status_code == 401
    # Refreshing with the scope first asked for is granted; asking for another bulk is not.
    wider = party.token({"grant_type": "refresh_token", "refresh_token": second["refresh_token"], "scope": party.scope})
    assert wider.status_code == 200 and wider.json()["scope"] == party.scope


# ---- OAD014-OAD016: client credentials and expiry -------------------------------------------------


def test_OAD014_client_credentials_refusals_and_application_information_fields(portal, party):
    assert party.token({"scope": "FB=3_35"}).status_code == 400
    refused = party.token({"grant_type": "client_credentials", "scope": "FB=read/write"})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope" and refused.json()["error_description"]
    registration = party.registration_token()
    response = harness_get(registration["resourceURI"], registration["access_token"])
    assert response.status_code == 200
    assert validate_document(response.content, strict_links=True) == []
    root = parse_small_document(response.content)
    names = {el.tag.rpartition("}")[2] for el in root.iter() if isinstance(el.tag, str)}
    assert {
        "dataCustodianId",
        "dataCustodianApplicationStatus",
        "thirdPartyNotifyUri",
        "authorizationServerAuthorizationEndpoint",
        "authorizationServerTokenEndpoint",
        "dataCustodianBulkRequestURI",
        "dataCustodianResourceEndpoint",
        "scope",
        "client_id",
        "client_secret",
        "registration_access_token",
        "registration_client_uri",
        "redirect_uri",
        "dataCustodianScopeSelectionScreenURI",
    } <= names, names


def test_OAD015_client_credentials_answer_scope_and_uris_and_no_refresh_token(portal, party):
    response = party.token({"grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    token = response.json()
    assert {"access_token", "scope", "resourceURI", "authorizationURI"} <= set(token)
    assert "refresh_token" not in token
    assert token["authorizationURI"] == portal.resource("Authorization")
    feed = harness_get(token["authorizationURI"], token["access_token"])
    assert feed.status_code == 200


def test_OAD016_an_expired_access_token_is_401(portal, party, _clock):
    token = party.access_token()
    assert harness_get(token["resourceURI"], token["access_token"]).status_code == 200
    _clock.shift(timedelta(seconds=token["expires_in"] + 5))
    expired = harness_get(token["resourceURI"], token["access_token"])
    assert expired.status_code == 401
    assert "invalid_token" in expired.headers["WWW-Authenticate"]


def test_token_calls_answer_json_to_the_harness_accept_header(portal, espi_party):
    """The harness sends ``Accept: application/json, application/*+json`` on every token call: never 406."""
    response = requests.post(
        f"{portal.url}/oauth/token",
        params={"grant_type": "client_credentials"},
        auth=espi_party.auth,
        headers=TOKEN_HEADERS,
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")


def test_server_metadata_lists_the_real_grant_types_and_scopes(portal, settings):
    """RFC 8414 metadata over HTTP: what the token endpoint really grants, no device code, real scopes."""
    data = requests.get(f"{portal.url}/.well-known/oauth-authorization-server", timeout=30).json()
    assert data["issuer"] == portal.url
    assert set(data["grant_types_supported"]) == {"authorization_code", "client_credentials", "refresh_token"}
    assert data["response_types_supported"] == ["code"]
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert data["token_endpoint"] == f"{portal.url}/oauth/token"
    assert "FB=36_40" in data["scopes_supported"]
    assert f"FB={settings.ESPI_FUNCTION_BLOCKS}" in data["scopes_supported"]
    assert "registration_endpoint" not in data
    settings.OAUTH_DYNAMIC_REGISTRATION = True
    data = requests.get(f"{portal.url}/.well-known/oauth-authorization-server", timeout=30).json()
    assert data["registration_endpoint"] == f"{portal.url}/oauth/register"
