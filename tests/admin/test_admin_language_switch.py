"""Staff switch the admin's language from its header, as customers do on the portal."""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_admin_header_offers_both_languages_and_the_switch_turns_it_spanish(admin_client):
    english = admin_client.get("/admin/").content.decode()
    form = re.search(r'<form action="([^"]+)" method="post" class="admin-language">(.*?)</form>', english, re.S)
    assert form, "the admin header has no language switch"
    assert 'name="csrfmiddlewaretoken"' in form.group(2)
    assert '<option value="en" lang="en" selected>English</option>' in form.group(2)
    assert '<option value="es" lang="es">Español</option>' in form.group(2)
    assert "Customers and meter data" in english and "OAuth tokens" in english

    response = admin_client.post(form.group(1), {"language": "es", "next": "/admin/"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    spanish = admin_client.get("/admin/").content.decode()
    assert '<html lang="es"' in spanish
    assert "Clientes y datos de medidores" in spanish and "Tokens OAuth" in spanish
    assert "Customers and meter data" not in spanish
    assert '<option value="es" lang="es" selected>Español</option>' in spanish


def test_the_switch_needs_the_csrf_token(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post("/i18n/setlang/", {"language": "es", "next": "/admin/"})

    assert response.status_code == 403
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_the_switch_never_redirects_off_the_site(admin_client):
    response = admin_client.post("/i18n/setlang/", {"language": "es", "next": "https://evil.example/admin/"})

    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_the_login_throttles_admin_is_spanish_too(admin_client):
    """django-axes ships no Spanish: the portal's catalogue gives its labels (custodian/vendor_messages.py)."""
    AccessAttempt.objects.create(
        user_agent="curl/8",
        ip_address="192.0.2.7",
        username="mallory",
        http_accept="*/*",
        path_info="/login/",
        get_data="",
        post_data="",
        failures_since_start=3,
    )
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"

    index = admin_client.get("/admin/").content.decode()
    attempts = admin_client.get("/admin/axes/accessattempt/").content.decode()

    assert "Intentos de acceso" in index and "Registros de acceso" in index
    assert "Access attempts" not in index
    assert "Agente de usuario" in attempts and "Dirección IP" in attempts
    assert "User Agent" not in attempts
