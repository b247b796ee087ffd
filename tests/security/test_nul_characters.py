"""A NUL character anywhere a client controls is a clear 400, never a database error (PostgreSQL refuses NUL)."""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from grants.models import Grant
from tests.feeds.conftest import RESOURCE, bearer

pytestmark = pytest.mark.django_db

NUL_BODY = {"error": "invalid_request", "detail": "The request contains a NUL character."}


def http() -> Client:
    # A 500 must come back as a response here, as a real server would send it.
    return Client(raise_request_exception=False)


def assert_refused(response) -> None:
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json() == NUL_BODY


@pytest.mark.parametrize(
    ("path", "token"),
    [
        ("Subscription/{sub}/UsagePoint/%00", "access"),
        ("Subscription/{sub}/UsagePoint/%00/MeterReading", "access"),
        ("ReadingType/%00", "access"),
        ("LocalTimeParameters/%00", "custodian"),
        ("Batch/RetailCustomer/%00/UsagePoint", "custodian"),
        ("Batch/Bulk/%00", "client"),
        ("Authorization/%00", "client"),
        ("Batch/Subscription/{sub}?published-min=%00", "access"),
    ],
)
def test_nul_in_an_espi_path_or_query_is_400(feed_world, path, token):
    tokens = {
        "access": feed_world.tokens["alice"],
        "client": feed_world.tp_token,
        "custodian": feed_world.custodian_token,
    }
    url = f"{RESOURCE}/" + path.format(sub=feed_world.grants["alice"].subscription_id)
    assert_refused(http().get(url, **bearer(tokens[token])))


def test_nul_in_a_batch_upload_path_is_400_and_nothing_is_recorded(feed_world):
    from batch.models import Submission

    response = http().post(
        f"{RESOURCE}/Batch/Bulk/%00", b"<feed/>", content_type="application/atom+xml", **bearer(feed_world.tp_token)
    )
    assert_refused(response)
    assert not Submission.objects.exists()


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/oauth/token", {"grant_type": "client_credentials", "client_id": "\x00", "client_secret": "x"}),
        ("/oauth/token", {"grant_type": "authorization_code", "code": "\x00", "client_id": "x"}),
        ("/oauth/revoke_token", {"token": "t", "client_id": "\x00", "client_secret": "x"}),
        ("/oauth/introspect", {"token": "t", "client_id": "\x00", "client_secret": "x"}),
    ],
)
def test_nul_in_an_oauth_form_field_is_400(db, path, data):
    assert_refused(http().post(path, data))


def test_nul_in_http_basic_client_credentials_is_401_invalid_client(db):
    """The client id inside Basic credentials cannot be screened by the middleware; it names no client."""
    credentials = base64.b64encode(b"%00:secret").decode()
    response = http().post(
        "/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {credentials}"
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_nul_in_customer_pages_is_400_and_changes_nothing(feed_world):
    client = http()
    client.force_login(feed_world.customers["alice"].user)
    grant = feed_world.grants["alice"]
    for url in (
        "/grants/%00/revoke/",
        f"/grants/{grant.public_id}/usage-points/%00/revoke/",
        "/share/%00/bulk/1/",
        f"/share/{feed_world.tp.public_id}/bulk/%00/",
    ):
        assert_refused(client.post(url))
    assert_refused(client.get("/oauth/authorize", {"client_id": "\x00", "response_type": "code"}))
    assert_refused(client.post("/oauth/authorize", {"client_id": "\x00", "allow": "Authorize"}))
    grant.refresh_from_db()
    assert grant.status == Grant.Status.ACTIVE


def test_ordinary_requests_pass(feed_world):
    """The check looks for NUL only: a normal id, query and form still reach their view."""
    url = f"{RESOURCE}/Batch/Subscription/{feed_world.grants['alice'].subscription_id}"
    assert (
        http().get(url, {"published-min": "2024-01-01T00:00:00Z"}, **bearer(feed_world.tokens["alice"])).status_code
        == 200
    )
    assert http().post("/oauth/introspect", {"token": "t"}).status_code == 401
