"""The authorization endpoint checks the request before anyone is asked to log in (PRODUCT "Conformance").

Unknown or missing client: 401; bad redirect URI: 403, never a redirect to it; other errors redirect
to the client with ``error`` and ``error_description``; ``state`` is echoed exactly and last.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client as HttpClient

from tests import factories
from tests.grants.oauth_helpers import REDIRECT_URI, authorize_url, consent_post_data, pkce_pair, query_of

pytestmark = pytest.mark.django_db

SCOPE = factories.DEFAULT_SCOPE
STATE = "a+b/c=d&e~ f"  # characters that must survive the round trip


def _url(tp, **overrides) -> str:
    _verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": tp.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": STATE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return "/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


@pytest.mark.parametrize("client_id", [None, "", "no-such-client"])
def test_a_missing_or_unknown_client_is_401_without_a_session(tp, client_id):
    response = HttpClient().get(_url(tp, client_id=client_id))
    assert response.status_code == 401
    assert "Location" not in response


@pytest.mark.parametrize("redirect_uri", ["https://evil.example/callback", REDIRECT_URI + "?x=1", "not a uri"])
def test_an_unregistered_redirect_uri_is_403_and_never_redirected_to(tp, redirect_uri):
    response = HttpClient().get(_url(tp, redirect_uri=redirect_uri))
    assert response.status_code == 403
    assert "Location" not in response


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "FB=????"}, "invalid_scope"),
    ],
)
def test_other_errors_redirect_to_the_client_without_a_session(tp, overrides, error):
    response = HttpClient().get(_url(tp, **overrides))
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(REDIRECT_URI + "?")  # the client, not a login page
    callback = query_of(location)
    assert callback["error"] in {error, "unauthorized_client"}
    assert callback["error_description"]
    assert "code" not in callback
    assert callback["state"] == STATE
    assert location.rpartition("&")[2].startswith("state=")


def test_a_valid_request_without_a_session_goes_to_login(tp):
    response = HttpClient().get(_url(tp))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_state_is_echoed_exactly_and_last_after_consent(customer_client, tp, two_points):
    page = customer_client.get(_url(tp))
    assert page.status_code == 200
    response = customer_client.post("/oauth/authorize", consent_post_data(page, usage_points=two_points[:1]))
    location = response["Location"]
    callback = query_of(location)
    assert callback["state"] == STATE
    assert "iss" in callback and "code" in callback
    assert location.rpartition("&")[2].startswith("state=")
    denied = customer_client.post(
        "/oauth/authorize", consent_post_data(customer_client.get(_url(tp)), usage_points=two_points, allow=False)
    )
    assert query_of(denied["Location"])["error"] == "access_denied"
    assert denied["Location"].rpartition("&")[2].startswith("state=")


def test_the_helper_url_still_works(customer_client, tp):
    _verifier, challenge = pkce_pair()
    assert (
        customer_client.get(authorize_url(client_id=tp.client_id, scope=SCOPE, challenge=challenge)).status_code == 200
    )
