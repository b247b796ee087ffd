"""A 500 on an OAuth endpoint is reported (log, mail to ADMINS) without the credentials it was sent."""

from __future__ import annotations

import logging

import pytest
from django.core import mail
from django.test import Client

from grants.oauth import EspiOAuth2Validator
from tests.grants.oauth_helpers import basic_auth

pytestmark = pytest.mark.django_db

CLIENT_SECRET = "client-secret-never-in-a-report"
CODE = "authorization-code-never-in-a-report"
VERIFIER = "code-verifier-never-in-a-report-0123456789abcdefghij"
REFRESH = "refresh-token-never-in-a-report"
TOKEN = "access-token-never-in-a-report"
SECRETS = (CLIENT_SECRET, CODE, VERIFIER, REFRESH, TOKEN)


@pytest.fixture
def crash(monkeypatch, settings):
    """Make client authentication fail with an unexpected error, and mail 500s to an admin."""
    settings.ADMINS = [("Ops", "ops@utility.example")]

    def boom(self, request, *args, **kwargs):
        raise RuntimeError("unexpected failure")

    monkeypatch.setattr(EspiOAuth2Validator, "authenticate_client", boom)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        (
            "/oauth/token",
            {
                "grant_type": "authorization_code",
                "code": CODE,
                "code_verifier": VERIFIER,
                "client_id": "some-client",
                "client_secret": CLIENT_SECRET,
                "redirect_uri": "https://thirdparty.example/callback",
            },
        ),
        (
            "/oauth/token",
            {
                "grant_type": "refresh_token",
                "refresh_token": REFRESH,
                "client_id": "some-client",
                "client_secret": CLIENT_SECRET,
            },
        ),
        ("/oauth/revoke_token", {"token": TOKEN, "client_id": "some-client", "client_secret": CLIENT_SECRET}),
        ("/oauth/introspect", {"token": TOKEN, "client_id": "some-client", "client_secret": CLIENT_SECRET}),
    ],
)
def test_credentials_stay_out_of_500_reports(crash, caplog, path, data):
    caplog.set_level(logging.ERROR, logger="django.request")
    response = Client(raise_request_exception=False).post(
        path, data, HTTP_AUTHORIZATION=basic_auth("some-client", CLIENT_SECRET)
    )
    assert response.status_code == 500
    body = response.content.decode()
    assert "Traceback" not in body and "RuntimeError" not in body
    assert len(mail.outbox) == 1
    report = mail.outbox[0].body
    assert "RuntimeError" in report  # the report is there, and useful...
    assert "client_secret" in report  # ...it names the fields...
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in SECRETS:
        assert secret not in report, secret  # ...but never their values, nor the Basic credentials.
        assert secret not in logged, secret
    assert basic_auth("some-client", CLIENT_SECRET).split()[1] not in report
