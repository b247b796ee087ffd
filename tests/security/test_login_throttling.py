"""Brute force: logins lock per account and per client address, with a message and a cooldown; token requests per client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from tests import factories
from tests.grants.oauth_helpers import basic_auth

PASSWORD = "correct-horse-battery"
WRONG = "not-the-password"


def _login(path: str, username: str, password: str, address: str = "203.0.113.7"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


def _fail(path: str, username: str, times: int, address: str = "203.0.113.7") -> list[int]:
    return [_login(path, username, WRONG, address).status_code for _ in range(times)]


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(
        username="operator", password=PASSWORD, is_staff=True, is_superuser=True
    )


def test_customer_account_locks_after_the_limit_with_a_message_then_cools_off(db, _clock):
    factories.make_customer(username="alice", password=PASSWORD)
    limit = settings.AXES_FAILURE_LIMIT
    assert _fail("/accounts/login/", "alice", limit - 1) == [200] * (limit - 1)
    assert _fail("/accounts/login/", "alice", 1) == [429]
    # Now even the right password is refused, from the same and from another address: the account is locked.
    for address in ("203.0.113.7", "198.51.100.20"):
        locked = _login("/accounts/login/", "alice", PASSWORD, address)
        assert locked.status_code == 429
        assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
        text = locked.content.decode()
        assert "Too many failed log-in attempts" in text
        assert "15 minutes" in text
        assert "did not match" not in text
        assert "_auth_user_id" not in locked.client.session
    _clock.shift(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
    opened = _login("/accounts/login/", "alice", PASSWORD, "198.51.100.20")
    assert opened.status_code == 302
    assert opened.client.session["_auth_user_id"]


def test_one_address_trying_many_accounts_is_locked_out_for_every_account(db):
    factories.make_customer(username="carol", password=PASSWORD)
    statuses = [
        _login("/accounts/login/", f"guess{i}", WRONG, "192.0.2.50").status_code
        for i in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses[-1] == 429
    assert _login("/accounts/login/", "carol", PASSWORD, "192.0.2.50").status_code == 429
    # Carol herself, from her own address, is not locked out by someone else's guessing.
    assert _login("/accounts/login/", "carol", PASSWORD, "192.0.2.99").status_code == 302


def test_a_success_before_the_limit_clears_the_account_count(db):
    factories.make_customer(username="dave", password=PASSWORD)
    limit = settings.AXES_FAILURE_LIMIT
    _fail("/accounts/login/", "dave", limit - 1, address="192.0.2.1")
    assert _login("/accounts/login/", "dave", PASSWORD, "192.0.2.2").status_code == 302
    assert _fail("/accounts/login/", "dave", limit - 1, address="192.0.2.3") == [200] * (limit - 1)


def test_staff_login_is_throttled_too(staff, _clock):
    limit = settings.AXES_FAILURE_LIMIT
    statuses = _fail("/admin/login/", "operator", limit)
    assert statuses[:-1] == [200] * (limit - 1)
    assert statuses[-1] == 429
    locked = _login("/admin/login/", "operator", PASSWORD, "198.51.100.77")
    assert locked.status_code == 429
    assert "Too many failed log-in attempts" in locked.content.decode()
    assert "Retry-After" in locked
    _clock.shift(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
    assert _login("/admin/login/", "operator", PASSWORD, "198.51.100.77").status_code == 302


def test_token_endpoint_is_throttled_per_client(db, settings):
    settings.OAUTH_TOKEN_REQUESTS_PER_MINUTE = 5
    noisy, noisy_secret = factories.make_third_party(name="Noisy", client_secret="noisy-secret")
    quiet, quiet_secret = factories.make_third_party(name="Quiet", client_secret="quiet-secret")
    http = Client()
    body = {"grant_type": "client_credentials"}
    answers = [
        http.post("/oauth/token", body, HTTP_AUTHORIZATION=basic_auth(noisy.client_id, "wrong")).status_code
        for _ in range(6)
    ]
    assert answers[:5] == [401] * 5
    assert answers[5] == 429
    refused = http.post("/oauth/token", body, HTTP_AUTHORIZATION=basic_auth(noisy.client_id, noisy_secret))
    assert refused.status_code == 429
    assert refused.json()["error"] == "too_many_requests"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["Cache-Control"] == "no-store"
    # Another client is unaffected, also when it names itself in the body rather than in Basic auth.
    other = http.post("/oauth/token", {**body, "client_id": quiet.client_id, "client_secret": quiet_secret})
    assert other.status_code != 429
