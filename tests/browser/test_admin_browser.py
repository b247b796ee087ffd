"""Utility staff in a real browser: register a Third Party, see its secret once, rotate it; the grant list at 1280 px."""

from __future__ import annotations

import os

import pytest
from django.test import Client as HttpClient

from grants import services as grant_services
from grants.models import ThirdParty
from tests import factories
from tests.browser.helpers import axe_serious
from tests.browser.test_consent_browser import CHROMIUM, browser_page, sync_api  # noqa: F401 - fixture
from tests.browser.test_customer_pages_browser import chromium  # noqa: F401 - fixture
from tests.grants.oauth_helpers import client_credentials

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
STAFF_PASSWORD = "staff-browser-passphrase"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]


def log_in(page, live_server, django_user_model) -> None:
    django_user_model.objects.create_superuser("staff", "staff@example.org", STAFF_PASSWORD)
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def test_register_a_third_party_see_the_secret_once_then_rotate_it(live_server, browser_page, django_user_model):  # noqa: F811
    page = browser_page
    log_in(page, live_server, django_user_model)
    page.goto(live_server.url + "/admin/grants/thirdparty/add/")
    page.fill("#id_name", "Browser Energy")
    page.fill("#id_redirect_uris", "https://browser-energy.example/callback")
    page.fill("#id_registered_scopes", factories.DEFAULT_SCOPE)
    page.fill("#id_description", "Tracks your solar output.")
    page.fill("#id_notify_uri", "https://browser-energy.example/notify")
    page.fill("#id_logo_uri", "https://browser-energy.example/logo.png")
    page.fill("#id_policy_uri", "https://browser-energy.example/privacy")
    page.fill("#id_bulk_users", "7 Pilot households")
    page.click("input[name=_save]")
    page.wait_for_selector("#client-secret")
    secret = page.inner_text("#client-secret")
    client_id = page.inner_text("#client-id")
    assert len(secret) > 40 and "shown only on this page" in page.content()

    # Continue to the Third Party: its page never shows the secret again.
    page.click("text=Continue to Browser Energy")
    page.wait_for_selector("text=Rotate client secret")
    assert secret not in page.content()
    third_party = ThirdParty.objects.get(client_id=client_id)
    assert third_party.bulk_users.get().bulk_id == "7"
    grant_services.third_party_set_lifecycle(third_party=third_party, lifecycle=ThirdParty.Lifecycle.PRODUCTION)
    assert client_credentials(HttpClient(), client_id=client_id, secret=secret, scope="FB=1_3_35").status_code == 200

    page.click("text=Rotate client secret")
    page.wait_for_selector("text=The current secret stops working at once")
    page.click("input[value='Rotate the client secret']")
    page.wait_for_selector("#client-secret")
    new_secret = page.inner_text("#client-secret")
    assert new_secret != secret
    assert client_credentials(HttpClient(), client_id=client_id, secret=secret).status_code == 401
    assert (
        client_credentials(HttpClient(), client_id=client_id, secret=new_secret, scope="FB=1_3_35").status_code == 200
    )
    page.goto(live_server.url + f"/admin/grants/thirdparty/{third_party.pk}/change/")
    page.wait_for_selector("text=Rotate client secret")
    assert new_secret not in page.content()


def test_the_grant_status_column_is_on_screen_at_1280_px(live_server, browser_page, django_user_model):  # noqa: F811
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 800})
    customer = factories.make_customer(username="long", name="Maximiliana Concepción de la Santísima Trinidad Ortega")
    point = factories.make_usage_point(customer=customer, title="Home")
    third_party, _ = factories.make_third_party(name="International Renewable Energy Analytics Cooperative Ltd.")
    bulk = factories.make_bulk_user(
        third_party=third_party, bulk_id="regional-programme-2026", name="Regional programme"
    )
    factories.make_grant(customer=customer, third_party=third_party, usage_points=[point], bulk_user=bulk)
    log_in(page, live_server, django_user_model)
    page.goto(live_server.url + "/admin/grants/grant/")
    header = page.wait_for_selector("th.column-status")
    box = header.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280, box
    cell = page.query_selector("td.field-status")
    assert cell.inner_text().strip() == "Active"


def test_staff_switch_the_admin_to_spanish_from_its_header(live_server, chromium, django_user_model):  # noqa: F811
    # CSP bypassed only so that axe-core can be injected (as on the customer pages' test).
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = context.new_page()
    customer = factories.make_customer(username="ana", name="Ana Ramos")
    point = factories.make_usage_point(customer=customer, title="Home")
    third_party, _ = factories.make_third_party(name="Solar Co")
    factories.make_grant(customer=customer, third_party=third_party, usage_points=[point])
    log_in(page, live_server, django_user_model)
    assert page.get_attribute("html", "lang") == "en"

    page.select_option("#admin-language-choice", "es")
    with page.expect_navigation():
        page.click(".admin-language button")

    assert page.get_attribute("html", "lang") == "es"
    assert page.inner_text("#site-name").strip() != ""
    assert "clientes y datos de medidores" in page.inner_text("#content-main").lower()  # headings in capitals
    assert axe_serious(page) == []
    page.goto(live_server.url + "/admin/grants/grant/")
    assert page.inner_text("th.column-status").strip().lower() == "estado"
    assert page.inner_text("td.field-status").strip() == "Activa"
    assert axe_serious(page) == []
    pages = [
        "/admin/reports/",
        "/admin/grants/thirdparty/",
        "/admin/grants/thirdparty/add/",
        f"/admin/grants/thirdparty/{third_party.pk}/change/",
        "/admin/grants/grant/offline/",
        f"/admin/custodian/retailcustomer/{customer.pk}/change/",
        f"/admin/custodian/retailcustomer/{customer.pk}/import/",
        "/admin/custodian/usagepoint/",
        "/admin/custodian/auditevent/",
        "/admin/batch/submission/",
        "/admin/axes/accessattempt/",
    ]
    found = {}
    for url in pages:
        response = page.goto(live_server.url + url)
        assert response.status == 200, url
        assert page.get_attribute("html", "lang") == "es", url
        found[url] = axe_serious(page)
    assert found == {url: [] for url in pages}
    context.close()
