"""The authorization server over real HTTP: consent, code + PKCE, tokens bound to grants, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from custodian.local_dates import end_of_local_day
from custodian.models import AuditEvent
from grants import selectors, services
from grants.models import Grant, GrantToken, ThirdParty
from tests import factories
from tests.bulk_reach import bulk_reach
from tests.grants.conftest import BULK_SCOPE
from tests.grants.oauth_helpers import (
    REDIRECT_URI,
    approve,
    authorize_url,
    basic_auth,
    client_credentials,
    consent_post_data,
    exchange_code,
    pkce_pair,
    query_of,
)

pytestmark = pytest.mark.django_db


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def token_for(customer_client, tp, points, scope=BULK_SCOPE, **choices) -> dict:
    query, verifier = approve(customer_client, third_party=tp.third_party, usage_points=points, scope=scope, **choices)
    response = exchange_code(
        HttpClient(), client_id=tp.client_id, secret=tp.secret, code=query["code"], verifier=verifier
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_bulk_consent_to_revocation_end_to_end(customer_client, customer, tp, two_points):
    """A BR= consent for one of two usage points yields a token reaching exactly that grant, until revoked."""
    home, cabin = two_points
    verifier, challenge = pkce_pair()
    page = customer_client.get(authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=challenge))
    assert page.status_code == 200
    assert b"together with other customers" in page.content
    assert b"Solar Co neighbourhood study" in page.content

    response = customer_client.post("/oauth/authorize", consent_post_data(page, usage_points=[home]))
    assert response.status_code == 302
    callback = query_of(response["Location"])
    assert response["Location"].startswith(REDIRECT_URI + "?")
    assert callback["state"] == "st-1"
    assert callback["iss"] == "http://127.0.0.1:8000"  # RFC 9207

    grant = Grant.objects.get(customer=customer)
    assert grant.bulk_user.bulk_id == "1"
    assert list(selectors.grant_usage_points(grant=grant)) == [home]
    assert grant.consent["chosen"]["usage_points"] == [home.public_id]
    assert grant.consent["client_ip"] == "127.0.0.1"
    assert grant.consent["shown"]["bulk"]["bulk_id"] == "1"

    third_party_http = HttpClient()
    token_response = exchange_code(
        third_party_http, client_id=tp.client_id, secret=tp.secret, code=callback["code"], verifier=verifier
    )
    assert token_response.status_code == 200
    assert "no-store" in token_response["Cache-Control"]
    body = token_response.json()
    assert body["scope"] == grant.scope
    assert body["resourceURI"] == f"http://127.0.0.1:8000/espi/1_1/resource/Batch/Subscription/{grant.subscription_id}"
    assert body["authorizationURI"] == f"http://127.0.0.1:8000/espi/1_1/resource/Authorization/{grant.public_id}"
    assert GrantToken.objects.filter(grant=grant).count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.TOKEN_ISSUED, customer=customer).exists()

    reach = third_party_http.get("/oauth/token_grant", **bearer(body["access_token"]))
    assert reach.status_code == 200
    assert reach.json()["authorization_id"] == grant.public_id
    assert reach.json()["usage_points"] == [home.public_id]
    assert bulk_reach(third_party=tp.third_party, bulk_id="1") == {home}
    assert not bulk_reach(third_party=tp.third_party, bulk_id="10")

    revoke = customer_client.post(f"/grants/{grant.public_id}/revoke/")
    assert revoke.status_code == 302

    after = third_party_http.get("/oauth/token_grant", **bearer(body["access_token"]))
    assert after.status_code == 401
    assert after["WWW-Authenticate"].startswith('Bearer realm="espi"')
    refresh = third_party_http.post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret),
    )
    assert refresh.status_code == 400
    assert refresh.json()["error"] == "invalid_grant"
    assert not bulk_reach(third_party=tp.third_party, bulk_id="1")
    assert cabin not in selectors.grant_usage_points(grant=grant)


def test_customer_narrows_data_and_period(customer_client, customer, tp, two_points):
    """Unticked data choices (every function block of each) and an earlier end date narrow the scope and period."""
    until = timezone.localdate() + timedelta(days=30)
    body = token_for(customer_client, tp, two_points, data=["usage"], until=until)
    grant = Grant.objects.get(customer=customer)
    assert grant.function_blocks == [1, 3, 4, 5, 13, 14, 35, 37, 39]
    assert body["scope"] == grant.scope
    assert "FB=1_3_4_5_13_14_35_37_39;" in body["scope"]
    assert grant.authorized_end == end_of_local_day(until)
    assert set(selectors.grant_usage_points(grant=grant)) == set(two_points)


def test_refreshed_tokens_stay_bound_to_the_grant(customer_client, customer, tp, two_points):
    """A token issued by refresh reaches the same grant; the old access token stops working (rotation)."""
    body = token_for(customer_client, tp, two_points[:1])
    grant = Grant.objects.get(customer=customer)
    http = HttpClient()
    refreshed = http.post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret),
    )
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["authorizationURI"].endswith(grant.public_id)
    assert GrantToken.objects.filter(grant=grant).count() == 1
    assert http.get("/oauth/token_grant", **bearer(new["access_token"])).json()["authorization_id"] == grant.public_id
    assert http.get("/oauth/token_grant", **bearer(body["access_token"])).status_code == 401
    replay = http.post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret),
    )
    assert replay.status_code == 400  # reuse revokes the family (RFC 9700 section 4.14)
    assert http.get("/oauth/token_grant", **bearer(new["access_token"])).status_code == 401


def test_deny_redirects_with_access_denied_and_records_it(customer_client, customer, tp, two_points):
    verifier, challenge = pkce_pair()
    page = customer_client.get(authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=challenge))
    response = customer_client.post("/oauth/authorize", consent_post_data(page, usage_points=[], allow=False))
    assert response.status_code == 302
    query = query_of(response["Location"])
    assert response["Location"].startswith(REDIRECT_URI)
    assert query["error"] == "access_denied"
    assert query["state"] == "st-1"
    assert query["iss"] == "http://127.0.0.1:8000"
    assert not Grant.objects.exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.GRANT_DENIED, customer=customer).count() == 1


@pytest.mark.parametrize(
    ("challenge_kind", "method"),
    [("plain", "plain"), ("s256", None), (None, "S256"), (None, None)],
    ids=["plain-method", "method-omitted-means-plain", "no-challenge", "no-pkce"],
)
def test_pkce_downgrade_is_refused_before_consent(customer_client, tp, challenge_kind, method):
    verifier, challenge = pkce_pair()
    value = {"plain": verifier, "s256": challenge, None: None}[challenge_kind]
    response = customer_client.get(
        authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=value, method=method)
    )
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "invalid_request"
    assert not Grant.objects.exists()


def test_wrong_or_missing_verifier_and_reused_code_are_refused(customer_client, tp, two_points):
    query, verifier = approve(
        customer_client, third_party=tp.third_party, usage_points=two_points[:1], scope=BULK_SCOPE
    )
    http = HttpClient()
    wrong = exchange_code(http, client_id=tp.client_id, secret=tp.secret, code=query["code"], verifier=pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    missing = exchange_code(http, client_id=tp.client_id, secret=tp.secret, code=query["code"], verifier=None)
    assert missing.status_code == 400
    first = exchange_code(http, client_id=tp.client_id, secret=tp.secret, code=query["code"], verifier=verifier)
    assert first.status_code == 200
    again = exchange_code(http, client_id=tp.client_id, secret=tp.secret, code=query["code"], verifier=verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    # RFC 6749 section 4.1.2: the replay revoked the token issued from the code.
    assert get_access_token_model().objects.count() == 0


def test_code_of_another_client_is_refused(customer_client, tp, other_tp, two_points):
    query, verifier = approve(
        customer_client, third_party=tp.third_party, usage_points=two_points[:1], scope=BULK_SCOPE
    )
    stolen = exchange_code(
        HttpClient(), client_id=other_tp.client_id, secret=other_tp.secret, code=query["code"], verifier=verifier
    )
    assert stolen.status_code == 400


NARROW = "FB=1_3_4;IntervalDuration=900;BlockDuration=daily;HistoryLength=94608000"


def test_a_narrower_registered_scope_is_accepted(customer_client, tp):
    _verifier, challenge = pkce_pair()
    response = customer_client.get(authorize_url(client_id=tp.client_id, scope=NARROW + ";BR=10", challenge=challenge))
    assert response.status_code == 200
    assert response.context["consent"]["bulk"]["bulk_id"] == "10"


@pytest.mark.parametrize(
    ("scope", "granted"),
    [
        (NARROW.replace("FB=1_3_4", "FB=1_3_4_99"), NARROW),  # a function block not registered
        (NARROW.replace("94608000", "94608001"), NARROW),  # more history than registered
        (NARROW.replace("FB=1_3_4", "FB=13_4_99"), NARROW.replace("FB=1_3_4", "FB=4_13")),  # "13" is not "1", "3"
    ],
)
def test_scope_beyond_what_is_offered_is_narrowed_not_refused(customer_client, tp, scope, granted):
    """PRODUCT "Conformance": what the utility or the client does not offer is narrowed away."""
    _verifier, challenge = pkce_pair()
    response = customer_client.get(authorize_url(client_id=tp.client_id, scope=scope, challenge=challenge))
    assert response.status_code == 200, response.content[:300]
    assert response.context["consent"]["scope_requested"] == granted


@pytest.mark.parametrize(
    "scope",
    [
        NARROW + ";BR=2",  # a bulk this Third Party does not have
        NARROW + ";BR=1-0",
        NARROW + ";BR=01",
        NARROW + ";Unknown=1",
        "FB=????",
        "not a scope",
        "",
    ],
)
def test_malformed_scope_or_a_bulk_not_its_own_is_invalid_scope(customer_client, tp, scope):
    _verifier, challenge = pkce_pair()
    response = customer_client.get(authorize_url(client_id=tp.client_id, scope=scope, challenge=challenge))
    assert response.status_code == 302
    callback = query_of(response["Location"])
    assert callback["error"] == "invalid_scope"
    assert callback["error_description"]
    assert "code" not in callback
    assert response["Location"].rpartition("&")[2].startswith("state=")
    assert not Grant.objects.exists()


def test_bulk_one_never_reaches_bulk_ten(customer_client, customer, tp, two_points):
    """A BR=1 consent joins bulk 1 only; bulk 10 of the same Third Party reaches nothing."""
    token_for(customer_client, tp, two_points, scope=factories.DEFAULT_SCOPE + ";BR=1")
    assert bulk_reach(third_party=tp.third_party, bulk_id="1") == set(two_points)
    assert not bulk_reach(third_party=tp.third_party, bulk_id="10")
    assert not bulk_reach(third_party=tp.third_party, bulk_id="1 ")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        REDIRECT_URI + "?x=1",
        REDIRECT_URI + "/",
        "https://thirdparty.example/Callback",
        "https://user@thirdparty.example/callback",
        "http://thirdparty.example/callback",
    ],
)
def test_unregistered_redirect_uri_shows_an_error_and_never_redirects(customer_client, tp, redirect_uri):
    _verifier, challenge = pkce_pair()
    url = authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=challenge)
    url = url.replace("thirdparty.example%2Fcallback", "X").replace("redirect_uri=https%3A%2F%2FX", "")
    from urllib.parse import urlencode

    response = customer_client.get(url + "&" + urlencode({"redirect_uri": redirect_uri}))
    assert response.status_code in (400, 401)
    assert "Location" not in response
    assert b"cannot be completed" in response.content


def test_unknown_client_shows_an_error_and_never_redirects(customer_client):
    _verifier, challenge = pkce_pair()
    response = customer_client.get(authorize_url(client_id="no-such-client", scope=BULK_SCOPE, challenge=challenge))
    assert response.status_code in (400, 401)
    assert "Location" not in response


def test_tampered_redirect_uri_in_the_consent_post_never_redirects(customer_client, tp, two_points):
    _verifier, challenge = pkce_pair()
    page = customer_client.get(authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=challenge))
    for allow in (True, False):
        data = consent_post_data(page, usage_points=two_points, allow=allow)
        data["redirect_uri"] = "https://evil.example/callback"
        response = customer_client.post("/oauth/authorize", data)
        assert response.status_code == 403
        assert "Location" not in response
    assert not Grant.objects.exists()


def test_implicit_and_password_grants_are_refused(customer_client, customer, tp):
    _verifier, challenge = pkce_pair()
    implicit = customer_client.get(
        authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=challenge).replace(
            "response_type=code", "response_type=token"
        )
    )
    assert implicit.status_code == 302
    assert "access_token" not in implicit["Location"]
    assert query_of(implicit["Location"])["error"] in {"unauthorized_client", "unsupported_response_type"}
    password = HttpClient().post(
        "/oauth/token",
        {"grant_type": "password", "username": "alice", "password": "correct-horse-battery"},
        HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret),
    )
    assert password.status_code in (400, 401)
    assert "access_token" not in password.json()


def test_token_in_the_query_string_is_refused(customer_client, tp, two_points):
    body = token_for(customer_client, tp, two_points[:1])
    http = HttpClient()
    assert http.get("/oauth/token_grant", {"access_token": body["access_token"]}).status_code == 401
    both = http.get("/oauth/token_grant?access_token=" + body["access_token"], **bearer(body["access_token"]))
    assert both.status_code == 401
    assert 'error="invalid_request"' in both["WWW-Authenticate"]
    form_body = http.post("/oauth/token_grant", {"access_token": body["access_token"]})
    assert form_body.status_code == 401
    assert http.get("/oauth/token_grant", **bearer(body["access_token"])).status_code == 200


def test_missing_or_unknown_token_is_401_with_challenge(db):
    http = HttpClient()
    missing = http.get("/oauth/token_grant")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    unknown = http.get("/oauth/token_grant", **bearer("not-a-token"))
    assert unknown.status_code == 401
    assert 'error="invalid_token"' in unknown["WWW-Authenticate"]


@pytest.mark.parametrize(
    "lifecycle", [ThirdParty.Lifecycle.ON_HOLD, ThirdParty.Lifecycle.REVOKED, ThirdParty.Lifecycle.REVIEW]
)
def test_third_party_not_in_production_gets_no_token_and_its_tokens_reach_nothing(
    customer_client, tp, two_points, lifecycle
):
    body = token_for(customer_client, tp, two_points[:1])
    client_token = client_credentials(HttpClient(), client_id=tp.client_id, secret=tp.secret).json()["access_token"]
    if lifecycle == ThirdParty.Lifecycle.REVIEW:
        ThirdParty.objects.filter(pk=tp.third_party.pk).update(lifecycle=lifecycle)
    else:
        services.third_party_set_lifecycle(third_party=tp.third_party, lifecycle=lifecycle)
    http = HttpClient()
    assert http.get("/oauth/token_grant", **bearer(body["access_token"])).status_code == 401
    assert http.get("/oauth/token_grant", **bearer(client_token)).status_code == 401
    refused = client_credentials(http, client_id=tp.client_id, secret=tp.secret)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    _verifier, challenge = pkce_pair()
    page = customer_client.get(authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=challenge))
    assert "Location" not in page
    assert page.status_code in (400, 401)


def test_expired_grant_reaches_nothing(customer_client, customer, tp, two_points):
    body = token_for(customer_client, tp, two_points[:1])
    grant = Grant.objects.get(customer=customer)
    Grant.objects.filter(pk=grant.pk).update(
        authorized_end=timezone.now() - timedelta(seconds=1), authorized_start=timezone.now() - timedelta(days=1)
    )
    http = HttpClient()
    assert http.get("/oauth/token_grant", **bearer(body["access_token"])).status_code == 401
    refresh = http.post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret),
    )
    assert refresh.status_code == 400
    assert services.grant_expire_due() == 1
    grant.refresh_from_db()
    assert grant.status == Grant.Status.EXPIRED


def test_revoking_one_usage_point_narrows_the_token_at_once(customer_client, customer, tp, two_points):
    body = token_for(customer_client, tp, two_points)
    grant = Grant.objects.get(customer=customer)
    home, cabin = two_points
    response = customer_client.post(f"/grants/{grant.public_id}/usage-points/{cabin.public_id}/revoke/")
    assert response.status_code == 302
    reach = HttpClient().get("/oauth/token_grant", **bearer(body["access_token"])).json()
    assert reach["usage_points"] == [home.public_id]
    customer_client.post(f"/grants/{grant.public_id}/usage-points/{home.public_id}/revoke/")
    assert HttpClient().get("/oauth/token_grant", **bearer(body["access_token"])).status_code == 401


def test_client_credentials_token_carries_bulk_resource_uri(tp):
    http = HttpClient()
    response = client_credentials(http, client_id=tp.client_id, secret=tp.secret, scope="FB=35;BR=1")
    assert response.status_code == 200
    body = response.json()
    assert body["resourceURI"] == "http://127.0.0.1:8000/espi/1_1/resource/Batch/Bulk/1"
    # OAD015: the client-credentials response names the Authorization collection too.
    assert body["authorizationURI"] == "http://127.0.0.1:8000/espi/1_1/resource/Authorization"
    assert "refresh_token" not in body
    assert not GrantToken.objects.exists()
    reach = http.get("/oauth/token_grant", **bearer(body["access_token"])).json()
    assert reach["token_kind"] == "client_access_token"
    default = client_credentials(http, client_id=tp.client_id, secret=tp.secret).json()
    # Without a scope: the function blocks of the first registered scope (value terms mean nothing here).
    assert default["scope"] == "FB=1_3_4_5_13_14_15_17_35_37_39"
    assert default["resourceURI"] == "http://127.0.0.1:8000/espi/1_1/resource/Authorization"
    wrong_bulk = client_credentials(http, client_id=tp.client_id, secret=tp.secret, scope="FB=35;BR=2")
    assert wrong_bulk.status_code == 400
    assert wrong_bulk.json()["error"] == "invalid_scope"


def test_custodian_client_has_no_code_flow(customer_client, custodian_client):
    _verifier, challenge = pkce_pair()
    custodian_client.third_party.redirect_uris = REDIRECT_URI
    custodian_client.third_party.save()
    response = customer_client.get(
        authorize_url(client_id=custodian_client.client_id, scope="FB=1_3_4", challenge=challenge)
    )
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "unauthorized_client"
    token = client_credentials(HttpClient(), client_id=custodian_client.client_id, secret=custodian_client.secret)
    assert token.status_code == 200
    assert token.json()["resourceURI"] == "http://127.0.0.1:8000/espi/1_1/resource/"


def test_revocation_endpoint_only_revokes_own_tokens(customer_client, tp, other_tp, two_points):
    body = token_for(customer_client, tp, two_points[:1])
    http = HttpClient()
    foreign = http.post(
        "/oauth/revoke_token",
        {"token": body["access_token"]},
        HTTP_AUTHORIZATION=basic_auth(other_tp.client_id, other_tp.secret),
    )
    assert foreign.status_code == 200
    assert http.get("/oauth/token_grant", **bearer(body["access_token"])).status_code == 200
    own = http.post(
        "/oauth/revoke_token", {"token": body["access_token"]}, HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret)
    )
    assert own.status_code == 200
    assert http.get("/oauth/token_grant", **bearer(body["access_token"])).status_code == 401
    assert AuditEvent.objects.filter(action=AuditEvent.Action.TOKEN_REVOKED, actor_client=tp.third_party).count() == 1


def test_introspection_answers_only_the_issuing_client(customer_client, tp, other_tp, two_points):
    body = token_for(customer_client, tp, two_points[:1])
    http = HttpClient()
    assert http.post("/oauth/introspect", {"token": body["access_token"]}).status_code == 401
    own = http.post(
        "/oauth/introspect", {"token": body["access_token"]}, HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret)
    )
    assert own.status_code == 200
    assert own.json()["active"] is True
    assert "username" not in own.json()
    foreign = http.post(
        "/oauth/introspect",
        {"token": body["access_token"]},
        HTTP_AUTHORIZATION=basic_auth(other_tp.client_id, other_tp.secret),
    )
    assert foreign.json() == {"active": False}
    unknown = http.post("/oauth/introspect", {"token": "nope"}, HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret))
    assert unknown.json() == {"active": False}
    assert http.get("/oauth/introspect", {"token": body["access_token"]}).status_code == 405
