"""Session and CSRF cookies: not readable by scripts, not sent cross-site, and the session ends within a day."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_login_sets_short_lived_http_only_same_site_cookies(customer):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/accounts/login/")
    assert page.status_code == 200
    csrf = page.cookies["csrftoken"]
    assert csrf["httponly"] is True
    assert csrf["samesite"] == "Lax"
    response = browser.post(
        "/accounts/login/",
        {"username": "alice", "password": "correct-horse-battery", "csrfmiddlewaretoken": page.context["csrf_token"]},
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert 0 < int(session["max-age"]) <= 8 * 3600
    assert browser.get("/grants/").status_code == 200  # the form token still works without script access
