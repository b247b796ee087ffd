"""CSP form-action: 'self' on every page; the consent page adds exactly its validated redirect URI, reached by a 302."""

from __future__ import annotations

import pytest

from tests import factories
from tests.grants.conftest import customer_client, tp, two_points  # noqa: F401
from tests.grants.oauth_helpers import REDIRECT_URI, authorize_url, consent_post_data, pkce_pair


def _form_action(response) -> list[str]:
    directives = dict(
        (part.strip().split(" ", 1) + [""])[:2]
        for part in response["Content-Security-Policy"].split(";")
        if part.strip()
    )
    return directives["form-action"].split()


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_login_pages_post_to_the_portal_only(db, client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert _form_action(response) == ["'self'"]


def test_customer_pages_post_to_the_portal_only(customer_client, two_points):  # noqa: F811
    for path in ("/", "/grants/", "/share/", "/history/"):
        response = customer_client.get(path)
        assert response.status_code == 200, path
        assert _form_action(response) == ["'self'"], path


def test_consent_page_allows_exactly_its_redirect_uri_and_answers_with_a_302(customer_client, tp, two_points):  # noqa: F811
    _verifier, challenge = pkce_pair()
    page = customer_client.get(
        authorize_url(client_id=tp.client_id, scope=factories.DEFAULT_SCOPE, challenge=challenge)
    )
    assert page.status_code == 200
    assert _form_action(page) == ["'self'", REDIRECT_URI]
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]

    approved = customer_client.post("/oauth/authorize", consent_post_data(page, usage_points=two_points[:1]))
    assert approved.status_code == 302  # a redirect, never an auto-submitted form to the Third Party
    assert approved["Location"].startswith(REDIRECT_URI + "?")
    assert b"<form" not in approved.content

    page = customer_client.get(
        authorize_url(client_id=tp.client_id, scope=factories.DEFAULT_SCOPE, challenge=challenge)
    )
    denied = customer_client.post("/oauth/authorize", consent_post_data(page, usage_points=two_points[:1], allow=False))
    assert denied.status_code == 302
    assert denied["Location"].startswith(REDIRECT_URI + "?") and "error=access_denied" in denied["Location"]


def test_consent_error_page_for_an_unregistered_redirect_uri_allows_no_other_target(customer_client, tp):  # noqa: F811
    _verifier, challenge = pkce_pair()
    url = authorize_url(client_id=tp.client_id, scope=factories.DEFAULT_SCOPE, challenge=challenge)
    response = customer_client.get(url.replace("thirdparty.example", "evil.example"))
    assert response.status_code == 403  # PRODUCT "Conformance": a bad redirect URI is 403
    assert _form_action(response) == ["'self'"]
