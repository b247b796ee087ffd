"""ESPI compatibility per Third Party: no PKCE for a confidential client, token parameters in the URL or by GET.

Off by default: then PKCE is required, token parameters go in a form POST only, and GET is 405.
Credentials that arrive in a URL never reach a log record, DEBUG included.
"""

from __future__ import annotations

import logging
import os
import threading

import pytest
import requests
from django.core.servers.basehttp import WSGIRequestHandler
from django.db import connections
from django.test import Client as HttpClient
from django.test.testcases import LiveServerThread

from grants.models import ThirdParty
from tests import factories
from tests.grants.conftest import SECRET, OAuthClient
from tests.grants.oauth_helpers import (
    REDIRECT_URI,
    authorize_url,
    basic_auth,
    consent_post_data,
    exchange_code,
    pkce_pair,
    query_of,
)

SCOPE = factories.DEFAULT_SCOPE


def _compatible(name: str = "Harness Co") -> OAuthClient:
    third_party, secret = factories.make_third_party(name=name, client_secret=SECRET + "-compat")
    ThirdParty.objects.filter(pk=third_party.pk).update(espi_compatibility=True)
    third_party.refresh_from_db()
    return OAuthClient(third_party, secret)


@pytest.fixture
def compat_tp(db) -> OAuthClient:
    return _compatible()


def _consent(customer_client, oauth_client: OAuthClient, points, *, challenge: str | None) -> dict[str, str]:
    url = authorize_url(client_id=oauth_client.client_id, scope=SCOPE, challenge=challenge, method=None)
    if challenge is not None:
        url += "&code_challenge_method=S256"
    page = customer_client.get(url)
    assert page.status_code == 200, page.content[:300]
    response = customer_client.post("/oauth/authorize", consent_post_data(page, usage_points=points))
    assert response.status_code == 302, response.content[:300]
    return query_of(response["Location"])


def _query_token_params(oauth_client: OAuthClient, code: str) -> str:
    return (
        f"grant_type=authorization_code&code={code}&redirect_uri={REDIRECT_URI}"
        f"&client_id={oauth_client.client_id}&client_secret={oauth_client.secret}"
    )


# ---- Off by default ------------------------------------------------------------------------------


def test_the_switch_is_off_by_default(tp):
    assert tp.third_party.espi_compatibility is False


def test_without_the_switch_pkce_is_required(customer_client, tp, two_points):
    response = customer_client.get(authorize_url(client_id=tp.client_id, scope=SCOPE, challenge=None, method=None))
    assert response.status_code == 302
    callback = query_of(response["Location"])
    assert callback["error"] == "invalid_request"
    assert "code" not in callback


def test_without_the_switch_token_parameters_in_the_url_are_refused(customer_client, tp, two_points):
    verifier, challenge = pkce_pair()
    page = customer_client.get(authorize_url(client_id=tp.client_id, scope=SCOPE, challenge=challenge))
    callback = query_of(
        customer_client.post("/oauth/authorize", consent_post_data(page, usage_points=two_points[:1]))["Location"]
    )
    http = HttpClient()
    query = (
        f"grant_type=authorization_code&code={callback['code']}&redirect_uri={REDIRECT_URI}&code_verifier={verifier}"
    )
    posted = http.post(
        f"/oauth/token?{query}",
        data="",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret),
    )
    assert posted.status_code == 400
    assert posted["Content-Type"] == "application/json"
    assert posted.json()["error"] == "invalid_request"
    got = http.get(f"/oauth/token?{query}", HTTP_AUTHORIZATION=basic_auth(tp.client_id, tp.secret))
    assert got.status_code == 405
    assert got["Allow"] == "POST"
    # The code was not spent by either refusal: the form POST still exchanges it.
    ok = exchange_code(http, client_id=tp.client_id, secret=tp.secret, code=callback["code"], verifier=verifier)
    assert ok.status_code == 200, ok.content


# ---- On -----------------------------------------------------------------------------------------


def test_with_the_switch_a_confidential_client_authorizes_without_pkce_and_exchanges_by_get(
    customer_client, compat_tp, two_points
):
    callback = _consent(customer_client, compat_tp, two_points[:1], challenge=None)
    response = HttpClient().get(f"/oauth/token?{_query_token_params(compat_tp, callback['code'])}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"access_token", "refresh_token", "scope", "resourceURI", "authorizationURI"} <= body.keys()
    refreshed = HttpClient().post(
        f"/oauth/token?grant_type=refresh_token&refresh_token={body['refresh_token']}",
        data="",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic_auth(compat_tp.client_id, compat_tp.secret),
    )
    assert refreshed.status_code == 200, refreshed.content
    assert {"scope", "resourceURI", "authorizationURI"} <= refreshed.json().keys()


def test_with_the_switch_a_post_with_an_empty_body_reads_the_query(customer_client, compat_tp, two_points):
    callback = _consent(customer_client, compat_tp, two_points[:1], challenge=None)
    response = HttpClient().post(
        f"/oauth/token?grant_type=authorization_code&code={callback['code']}&redirect_uri={REDIRECT_URI}",
        data="",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic_auth(compat_tp.client_id, compat_tp.secret),
    )
    assert response.status_code == 200, response.content
    client = HttpClient().post(
        "/oauth/token?grant_type=client_credentials&scope=FB=36_40",
        data="",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic_auth(compat_tp.client_id, compat_tp.secret),
    )
    assert client.status_code == 200, client.content
    assert "refresh_token" not in client.json()


def test_with_the_switch_a_pkce_that_was_sent_is_still_checked(customer_client, compat_tp, two_points):
    verifier, challenge = pkce_pair()
    callback = _consent(customer_client, compat_tp, two_points[:1], challenge=challenge)
    http = HttpClient()
    wrong = exchange_code(
        http, client_id=compat_tp.client_id, secret=compat_tp.secret, code=callback["code"], verifier="x" * 43
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"


# ---- RFC 7636: the verifier's length --------------------------------------------------------------


@pytest.mark.parametrize(("length", "status"), [(42, 400), (43, 200), (128, 200), (129, 400)])
def test_a_code_verifier_must_be_43_to_128_characters(customer_client, tp, two_points, length, status):
    import base64
    import hashlib

    verifier = ("abcdefghij" * 13)[:length]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    page = customer_client.get(authorize_url(client_id=tp.client_id, scope=SCOPE, challenge=challenge))
    callback = query_of(
        customer_client.post("/oauth/authorize", consent_post_data(page, usage_points=two_points[:1]))["Location"]
    )
    response = exchange_code(
        HttpClient(), client_id=tp.client_id, secret=tp.secret, code=callback["code"], verifier=verifier
    )
    assert response.status_code == status, response.content
    if status == 400:
        assert response.json()["error"] == "invalid_grant"


# ---- Nothing secret in any log --------------------------------------------------------------------


class _AccessLoggingLiveServerThread(LiveServerThread):
    """A live server that writes an access log (Django's runserver request handler), unlike the quiet test one."""

    def _create_server(self, connections_override=None):
        return self.server_class(
            (self.host, self.port),
            WSGIRequestHandler,
            allow_reuse_address=True,
            connections_override=connections_override,
        )


@pytest.fixture
def access_logged_server(transactional_db):
    override = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
    address = os.environ.get("DJANGO_LIVE_TEST_SERVER_ADDRESS", "")
    port = int(address.rsplit(":", 1)[1]) + 1 if ":" in address else 0
    thread = _AccessLoggingLiveServerThread("127.0.0.1", lambda app: app, connections_override=override, port=port)
    thread.daemon = True
    for connection in override.values():
        connection.inc_thread_sharing()
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()
    for worker in threading.enumerate():  # request threads release the shared connection first
        if "process_request_thread" in worker.name:
            worker.join(timeout=10)
    for connection in override.values():
        connection.dec_thread_sharing()


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record):
        self.lines.append(self.format(record))
        self.names.add(record.name)


@pytest.fixture
def every_log_at_debug():
    capture = _Capture()
    capture.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    saved = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    saved_root = root.level
    for name in saved:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.setLevel(logging.DEBUG)
    root.addHandler(capture)
    yield capture
    root.removeHandler(capture)
    root.setLevel(saved_root)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_credentials_in_urls_never_reach_a_log_at_debug(access_logged_server, every_log_at_debug, customer):
    compat = _compatible()
    points = [factories.make_usage_point(customer=customer, title="Home")]
    browser = HttpClient()
    browser.force_login(customer.user)
    callback = _consent(browser, compat, points, challenge=None)
    base = access_logged_server
    http = requests.Session()
    exchanged = http.get(f"{base}/oauth/token?{_query_token_params(compat, callback['code'])}", timeout=30)
    assert exchanged.status_code == 200, exchanged.text
    body = exchanged.json()
    refreshed = http.post(
        f"{base}/oauth/token?grant_type=refresh_token&refresh_token={body['refresh_token']}",
        auth=(compat.client_id, compat.secret),
        timeout=30,
    )
    assert refreshed.status_code == 200, refreshed.text
    registration = http.get(
        f"{base}/oauth/token?grant_type=client_credentials&scope=FB=36_40"
        f"&client_id={compat.client_id}&client_secret={compat.secret}",
        timeout=30,
    ).json()["access_token"]
    # A refused replay and a refused introspection with credentials in the URL are logged too.
    replay = http.get(f"{base}/oauth/token?{_query_token_params(compat, callback['code'])}", timeout=30)
    assert replay.status_code == 400
    introspect = http.post(
        f"{base}/oauth/introspect?client_id={compat.client_id}&client_secret={compat.secret}",
        data={"token": registration},
        timeout=30,
    )
    assert introspect.status_code == 400
    http.close()  # no keep-alive request thread outlives the test's server
    logged = "\n".join(every_log_at_debug.lines)
    assert "GET /oauth/token?" in logged  # the access log was captured
    assert any(name.startswith("oauthlib") for name in every_log_at_debug.names)  # and oauthlib's DEBUG records
    for value in (
        compat.secret,
        callback["code"],
        body["access_token"],
        body["refresh_token"],
        refreshed.json()["access_token"],
        refreshed.json()["refresh_token"],
        registration,
    ):
        assert value not in logged
